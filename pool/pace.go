package pool

import (
	"context"
	"net/netip"
	"strings"
	"time"

	"github.com/miekg/dns"
	"github.com/rdnsbot/rdnsbot/internal/keyrate"
)

// Pacer spaces the diagnoses that load one reverse domain's servers. Wait
// returns when the next diagnosis under domain may start, or ctx's error.
type Pacer interface {
	Wait(ctx context.Context, domain string) error
}

// RatePacer lets at most a fixed number of diagnoses per second start under
// each domain, evenly spaced, without burst: each Wait reserves the
// domain's next slot (keyrate's GCRA), and domains whose slots are past are
// forgotten. It is safe for concurrent use; share one between the Checks
// of a long-running process so that two users checking the same block
// together share its budget.
type RatePacer struct {
	rate  keyrate.Rate
	clock clock
	slots *keyrate.Limiter
}

// clock is the time source of a RatePacer; tests replace it.
type clock interface {
	Now() time.Time
	Sleep(ctx context.Context, d time.Duration) error
}

type wallClock struct{}

func (wallClock) Now() time.Time { return time.Now() }

func (wallClock) Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// NewRatePacer paces at perSecond diagnoses per second and domain:
// 0 means DefaultZoneRate; negative or math.Inf(1) never waits.
func NewRatePacer(perSecond float64) *RatePacer {
	return NewRatePacerIn(keyrate.New(0), perSecond)
}

// NewRatePacerIn is NewRatePacer booking its slots in budget, keyed by
// PaceDomain: a process whose monitor scheduler books in the same budget
// gives a domain's servers one rate in all, not one per caller.
func NewRatePacerIn(budget *keyrate.Limiter, perSecond float64) *RatePacer {
	if perSecond == 0 {
		perSecond = DefaultZoneRate
	}
	return &RatePacer{rate: keyrate.PerSecond(perSecond), clock: wallClock{}, slots: budget}
}

// Wait implements Pacer.
func (p *RatePacer) Wait(ctx context.Context, domain string) error {
	now := p.clock.Now()
	if d := p.slots.Reserve(now, keyrate.Key{Name: domain, Rate: p.rate}).Sub(now); d > 0 {
		return p.clock.Sleep(ctx, d)
	}
	return ctx.Err()
}

// PaceDomain is the reverse domain an address is paced under: that of its
// IPv4 /16 ("0.203.in-addr.arpa" for 203.0.113.5) or of its IPv6 /48 (12
// nibbles under ip6.arpa).
//
// Why not the address's own reverse zone: it is only known once the address
// is diagnosed, and zones are cut at any octet or nibble boundary (RFC 1035
// §3.5, RFC 3596 §2.5), a provider often serving a whole /16 from one zone.
// Every zone that can hold a pool address's PTR lies at or below this
// domain, RFC 2317 children included, so one zone's servers never get more
// than the rate; zones cut finer (four /24 zones of a /22) share it, which
// costs time, not politeness.
func PaceDomain(a netip.Addr) string {
	rev, _ := dns.ReverseAddr(a.Unmap().String())
	keep := 2 // octets
	if a.Unmap().Is6() {
		keep = 12 // nibbles
	}
	labels := dns.SplitDomainName(rev)
	return strings.Join(labels[len(labels)-2-keep:], ".")
}
