package pool

import (
	"cmp"
	"context"
	"net/netip"
	"runtime"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/rdnsbot/rdnsbot/diagnose"
	"github.com/rdnsbot/rdnsbot/dnstest"
)

// BenchmarkPool24 checks a /24 (254 addresses) through dnstest servers that
// add 20 ms to every query: 198.51.100.0/24, where every address passes
// (PTR, A and SPF lookups for each: the heavy case), and 203.0.113.0/24,
// mostly without PTR, with an RFC 2317 child zone.
// Besides ns/op it reports, per check: queries/op (from the servers' logs),
// queries/address, peak-inflight (the most queries the servers held at
// once), repeat-queries/op (questions asked of the same server before in
// the same check: what a per-pool cache of shared lookups would save) and
// alloc-B/address (all bytes allocated, diagnose's and dnstest's included)
// and cpu-ms/op (the process's CPU time, the servers' included).
// BenchmarkReport measures what the Report keeps.
func BenchmarkPool24(b *testing.B) {
	for _, bc := range []struct {
		name, block string
		cfg         Config
	}{
		{"pass/pacing=off", "198.51.100.0/24", Config{Pacer: unpaced}},
		{"pass/pacing=default", "198.51.100.0/24", Config{}},
		{"noptr/pacing=off", "203.0.113.0/24", Config{Pacer: unpaced}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			g, d := world(b)
			for _, s := range g {
				s.SetFault("", 0, dnstest.Fault{Delay: 20 * time.Millisecond})
			}
			addrs := set(b, bc.block)
			n := addrs.Len()
			var queries, repeats, peak int
			var m0, m1 runtime.MemStats
			runtime.ReadMemStats(&m0)
			cpu0 := cpuTime(b)
			for b.Loop() {
				g.ResetLog()
				rep := Check(context.Background(), d.Session(), addrs.All(), bc.cfg)
				if s := rep.Summary(); s.Addresses != n {
					b.Fatalf("%d of %d addresses diagnosed", s.Addresses, n)
				}
				q, r, p := queryStats(g)
				queries, repeats, peak = queries+q, repeats+r, max(peak, p)
			}
			runtime.ReadMemStats(&m1)
			cpu := cpuTime(b) - cpu0
			ops := float64(b.N)
			b.ReportMetric(float64(cpu.Milliseconds())/ops, "cpu-ms/op")
			b.ReportMetric(float64(queries)/ops, "queries/op")
			b.ReportMetric(float64(queries)/ops/float64(n), "queries/address")
			b.ReportMetric(float64(repeats)/ops, "repeat-queries/op")
			b.ReportMetric(float64(peak), "peak-inflight")
			b.ReportMetric(float64(m1.TotalAlloc-m0.TotalAlloc)/ops/float64(n), "alloc-B/address")
		})
	}
}

// cpuTime is the CPU time the process has used (user and system), the
// servers' included: on a shared machine a steadier measure of the work
// than ns/op.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// queryStats reads the servers' logs: how many queries, how many repeated
// a question the same server had already been asked, and the most that
// were in the servers' hands at once.
func queryStats(g dnstest.Group) (total, repeats, peak int) {
	type question struct {
		server int
		name   string
		qtype  uint16
		rd     bool
	}
	seen := map[question]bool{}
	type edge struct {
		at    uint64 // dnstest's process-wide event number
		delta int
	}
	var edges []edge
	for i, s := range g {
		for _, q := range s.Queries() {
			total++
			k := question{i, q.Name, q.Type, q.RD}
			if seen[k] {
				repeats++
			}
			seen[k] = true
			if q.Answered == 0 {
				continue // dropped: never answered, never in flight at the server
			}
			edges = append(edges, edge{q.Arrived, 1}, edge{q.Answered, -1})
		}
	}
	slices.SortFunc(edges, func(a, b edge) int {
		return cmp.Compare(a.at, b.at) // event numbers are unique
	})
	cur := 0
	for _, e := range edges {
		cur += e.delta
		peak = max(peak, cur)
	}
	return total, repeats, peak
}

