package pool

import (
	"context"
	"fmt"
	"iter"
	"math"
	"net/netip"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/rdnsbot/rdnsbot/diagnose"
	"github.com/rdnsbot/rdnsbot/dnstest"
	"github.com/rdnsbot/rdnsbot/internal/keyrate"
)

// unpaced lets every diagnosis start at once.
var unpaced = NewRatePacer(math.Inf(1))

// testProviders credit the reverse zones by their servers, and keep the
// built-in Amazon rule for its default names.
var testProviders = []diagnose.ProviderRule{
	diagnose.DefaultProviders[0],
	{Provider: diagnose.Provider{Name: "Parent Net"}, NameServers: regexp.MustCompile(`^ns1\.example\.net$`)},
	{Provider: diagnose.Provider{Name: "Child Hosting"}, NameServers: regexp.MustCompile(`^ns2\.example\.net$`)},
}

// world starts the pool test world (testdata/pool.zone): server 0 is the
// resolver, 1 and 2 are ns1 and ns2.
func world(t testing.TB) (dnstest.Group, *diagnose.Diagnoser) {
	t.Helper()
	text, err := os.ReadFile("testdata/pool.zone")
	if err != nil {
		t.Fatal(err)
	}
	g := dnstest.Start(t, 3)
	if err := g.Load(string(text)); err != nil {
		t.Fatal(err)
	}
	d, err := diagnose.New(diagnose.Config{
		Resolver:      g[0].Addr(),
		AuthorityPort: g.Port(),
		Timeout:       3 * time.Second,
		QueryTimeout:  300 * time.Millisecond,
		Providers:     testProviders,
	})
	if err != nil {
		t.Fatal(err)
	}
	return g, d
}

