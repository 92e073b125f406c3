package diagnose

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/rdnsbot/rdnsbot/dnstest"
)

// batchZones are example.net (the name server) and example.com, empty.
const batchZones = `
$ORIGIN example.net.
$TTL 300
@	SOA	ns1.example.net. hostmaster.example.net. 1 3600 600 86400 60
@	NS	ns1
ns1	A	127.0.0.2
$ORIGIN example.com.
@	SOA	ns1.example.net. hostmaster.example.com. 1 3600 600 86400 60
@	NS	ns1.example.net.
`

// TestDiagnoseTargetsSharesAddresses: ten host names on the same two
// addresses send each address's questions once; a target given twice is
// diagnosed once; results keep the target order and name their own target;
// an unusable target is reported without stopping the others.
func TestDiagnoseTargetsSharesAddresses(t *testing.T) {
	var zone strings.Builder
	zone.WriteString(batchZones)
	const hosts = 10
	for i := range hosts {
		fmt.Fprintf(&zone, "h%d\tA\t203.0.113.5\nh%d\tA\t203.0.113.6\n", i, i)
	}
	g := dnstest.Start(t, 2)
	if err := g.Load(zone.String()); err != nil {
		t.Fatal(err)
	}
	d, err := New(Config{Resolver: g[0].Addr(), AuthorityPort: g.Port()})
	if err != nil {
		t.Fatal(err)
	}
	targets := []string{"203.0.113.6", "not an address!"}
	for i := range hosts {
		targets = append(targets, fmt.Sprintf("h%d.example.com", i))
	}
	targets = append(targets, "h0.example.com", "::ffff:203.0.113.6")
	b := d.DiagnoseTargets(context.Background(), targets, Options{})
	// Each distinct address is diagnosed once; the finding name_not_ptr of
	// each host name is added without asking again.
	if want := 2; len(b.Diagnoses) != want || b.Reused != 0 {
		t.Errorf("%d diagnoses run (%d reused), want %d (the repeated targets shared theirs)", len(b.Diagnoses), b.Reused, want)
	}
	ptrs := map[string]int{}
	for _, q := range g[0].Queries() {
		if q.Type == dns.TypePTR {
			ptrs[q.Name]++
		}
	}
	if len(ptrs) != 2 || ptrs["5.113.0.203.in-addr.arpa."] != 1 || ptrs["6.113.0.203.in-addr.arpa."] != 1 {
		t.Errorf("PTR questions at the resolver: %v, want each address's once", ptrs)
	}
	if len(b.Outcomes) != len(targets) {
		t.Fatalf("%d outcomes for %d targets", len(b.Outcomes), len(targets))
	}
	if o := b.Outcomes[1]; !errors.Is(o.Err, ErrInvalidTarget) || len(o.Results) != 0 {
		t.Errorf("unusable target: %+v", o)
	}
	for i, o := range b.Outcomes {
		if o.Target != targets[i] {
			t.Errorf("outcome %d is for %q, want %q", i, o.Target, targets[i])
		}
		for _, r := range o.Results {
			if r.Target != targets[i] {
				t.Errorf("result of %q names target %q", targets[i], r.Target)
			}
		}
		if i >= 2 && i < len(targets)-1 && (o.Err != nil || len(o.Results) != 2 || o.Results[0].IP != "203.0.113.5" || o.Results[1].IP != "203.0.113.6") {
			t.Errorf("host %q: %+v", o.Target, o)
		}
	}
	if got, want := len(b.Results()), 1+2*(hosts+1)+1; got != want {
		t.Errorf("%d results, want %d", got, want)
	}
}

// coalesceWorld is a mail host (203.0.113.5, PTR mail.example.com), three
// more names on it, and big1..big3 with eight addresses each.
func coalesceWorld(t *testing.T) dnstest.Group {
	t.Helper()
	var zone strings.Builder
	zone.WriteString(batchZones + `mail	A	203.0.113.5
h0	A	203.0.113.5
h1	A	203.0.113.5
h2	A	203.0.113.5
`)
	for i := 1; i <= 3; i++ {
		for j := range MaxHostAddresses {
			fmt.Fprintf(&zone, "big%d\tA\t198.51.100.%d\n", i, 10*i+j)
		}
	}
	zone.WriteString(`
$ORIGIN 113.0.203.in-addr.arpa.
@	SOA	ns1.example.net. hostmaster.example.com. 1 3600 600 86400 60
@	NS	ns1.example.net.
5	PTR	mail.example.com.
`)
	g := dnstest.Start(t, 2)
	if err := g.Load(zone.String()); err != nil {
		t.Fatal(err)
	}
	return g
}

// ptrQueries counts the PTR questions the resolver got for name.
func ptrQueries(g dnstest.Group, name string) int {
	n := 0
	for _, q := range g[0].Queries() {
		if q.Type == dns.TypePTR && q.Name == name {
			n++
		}
	}
	return n
}

