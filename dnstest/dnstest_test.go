package dnstest

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
)

const zones = `
$ORIGIN example.org.
$TTL 3600
@	SOA	ns1 hostmaster 1 3600 600 86400 300
@	NS	ns1
ns1	A	127.0.0.2
www	CNAME	web.example.net.
a.b	A	192.0.2.1
many	TXT	"` + "0123456789012345678901234567890123456789" + `"
child	NS	ns.child
ns.child	A	127.0.0.3

$ORIGIN example.net.
@	SOA	ns1.example.org. hostmaster.example.org. 1 3600 600 86400 60
@	NS	ns1.example.org.
web	A	192.0.2.80
loop1	CNAME	loop2
loop2	CNAME	loop1
`

func testGroup(t *testing.T) Group {
	t.Helper()
	g := Start(t, 2)
	if err := g.Load(zones); err != nil {
		t.Fatal(err)
	}
	// Many TXT records so the answer outgrows 512 bytes.
	var b strings.Builder
	b.WriteString(zones)
	for i := range 20 {
		fmt.Fprintf(&b, "$ORIGIN example.org.\nmany TXT \"record %d padding padding padding\"\n", i)
	}
	if err := g[0].Load(b.String()); err != nil {
		t.Fatal(err)
	}
	return g
}

func exchange(t *testing.T, net, addr, name string, qtype uint16, rd, edns bool) (*dns.Msg, error) {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	m.RecursionDesired = rd
	if edns {
		m.SetEdns0(4096, false)
	}
	c := dns.Client{Net: net, Timeout: 300 * time.Millisecond}
	r, _, err := c.Exchange(m, addr)
	return r, err
}

func TestAnswers(t *testing.T) {
	g := testGroup(t)
	tests := []struct {
		name     string
		qname    string
		qtype    uint16
		rd       bool
		rcode    int
		aa, ra   bool
		answer   int    // records in the answer section
		soaTTL   uint32 // TTL of the authority SOA, when one is expected
		referral bool
	}{
		{name: "authoritative data", qname: "ns1.example.org.", qtype: dns.TypeA, aa: true, answer: 1},
		{name: "case-insensitive", qname: "NS1.Example.ORG.", qtype: dns.TypeA, aa: true, answer: 1},
		{name: "NXDOMAIN with SOA at min(TTL, MINIMUM)", qname: "nope.example.org.", qtype: dns.TypeA, rcode: dns.RcodeNameError, aa: true, soaTTL: 300},
		{name: "NODATA", qname: "ns1.example.org.", qtype: dns.TypeAAAA, aa: true, soaTTL: 300},
		{name: "empty non-terminal is NODATA", qname: "b.example.org.", qtype: dns.TypeA, aa: true, soaTTL: 300},
		{name: "CNAME followed into another held zone", qname: "www.example.org.", qtype: dns.TypeA, aa: true, answer: 2},
		{name: "CNAME asked for itself", qname: "www.example.org.", qtype: dns.TypeCNAME, aa: true, answer: 1},
		{name: "referral to a child not held", qname: "host.child.example.org.", qtype: dns.TypeA, referral: true},
		{name: "zone not held", qname: "example.com.", qtype: dns.TypeA, rcode: dns.RcodeRefused},
		{name: "CNAME loop", qname: "loop1.example.net.", qtype: dns.TypeA, rcode: dns.RcodeServerFailure, aa: true, answer: 16},
		{name: "recursive chain", qname: "www.example.org.", qtype: dns.TypeA, rd: true, ra: true, answer: 2},
		{name: "recursive NXDOMAIN", qname: "nope.example.net.", qtype: dns.TypeA, rd: true, ra: true, rcode: dns.RcodeNameError, soaTTL: 60},
		{name: "recursive outside every zone", qname: "example.com.", qtype: dns.TypeA, rd: true, ra: true, rcode: dns.RcodeNameError},
		{name: "recursive into a child not held", qname: "host.child.example.org.", qtype: dns.TypeA, rd: true, ra: true, rcode: dns.RcodeServerFailure},
	}
	for _, tc := range tests {
		for _, nw := range []string{"udp", "tcp"} {
			r, err := exchange(t, nw, g[1].Addr(), tc.qname, tc.qtype, tc.rd, true)
			if err != nil {
				t.Fatalf("%s over %s: %v", tc.name, nw, err)
			}
			if r.Rcode != tc.rcode || r.Authoritative != tc.aa || r.RecursionAvailable != tc.ra || len(r.Answer) != tc.answer {
				t.Errorf("%s over %s: rcode %s aa %v ra %v answer %d\n%v", tc.name, nw, dns.RcodeToString[r.Rcode], r.Authoritative, r.RecursionAvailable, len(r.Answer), r)
			}
			var soa *dns.SOA
			for _, rr := range r.Ns {
				if s, ok := rr.(*dns.SOA); ok {
					soa = s
				}
			}
			if (tc.soaTTL != 0) != (soa != nil) || (soa != nil && soa.Hdr.Ttl != tc.soaTTL) {
				t.Errorf("%s: authority %v, want SOA TTL %d", tc.name, r.Ns, tc.soaTTL)
			}
			if tc.referral && (len(r.Ns) != 1 || r.Ns[0].Header().Rrtype != dns.TypeNS || len(r.Extra) < 1) {
				t.Errorf("%s: not a referral with glue: %v", tc.name, r)
			}
		}
	}
}