func set(t testing.TB, targets ...string) Set {
	t.Helper()
	var pools []Pool
	for _, s := range targets {
		p, err := Parse(s)
		if err != nil {
			t.Fatal(err)
		}
		pools = append(pools, p)
	}
	s, err := Join(pools...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func findGroup(s Summary, c diagnose.Code, sev diagnose.Severity) *Group {
	for i := range s.Findings {
		if s.Findings[i].Code == c && s.Findings[i].Severity == sev {
			return &s.Findings[i]
		}
	}
	return nil
}

func TestCheckSummary(t *testing.T) {
	g, d := world(t)
	g[0].SetFault("20.113.0.203.in-addr.arpa.", dns.TypePTR, dnstest.Fault{Rcode: dns.RcodeServerFailure})
	addrs := set(t, "203.0.113.0/25")
	var mu sync.Mutex
	var streamed []string
	rep := Check(context.Background(), d.Session(), addrs.All(), Config{Pacer: unpaced, OnResult: func(r diagnose.Result) {
		mu.Lock()
		defer mu.Unlock()
		streamed = append(streamed, r.IP)
	}})
	s := rep.Summary()

	if s.Addresses != 126 || len(streamed) != 126 || s.NotChecked != 0 || s.Block != "203.0.113.0/24" {
		t.Fatalf("addresses %d, streamed %d, not checked %d, block %q", s.Addresses, len(streamed), s.NotChecked, s.Block)
	}
	wantCounts := map[diagnose.Status]int{diagnose.StatusPass: 7, diagnose.StatusFail: 2, diagnose.StatusTemperror: 1, diagnose.StatusPermerror: 116}
	for st, n := range wantCounts {
		if s.Counts[st] != n {
			t.Errorf("%s: %d addresses, want %d (counts %v)", st, s.Counts[st], n, s.Counts)
		}
	}

	groups := []struct {
		code  diagnose.Code
		sev   diagnose.Severity
		addrs string
	}{
		// No PTR in the parent nor in the RFC 2317 child; the SERVFAIL
		// address is not among them.
		{diagnose.CodeNoPTR, diagnose.SeverityError, ".4, .9–.19, .21–.69, .72–.126"},
		{diagnose.CodeForwardMismatch, diagnose.SeverityError, ".7"},
		{diagnose.CodeForwardMissing, diagnose.SeverityError, ".8"},
		{diagnose.CodeDNSError, diagnose.SeverityError, ".20"},
		// Generated names, a provider's default (.6) among them, are one finding.
		{diagnose.CodeGenericPTR, diagnose.SeverityWarning, ".5–.6, .71"},
		{diagnose.CodeClasslessDelegation, diagnose.SeverityInfo, ".64–.126"},
		{diagnose.CodeDocumentationIP, diagnose.SeverityWarning, ".1–.126"},
	}
	for _, want := range groups {
		gr := findGroup(s, want.code, want.sev)
		if gr == nil {
			t.Errorf("no %s/%s group in %+v", want.code, want.sev, s.Findings)
			continue
		}
		if gr.Addresses != want.addrs {
			t.Errorf("%s/%s: addresses %q, want %q", want.code, want.sev, gr.Addresses, want.addrs)
		}
		n := 0
		for _, r := range gr.Ranges {
			n += int(r.Last.As4()[3]) - int(r.First.As4()[3]) + 1
		}
		if n != gr.Count {
			t.Errorf("%s: ranges cover %d addresses, count %d", want.code, n, gr.Count)
		}
	}
	if gr := findGroup(s, diagnose.CodeForwardMismatch, diagnose.SeverityError); gr != nil {
		want := []Detail{{IP: netip.MustParseAddr("203.0.113.7"), Name: "elsewhere.example.com", Addresses: []string{"198.51.100.99"}}}
		if !slices.EqualFunc(gr.Details, want, func(a, b Detail) bool {
			return a.IP == b.IP && a.Name == b.Name && slices.Equal(a.Addresses, b.Addresses)
		}) {
			t.Errorf("forward_mismatch details %+v, want %+v", gr.Details, want)
		}
	}
	if gr := findGroup(s, diagnose.CodeGenericPTR, diagnose.SeverityWarning); gr != nil {
		var names []string
		for _, d := range gr.Details {
			names = append(names, d.Name)
		}
		want := []string{"203-0-113-5.dyn.example.com", "ec2-203-0-113-6.compute-1.amazonaws.com", "203-0-113-71.pool.example.com"}
		if !slices.Equal(names, want) {
			t.Errorf("generic_ptr names %v, want %v", names, want)
		}
	}
	// Failures first: every error group before every warning, warnings
	// before information.
	for i := 1; i < len(s.Findings); i++ {
		if rank(s.Findings[i-1].Severity) > rank(s.Findings[i].Severity) {
			t.Errorf("%s/%s listed before %s/%s", s.Findings[i-1].Code, s.Findings[i-1].Severity, s.Findings[i].Code, s.Findings[i].Severity)
		}
	}
	if s.Findings[0].Code != diagnose.CodeNoPTR {
		t.Errorf("the largest error group is not first: %s", s.Findings[0].Code)
	}

	// The /24 spans two zones: the parent and the RFC 2317 child.
	wantZones := []Zone{
		{Name: "113.0.203.in-addr.arpa", Count: 63, Addresses: ".1–.63", Nameservers: []string{"ns1.example.net", "ns2.example.net"}, Provider: "Parent Net"},
		{Name: "64-26.113.0.203.in-addr.arpa", Classless: true, Count: 63, Addresses: ".64–.126", Nameservers: []string{"ns2.example.net"}, Provider: "Child Hosting"},
	}
	if !slices.EqualFunc(s.ReverseZones, wantZones, func(a, b Zone) bool {
		return a.Name == b.Name && a.Classless == b.Classless && a.Count == b.Count && a.Addresses == b.Addresses &&
			slices.Equal(a.Nameservers, b.Nameservers) && a.Provider == b.Provider
	}) {
		t.Errorf("reverse zones\n%+v\nwant\n%+v", s.ReverseZones, wantZones)
	}
	var providers []string
	for _, p := range s.Providers {
		providers = append(providers, fmt.Sprintf("%s:%d", p.Name, p.Count))
	}
	if want := []string{"Child Hosting:63", "Parent Net:62", "Amazon Web Services (EC2):1"}; !slices.Equal(providers, want) {
		t.Errorf("providers %v, want %v", providers, want)
	}

	var b strings.Builder
	if err := s.Table(&b); err != nil {
		t.Fatal(err)
	}
	table := b.String()
	t.Logf("table:\n%s", table)
	for _, want := range []string{
		"126 addresses in 203.0.113.0/24: 2 fail, 116 permerror, 1 temperror, 7 pass",
		".7 (elsewhere.example.com → 198.51.100.99)",
		"64-26.113.0.203.in-addr.arpa (RFC 2317)",
	} {
		if !strings.Contains(table, want) {
			t.Errorf("table lacks %q:\n%s", want, table)
		}
	}
	if strings.Index(table, "no_ptr") > strings.Index(table, "generic_ptr") {
		t.Errorf("table does not list failures first:\n%s", table)
	}
}

// fakeClock stands in for time in a RatePacer: Sleep moves it on at once.
// Only Check's feeding loop waits, so the clock moves in one line.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	return ctx.Err()
}

// grantLog records when (on the fake clock) each diagnosis was let start.
type grantLog struct {
	*RatePacer
	c      *fakeClock
	mu     sync.Mutex
	grants map[string][]time.Time
}

func (l *grantLog) Wait(ctx context.Context, domain string) error {
	err := l.RatePacer.Wait(ctx, domain)
	l.mu.Lock()
	defer l.mu.Unlock()
	l.grants[domain] = append(l.grants[domain], l.c.Now())
	return err
}

// interleave yields the addresses of a and b alternately.
func interleave(a, b Set) iter.Seq[netip.Addr] {
	return func(yield func(netip.Addr) bool) {
		na, sa := iter.Pull(a.All())
		defer sa()
		nb, sb := iter.Pull(b.All())
		defer sb()
		for {
			x, okx := na()
			y, oky := nb()
			if okx && !yield(x) || oky && !yield(y) || !okx && !oky {
				return
			}
		}
	}
}

// zoneQueries is what one diagnosis asks of its reverse zone with two name
// servers, as DefaultZoneRate's documentation and README ("Pools") count
// it: PTR and NS at the address's name through the resolver and the PTR
// from each server; the zone's own NS, asked once per Check, adds a
// fraction. The pacing test checks it against the query log.
const zoneQueries = 4

func TestPacing(t *testing.T) {
	g, d := world(t)
	const rate = 50 // diagnoses per second and domain
	c := &fakeClock{now: time.Unix(1e9, 0)}
	rp := NewRatePacer(rate)
	rp.clock = c
	log := &grantLog{RatePacer: rp, c: c, grants: map[string][]time.Time{}}
	a, b := set(t, "203.0.113.1-30"), set(t, "198.51.100.1-20")
	start := c.Now()
	rep := Check(context.Background(), d.Session(), interleave(a, b), Config{Pacer: log, concurrency: 8})
	if s := rep.Summary(); s.Addresses != 50 {
		t.Fatalf("%d addresses diagnosed, want 50", s.Addresses)
	}

	interval := time.Second / rate
	for domain, want := range map[string]int{"0.203.in-addr.arpa": 30, "51.198.in-addr.arpa": 20} {
		ts := log.grants[domain]
		if len(ts) != want {
			t.Errorf("%s: %d diagnoses let start, want %d", domain, len(ts), want)
			continue
		}
		for i := 1; i < len(ts); i++ {
			if gap := ts[i].Sub(ts[i-1]); gap < interval {
				t.Errorf("%s: diagnoses %d and %d started %v apart, less than %v", domain, i-1, i, gap, interval)
			}
		}
	}
	// The two domains are paced apart: together they take as long as the
	// longer one alone, not as long as one queue of all 50.
	if elapsed := c.Now().Sub(start); elapsed != 29*interval {
		t.Errorf("pacing took %v of clock, want %v (29 intervals of the larger domain)", elapsed, 29*interval)
	}

	// What reaches a zone's servers: queries per diagnosis, from the log.
	// Both zones have two servers; 113.0.203 mostly holds no PTR, 100.51.198
	// one per address. A query retried after a timeout on a loaded machine
	// may add a few, not one per diagnosis.
	asked := map[string]int{}
	for _, s := range g {
		for _, q := range s.Queries() {
			for _, z := range []string{"113.0.203.in-addr.arpa.", "100.51.198.in-addr.arpa."} {
				if dns.IsSubDomain(z, q.Name) {
					asked[z]++
				}
			}
		}
	}
	for z, n := range map[string]int{"113.0.203.in-addr.arpa.": 30, "100.51.198.in-addr.arpa.": 20} {
		if asked[z] < zoneQueries*n || asked[z] >= (zoneQueries+1)*n {
			t.Errorf("%s: %d queries for %d diagnoses, want about %d each", z, asked[z], n, zoneQueries)
		}
		t.Logf("%s: %.2f queries per diagnosis", z, float64(asked[z])/float64(n))
	}
}

func TestRatePacerForgetsIdleDomains(t *testing.T) {
	c := &fakeClock{now: time.Unix(1e9, 0)}
	p := NewRatePacer(10)
	p.clock = c
	ctx := context.Background()
	const idle = 2000
	for i := range idle {
		if err := p.Wait(ctx, fmt.Sprint("d", i)); err != nil {
			t.Fatal(err)
		}
		c.Sleep(ctx, time.Second) // every domain goes idle
	}
	// keyrate sweeps past slots once the map has doubled since its last
	// sweep (from 256 keys on): a shared pacer does not grow with every
	// block ever checked.
	if n := p.slots.Len(); n > 512 {
		t.Errorf("the pacer remembers %d of %d idle domains", n, idle)
	}
	if err := p.Wait(ctx, "busy"); err != nil {
		t.Fatal(err)
	}
	before := c.Now()
	if err := p.Wait(ctx, "busy"); err != nil || c.Now().Sub(before) != 100*time.Millisecond {
		t.Errorf("second diagnosis of a domain waited %v (err %v), want 100ms", c.Now().Sub(before), err)
	}
}

// A cancelled check reports what it did not check, never as a DNS failure.
func TestCheckCancelled(t *testing.T) {
	_, d := world(t)
	addrs := set(t, "203.0.113.1-40")

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if s := Check(ctx, d.Session(), addrs.All(), Config{}).Summary(); s.Addresses != 0 || s.NotChecked != 40 {
		t.Errorf("cancelled before: %d diagnosed, %d not checked; want 0, 40", s.Addresses, s.NotChecked)
	}

	ctx, cancel = context.WithCancel(context.Background())
	defer cancel()
	s := Check(ctx, d.Session(), addrs.All(), Config{concurrency: 4, Pacer: unpaced, OnResult: func(diagnose.Result) { cancel() }}).Summary()
	if s.Addresses < 1 || s.Addresses+s.NotChecked != 40 || s.Counts[diagnose.StatusTemperror] != 0 {
		t.Errorf("cancelled after the first result: %d diagnosed (%v), %d not checked", s.Addresses, s.Counts, s.NotChecked)
	}
}

// The addresses of one Check share what they have in common: the reverse
// zone's NS is asked of the resolver about once, not once per address; a
// second Check asks again.
func TestCheckSharesZoneAnswers(t *testing.T) {
	g, d := world(t)
	zoneNS := func() int {
		n := 0
		for _, q := range g[0].Queries() {
			if q.RD && q.Type == dns.TypeNS && q.Name == "113.0.203.in-addr.arpa." {
				n++
			}
		}
		return n
	}
	addrs := set(t, "203.0.113.1-30")
	for i := 1; i <= 2; i++ {
		rep := Check(context.Background(), d.Session(), addrs.All(), Config{Pacer: unpaced})
		if s := rep.Summary(); s.Addresses != 30 {
			t.Fatalf("%d addresses diagnosed, want 30", s.Addresses)
		}
		// A query that timed out is asked again (attempts, and by the
		// other diagnoses): a loaded machine may add a few.
		if n := zoneNS(); n < i || n > 3*i {
			t.Errorf("after %d checks of 30 addresses the zone's NS was asked %d times, want %d to %d", i, n, i, 3*i)
		}
	}
}

// TestRatePacersShareABudget: two pacers booking in one budget (the bot's
// pool checks and another caller) give a domain one rate in all.
func TestRatePacersShareABudget(t *testing.T) {
	c := &fakeClock{now: time.Unix(1e9, 0)}
	budget := keyrate.New(0)
	a, b := NewRatePacerIn(budget, 10), NewRatePacerIn(budget, 10)
	a.clock, b.clock = c, c
	start := c.Now()
	for range 5 {
		for _, p := range []*RatePacer{a, b} {
			if err := p.Wait(context.Background(), "0.203.in-addr.arpa"); err != nil {
				t.Fatal(err)
			}
		}
	}
	// Ten diagnoses at 10 a second: the tenth starts 0.9 s after the first.
	if got := c.Now().Sub(start); got != 900*time.Millisecond {
		t.Errorf("ten waits took %s of the clock; want 900ms (one budget), not 400ms (one each)", got)
	}
}
