package pool

import (
	"context"
	"iter"
	"net/netip"
	"slices"
	"sync"

	"github.com/rdnsbot/rdnsbot/diagnose"
)

// Defaults of Config.
const (
	// defaultConcurrency is how many addresses are diagnosed at once. A
	// diagnosis has several queries in flight at a time (its second round
	// asks A, AAAA, the zone cuts and SPF together, its third each
	// authoritative server), so 64 addresses mean a few hundred queries in
	// flight: BenchmarkPool24 measured a peak of about 370 (≈6 per
	// address) on a /24 where every address passes, 150 where most have
	// no PTR.
	defaultConcurrency = 64
	// DefaultZoneRate is how many diagnoses per second start under one
	// PaceDomain. Each asks the reverse zone about four questions with two
	// servers (TestPacing counts them: 4.0 to 4.1): PTR and NS at the
	// address's name through the resolver, cache misses a real resolver
	// passes on, and the PTR from each of the zone's servers directly; the
	// zone's own NS is asked once per Check (its diagnoses share a
	// Session). 100 per second is thus some 400 queries per second at a
	// zone with two servers, split between them; a /24 takes 2.5 s.
	DefaultZoneRate = 100
)

// Config configures Check. Zero values mean the defaults.
type Config struct {
	// Pacer paces the diagnoses (default a RatePacer at DefaultZoneRate,
	// for this Check alone; NewRatePacer(math.Inf(1)) does not pace).
	Pacer Pacer
	// Options are given to every diagnosis (the HELO name).
	Options diagnose.Options
	// OnResult, when set, receives every full result, one call at a time,
	// in the order the diagnoses end: for callers that print or stream
	// them. The Report keeps only what its Summary needs.
	OnResult func(diagnose.Result)

	// concurrency bounds the addresses diagnosed at once (default
	// defaultConcurrency); tests lower it.
	concurrency int
}

// Check diagnoses every address of addrs (distinct ones: a Set gives them)
// and folds the results into a Report. When ctx ends (or Pacer fails),
// addresses not diagnosed yet, and those whose diagnosis it cut short, are
// counted as not checked: a cancelled check is no DNS failure. Addresses
// start in order, so a pacing wait in one domain also holds back the
// addresses after it. They are diagnosed in sess, so that they share the
// answers about their reverse zone, its name servers and their forward
// zones (a /24 asks some 500 questions fewer).
func Check(ctx context.Context, sess *diagnose.Session, addrs iter.Seq[netip.Addr], cfg Config) Report {
	if cfg.concurrency <= 0 {
		cfg.concurrency = defaultConcurrency
	}
	if cfg.Pacer == nil {
		cfg.Pacer = NewRatePacer(DefaultZoneRate)
	}
	var (
		mu  sync.Mutex
		rep = newReport()
		wg  sync.WaitGroup
		sem = make(chan struct{}, cfg.concurrency)
	)
	for a := range addrs {
		// A slot first, then the pace: a diagnosis starts as soon as it is
		// let, so waiting for a slot never bunches paced starts together.
		sem <- struct{}{}
		if ctx.Err() != nil || cfg.Pacer.Wait(ctx, PaceDomain(a)) != nil {
			<-sem
			mu.Lock()
			rep.notChecked++
			mu.Unlock()
			continue // count the rest: the iterator is bounded by its Set
		}
		wg.Go(func() {
			defer func() { <-sem }()
			r := sess.DiagnoseIP(ctx, a, cfg.Options)
			mu.Lock()
			defer mu.Unlock()
			if ctx.Err() != nil {
				rep.notChecked++
				return
			}
			rep.add(a, &r)
			if cfg.OnResult != nil {
				cfg.OnResult(r)
			}
		})
	}
	wg.Wait()
	return rep
}

// Report is what a Check established, kept compactly: per address, its
// status count and its place in the lists of its findings and reverse zone
// (about 120 bytes in all, BenchmarkReport measures it), plus the PTR
// names and addresses a Summary cites. Read it through Summary.
type Report struct {
	counts     map[diagnose.Status]int
	notChecked int
	groups     map[groupKey]*group
	zones      map[string]*zoneAcc
	noZone     int
	providers  map[string]*providerAcc
	block      netip.Prefix // the one IPv4 /24 every address lies in, if any
	mixed      bool         // the addresses span more than one /24 or are IPv6
}

type groupKey struct {
	code diagnose.Code
	sev  diagnose.Severity
}

type group struct {
	addrs   []netip.Addr
	details []Detail
}

type zoneAcc struct {
	classless   bool
	addrs       []netip.Addr
	nameservers []string
	providers   map[string]int // addresses per provider name
}

type providerAcc struct {
	p diagnose.Provider
	n int
}

func newReport() Report {
	return Report{
		counts:    map[diagnose.Status]int{},
		groups:    map[groupKey]*group{},
		zones:     map[string]*zoneAcc{},
		providers: map[string]*providerAcc{},
	}
}

func (rep *Report) add(a netip.Addr, r *diagnose.Result) {
	a = a.Unmap()
	rep.counts[r.Status]++
	rep.noteBlock(a)
	classless := false
	var seen []groupKey
	for _, f := range r.Findings {
		k := groupKey{f.Code, f.Severity}
		classless = classless || f.Code == diagnose.CodeClasslessDelegation
		if slices.Contains(seen, k) {
			continue
		}
		seen = append(seen, k)
		g := rep.groups[k]
		if g == nil {
			g = &group{}
			rep.groups[k] = g
		}
		g.addrs = append(g.addrs, a)
		g.details = append(g.details, details(a, f.Code, r)...)
	}
	if r.ReverseZone == "" {
		rep.noZone++
	} else {
		z := rep.zones[r.ReverseZone]
		if z == nil {
			z = &zoneAcc{nameservers: slices.Clone(r.ReverseNameservers), providers: map[string]int{}}
			rep.zones[r.ReverseZone] = z
		}
		z.addrs = append(z.addrs, a)
		z.classless = z.classless || classless
		if r.Provider != nil {
			z.providers[r.Provider.Name]++
		}
	}
	if r.Provider != nil {
		p := rep.providers[r.Provider.Name]
		if p == nil {
			p = &providerAcc{p: *r.Provider}
			rep.providers[r.Provider.Name] = p
		}
		p.n++
	}
}

// noteBlock keeps the /24 all addresses share, for the short ".5" form.
func (rep *Report) noteBlock(a netip.Addr) {
	switch {
	case rep.mixed:
	case !a.Is4():
		rep.mixed = true
	case !rep.block.IsValid():
		rep.block = netip.PrefixFrom(a, 24).Masked()
	case !rep.block.Contains(a):
		rep.mixed = true
	}
}

// details are the names a finding is about, from the result's typed
// fields: for forward_mismatch each PTR name whose addresses leave out the
// IP (name → addresses), for generic_ptr the PTR name.
func details(a netip.Addr, c diagnose.Code, r *diagnose.Result) []Detail {
	var out []Detail
	switch c {
	case diagnose.CodeForwardMismatch:
		for _, n := range r.PTRNames {
			fwd := r.Forward[n]
			if len(fwd) > 0 && !slices.Contains(fwd, a.String()) {
				out = append(out, Detail{IP: a, Name: n, Addresses: fwd})
			}
		}
	case diagnose.CodeGenericPTR:
		if len(r.PTRNames) > 0 {
			out = append(out, Detail{IP: a, Name: r.PTRNames[0]})
		}
	}
	return out
}
