package diagnose

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"sync"

	"github.com/miekg/dns"
)

// maxConcurrentDiagnoses bounds the diagnoses one DiagnoseTargets call runs
// at once: each sends a dozen queries, and a list of targets must not turn
// into a burst of hundreds at the resolver.
const maxConcurrentDiagnoses = 8

// Outcome is what DiagnoseTargets found for one target, as typed: the
// results of its addresses (one for an IP address, A before AAAA for a host
// name), and why there are none or not all of them. Err wraps
// ErrInvalidTarget, ErrNoAddress, ErrLookup or ErrTooManyAddresses; with
// ErrLookup or ErrTooManyAddresses, Results may hold the addresses that were
// diagnosed.
type Outcome struct {
	Target  string
	Results []Result
	Err     error
}

// Batch is what DiagnoseTargets did: an Outcome per target, in target
// order, and the diagnoses that actually ran, each once (an address named by
// several targets is diagnosed once per host name asked about).
type Batch struct {
	Outcomes  []Outcome
	Diagnoses []Result
}

// Results are every target's results, in target order.
func (b Batch) Results() []Result {
	var out []Result
	for _, o := range b.Outcomes {
		out = append(out, o.Results...)
	}
	return out
}

// DiagnoseTargets diagnoses several targets (IP addresses in any textual
// form, or host names) together, the one loop the Slack bot and the CLI
// share: unusable targets are reported in their Outcome and the others are
// still diagnosed; host names are resolved concurrently; an address that
// several targets name is diagnosed once (ten host names on the same eight
// addresses send each DNS question once); at most maxConcurrentDiagnoses run
// at once. opts applies to every address; a host name's addresses are
// diagnosed with Options.Name set to it (finding name_not_ptr), so the same
// address under two names is evaluated twice, from the same answers.
func (d *Diagnoser) DiagnoseTargets(ctx context.Context, targets []string, opts Options) Batch {
	x := d.newDiagnosis() // one answer per question for the whole batch
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
			addrs[i] = []netip.Addr{ip}
		default:
			names[i] = dns.Fqdn(strings.TrimSpace(t))
			wg.Go(func() { addrs[i], outs[i].Err = x.hostAddrs(ctx, names[i]) })
		}
	}
	wg.Wait()

	// One diagnosis per distinct (address, name), shared by every target
	// naming it.
	type job struct {
		ip   netip.Addr
		name string
	}
	index := map[job]int{}
	var jobs []job
	for i, list := range addrs {
		for _, ip := range list {
			j := job{ip, names[i]}
			if _, ok := index[j]; !ok {
				index[j] = len(jobs)
				jobs = append(jobs, j)
			}
		}
	}
	diagnosed := make([]Result, len(jobs))
	slots := make(chan struct{}, maxConcurrentDiagnoses)
	for i, j := range jobs {
		wg.Go(func() {
			slots <- struct{}{}
			defer func() { <-slots }()
			o := opts
			if j.name != "" {
				o.Name = j.name
			}
			diagnosed[i] = x.diagnose(ctx, j.ip.String(), j.ip, o)
		})
	}
	wg.Wait()
	for i, list := range addrs {
		for _, ip := range list {
			r := diagnosed[index[job{ip, names[i]}]]
			r.Target = targets[i]
			outs[i].Results = append(outs[i].Results, r)
		}
	}
	return Batch{Outcomes: outs, Diagnoses: diagnosed}
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
		errs = append(errs, fmt.Errorf("%w: %s %v; DNS did not answer for that family, so its addresses are unknown and were not diagnosed", ErrLookup, name, a.err))
	}
	list, distinct := capAddrs(a.list, MaxHostAddresses)
	if len(list) < distinct {
		errs = append(errs, fmt.Errorf("%w: %s has %d addresses; only %d were diagnosed, of both families",
			ErrTooManyAddresses, name, distinct, len(list)))
	}
	return list, joinLine(errs...)
}
