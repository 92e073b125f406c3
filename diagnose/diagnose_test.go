package diagnose

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/rdnsbot/rdnsbot/dnstest"
)

// world starts the test world: server 0 is the resolver, 1 and 2 are ns1 and
// ns2, the authoritative servers the zones name.
func world(t testing.TB) (dnstest.Group, *Diagnoser, string) {
	t.Helper()
	text, err := os.ReadFile("testdata/world.zone")
	if err != nil {
		t.Fatal(err)
	}
	g := dnstest.Start(t, 3)
	if err := g.Load(string(text)); err != nil {
		t.Fatal(err)
	}
	d, err := New(Config{
		Resolver:      g[0].Addr(),
		AuthorityPort: g.Port(),
		Timeout:       3 * time.Second,
		QueryTimeout:  300 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	return g, d, string(text)
}

// checkFindings fails t unless r has every finding in want and none in not.
func checkFindings(t *testing.T, r Result, want, not []Code) {
	t.Helper()
	got := codes(r)
	for _, c := range want {
		if !slices.Contains(got, c) {
			t.Errorf("finding %s missing; got %v", c, r.Findings)
		}
	}
	for _, c := range not {
		if slices.Contains(got, c) {
			t.Errorf("finding %s present: %q", c, message(r, c))
		}
	}
}

func codes(r Result) []Code {
	var out []Code
	for _, f := range r.Findings {
		out = append(out, f.Code)
	}
	return out
}

func message(r Result, c Code) string {
	for _, f := range r.Findings {
		if f.Code == c {
			return f.Message
		}
	}
	return ""
}

func TestDiagnoseIP(t *testing.T) {
	g, d, _ := world(t)
	resolver := g[0]
	resolver.SetFault("21.113.0.203.in-addr.arpa.", dns.TypePTR, dnstest.Fault{Rcode: dns.RcodeServerFailure})
	resolver.SetFault("22.113.0.203.in-addr.arpa.", dns.TypePTR, dnstest.Fault{Drop: true})
	resolver.SetFault("23.113.0.203.in-addr.arpa.", dns.TypePTR, dnstest.Fault{Rcode: dns.RcodeRefused})
	resolver.SetFault("24.113.0.203.in-addr.arpa.", dns.TypePTR, dnstest.Fault{Lame: true})
	resolver.SetFault("25.113.0.203.in-addr.arpa.", dns.TypePTR, dnstest.Fault{Truncate: true})
	resolver.SetFault("26.113.0.203.in-addr.arpa.", dns.TypePTR, dnstest.Fault{Delay: 2 * time.Second})
	resolver.SetFault("fwdfail.example.com.", dns.TypeA, dnstest.Fault{Rcode: dns.RcodeServerFailure})

	tests := []struct {
		ip        string
		status    Status
		confirmed string
		want      []Code // findings that must be present
		not       []Code // findings that must be absent
		msg       string // text one finding of want[0] must contain
	}{
		{ip: "203.0.113.5", status: StatusPass, confirmed: "mail.example.com", want: []Code{CodeDocumentationIP},
			not: []Code{CodeSPFMisaligned, CodeGenericPTR, CodeMultiplePTR, CodeDNSError, CodeCachePropagating, CodeAuthoritativeDisagree}},
		{ip: "::ffff:203.0.113.5", status: StatusPass, confirmed: "mail.example.com"},
		{ip: "203.0.113.6", status: StatusPass, confirmed: "nospf.example.com", want: []Code{CodeSPFMisaligned}, msg: "v=spf1 a -all"},
		{ip: "203.0.113.7", status: StatusFail, want: []Code{CodeForwardMismatch}, msg: "198.51.100.99"},
		{ip: "203.0.113.8", status: StatusFail, want: []Code{CodeForwardMissing}, msg: "noaddr.example.com"},
		{ip: "203.0.113.9", status: StatusPass, confirmed: "alias.example.com", want: []Code{CodePTRNameAlias}, msg: "target.example.com"},
		{ip: "203.0.113.10", status: StatusFail, want: []Code{CodeForwardMismatch}, msg: "only IPv6"},
		{ip: "203.0.113.12", status: StatusPass, confirmed: "multi1.example.com", want: []Code{CodeMultiplePTR, CodeForwardMissing}, msg: "2 PTR records"},
		{ip: "203.0.113.13", status: StatusPass, want: []Code{CodeGenericPTR}, msg: "octets"},
		{ip: "203.0.113.14", status: StatusFail, want: []Code{CodeInvalidPTRName}, msg: "localhost"},
		{ip: "203.0.113.15", status: StatusFail, want: []Code{CodeInvalidPTRName}, msg: "IP address literal"},
		{ip: "203.0.113.20", status: StatusPermerror, want: []Code{CodeNoPTR}, not: []Code{CodeDNSError}, msg: "NXDOMAIN"},
		{ip: "203.0.113.21", status: StatusTemperror, want: []Code{CodeDNSError}, not: []Code{CodeNoPTR}, msg: "SERVFAIL"},
		{ip: "203.0.113.22", status: StatusTemperror, want: []Code{CodeDNSError}, not: []Code{CodeNoPTR}, msg: "timeout"},
		{ip: "203.0.113.23", status: StatusTemperror, want: []Code{CodeDNSError}, not: []Code{CodeNoPTR}, msg: "REFUSED"},
		{ip: "203.0.113.24", status: StatusTemperror, want: []Code{CodeDNSError}, not: []Code{CodeNoPTR}, msg: "lame"},
		{ip: "203.0.113.25", status: StatusPass, confirmed: "mail25.example.com"},
		{ip: "203.0.113.26", status: StatusTemperror, want: []Code{CodeDNSError}, not: []Code{CodeNoPTR}},
		{ip: "203.0.113.27", status: StatusTemperror, want: []Code{CodeDNSError}, not: []Code{CodeForwardMissing, CodeForwardMismatch}, msg: "SERVFAIL"},
		{ip: "203.0.113.28", status: StatusPass, confirmed: "mail28.example.com", want: []Code{CodeDNSError, CodeMultiplePTR}},
		{ip: "203.0.113.31", status: StatusPass, want: []Code{CodeGenericPTR}, msg: "Amazon"},
		{ip: "203.0.113.70", status: StatusPass, confirmed: "classless.example.com", want: []Code{CodeClasslessDelegation}, msg: "70.64-26.113.0.203.in-addr.arpa"},
		{ip: "2001:db8::10", status: StatusPass, confirmed: "v6only.example.com"},
		{ip: "2001:0db8:0000::0011", status: StatusPermerror, want: []Code{CodeNoPTR}},
		{ip: "10.1.2.3", status: StatusPermerror, want: []Code{CodePrivateIP, CodeNoPTR}, msg: "not routable"},
		{ip: "127.0.0.9", status: StatusPermerror, want: []Code{CodeReservedIP}},
	}
	for _, tc := range tests {
		t.Run(tc.ip, func(t *testing.T) {
			t.Parallel()
			r := d.DiagnoseIP(context.Background(), netip.MustParseAddr(tc.ip), Options{})
			if r.Status != tc.status {
				t.Fatalf("status = %s, want %s; findings %+v", r.Status, tc.status, r.Findings)
			}
			if tc.confirmed != "" && r.ConfirmedName != tc.confirmed {
				t.Errorf("confirmed = %q, want %q", r.ConfirmedName, tc.confirmed)
			}
			checkFindings(t, r, tc.want, tc.not)
			for _, f := range r.Findings {
				if f.Severity == SeverityError && r.Status == StatusPass {
					t.Errorf("error-level finding on a passing IP: %+v", f)
				}
			}
			if tc.msg != "" && !strings.Contains(message(r, tc.want[0]), tc.msg) {
				t.Errorf("%s message %q does not mention %q", tc.want[0], message(r, tc.want[0]), tc.msg)
			}
			if len(r.Guidance) == 0 || !strings.Contains(strings.Join(r.Guidance[len(r.Guidance)-1].Commands, " "), "dig +short -x "+r.IP) {
				t.Errorf("guidance does not end with the dig -x verification: %+v", r.Guidance)
			}
		})
	}
}

func TestDiagnoseDetails(t *testing.T) {
	g, d, _ := world(t)
	ctx := context.Background()

	r := d.DiagnoseIP(ctx, netip.MustParseAddr("203.0.113.5"), Options{})
	if r.ReverseZone != "113.0.203.in-addr.arpa" || !slices.Equal(r.ReverseNameservers, []string{"ns1.example.net", "ns2.example.net"}) {
		t.Errorf("reverse zone %q servers %v", r.ReverseZone, r.ReverseNameservers)
	}
	if !r.Fixed() || r.FixedAtSource() || len(r.Source.Servers) != 4 {
		t.Errorf("source check of a passing IP: %+v", r.Source)
	}
	if got := r.Forward["mail.example.com"]; !slices.Equal(got, []string{"203.0.113.5"}) {
		t.Errorf("forward = %v", r.Forward)
	}

	r = d.DiagnoseIP(ctx, netip.MustParseAddr("203.0.113.20"), Options{})
	if r.NegativeTTLSeconds == nil || *r.NegativeTTLSeconds != 120 {
		t.Errorf("negative TTL = %v, want min(SOA TTL 300, MINIMUM 120) = 120", r.NegativeTTLSeconds)
	}
	if r.Source == nil || r.Source.Status != StatusPermerror || !r.Source.Agree {
		t.Errorf("source = %+v", r.Source)
	}
	if !strings.Contains(r.Guidance[0].Text+r.Guidance[1].Text+r.Guidance[2].Text, "not at your domain's registrar") {
		t.Errorf("guidance for no PTR: %+v", r.Guidance)
	}

	r = d.DiagnoseIP(ctx, netip.MustParseAddr("203.0.113.70"), Options{})
	if r.ReverseZone != "64-26.113.0.203.in-addr.arpa" || !slices.Equal(r.ReverseNameservers, []string{"ns2.example.net"}) {
		t.Errorf("RFC 2317 child zone %q servers %v", r.ReverseZone, r.ReverseNameservers)
	}
	if !r.Fixed() {
		t.Errorf("classless source check: %+v", r.Source)
	}

	r = d.DiagnoseIP(ctx, netip.MustParseAddr("203.0.113.31"), Options{})
	if r.Provider == nil || !strings.Contains(r.Provider.Name, "Amazon") || !strings.Contains(r.Provider.HowTo, "Elastic IP") {
		t.Errorf("provider = %+v", r.Provider)
	}

	// A generated name that confirms stays in the steps (it works), and they
	// suggest a name of one's own; a HELO name is the better one.
	for helo, want := range map[string]string{"": "a name of its own, say `mail.example.com`", "mx.example.org": "a name of its own, `mx.example.org`"} {
		r = d.DiagnoseIP(ctx, netip.MustParseAddr("203.0.113.13"), Options{HELO: helo})
		if steps := joinSteps(r); !strings.Contains(steps, want) || strings.Contains(steps, "PTR of 203.0.113.13 to 203-0-113-13") ||
			!strings.Contains(steps, "dig +short 203-0-113-13.dyn.example.com A") {
			t.Errorf("generic PTR, HELO %q: steps\n%s", helo, steps)
		}
	}

	r = d.DiagnoseIP(ctx, netip.MustParseAddr("2001:db8::11"), Options{})
	if !strings.Contains(joinSteps(r), "smtp_address_preference = ipv4") {
		t.Errorf("IPv6 without PTR gets no force-IPv4 step: %s", joinSteps(r))
	}
	if r.ReverseZone != "8.b.d.0.1.0.0.2.ip6.arpa" {
		t.Errorf("IPv6 reverse zone %q", r.ReverseZone)
	}

	for _, tc := range []struct {
		helo     string
		mismatch bool
	}{{"mail.example.com", false}, {"MAIL.example.com.", false}, {"other.example.com", true}} {
		r = d.DiagnoseIP(ctx, netip.MustParseAddr("203.0.113.5"), Options{HELO: tc.helo})
		if got := slices.Contains(codes(r), CodeHELOMismatch); got != tc.mismatch {
			t.Errorf("HELO %q: helo_mismatch = %v, want %v", tc.helo, got, tc.mismatch)
		}
	}

	// The provider table is extensible: a row recognising the test world's
	// name servers names the provider in the finding and the steps.
	custom, err := New(Config{Resolver: g[0].Addr(), AuthorityPort: g.Port(), Providers: []ProviderRule{{
		Provider:    Provider{Name: "Example Hosting", HowTo: "Panel → IPs → Reverse DNS."},
		NameServers: regexp.MustCompile(`^ns\d\.example\.net$`),
	}}})
	if err != nil {
		t.Fatal(err)
	}
	r = custom.DiagnoseIP(ctx, netip.MustParseAddr("203.0.113.20"), Options{})
	if r.Provider == nil || !strings.Contains(message(r, CodeNoPTR), "run by Example Hosting") || !strings.Contains(joinSteps(r), "Panel → IPs → Reverse DNS.") {
		t.Errorf("custom provider: %+v\n%s", r.Provider, joinSteps(r))
	}

	// The truncated answer was fetched again over TCP.
	d.DiagnoseIP(ctx, netip.MustParseAddr("203.0.113.25"), Options{})
	g[0].SetFault("25.113.0.203.in-addr.arpa.", dns.TypePTR, dnstest.Fault{Truncate: true})
	g[0].ResetLog()
	if r := d.DiagnoseIP(ctx, netip.MustParseAddr("203.0.113.25"), Options{}); r.Status != StatusPass {
		t.Fatalf("truncated: %s", r.Status)
	}
	tcp := false
	for _, q := range g[0].Queries() {
		tcp = tcp || (q.TCP && q.Type == dns.TypePTR)
	}
	if !tcp {
		t.Error("no PTR query over TCP after a truncated UDP answer")
	}
}

func joinSteps(r Result) string {
	var b strings.Builder
	for _, s := range r.Guidance {
		b.WriteString(s.Text + "\n" + strings.Join(s.Commands, "\n") + "\n")
	}
	return b.String()
}

// withPTR30 is the world's reverse zone with a new PTR for 203.0.113.30.
func withPTR30(world string) string {
	return strings.Replace(world, "70\tCNAME", "30\tPTR\tfresh.example.com.\n70\tCNAME", 1)
}

func TestSourceAndCaches(t *testing.T) {
	g, d, text := world(t)
	ctx := context.Background()
	ip := netip.MustParseAddr("203.0.113.30")

	r := d.DiagnoseIP(ctx, ip, Options{})
	if r.Status != StatusPermerror || r.Fixed() || r.FixedAtSource() {
		t.Fatalf("before the fix: %s fixed=%v atSource=%v", r.Status, r.Fixed(), r.FixedAtSource())
	}

	// One authoritative server has the fix: the servers disagree.
	if err := g[1].Load(withPTR30(text)); err != nil {
		t.Fatal(err)
	}
	r = d.DiagnoseIP(ctx, ip, Options{})
	if r.Source.Agree || r.FixedAtSource() || !slices.Contains(codes(r), CodeAuthoritativeDisagree) {
		t.Errorf("half-published fix: agree=%v findings %v", r.Source.Agree, codes(r))
	}

	// Both have it; the resolver still serves its cached NXDOMAIN.
	if err := g[2].Load(withPTR30(text)); err != nil {
		t.Fatal(err)
	}
	r = d.DiagnoseIP(ctx, ip, Options{})
	if !r.FixedAtSource() || r.Fixed() || r.Source.StaleForSeconds != 120 {
		t.Errorf("fixed at source: status %s source %+v", r.Status, r.Source)
	}
	if !slices.Contains(codes(r), CodeCachePropagating) || !strings.Contains(message(r, CodeCachePropagating), "120 s") {
		t.Errorf("no cache_propagating finding: %v", r.Findings)
	}

	// The resolver catches up.
	if err := g[0].Load(withPTR30(text)); err != nil {
		t.Fatal(err)
	}
	r = d.DiagnoseIP(ctx, ip, Options{})
	if !r.Fixed() || r.ConfirmedName != "fresh.example.com" || slices.Contains(codes(r), CodeCachePropagating) {
		t.Errorf("fixed everywhere: %s %+v %v", r.Status, r.Source, codes(r))
	}

	// An authoritative server that stops answering is reported, not hidden;
	// it is no disagreement (resolvers move on to ns1, which has the fix).
	for name, fault := range map[string]dnstest.Fault{
		"timeout": {Drop: true},
		"lame":    {Lame: true},
		"REFUSED": {Rcode: dns.RcodeRefused},
	} {
		g[2].SetFault("", 0, fault)
		r = d.DiagnoseIP(ctx, ip, Options{})
		if msg := message(r, CodeDNSError); r.Status != StatusPass || !r.Fixed() || !strings.Contains(msg, "ns2.example.net") || !strings.Contains(msg, name) ||
			slices.Contains(codes(r), CodeAuthoritativeDisagree) {
			t.Errorf("%s ns2: %s agree=%v findings %v", name, r.Status, r.Source.Agree, r.Findings)
		}
	}
	// No authoritative server reachable at all (DNS allowed out only through
	// the resolver): the resolver's pass is what there is, and it says so.
	g[1].SetFault("", 0, dnstest.Fault{Drop: true})
	r = d.DiagnoseIP(ctx, ip, Options{})
	if r.Status != StatusPass || !r.SourceUnreachable() || !r.Fixed() {
		t.Errorf("unreachable source: %s unreachable=%v fixed=%v servers %+v", r.Status, r.SourceUnreachable(), r.Fixed(), r.Source.Servers)
	}
}

func TestDiagnoseTargets(t *testing.T) {
	g, d, _ := world(t)
	ctx := context.Background()

	rs, err := diagnoseOne(ctx, d, "dual.example.com", Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 2 || rs[0].IP != "203.0.113.11" || rs[0].Status != StatusPass || rs[1].IP != "2001:db8::11" || rs[1].Status != StatusPermerror {
		t.Fatalf("dual-stack host: %+v", rs)
	}
	if rs[0].Target != "dual.example.com" {
		t.Errorf("target = %q", rs[0].Target)
	}

	g[0].SetFault("down.example.com.", 0, dnstest.Fault{Rcode: dns.RcodeServerFailure})
	for _, tc := range []struct {
		target string
		want   error
	}{
		{"nothing.example.com", ErrNoAddress},
		{"noaddr.example.com", ErrNoAddress},
		{"down.example.com", ErrLookup},
		{"999.1.1.1", ErrInvalidTarget},
		{"<script>", ErrInvalidTarget},
	} {
		_, err := diagnoseOne(ctx, d, tc.target, Options{})
		if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.target) {
			t.Errorf("Diagnose(%q) error = %v, want %v naming the input", tc.target, err, tc.want)
		}
	}
}

// lockstepRounds diagnoses ip with the servers in lockstep and returns
// how many rounds of queries the diagnosis took, counted by release.
func lockstepRounds(t *testing.T, g dnstest.Group, d *Diagnoser, ip string, opts Options) (int, Result) {
	t.Helper()
	g.ResetLog()
	step := g.Lockstep()
	done := make(chan struct{})
	var r Result
	go func() {
		defer close(done)
		r = d.DiagnoseIP(context.Background(), netip.MustParseAddr(ip), opts)
	}()
	return step.Run(done, 100*time.Millisecond), r
}

func TestRoundTrips(t *testing.T) {
	g, _, _ := world(t)
	// Answers are held for a round; no query may time out meanwhile.
	d, err := New(Config{Resolver: g[0].Addr(), AuthorityPort: g.Port(), Timeout: 9 * time.Second, QueryTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		ip     string
		opts   Options
		rounds int
	}{
		{"203.0.113.5", Options{}, 3},                         // pass, SPF "a" mechanism
		{"203.0.113.5", Options{HELO: "mail.example.com"}, 3}, // SPF of the HELO from the start
		{"203.0.113.20", Options{}, 3},                        // no PTR
		{"203.0.113.70", Options{}, 3},                        // RFC 2317 child zone
		{"203.0.113.11", Options{}, 3},                        // a sibling without PTR: its PTR query is in round 3
		{"203.0.113.16", Options{}, 4},                        // a sibling whose PTR names another host: one more
	} {
		n, r := lockstepRounds(t, g, d, tc.ip, tc.opts)
		if n > tc.rounds || r.Source == nil || r.Status != StatusPass && tc.ip != "203.0.113.20" {
			t.Errorf("%s %+v: %d rounds, want at most %d (status %s)", tc.ip, tc.opts, n, tc.rounds, r.Status)
		}
		if causal := g.Rounds(); causal > tc.rounds || causal == 0 {
			t.Errorf("%s: %d causal rounds, want 1 to %d: %+v", tc.ip, causal, tc.rounds, g.Log())
		}
		if tc.ip == "203.0.113.11" && (len(r.Siblings) != 1 || r.Siblings[0].Status != StatusPermerror) {
			t.Errorf("siblings %+v", r.Siblings)
		}
	}

	// The verdict needs two: the forward lookups follow the PTR lookup
	// directly, with nothing else in between; the sibling's PTR comes
	// right after them.
	lockstepRounds(t, g, d, "203.0.113.11", Options{})
	asked := 0
	for _, q := range g.Log() {
		round := 0
		switch {
		case q.Name == "11.113.0.203.in-addr.arpa." && q.RD:
			round = 1
		case q.Name == "dual.example.com." && (q.Type == dns.TypeA || q.Type == dns.TypeAAAA) && q.RD:
			round = 2
		case q.Name == "1.1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa." && q.Type == dns.TypePTR:
			round = 3
		case q.Round == 1:
			t.Errorf("%s %s came before the forward lookup", q.Name, dns.TypeToString[q.Type])
		}
		if round != 0 && q.Round != round {
			t.Errorf("%s %s in round %d, want %d", q.Name, dns.TypeToString[q.Type], q.Round, round)
		}
		if q.Name == "dual.example.com." && q.Type == dns.TypeA && q.RD {
			asked++
		}
	}
	if asked != 1 {
		// SPF's "a" mechanism and the sibling's reuse the engine's lookup.
		t.Errorf("the resolver was asked dual.example.com A %d times in one diagnosis, want 1", asked)
	}
}

// BenchmarkDiagnosePass is the full diagnosis of a passing IP (source check,
// SPF and siblings included): 203.0.113.5 has no sibling, 203.0.113.11 one
// without PTR (its PTR query rides in round 3), 203.0.113.16 one whose PTR
// names another host (a fourth round). With 20 ms added per query it must
// stay within its rounds × 20 ms + 5 ms; with none it shows the engine's
// own cost.
func BenchmarkDiagnosePass(b *testing.B) {
	for _, bc := range []struct {
		ip    string
		delay time.Duration
	}{{"203.0.113.5", 20 * time.Millisecond}, {"203.0.113.5", 0}, {"203.0.113.11", 20 * time.Millisecond}, {"203.0.113.11", 0}, {"203.0.113.16", 20 * time.Millisecond}} {
		b.Run(bc.ip+"/delay="+bc.delay.String(), func(b *testing.B) {
			delay := bc.delay
			g, d, _ := world(b)
			for _, s := range g {
				s.SetFault("", 0, dnstest.Fault{Delay: delay})
			}
			ip := netip.MustParseAddr(bc.ip)
			rounds := 0
			b.ReportAllocs()
			for b.Loop() {
				g.ResetLog()
				if r := d.DiagnoseIP(context.Background(), ip, Options{}); !r.Fixed() {
					b.Fatalf("not a pass: %s", r.Status)
				}
				rounds += g.Rounds()
			}
			if delay > 0 { // without a delay, concurrent queries need not overlap
				b.ReportMetric(float64(rounds)/float64(b.N), "roundtrips/op")
			}
		})
	}
}

// edit returns the world's zone text with one replacement, failing the test
// when old is not there (a test that edits nothing proves nothing).
func edit(t testing.TB, text, old, new string) string {
	t.Helper()
	if !strings.Contains(text, old) {
		t.Fatalf("zone text lacks %q", old)
	}
	return strings.Replace(text, old, new, 1)
}

// Agreement is about servers that answered: one that does not answer (a
// dead address, IPv6 on a host without it) is reported as a DNS error, not
// as a disagreement, so a watch still sees "fixed".
func TestSourceAgreement(t *testing.T) {
	for _, tc := range []struct {
		name                   string
		setup                  func(t *testing.T, g dnstest.Group, text string)
		agree, fixed, disagree bool
		dnsError               string // a dns_error finding must mention this
	}{
		{"an NS address that does not answer", func(t *testing.T, g dnstest.Group, text string) {
			if err := g.Load(edit(t, text, "ns1\tA\t127.0.0.2\n", "ns1\tA\t127.0.0.2\nns1\tAAAA\t::1\n")); err != nil {
				t.Fatal(err)
			}
		}, true, true, false, "::1"},
		{"one server dead", func(t *testing.T, g dnstest.Group, text string) {
			g[2].SetFault("", 0, dnstest.Fault{Drop: true})
		}, true, true, false, "ns2.example.net"},
		{"no server answers: the resolver's pass stands", func(t *testing.T, g dnstest.Group, text string) {
			g[1].SetFault("", 0, dnstest.Fault{Drop: true})
			g[2].SetFault("", 0, dnstest.Fault{Drop: true})
		}, false, true, false, "ns1.example.net"},
		{"a reverse server with other data", func(t *testing.T, g dnstest.Group, text string) {
			if err := g[2].Load(edit(t, text, "5\tPTR\tmail.example.com.", "5\tPTR\tother.example.com.")); err != nil {
				t.Fatal(err)
			}
		}, false, false, true, ""},
		{"a forward server with other data", func(t *testing.T, g dnstest.Group, text string) {
			if err := g[2].Load(edit(t, text, "mail\tA\t203.0.113.5", "mail\tA\t203.0.113.55")); err != nil {
				t.Fatal(err)
			}
		}, false, false, true, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			g, d, text := world(t)
			tc.setup(t, g, text)
			r := d.DiagnoseIP(context.Background(), netip.MustParseAddr("203.0.113.5"), Options{})
			disagree := slices.Contains(codes(r), CodeAuthoritativeDisagree)
			if r.Status != StatusPass || r.Source.Agree != tc.agree || r.Fixed() != tc.fixed || disagree != tc.disagree {
				t.Errorf("status %s agree %v fixed %v disagree %v, want agree %v fixed %v disagree %v\nservers %+v",
					r.Status, r.Source.Agree, r.Fixed(), disagree, tc.agree, tc.fixed, tc.disagree, r.Source.Servers)
			}
			if stale := strings.Contains(joinSteps(r), "stale secondary"); stale != tc.disagree {
				t.Errorf("stale-secondary step %v, want %v:\n%s", stale, tc.disagree, joinSteps(r))
			}
			if tc.dnsError != "" && !strings.Contains(message(r, CodeDNSError), tc.dnsError) {
				t.Errorf("dns_error %q does not name %s", message(r, CodeDNSError), tc.dnsError)
			}
		})
	}
}

// cache_propagating is for a fix the source has and the resolver not yet;
// other differences between them are told apart.
func TestSourceVersusResolver(t *testing.T) {
	for _, tc := range []struct {
		name     string
		ip       string
		setup    func(t *testing.T, g dnstest.Group, text string)
		status   Status
		source   Status
		want     []Code
		not      []Code
		steps    []string // present in the steps
		notSteps []string
	}{
		{"fixed at the source", "203.0.113.30", func(t *testing.T, g dnstest.Group, text string) {
			g[1:].Load(withPTR30(text))
		}, StatusPermerror, StatusPass, []Code{CodeCachePropagating}, []Code{CodeSourceChanged},
			[]string{"Nothing more to change"}, nil},
		{"new PTR whose name points elsewhere", "203.0.113.30", func(t *testing.T, g dnstest.Group, text string) {
			g[1:].Load(edit(t, text, "70\tCNAME", "30\tPTR\telsewhere.example.com.\n70\tCNAME"))
		}, StatusPermerror, StatusFail, []Code{CodeSourceChanged, CodeNoPTR}, []Code{CodeCachePropagating},
			[]string{"The PTR already names `elsewhere.example.com`: point that name's A record at 203.0.113.30", "Or change the PTR of 203.0.113.30 to a name that does point at it", "already publish a changed PTR"},
			[]string{"Nothing more to change", "already serve the new answer", "Set the PTR of 203.0.113.30 to `elsewhere.example.com`"}},
		{"PTR changed to another name that does not point back", "203.0.113.7", func(t *testing.T, g dnstest.Group, text string) {
			g[1:].Load(edit(t, text, "7\tPTR\telsewhere.example.com.", "7\tPTR\tnoaddr.example.com."))
		}, StatusFail, StatusFail, []Code{CodeSourceChanged, CodeForwardMismatch}, []Code{CodeCachePropagating},
			[]string{"The PTR already names `noaddr.example.com`: point that name's A record at 203.0.113.7"}, []string{"Nothing more to change", "Set the PTR of 203.0.113.7 to"}},
		{"PTR removed at the source", "203.0.113.5", func(t *testing.T, g dnstest.Group, text string) {
			g[1:].Load(edit(t, text, "5\tPTR\tmail.example.com.\n", ""))
		}, StatusPass, StatusPermerror, []Code{CodeSourceChanged}, []Code{CodeCachePropagating}, nil, []string{"Nothing more to change"}},
		{"resolver timed out", "203.0.113.5", func(t *testing.T, g dnstest.Group, text string) {
			g[0].SetFault("5.113.0.203.in-addr.arpa.", dns.TypePTR, dnstest.Fault{Drop: true})
		}, StatusTemperror, StatusPass, []Code{CodeDNSError}, []Code{CodeCachePropagating, CodeSourceChanged},
			[]string{"DNS did not answer"}, []string{"up to 0 s", "Nothing more to change"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			g, d, text := world(t)
			tc.setup(t, g, text)
			r := d.DiagnoseIP(context.Background(), netip.MustParseAddr(tc.ip), Options{})
			if r.Status != tc.status || r.Source.Status != tc.source {
				t.Fatalf("status %s source %s, want %s and %s; findings %v", r.Status, r.Source.Status, tc.status, tc.source, r.Findings)
			}
			steps := joinSteps(r)
			checkFindings(t, r, tc.want, tc.not)
			for _, s := range tc.steps {
				if !strings.Contains(steps, s) {
					t.Errorf("steps lack %q:\n%s", s, steps)
				}
			}
			for _, s := range append(tc.notSteps, "up to 0 s") {
				for _, f := range r.Findings {
					if strings.Contains(f.Message+"\n"+steps, s) {
						t.Errorf("%q in %s / steps:\n%s", s, f.Message, steps)
					}
				}
			}
		})
	}
}

// The resolver that strips the SOA from a denial, the one that is cut off,
// and the negative TTL that comes from the zone, not from a cache's
// count-down (RFC 2308 §5).
func TestNegativeAnswers(t *testing.T) {
	const ptr20 = "20.113.0.203.in-addr.arpa."
	countedDown := func(t *testing.T, g dnstest.Group, text string) {
		// A resolver's cached copy: its SOA TTL has counted down to 37.
		if err := g[0].Load(edit(t, text, "hostmaster.example.net. 1 3600 600 86400 120\n@\tNS\tns1.example.net.\n@\tNS\tns2", "hostmaster.example.net. 1 3600 600 86400 37\n@\tNS\tns1.example.net.\n@\tNS\tns2")); err != nil {
			t.Fatal(err)
		}
	}
	stripSOA := func(t *testing.T, g dnstest.Group, text string) {
		g[0].SetFault(ptr20, dns.TypePTR, dnstest.Fault{NoSOA: true})
	}
	sourceDead := func(t *testing.T, g dnstest.Group, text string) {
		g[1].SetFault("", 0, dnstest.Fault{Drop: true})
		g[2].SetFault("", 0, dnstest.Fault{Drop: true})
	}
	for _, tc := range []struct {
		name   string
		setup  []func(*testing.T, dnstest.Group, string)
		status Status
		ttl    uint32 // 0: unknown
		probes int    // sanity probes the resolver got
	}{
		{"the zone's TTL, not the cache's", []func(*testing.T, dnstest.Group, string){countedDown}, StatusPermerror, 120, 0},
		{"the cache's TTL when the zone's servers are dead", []func(*testing.T, dnstest.Group, string){countedDown, sourceDead}, StatusPermerror, 37, 0},
		{"denial without SOA from a working resolver", []func(*testing.T, dnstest.Group, string){stripSOA}, StatusPermerror, 120, 1},
		{"denial without SOA, zone's servers dead", []func(*testing.T, dnstest.Group, string){stripSOA, sourceDead}, StatusPermerror, 0, 1},
		{"denial without SOA from a resolver that refuses the probe", []func(*testing.T, dnstest.Group, string){stripSOA, func(t *testing.T, g dnstest.Group, text string) {
			g[0].SetFault("in-addr.arpa.", dns.TypeSOA, dnstest.Fault{Rcode: dns.RcodeRefused})
		}}, StatusTemperror, 0, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			g, d, text := world(t)
			for _, f := range tc.setup {
				f(t, g, text)
			}
			g.ResetLog()
			r := d.DiagnoseIP(context.Background(), netip.MustParseAddr("203.0.113.20"), Options{})
			if r.Status != tc.status {
				t.Fatalf("status %s, want %s: %v", r.Status, tc.status, r.Findings)
			}
			if tc.status == StatusTemperror && slices.Contains(codes(r), CodeNoPTR) {
				t.Errorf("a resolver that answers nothing reads as no PTR: %v", r.Findings)
			}
			switch {
			case tc.ttl == 0 && r.NegativeTTLSeconds != nil:
				t.Errorf("negative TTL %d, want unknown", *r.NegativeTTLSeconds)
			case tc.ttl != 0 && (r.NegativeTTLSeconds == nil || *r.NegativeTTLSeconds != tc.ttl):
				t.Errorf("negative TTL %v, want %d", r.NegativeTTLSeconds, tc.ttl)
			case tc.ttl != 0 && !strings.Contains(message(r, CodeNoPTR), fmt.Sprintf("up to %d s", tc.ttl)):
				t.Errorf("no_ptr message %q lacks the TTL", message(r, CodeNoPTR))
			}
			probes := 0
			for _, q := range g[0].Queries() {
				if q.Name == "in-addr.arpa." && q.Type == dns.TypeSOA {
					probes++
				}
			}
			if probes != tc.probes {
				t.Errorf("%d sanity probes, want %d", probes, tc.probes)
			}
		})
	}
}

// Dead authoritative servers cost the source check's own budget, not the
// diagnosis's: that budget (auxMaxWait) ends before the first 2 s attempt
// of any question to them would, so no question is ever sent to them twice
// (2 attempts per query would be the diagnosis's own retry rule).
func TestDeadSourceBounded(t *testing.T) {
	g, _, _ := world(t)
	d, err := New(Config{Resolver: g[0].Addr(), AuthorityPort: g.Port(), Timeout: 5 * time.Second, QueryTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	g[1].SetFault("", 0, dnstest.Fault{Drop: true})
	g[2].SetFault("", 0, dnstest.Fault{Drop: true})
	r := d.DiagnoseIP(context.Background(), netip.MustParseAddr("203.0.113.5"), Options{})
	for i, srv := range g[1:] {
		asked := map[string]int{}
		for _, q := range srv.Queries() {
			key := q.Name + " " + dns.TypeToString[q.Type]
			if asked[key]++; asked[key] > 1 {
				t.Errorf("dead server %d asked %s twice: its retries outlived the source check's budget", i+1, key)
			}
		}
		if len(asked) == 0 {
			t.Errorf("dead server %d was never asked: the test checks nothing", i+1)
		}
	}
	if r.Status != StatusPass || r.ConfirmedName != "mail.example.com" || !r.SourceUnreachable() || !strings.Contains(message(r, CodeDNSError), "ns2.example.net") {
		t.Errorf("status %s confirmed %q unreachable %v findings %v", r.Status, r.ConfirmedName, r.SourceUnreachable(), r.Findings)
	}
}

// A family whose lookup did not answer is an error, never left out in
// silence; a host name's addresses are capped, both families kept.
func TestDiagnoseHostFamilies(t *testing.T) {
	g, d, text := world(t)
	ctx := context.Background()
	for _, tc := range []struct {
		dropped uint16
		left    string
	}{{dns.TypeAAAA, "203.0.113.11"}, {dns.TypeA, "2001:db8::11"}} {
		fam := dns.TypeToString[tc.dropped]
		g[0].SetFault("dual.example.com.", tc.dropped, dnstest.Fault{Drop: true})
		rs, err := diagnoseOne(ctx, d, "dual.example.com", Options{})
		g[0].SetFault("dual.example.com.", tc.dropped, dnstest.Fault{})
		if len(rs) != 1 || rs[0].IP != tc.left || !errors.Is(err, ErrLookup) || !strings.Contains(err.Error(), "dual.example.com "+fam+":") {
			t.Errorf("%s dropped: %d results, error %v", fam, len(rs), err)
		}
	}

	var many strings.Builder
	for i := range 20 {
		fmt.Fprintf(&many, "many\tA\t203.0.113.%d\n", 100+i)
	}
	many.WriteString("many\tAAAA\t2001:db8::11\nmany\tAAAA\t2001:db8::11\n")
	if err := g.Load(edit(t, text, "mail\tA\t203.0.113.5\n", "mail\tA\t203.0.113.5\n"+many.String())); err != nil {
		t.Fatal(err)
	}
	g.ResetLog()
	rs, err := diagnoseOne(ctx, d, "many.example.com", Options{})
	if len(rs) != MaxHostAddresses || rs[MaxHostAddresses-1].IP != "2001:db8::11" || !errors.Is(err, ErrTooManyAddresses) || errors.Is(err, ErrLookup) ||
		!strings.Contains(err.Error(), "21 addresses") {
		t.Errorf("%d results, error %v", len(rs), err)
	}
	ptrs := 0
	for _, q := range g[0].Queries() {
		if q.Type == dns.TypePTR {
			ptrs++
		}
	}
	if ptrs > MaxHostAddresses {
		t.Errorf("%d PTR queries for a capped host name", ptrs)
	}
}

func TestCapAddrs(t *testing.T) {
	addrs := func(n int, v6 bool) []netip.Addr {
		var out []netip.Addr
		for i := range n {
			if v6 {
				out = append(out, netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 15: byte(i + 1)}))
			} else {
				out = append(out, netip.AddrFrom4([4]byte{192, 0, 2, byte(i + 1)}))
			}
		}
		return out
	}
	for _, tc := range []struct{ v4, v6, want4, want6 int }{
		{3, 0, 3, 0}, {0, 3, 0, 3}, {20, 1, 7, 1}, {1, 20, 1, 7}, {20, 20, 4, 4}, {4, 4, 4, 4}, {8, 0, 8, 0},
	} {
		in := append(addrs(tc.v4, false), addrs(tc.v6, true)...)
		in = append(in, in...) // duplicates count once
		got, distinct := capAddrs(in, 8)
		if distinct != tc.v4+tc.v6 {
			t.Errorf("%d v4 + %d v6: %d distinct", tc.v4, tc.v6, distinct)
		}
		n4 := 0
		for _, a := range got {
			if a.Is4() {
				n4++
			}
		}
		if n4 != tc.want4 || len(got)-n4 != tc.want6 || !slices.IsSortedFunc(got, func(a, b netip.Addr) int { return a.BitLen() - b.BitLen() }) {
			t.Errorf("%d v4 + %d v6: got %v, want %d + %d", tc.v4, tc.v6, got, tc.want4, tc.want6)
		}
	}
}

// A PTR name from DNS may have a hundred labels: finding its zone asks a
// bounded number of NS questions.
func TestForwardZoneProbes(t *testing.T) {
	g, d, _ := world(t)
	g.ResetLog()
	z := d.Session().begin().forwardZone(context.Background(), "a.b.c.d.e.f.g.h.i.j.mail.example.com.")
	if z.name != "example.com." || len(z.servers) != 2 {
		t.Errorf("zone %q servers %v err %v", z.name, z.servers, z.err)
	}
	ns := 0
	for _, q := range g[0].Queries() {
		if q.Type == dns.TypeNS {
			ns++
		}
	}
	if ns > maxZoneDepth {
		t.Errorf("%d NS queries, want at most %d", ns, maxZoneDepth)
	}
}

// Names from a hostile zone (a name server and a PTR name with shell
// syntax in them) and a hostile HELO reach no command, end to end.
func TestHostileNamesFromDNS(t *testing.T) {
	g, d, text := world(t)
	text = edit(t, text, "ns2\tA\t127.0.0.3\n", "ns2\tA\t127.0.0.3\nx`id`\\$\\(id\\)y\tA\t127.0.0.3\n")
	text = edit(t, text, "@\tNS\tns2.example.net.\n5\tPTR", "@\tNS\tns2.example.net.\n@\tNS\tx`id`\\$\\(id\\)y.example.net.\n41\tPTR\t\\$\\(reboot\\).example.com.\n5\tPTR")
	if err := g.Load(text); err != nil {
		t.Fatal(err)
	}
	g[0].SetFault("21.113.0.203.in-addr.arpa.", dns.TypePTR, dnstest.Fault{Rcode: dns.RcodeServerFailure})
	safe := regexp.MustCompile(`^[A-Za-z0-9 ./:=@&+_-]+$`)
	for _, ip := range []string{"203.0.113.21", "203.0.113.41", "203.0.113.5"} {
		r := d.DiagnoseIP(context.Background(), netip.MustParseAddr(ip), Options{HELO: "mail.example.com`id`"})
		if !slices.ContainsFunc(r.ReverseNameservers, func(n string) bool { return strings.HasPrefix(n, "x`id`$") }) {
			t.Fatalf("%s: the hostile name server is not in the zone: %v", ip, r.ReverseNameservers)
		}
		var cmds []string
		for _, s := range r.Guidance {
			cmds = append(cmds, s.Commands...)
		}
		for _, c := range cmds {
			if !safe.MatchString(c) {
				t.Errorf("%s: unsafe command %q", ip, c)
			}
		}
		if ip == "203.0.113.21" && !slices.Contains(cmds, "dig @127.0.0.3 21.113.0.203.in-addr.arpa PTR +norecurse") {
			t.Errorf("%s: the hostile server is not asked by address: %q", ip, cmds)
		}
	}
}

// diagnoseOne diagnoses one target as DiagnoseTargets does, always asking
// DNS (no reuse of an earlier test step's answers).
func diagnoseOne(ctx context.Context, d *Diagnoser, target string, opts Options) ([]Result, error) {
	opts.Fresh = true
	o := d.DiagnoseTargets(ctx, []string{target}, opts).Outcomes[0]
	return o.Results, o.Err
}