// TestDiagnoseTargetsCoalesces: concurrent requests for one address share
// one diagnosis; a repeat within Config.Reuse is answered from it; a
// recheck (Options.Fresh, or DiagnoseIP) always asks DNS; with Reuse
// negative only concurrent requests share. Counted in PTR questions at the
// resolver and in Batch.Diagnoses / Reused.
func TestDiagnoseTargetsCoalesces(t *testing.T) {
	g := coalesceWorld(t)
	const rev = "5.113.0.203.in-addr.arpa."
	g[0].SetFault(rev, dns.TypePTR, dnstest.Fault{Delay: 50 * time.Millisecond})
	d, err := New(Config{Resolver: g[0].Addr(), AuthorityPort: g.Port(), Reuse: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	const callers = 8
	batches := make([]Batch, callers)
	var wg sync.WaitGroup
	for i := range callers {
		wg.Go(func() { batches[i] = d.DiagnoseTargets(ctx, []string{"203.0.113.5"}, Options{}) })
	}
	wg.Wait()
	ran, reused := 0, 0
	for _, b := range batches {
		ran += len(b.Diagnoses)
		reused += b.Reused
		if r := b.Results(); len(r) != 1 || r[0].Status != StatusPass {
			t.Errorf("results %+v, want one pass", r)
		}
	}
	if ran != 1 || reused != callers-1 || ptrQueries(g, rev) != 1 {
		t.Errorf("%d concurrent requests: %d diagnoses run, %d reused, %d PTR queries; want 1, %d, 1", callers, ran, reused, ptrQueries(g, rev), callers-1)
	}

	steps := []struct {
		name     string
		run      func() (ran int)
		wantRan  int
		wantPTRs int
	}{
		{"repeat", func() int { return len(d.DiagnoseTargets(ctx, []string{"203.0.113.5"}, Options{}).Diagnoses) }, 0, 1},
		{"fresh", func() int {
			return len(d.DiagnoseTargets(ctx, []string{"203.0.113.5"}, Options{Fresh: true}).Diagnoses)
		}, 1, 2},
		{"repeat after fresh", func() int { return len(d.DiagnoseTargets(ctx, []string{"203.0.113.5"}, Options{}).Diagnoses) }, 0, 2},
		{"other HELO", func() int {
			return len(d.DiagnoseTargets(ctx, []string{"203.0.113.5"}, Options{HELO: "mail.example.com"}).Diagnoses)
		}, 1, 3},
		{"DiagnoseIP", func() int {
			d.DiagnoseIP(ctx, netip.MustParseAddr("203.0.113.5"), Options{})
			return 1
		}, 1, 4},
	}
	for _, s := range steps {
		if got := s.run(); got != s.wantRan || ptrQueries(g, rev) != s.wantPTRs {
			t.Errorf("%s: %d diagnoses run, %d PTR queries in all; want %d, %d", s.name, got, ptrQueries(g, rev), s.wantRan, s.wantPTRs)
		}
	}

	never, err := New(Config{Resolver: g[0].Addr(), AuthorityPort: g.Port(), Reuse: -1})
	if err != nil {
		t.Fatal(err)
	}
	before := ptrQueries(g, rev)
	for range 2 {
		if b := never.DiagnoseTargets(ctx, []string{"203.0.113.5"}, Options{}); len(b.Diagnoses) != 1 {
			t.Errorf("Reuse -1: %d diagnoses run, want 1 per request", len(b.Diagnoses))
		}
	}
	if got := ptrQueries(g, rev) - before; got != 2 {
		t.Errorf("Reuse -1: %d PTR queries for 2 requests", got)
	}
}

// TestDiagnoseTargetsNamesAndCap: host names on one address are one
// diagnosis, each name still getting its own name_not_ptr; Distinct shows
// the address once with every name's finding; past MaxBatchAddresses the
// targets left out say so.
func TestDiagnoseTargetsNamesAndCap(t *testing.T) {
	g := coalesceWorld(t)
	d, err := New(Config{Resolver: g[0].Addr(), AuthorityPort: g.Port()})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	b := d.DiagnoseTargets(ctx, []string{"mail.example.com", "h0.example.com", "h1.example.com", "203.0.113.5"}, Options{})
	if len(b.Diagnoses) != 1 {
		t.Errorf("%d diagnoses run for four targets on one address, want 1", len(b.Diagnoses))
	}
	notPTR := func(r Result) int {
		n := 0
		for _, f := range r.Findings {
			if f.Code == CodeNameNotPTR {
				n++
			}
		}
		return n
	}
	for i, want := range []int{0, 1, 1, 0} {
		o := b.Outcomes[i]
		if o.Err != nil || len(o.Results) != 1 || notPTR(o.Results[0]) != want || o.Results[0].Target != o.Target {
			t.Errorf("%s: %+v, want %d name_not_ptr", o.Target, o, want)
		}
	}
	if dist := b.Distinct(); len(dist) != 1 || notPTR(dist[0]) != 2 || dist[0].Target != "mail.example.com" {
		t.Errorf("Distinct: %+v, want one result with both names' name_not_ptr", dist)
	}

	b = d.DiagnoseTargets(ctx, []string{"big1.example.com", "big2.example.com", "big1.example.com", "big3.example.com"}, Options{})
	if len(b.Diagnoses) != MaxBatchAddresses || len(b.Distinct()) != MaxBatchAddresses {
		t.Errorf("%d diagnoses, %d distinct results; want the cap, %d", len(b.Diagnoses), len(b.Distinct()), MaxBatchAddresses)
	}
	for i, want := range []bool{false, false, false, true} {
		o := b.Outcomes[i]
		if got := errors.Is(o.Err, ErrBatchCap); got != want || (want && len(o.Results) != 0) || (!want && len(o.Results) != MaxHostAddresses) {
			t.Errorf("%s: err %v, %d results; want capped %v", o.Target, o.Err, len(o.Results), want)
		}
	}
}
