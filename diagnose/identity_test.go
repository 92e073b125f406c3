package diagnose

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/rdnsbot/rdnsbot/dnstest"
)

// The seed's "IPv6 mismatch": an IPv4 address that passes while its PTR
// name's AAAA has no PTR. Siblings are checked, reported and never change
// the diagnosed IP's own status.
func TestSiblings(t *testing.T) {
	g, d, text := world(t)
	ctx := context.Background()

	r := d.DiagnoseIP(ctx, netip.MustParseAddr("203.0.113.11"), Options{})
	want := []Sibling{{IP: "2001:db8::11", Status: StatusPermerror, PTRNames: []string{}, Host: "dual.example.com"}}
	if r.Status != StatusPass || !r.Fixed() || !siblingsEqual(r.Siblings, want) {
		t.Fatalf("status %s fixed %v siblings %+v", r.Status, r.Fixed(), r.Siblings)
	}
	msg := message(r, CodeSiblingFails)
	for _, s := range []string{"`dual.example.com` also has 2001:db8::11, which has no PTR", "Gmail", "AAAA + PTR pair",
		"smtp_address_preference = ipv4", "inet_protocols = ipv4", "dns_ipv4_lookup = *", "disable_ipv6"} {
		if !strings.Contains(msg, s) {
			t.Errorf("sibling_fails %q lacks %q", msg, s)
		}
	}
	if !slices.ContainsFunc(r.Findings, func(f Finding) bool { return f.Code == CodeSiblingFails && f.Severity == SeverityWarning }) {
		t.Errorf("sibling_fails is not a warning: %+v", r.Findings)
	}
	if got, want := r.SiblingSummary(), "`dual.example.com`'s IPv6 address 2001:db8::11 has no PTR: Gmail prefers IPv6"; got != want {
		t.Errorf("summary %q, want %q", got, want)
	}
	if !strings.Contains(joinSteps(r), "dig +short -x 2001:db8::11") {
		t.Errorf("no step for the sibling:\n%s", joinSteps(r))
	}

	// A sibling that passes under a name of its own is listed, not a finding.
	r = d.DiagnoseIP(ctx, netip.MustParseAddr("203.0.113.16"), Options{})
	want = []Sibling{{IP: "2001:db8::10", Status: StatusPass, PTRNames: []string{"v6only.example.com"}, ConfirmedName: "v6only.example.com", Host: "both.example.com"}}
	if !siblingsEqual(r.Siblings, want) || slices.Contains(codes(r), CodeSiblingFails) || r.SiblingSummary() != "" {
		t.Errorf("passing sibling: %+v %v", r.Siblings, codes(r))
	}

	// The address a non-confirming PTR name points at is another host's:
	// reported, but no step and no status line is about it.
	r = d.DiagnoseIP(ctx, netip.MustParseAddr("203.0.113.7"), Options{})
	if msg := message(r, CodeSiblingFails); !strings.Contains(msg, "`elsewhere.example.com` has 198.51.100.99, which has no PTR") ||
		strings.Contains(msg, "Gmail") || r.SiblingSummary() != "" || strings.Contains(joinSteps(r), "198.51.100.99") {
		t.Errorf("another host's address: %q %q\n%s", msg, r.SiblingSummary(), joinSteps(r))
	}

	// No sibling: an empty list in JSON, not null.
	r = d.DiagnoseIP(ctx, netip.MustParseAddr("203.0.113.5"), Options{})
	if b, _ := json.Marshal(r); !strings.Contains(string(b), `"siblings":[]`) {
		t.Errorf("JSON without siblings: %s", b)
	}

	// A sibling whose PTR lookup times out is temperror, never "no PTR".
	g[0].SetFault("1.1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa.", dns.TypePTR, dnstest.Fault{Drop: true})
	r = d.DiagnoseIP(ctx, netip.MustParseAddr("203.0.113.11"), Options{})
	g[0].ClearFaults()
	if r.Status != StatusPass || len(r.Siblings) != 1 || r.Siblings[0].Status != StatusTemperror ||
		!strings.Contains(message(r, CodeSiblingFails), "could not be checked") || strings.Contains(message(r, CodeSiblingFails), "no PTR") {
		t.Errorf("timed-out sibling: %s %+v %q", r.Status, r.Siblings, message(r, CodeSiblingFails))
	}

	// At most maxSiblings are checked, and the finding says so.
	var many strings.Builder
	for i := range 20 {
		fmt.Fprintf(&many, "crowd\tA\t198.51.100.%d\n", 100+i)
	}
	text = edit(t, text, "mail\tA\t203.0.113.5\n", "mail\tA\t203.0.113.5\ncrowd\tA\t203.0.113.44\n"+many.String())
	if err := g.Load(edit(t, text, "16\tPTR", "44\tPTR\tcrowd.example.com.\n16\tPTR")); err != nil {
		t.Fatal(err)
	}
	g.ResetLog()
	r = d.DiagnoseIP(ctx, netip.MustParseAddr("203.0.113.44"), Options{})
	ptrs := 0
	for _, q := range g[0].Queries() {
		if q.Type == dns.TypePTR {
			ptrs++
		}
	}
	if r.Status != StatusPass || len(r.Siblings) != maxSiblings || ptrs != maxSiblings+1 ||
		!strings.Contains(message(r, CodeSiblingFails), fmt.Sprintf("12 more addresses were not checked; at most %d are", maxSiblings)) {
		t.Errorf("crowd: %s, %d siblings, %d PTR queries, %q", r.Status, len(r.Siblings), ptrs, message(r, CodeSiblingFails))
	}
}

