package diagnose

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"
)

// maxConcurrentDiagnoses bounds the diagnoses one DiagnoseTargets call runs
// at once: each sends a dozen queries, and a list of targets must not turn
// into a burst of hundreds at the resolver.
const maxConcurrentDiagnoses = 8

// MaxBatchAddresses caps the distinct addresses one DiagnoseTargets call
// diagnoses, whatever its targets resolve to: ten host names of eight
// addresses each would otherwise be 80 diagnoses and a reply too long to
// read. It applies after deduplication, in target order; the targets whose
// addresses were left out say so (ErrBatchCap).
const MaxBatchAddresses = 16

// Outcome is what DiagnoseTargets found for one target, as typed: the
// results of its addresses (one for an IP address, A before AAAA for a host
// name), and why there are none or not all of them. Err wraps
// ErrInvalidTarget, ErrNoAddress, ErrLookup, ErrTooManyAddresses or
// ErrBatchCap; with ErrLookup, ErrTooManyAddresses or ErrBatchCap, Results
// may hold the addresses that were diagnosed.
type Outcome struct {
	Target  string
	Results []Result
	Err     error
}

// Batch is what DiagnoseTargets did: an Outcome per target, in target
// order, and the diagnoses that actually ran, one per distinct address
// whose DNS this call asked (its first target's result). Addresses answered by another request's
// diagnosis (in flight, or finished within Config.Reuse) are counted in
// Reused instead.
type Batch struct {
	Outcomes  []Outcome
	Diagnoses []Result
	Reused    int
}

// Results are every target's results, in target order: an address named by
// several targets appears once per target.
func (b Batch) Results() []Result {
	var out []Result
	for _, o := range b.Outcomes {
		out = append(out, o.Results...)
	}
	return out
}

// Distinct is one Result per distinct address, in the order targets first
// name them, for a reply that shows each address once: the first target's
// result, with the findings the other targets' names added (name_not_ptr
// for each name the PTR does not give).
func (b Batch) Distinct() []Result {
	var out []Result
	at := map[string]int{}
	for _, o := range b.Outcomes {
		for _, r := range o.Results {
			i, seen := at[r.IP]
			if !seen {
				at[r.IP] = len(out)
				r.Findings = slices.Clone(r.Findings)
				out = append(out, r)
				continue
			}
			for _, f := range r.Findings {
				if !slices.Contains(out[i].Findings, f) {
					out[i].Findings = append(out[i].Findings, f)
				}
			}
		}
	}
	return out
}

// DiagnoseTargets diagnoses several targets (IP addresses in any textual
// form, or host names) together, the one loop the Slack bot and the CLI
// share: unusable targets are reported in their Outcome and the others are
// still diagnosed; host names are resolved concurrently; each distinct
// address is looked up once (ten host names on the same eight addresses are
// eight diagnoses), at most MaxBatchAddresses of them and at most
// maxConcurrentDiagnoses at once. opts applies to every address; a host
// name's results are built with Options.Name set to it (finding
// name_not_ptr), from the same answers, without asking DNS again.
//
// Requests coalesce: a diagnosis of the same address and HELO that another
// call is running is waited for, not repeated, and one finished within
// Config.Reuse answers again, unless opts.Fresh (a recheck) asks DNS anew.
// DiagnoseIP never reuses.
func (d *Diagnoser) DiagnoseTargets(ctx context.Context, targets []string, opts Options) Batch {
	return d.Session().DiagnoseTargets(ctx, targets, opts) // one answer per question for the whole batch
}

// DiagnoseTargets is Diagnoser.DiagnoseTargets within the session: for a
// caller that also checks a pool in it (bot diagnose with host names and
// pools asks each shared question once).
func (x *Session) DiagnoseTargets(ctx context.Context, targets []string, opts Options) Batch {
	d := x.d
	outs := make([]Outcome, len(targets))
	addrs := make([][]netip.Addr, len(targets))
	names := make([]string, len(targets))
	var wg sync.WaitGroup
	for i, t := range targets {
		outs[i].Target = t
		ip, isIP, err := ParseTarget(t)
		switch {
		case err != nil:
			outs[i].Err = err
		case isIP:
			addrs[i] = []netip.Addr{ip.Unmap()}
		default:
			names[i] = dns.Fqdn(strings.TrimSpace(t))
			wg.Go(func() { addrs[i], outs[i].Err = x.begin().hostAddrs(ctx, names[i]) })
		}
	}
	wg.Wait()

	// The distinct addresses, in target order, capped.
	index := map[netip.Addr]int{}
	var distinct []netip.Addr
	for i, list := range addrs {
		kept := list[:0:0]
		for _, ip := range list {
			if _, ok := index[ip]; !ok {
				if len(distinct) == MaxBatchAddresses {
					continue
				}
				index[ip] = len(distinct)
				distinct = append(distinct, ip)
			}
			kept = append(kept, ip)
		}
		if len(kept) < len(list) {
			outs[i].Err = joinLine(outs[i].Err, fmt.Errorf("%w: %s: one request diagnoses at most %d distinct addresses; %d of this target's were left out",
				ErrBatchCap, strings.TrimSuffix(outs[i].Target, "."), MaxBatchAddresses, len(list)-len(kept)))
		}
		addrs[i] = kept
	}
	found := make([]*facts, len(distinct))
	ran := make([]bool, len(distinct))
	slots := make(chan struct{}, maxConcurrentDiagnoses)
	for i, ip := range distinct {
		wg.Go(func() {
			slots <- struct{}{}
			defer func() { <-slots }()
			found[i], ran[i] = d.flights.lookUp(ctx, x, ip, opts)
		})
	}
	wg.Wait()
	// Each address's first report stands for its diagnosis in Diagnoses:
	// reports are built once per target, never again for the count.
	type place struct{ outcome, result int }
	first := make([]*place, len(distinct))
	for i, list := range addrs {
		o := opts
		if names[i] != "" {
			o.Name = names[i]
		}
		for _, ip := range list {
			k := index[ip]
			outs[i].Results = append(outs[i].Results, d.report(ctx, found[k], targets[i], o))
			if first[k] == nil {
				first[k] = &place{i, len(outs[i].Results) - 1}
			}
		}
	}
	b := Batch{Outcomes: outs}
	for k, p := range first {
		if ran[k] {
			b.Diagnoses = append(b.Diagnoses, outs[p.outcome].Results[p.result])
		} else {
			b.Reused++
		}
	}
	return b
}

