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

// Batch is what DiagnoseTargets did: an Outcome per target, in target order,
// and how many diagnoses actually ran (an address named by several targets
// is diagnosed once).
type Batch struct {
	Outcomes  []Outcome
	Diagnosed int
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
// addresses cost eight diagnoses, not eighty); at most
// maxConcurrentDiagnoses run at once. opts applies to every address.
func (d *Diagnoser) DiagnoseTargets(ctx context.Context, targets []string, opts Options) Batch {
	ctx = withMemo(ctx) // one answer per question for the whole batch
	outs := make([]Outcome, len(targets))
	addrs := make([][]netip.Addr, len(targets))
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
			wg.Go(func() { addrs[i], outs[i].Err = d.hostAddrs(ctx, t) })
		}
	}
	wg.Wait()

	// One diagnosis per distinct address, shared by every target naming it.
	results := map[netip.Addr]*Result{}
	var order []netip.Addr
	for _, list := range addrs {
		for _, ip := range list {
			if _, ok := results[ip]; !ok {
				results[ip] = nil
				order = append(order, ip)
			}
		}
	}
	diagnosed := make([]Result, len(order))
	slots := make(chan struct{}, maxConcurrentDiagnoses)
	for i, ip := range order {
		wg.Go(func() {
			slots <- struct{}{}
			defer func() { <-slots }()
			diagnosed[i] = d.DiagnoseIP(ctx, ip, opts)
		})
	}
	wg.Wait()
	for i, ip := range order {
		results[ip] = &diagnosed[i]
	}
	for i, list := range addrs {
		for _, ip := range list {
			r := *results[ip]
			r.Target = targets[i]
			outs[i].Results = append(outs[i].Results, r)
		}
	}
	return Batch{Outcomes: outs, Diagnosed: len(order)}
}

// hostAddrs resolves a host name to the addresses to diagnose (A and AAAA,
// capped at MaxHostAddresses with both families kept). A family that did not
// answer, or addresses beyond the cap, come back as an error together with
// the addresses that were found.
func (d *Diagnoser) hostAddrs(ctx context.Context, target string) ([]netip.Addr, error) {
	ctx, cancel := context.WithTimeout(ctx, d.cfg.Timeout)
	defer cancel()
	host := dns.Fqdn(strings.TrimSpace(target))
	name := strings.TrimSuffix(host, ".")
	a := d.lookupAddrs(ctx, "", host)
	switch {
	case len(a.list) == 0 && a.err != nil:
		return nil, fmt.Errorf("%w: %s: %v", ErrLookup, name, a.err)
	case len(a.list) == 0:
		return nil, fmt.Errorf("%w: %s", ErrNoAddress, name)
	}
	var errs []error
	if a.err != nil {
		errs = append(errs, fmt.Errorf("%w: %v; DNS did not answer for that family, so its addresses are unknown and were not diagnosed", ErrLookup, a.err))
	}
	list, distinct := capAddrs(a.list, MaxHostAddresses)
	if len(list) < distinct {
		errs = append(errs, fmt.Errorf("%w: %s has %d addresses; only %d were diagnosed, of both families",
			ErrTooManyAddresses, name, distinct, len(list)))
	}
	return list, joinLine(errs...)
}