func siblingsEqual(a, b []Sibling) bool {
	return slices.EqualFunc(a, b, func(x, y Sibling) bool {
		return x.IP == y.IP && x.Status == y.Status && slices.Equal(x.PTRNames, y.PTRNames) && x.ConfirmedName == y.ConfirmedName && x.Host == y.Host
	})
}

// What the server calls itself (HELO) and the name the user gave, compared
// with what DNS says; SPF is checked for the HELO identity when one is given.
func TestIdentity(t *testing.T) {
	g, d, _ := world(t)
	ctx := context.Background()
	g[0].SetFault("23.113.0.203.in-addr.arpa.", dns.TypePTR, dnstest.Fault{Rcode: dns.RcodeRefused})
	for _, tc := range []struct {
		ip   string
		opts Options
		want []Code
		not  []Code
		msg  string // the first wanted finding's message contains this
	}{
		{"203.0.113.5", Options{HELO: "198.51.100.7"}, []Code{CodeHELOLiteral}, []Code{CodeHELOMismatch, CodeSPFMisaligned}, "`198.51.100.7` is an address literal"},
		{"203.0.113.5", Options{HELO: "[198.51.100.7]"}, []Code{CodeHELOLiteral}, []Code{CodeHELOMismatch}, "many receivers reject"},
		{"203.0.113.5", Options{HELO: "[IPv6:2001:db8::7]"}, []Code{CodeHELOLiteral}, []Code{CodeHELOMismatch}, "`[IPv6:2001:db8::7]`"},
		{"203.0.113.5", Options{HELO: "mail.example.com"}, nil, []Code{CodeHELOLiteral, CodeHELOMismatch, CodeSPFMisaligned}, ""},
		// The HELO's SPF is the one checked, not the PTR name's.
		{"203.0.113.5", Options{HELO: "nospf.example.com"}, []Code{CodeSPFMisaligned, CodeHELOMismatch}, []Code{CodeHELOLiteral}, "SPF record of `nospf.example.com`"},
		{"203.0.113.6", Options{HELO: "mail.example.com"}, []Code{CodeSPFMisaligned}, nil, "SPF record of `mail.example.com` does not authorize 203.0.113.6"},
		{"203.0.113.5", Options{Name: "other.example.com"}, []Code{CodeNameNotPTR}, nil, "You asked about `other.example.com`, but receivers that look up 203.0.113.5 see `mail.example.com`"},
		{"203.0.113.5", Options{Name: "MAIL.example.com."}, nil, []Code{CodeNameNotPTR}, ""},
		{"203.0.113.20", Options{Name: "mail.example.com"}, []Code{CodeNameNotPTR}, nil, "see no name at all: it has no PTR"},
		{"203.0.113.23", Options{Name: "mail.example.com"}, nil, []Code{CodeNameNotPTR}, ""}, // DNS did not say
	} {
		r := d.DiagnoseIP(ctx, netip.MustParseAddr(tc.ip), tc.opts)
		checkFindings(t, r, tc.want, tc.not)
		if tc.msg != "" && !strings.Contains(message(r, tc.want[0]), tc.msg) {
			t.Errorf("%s %+v: %s = %q, want %q in it", tc.ip, tc.opts, tc.want[0], message(r, tc.want[0]), tc.msg)
		}
	}

	// A host-name target is the name the user means to be.
	rs, err := diagnoseOne(ctx, d, "dual.example.com", Options{})
	if err != nil || len(rs) != 2 || slices.Contains(codes(rs[0]), CodeNameNotPTR) || !slices.Contains(codes(rs[1]), CodeNameNotPTR) {
		t.Errorf("dual.example.com: %v %v / %v", err, codes(rs[0]), codes(rs[1]))
	}
}