// hostAddrs resolves a host name to the addresses to diagnose (A and AAAA,
// capped at MaxHostAddresses with both families kept). A family that did not
// answer, or addresses beyond the cap, come back as an error together with
// the addresses that were found.
func (d *diagnosis) hostAddrs(ctx context.Context, host string) ([]netip.Addr, error) {
	ctx, cancel := context.WithTimeout(ctx, d.cfg.Timeout)
	defer cancel()
	name := strings.TrimSuffix(host, ".")
	a := d.lookupAddrs(ctx, "", host)
	switch {
	case len(a.list) == 0 && a.err != nil:
		return nil, fmt.Errorf("%w: %s %v", ErrLookup, name, a.err)
	case len(a.list) == 0:
		return nil, fmt.Errorf("%w: %s", ErrNoAddress, name)
	}
	var errs []error
	if a.err != nil {
		// One family answered, the other did not: its addresses (say the
		// IPv6 one without PTR) are unknown, not absent.
		errs = append(errs, fmt.Errorf("%w: %s %v; DNS did not answer for that family, so its addresses are unknown and were not diagnosed", ErrLookup, name, a.err))
	}
	list, distinct := capAddrs(a.list, MaxHostAddresses)
	if len(list) < distinct {
		errs = append(errs, fmt.Errorf("%w: %s has %d addresses; only %d were diagnosed, of both families",
			ErrTooManyAddresses, name, distinct, len(list)))
	}
	return list, joinLine(errs...)
}

// DefaultReuse is how long a finished diagnosis answers repeated requests
// of DiagnoseTargets when Config.Reuse is zero.
const DefaultReuse = 10 * time.Second

// maxReused bounds the finished diagnoses kept for reuse: past it, new ones
// are not kept (each is a few kilobytes of answers).
const maxReused = 4096

// flights coalesces the DNS side of diagnoses (lookUp) across requests:
// one per address and HELO at a time, kept for reuse a short while after.
type flights struct {
	reuse time.Duration // <= 0: never reused after it finished
	mu    sync.Mutex
	m     map[flightKey]*flight
}

// flightKey is what a lookUp depends on: the address, and the HELO whose
// SPF it checks. Options.Name is not asked about (report uses it).
type flightKey struct {
	ip   netip.Addr
	helo string
}

// flight is one lookUp, running until done is closed; then f is set and,
// when until is not zero, it may be reused until then.
type flight struct {
	done  chan struct{}
	f     *facts
	until time.Time
}

func newFlights(reuse time.Duration) *flights {
	return &flights{reuse: reuse, m: map[flightKey]*flight{}}
}

// lookUp returns ip's facts: those of a lookUp in flight or reusable, or
// its own (ran is true, and then x asked DNS). With opts.Fresh it always
// asks, and what it finds replaces the reusable facts. Its own lookUp runs
// to the end even when ctx ends first, within Config.Timeout: others may be
// waiting for it.
func (g *flights) lookUp(ctx context.Context, x *Session, ip netip.Addr, opts Options) (f *facts, ran bool) {
	k := flightKey{ip, strings.ToLower(strings.TrimSpace(opts.HELO))}
	now := time.Now()
	g.mu.Lock()
	fl := g.m[k]
	reusable := fl != nil && !opts.Fresh && (!closed(fl.done) || now.Before(fl.until))
	if reusable {
		g.mu.Unlock()
		<-fl.done
		return fl.f, false
	}
	fl = &flight{done: make(chan struct{})}
	if len(g.m) >= maxReused {
		g.prune(now)
	}
	if _, replaces := g.m[k]; replaces || len(g.m) < maxReused {
		g.m[k] = fl
	}
	g.mu.Unlock()

	fl.f = x.lookUp(context.WithoutCancel(ctx), ip, opts)
	g.mu.Lock()
	if g.reuse > 0 && fl.f.status != StatusTemperror {
		// A temperror is not kept: the next request asks again.
		fl.until = time.Now().Add(g.reuse)
	} else if g.m[k] == fl {
		delete(g.m, k)
	}
	close(fl.done)
	g.mu.Unlock()
	return fl.f, true
}

// prune forgets finished flights past reuse; g.mu is held.
func (g *flights) prune(now time.Time) {
	for k, fl := range g.m {
		if closed(fl.done) && !now.Before(fl.until) {
			delete(g.m, k)
		}
	}
}