func TestFaults(t *testing.T) {
	g := testGroup(t)
	s := g[1]
	s.SetFault("ns1.example.org.", dns.TypeA, Fault{Rcode: dns.RcodeServerFailure})
	s.SetFault("web.example.net.", 0, Fault{Rcode: dns.RcodeRefused})
	s.SetFault("a.b.example.org.", 0, Fault{Lame: true})
	s.SetFault("www.example.org.", 0, Fault{Drop: true})
	s.SetFault("example.org.", dns.TypeSOA, Fault{Truncate: true})
	s.SetFault("nope.example.org.", 0, Fault{NoSOA: true})
	s.SetFault("ns1.example.org.", dns.TypeMX, Fault{NoSOA: true})
	s.SetFault("example.org.", dns.TypeNS, Fault{NoSOA: true})

	for _, tc := range []struct {
		name  string
		qname string
		qtype uint16
		net   string
		check func(*dns.Msg, error) bool
	}{
		{"SERVFAIL for one type", "ns1.example.org.", dns.TypeA, "udp", func(r *dns.Msg, err error) bool { return err == nil && r.Rcode == dns.RcodeServerFailure }},
		{"other types unaffected", "ns1.example.org.", dns.TypeAAAA, "udp", func(r *dns.Msg, err error) bool { return err == nil && r.Rcode == dns.RcodeSuccess && r.Authoritative }},
		{"REFUSED", "web.example.net.", dns.TypeA, "udp", func(r *dns.Msg, err error) bool { return err == nil && r.Rcode == dns.RcodeRefused }},
		{"lame", "a.b.example.org.", dns.TypeA, "udp", func(r *dns.Msg, err error) bool {
			return err == nil && r.Rcode == dns.RcodeSuccess && !r.Authoritative && !r.RecursionAvailable && len(r.Answer)+len(r.Ns) == 0
		}},
		{"drop", "www.example.org.", dns.TypeA, "udp", func(r *dns.Msg, err error) bool {
			var ne net.Error
			return errors.As(err, &ne) && ne.Timeout()
		}},
		{"truncated over UDP", "example.org.", dns.TypeSOA, "udp", func(r *dns.Msg, err error) bool { return err == nil && r.Truncated && len(r.Answer) == 0 }},
		{"NXDOMAIN without SOA", "nope.example.org.", dns.TypeA, "udp", func(r *dns.Msg, err error) bool {
			return err == nil && r.Rcode == dns.RcodeNameError && r.Authoritative && len(r.Answer)+len(r.Ns) == 0
		}},
		{"NODATA without SOA", "ns1.example.org.", dns.TypeMX, "udp", func(r *dns.Msg, err error) bool {
			return err == nil && r.Rcode == dns.RcodeSuccess && r.Authoritative && len(r.Answer)+len(r.Ns) == 0
		}},
		{"data unaffected by NoSOA", "example.org.", dns.TypeNS, "udp", func(r *dns.Msg, err error) bool { return err == nil && len(r.Answer) == 1 && len(r.Extra) == 1 }},
		{"whole over TCP", "example.org.", dns.TypeSOA, "tcp", func(r *dns.Msg, err error) bool { return err == nil && !r.Truncated && len(r.Answer) == 1 }},
	} {
		r, err := exchange(t, tc.net, s.Addr(), tc.qname, tc.qtype, false, true)
		if !tc.check(r, err) {
			t.Errorf("%s: %v %v", tc.name, r, err)
		}
	}

	s.SetFault("web.example.net.", 0, Fault{})
	s.ClearFaults()
	if r, err := exchange(t, "udp", s.Addr(), "ns1.example.org.", dns.TypeA, false, true); err != nil || r.Rcode != dns.RcodeSuccess {
		t.Errorf("after ClearFaults: %v %v", r, err)
	}
}