// Names from DNS are shown as code spans that no name can close.
func TestCodeSpans(t *testing.T) {
	for in, want := range map[string]string{
		"mail.example.com.":   "`mail.example.com`",
		"a`b*c_d~e.example.":  "`a\\096b*c_d~e.example`",
		"x\ny.example":        "`x\\010y.example`",
		"":                    "``",
		"*_~.example.com.":    "`*_~.example.com`",
		"\\$\\(id\\).example": "`\\$\\(id\\).example`",
	} {
		if got := code(in); got != want {
			t.Errorf("code(%q) = %q, want %q", in, got, want)
		}
	}

	// End to end: a PTR name with Markdown in it.
	g, d, text := world(t)
	if err := g.Load(edit(t, text, "16\tPTR", "45\tPTR\tx`y*_~.example.com.\n16\tPTR")); err != nil {
		t.Fatal(err)
	}
	r := d.DiagnoseIP(context.Background(), netip.MustParseAddr("203.0.113.45"), Options{})
	if msg := message(r, CodeInvalidPTRName); !strings.Contains(msg, "`x\\096y*_~.example.com`") {
		t.Errorf("invalid_ptr_name %q", msg)
	}
	for _, f := range r.Findings {
		if strings.Count(f.Message, "`")%2 != 0 {
			t.Errorf("an unpaired backtick in %q", f.Message)
		}
	}
	for _, s := range r.Guidance {
		if strings.Count(s.Text, "`")%2 != 0 {
			t.Errorf("an unpaired backtick in %q", s.Text)
		}
	}
}

// A zone without NS records above the PTR name: the forward side is decided
// from what did answer, and a watch can announce the fix.
func TestNoZoneCut(t *testing.T) {
	_, d, _ := world(t)
	r := d.DiagnoseIP(context.Background(), netip.MustParseAddr("203.0.113.42"), Options{})
	if r.Status != StatusPass || r.Source.Status != StatusPass || !r.Source.Agree || !r.Fixed() {
		t.Errorf("status %s source %+v fixed %v", r.Status, r.Source, r.Fixed())
	}
	if !strings.Contains(message(r, CodeForwardZoneUnknown), "`mail.nons.example` could not be identified") || slices.Contains(codes(r), CodeDNSError) {
		t.Errorf("findings %+v", r.Findings)
	}
	b, _ := json.Marshal(r)
	if strings.Contains(string(b), "%!") {
		t.Errorf("a formatting error in %s", b)
	}
	for _, s := range r.Source.Servers {
		if s.Zone == "" && s.Server == "" && s.Address == "" {
			t.Errorf("a source entry that names nothing: %+v", s)
		}
	}
}

// The source check's forward answers from two servers name an address once.
func TestSourceChangedOnce(t *testing.T) {
	g, d, text := world(t)
	g[1:].Load(edit(t, text, "70\tCNAME", "30\tPTR\telsewhere.example.com.\n70\tCNAME"))
	r := d.DiagnoseIP(context.Background(), netip.MustParseAddr("203.0.113.30"), Options{})
	if msg := message(r, CodeSourceChanged); strings.Count(msg, "198.51.100.99") != 1 {
		t.Errorf("source_changed %q", msg)
	}
}

// QueryObserver sees every attempt, with its outcome.
func TestQueryObserver(t *testing.T) {
	g, _, _ := world(t)
	var mu sync.Mutex
	seen := map[string]int{}
	d, err := New(Config{Resolver: g[0].Addr(), AuthorityPort: g.Port(), QueryTimeout: 200e6, Attempts: 2,
		QueryObserver: func(qtype uint16, outcome string, _ time.Duration) {
			mu.Lock()
			defer mu.Unlock()
			seen[dns.TypeToString[qtype]+" "+outcome]++
		}})
	if err != nil {
		t.Fatal(err)
	}
	g[0].SetFault("21.113.0.203.in-addr.arpa.", dns.TypePTR, dnstest.Fault{Rcode: dns.RcodeServerFailure})
	g[0].SetFault("22.113.0.203.in-addr.arpa.", dns.TypePTR, dnstest.Fault{Drop: true})
	g[0].SetFault("25.113.0.203.in-addr.arpa.", dns.TypePTR, dnstest.Fault{Truncate: true})
	g.ResetLog()
	for _, ip := range []string{"203.0.113.5", "203.0.113.20", "203.0.113.21", "203.0.113.22", "203.0.113.25"} {
		d.DiagnoseIP(context.Background(), netip.MustParseAddr(ip), Options{})
	}
	total := 0
	for _, n := range seen {
		total += n
	}
	for k, want := range map[string]int{"PTR SERVFAIL": 1, "PTR timeout": 2} {
		if seen[k] != want {
			t.Errorf("%q observed %d times, want %d: %v", k, seen[k], want, seen)
		}
	}
	// The truncated PTR: once over UDP, once over TCP, both NOERROR.
	if seen["PTR NOERROR"] < 3 || seen["A NOERROR"] == 0 || seen["PTR NXDOMAIN"] == 0 {
		t.Errorf("observed %v", seen)
	}
	if logged := len(g.Log()); total != logged {
		t.Errorf("%d attempts observed, %d queries reached the servers", total, logged)
	}
}
