package smtpprobe

import (
	"context"
	"net/netip"
	"sync"

	"github.com/rdnsbot/rdnsbot/diagnose"
)

// maxConcurrentProbes bounds the probes one ProbeResults call runs at once.
const maxConcurrentProbes = 4

// ProbeResults probes each distinct address of results once (after the
// diagnosis, whose PTR names the greeting is compared with), charged to
// workspace, and appends the probe's findings to every result of that
// address: the one step the CLI (bot diagnose --smtp) and the Slack bot
// (/rdns IP smtp) share. Each probe keeps to the prober's budget, so the
// whole call takes about one budget per four addresses at most.
func (p *Prober) ProbeResults(ctx context.Context, results []diagnose.Result, workspace string) {
	byIP := map[netip.Addr][]int{}
	var order []netip.Addr
	for i := range results {
		ip, err := netip.ParseAddr(results[i].IP)
		if err != nil {
			continue
		}
		if _, seen := byIP[ip]; !seen {
			order = append(order, ip)
		}
		byIP[ip] = append(byIP[ip], i)
	}
	found := make([][]diagnose.Finding, len(order))
	slots := make(chan struct{}, maxConcurrentProbes)
	var wg sync.WaitGroup
	for n, ip := range order {
		wg.Go(func() {
			slots <- struct{}{}
			defer func() { <-slots }()
			first := &results[byIP[ip][0]]
			found[n] = findings(p.probe(ctx, ip, workspace), ip, first.PTRNames)
		})
	}
	wg.Wait()
	for n, ip := range order {
		for _, i := range byIP[ip] {
			results[i].Findings = append(results[i].Findings, found[n]...)
		}
	}
}