// Answers beyond the client's buffer are truncated; TCP carries them whole.
func TestTruncation(t *testing.T) {
	g := testGroup(t)
	r, err := exchange(t, "udp", g[0].Addr(), "many.example.org.", dns.TypeTXT, false, false)
	if err != nil || !r.Truncated {
		t.Fatalf("no EDNS, big answer: %v %v", r, err)
	}
	r, err = exchange(t, "tcp", g[0].Addr(), "many.example.org.", dns.TypeTXT, false, false)
	if err != nil || r.Truncated || len(r.Answer) != 21 {
		t.Fatalf("over TCP: %v %v", r, err)
	}
}

// Zones are replaced while queries run; the race detector checks the locking.
func TestReloadWhileServing(t *testing.T) {
	g := testGroup(t)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 20 {
				if _, err := exchange(t, "udp", g[1].Addr(), "new.example.net.", dns.TypeA, false, true); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	if err := g[1].Load(zones + "\n$ORIGIN example.net.\nnew A 192.0.2.99\n"); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	r, err := exchange(t, "udp", g[1].Addr(), "new.example.net.", dns.TypeA, false, true)
	if err != nil || len(r.Answer) != 1 {
		t.Errorf("after reload: %v %v", r, err)
	}
	if r, _ := exchange(t, "udp", g[0].Addr(), "new.example.net.", dns.TypeA, false, true); r.Rcode != dns.RcodeNameError {
		t.Errorf("the other server changed too: %v", r)
	}
	g[1].Remove("example.net.")
	if r, _ := exchange(t, "udp", g[1].Addr(), "new.example.net.", dns.TypeA, false, true); r.Rcode != dns.RcodeRefused {
		t.Errorf("after Remove: %v", r)
	}
}

func TestGroupAndRounds(t *testing.T) {
	g := testGroup(t)
	if g[0].Port() != g[1].Port() || g[0].IP() != "127.0.0.1" || g[1].IP() != "127.0.0.2" {
		t.Fatalf("addresses %s %s", g[0].Addr(), g[1].Addr())
	}
	for _, s := range g {
		s.SetFault("", 0, Fault{Delay: 30 * time.Millisecond})
	}
	g.ResetLog()
	var wg sync.WaitGroup
	for _, s := range g { // round 1: two queries at once
		wg.Go(func() { exchange(t, "udp", s.Addr(), "ns1.example.org.", dns.TypeA, false, true) })
	}
	wg.Wait()
	exchange(t, "tcp", g[0].Addr(), "ns1.example.org.", dns.TypeA, false, true) // round 2
	if n := g.Rounds(); n != 2 {
		t.Errorf("Rounds = %d, want 2", n)
	}
	if q := g[0].Queries(); len(q) != 2 || !q[1].TCP || q[0].Name != "ns1.example.org." || q[0].Answered <= q[0].Arrived || q[1].Arrived <= q[0].Answered {
		t.Errorf("log %+v", q)
	}
	if log := g.Log(); len(log) != 3 || log[0].Round != 1 || log[1].Round != 1 || log[2].Round != 2 {
		t.Errorf("causal rounds %+v", log)
	}
}

// Under Lockstep nothing is answered until released, so concurrent queries
// form one round however slowly they are sent, and a chain of dependent
// queries is one round per link.
func TestLockstep(t *testing.T) {
	g := testGroup(t)
	step := g.Lockstep()
	done := make(chan struct{})
	go func() {
		defer close(done)
		var wg sync.WaitGroup
		for _, s := range g { // round 1
			wg.Go(func() { exchange(t, "udp", s.Addr(), "ns1.example.org.", dns.TypeA, false, true) })
		}
		wg.Wait()
		for range 2 { // rounds 2 and 3
			exchange(t, "udp", g[1].Addr(), "ns1.example.org.", dns.TypeA, false, true)
		}
	}()
	if n := step.Run(done, 50*time.Millisecond); n != 3 {
		t.Errorf("Run counted %d rounds, want 3", n)
	}
	if n := g.Rounds(); n != 3 {
		t.Errorf("causal Rounds = %d, want 3: %+v", n, g.Log())
	}
	// Held answers still reach the client.
	if q := g[1].Queries(); len(q) != 3 || q[2].Answered == 0 {
		t.Errorf("log %+v", q)
	}
}

func TestLoadErrors(t *testing.T) {
	g := testGroup(t)
	for text, want := range map[string]string{
		"$ORIGIN x.\n@ 60 A 192.0.2.1\n":                                   "no SOA",
		"$TTL 60\n$ORIGIN x.\n@ SOA a. b. 1 1 1 1 1\nfoo.y. A 192.0.2.1\n": "outside every zone",
		"$TTL 60\n$ORIGIN x.\n@ SOA a. b. 1 1 1 1 1\nwww A 999.0.0.1\n":    "parse zone",
	} {
		if err := g[0].Load(text); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Load(%q) = %v, want %q", text, err, want)
		}
	}
}
