package diagnose

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/miekg/dns"

	"github.com/rdnsbot/rdnsbot/dnstest"
)

// TestDiagnoseTargetsSharesAddresses: ten host names on the same two
// addresses send each address's questions once; a target given twice is
// diagnosed once; results keep the target order and name their own target;
// an unusable target is reported without stopping the others.
func TestDiagnoseTargetsSharesAddresses(t *testing.T) {
	var zone strings.Builder
	zone.WriteString(`
$ORIGIN example.net.
$TTL 300
@	SOA	ns1.example.net. hostmaster.example.net. 1 3600 600 86400 60
@	NS	ns1
ns1	A	127.0.0.2
$ORIGIN example.com.
@	SOA	ns1.example.net. hostmaster.example.com. 1 3600 600 86400 60
@	NS	ns1.example.net.
`)
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
	// The finding name_not_ptr depends on the name asked about, so each
	// (address, host name) is evaluated: one for the IP, two per host name.
	if want := 1 + 2*hosts; len(b.Diagnoses) != want {
		t.Errorf("%d diagnoses run, want %d (the repeated targets shared theirs)", len(b.Diagnoses), want)
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