// BenchmarkReport folds the results of a /22 into a Report: B/op over
// 1022 is what adding costs per address; kept-B/address is the heap the
// finished Report holds, measured after a collection.
func BenchmarkReport(b *testing.B) {
	p, err := Parse("198.51.100.0/22")
	if err != nil {
		b.Fatal(err)
	}
	// A typical mix: a PTR-less majority, some passes with a generated
	// name, some pointing elsewhere; two zones, one provider.
	var results []diagnose.Result
	for a := range p.All() {
		r := diagnose.Result{IP: a.String(), Status: diagnose.StatusPermerror, ReverseZone: "51.198.in-addr.arpa",
			ReverseNameservers: []string{"ns1.example.net", "ns2.example.net"}, Provider: &diagnose.Provider{Name: "Example"},
			Findings: []diagnose.Finding{{Code: diagnose.CodeNoPTR, Severity: diagnose.SeverityError}, {Code: diagnose.CodeDocumentationIP, Severity: diagnose.SeverityWarning}}}
		switch o := a.As4()[3]; {
		case o%4 == 1:
			r.Status, r.PTRNames = diagnose.StatusPass, []string{"host-" + a.String() + ".example.com"}
			r.Findings[0] = diagnose.Finding{Code: diagnose.CodeGenericPTR, Severity: diagnose.SeverityWarning}
		case o%16 == 2:
			r.Status, r.PTRNames, r.Forward = diagnose.StatusFail, []string{"mx.example.com"}, map[string][]string{"mx.example.com": {"192.0.2.1"}}
			r.Findings[0] = diagnose.Finding{Code: diagnose.CodeForwardMismatch, Severity: diagnose.SeverityError}
		case o > 200:
			r.ReverseZone = "200-55.103.51.198.in-addr.arpa"
		}
		results = append(results, r)
	}
	fold := func() Report {
		rep := newReport()
		for i := range results {
			rep.add(netip.MustParseAddr(results[i].IP), &results[i])
		}
		return rep
	}
	b.ReportAllocs()
	for b.Loop() {
		fold()
	}
	b.StopTimer()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	rep := fold()
	runtime.GC()
	runtime.ReadMemStats(&after)
	if s := rep.Summary(); s.Addresses != len(results) {
		b.Fatalf("%d addresses in the report", s.Addresses)
	}
	runtime.KeepAlive(results) // only the Report's own memory counts
	b.ReportMetric(float64(int64(after.HeapAlloc)-int64(before.HeapAlloc))/float64(len(results)), "kept-B/address")
}

// BenchmarkDigLoop is the shell loop the pool replaces, `for i in …; do dig
// -x IP; dig A "$(dig +short -x IP)"; done`, without dig's process start:
// one PTR query, then one A query, address after address, through the same
// 20 ms world. It runs 32 of the /24's addresses; ns/address times 254 is
// the loop's time for the whole /24.
func BenchmarkDigLoop(b *testing.B) {
	g, _ := world(b)
	for _, s := range g {
		s.SetFault("", 0, dnstest.Fault{Delay: 20 * time.Millisecond})
	}
	p, err := Parse("198.51.100.1-32")
	if err != nil {
		b.Fatal(err)
	}
	c := new(dns.Client)
	ask := func(name string, t uint16) *dns.Msg {
		m := new(dns.Msg).SetQuestion(name, t)
		r, _, err := c.Exchange(m, g[0].Addr())
		if err != nil {
			b.Fatal(err)
		}
		return r
	}
	for b.Loop() {
		for a := range p.All() {
			rev, _ := dns.ReverseAddr(a.String())
			for _, rr := range ask(rev, dns.TypePTR).Answer {
				if ptr, ok := rr.(*dns.PTR); ok {
					ask(ptr.Ptr, dns.TypeA)
				}
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(p.Len()), "ns/address")
}
