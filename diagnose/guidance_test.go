package diagnose

import (
	"context"
	"fmt"
	"net/netip"
	"regexp"
	"strings"
	"testing"
	"text/template"

	"github.com/miekg/dns"
	"github.com/rdnsbot/rdnsbot/dnstest"
)

// Every template in the guidance table executes against stepData, so a
// typo in a field name fails here rather than showing raw braces to a user.
func TestGuidanceTemplates(t *testing.T) {
	data := stepData{IP: "2001:db8::5", Rev: "5.0.ip6.arpa", Zone: "8.b.d.0.1.0.0.2.ip6.arpa", Name: "mail.example.com",
		AddrType: "AAAA", Provider: "Example", HowTo: "Click.", Alt: "mx.example.org", IPv6: true, Servers: []string{"ns1.example.net"}, Stale: 60,
		Broken: "mail.example.com", BrokenZone: "example.com", SibIP: "2001:db8::20", SibHost: "mail.example.com", SibProblem: "has no PTR", SibIPv6: true,
		Resolver: "127.0.0.1:53", ResolverCmd: "@127.0.0.1 -p 53"}
	for i, rule := range guidanceTable {
		for _, text := range append([]string{rule.text}, rule.commands...) {
			tmpl := template.Must(template.New("").Funcs(stepFuncs).Option("missingkey=error").Parse(text))
			var b strings.Builder
			if err := tmpl.Execute(&b, data); err != nil {
				t.Errorf("rule %d: %v", i, err)
			}
			if got := execute(text, data); strings.Contains(got, "{{") || strings.TrimSpace(got) == "" {
				t.Errorf("rule %d: %q", i, got)
			}
		}
	}
}

func TestGuidanceRuleSelection(t *testing.T) {
	for _, tc := range []struct {
		has    []Code
		status Status
		ipv6   bool
		want   int // how many rules apply
	}{
		{nil, StatusPass, false, 1},                                         // verification only
		{[]Code{CodeNoPTR}, StatusPermerror, false, 3},                      // forward record, PTR, verify
		{[]Code{CodeNoPTR}, StatusPermerror, true, 4},                       // + force IPv4
		{[]Code{CodeDNSError}, StatusTemperror, false, 2},                   // retry, verify
		{[]Code{CodeDNSError}, StatusPass, false, 1},                        // an authoritative hiccup needs no retry step
		{[]Code{CodeHELOMismatch, CodeSPFMisaligned}, StatusPass, false, 2}, // one alignment step
		{[]Code{CodeGenericPTR}, StatusPass, false, 2},                      // a name of one's own, verify
		{[]Code{CodeGenericPTR}, StatusFail, false, 3},                      // forward record, PTR, verify
		{[]Code{CodeSourceChanged, CodeNoPTR}, StatusPermerror, false, 4},   // the source's new data, forward record, PTR, verify
	} {
		has := map[Code]bool{}
		for _, c := range tc.has {
			has[c] = true
		}
		n := 0
		for _, r := range guidanceTable {
			if r.applies(has, tc.status, tc.ipv6) {
				n++
			}
		}
		if n != tc.want {
			t.Errorf("%v %s ipv6=%v: %d steps, want %d", tc.has, tc.status, tc.ipv6, n, tc.want)
		}
	}
}

// Whoever runs a zone chooses its NS and PTR names, and whoever types a
// command chooses the HELO: none of that may reach a shell command unless it
// is a plain host name or an address. Every rule is made to fire.
func TestGuidanceHostileNames(t *testing.T) {
	d, err := New(Config{Resolver: "192.0.2.53:53"})
	if err != nil {
		t.Fatal(err)
	}
	hostile := []string{"x`id`$(id)y.example.net.", "-oProxyCommand=id.example.net.", "a;reboot.example.net.", "$(curl evil|sh).example.", "a b.example.com.", "'\"\\.example.com."}
	var servers []server
	for i, n := range append(hostile, "ns1.example.net.") {
		servers = append(servers, server{name: n, addr: fmt.Sprintf("192.0.2.%d:53", i+1)})
	}
	var all []Finding
	for _, rule := range guidanceTable {
		for _, c := range rule.on {
			all = append(all, Finding{Code: c})
		}
	}
	safe := regexp.MustCompile(`^[A-Za-z0-9 ./:=@&+_-]+$`)
	for _, ip := range []string{"203.0.113.5", "2001:db8::5"} {
		for _, status := range []Status{StatusPass, StatusFail, StatusPermerror, StatusTemperror} {
			a := netip.MustParseAddr(ip)
			rev, _ := dns.ReverseAddr(ip)
			f := &facts{ip: a, rev: rev, names: hostile, src: sourceFacts{names: hostile}, rz: zoneInfo{name: "113.0.203.in-addr.arpa.", servers: servers}}
			r := &Result{IP: ip, Status: status, Findings: all, ReverseZone: "x`id`.in-addr.arpa", Provider: &Provider{Name: "$(id)", HowTo: "`id`"},
				Source: &SourceCheck{StaleForSeconds: 60}}
			steps := d.guidance(f, r, Options{HELO: "mail.example.com;id"})
			var cmds []string
			for _, s := range steps {
				cmds = append(cmds, s.Commands...)
			}
			for _, c := range cmds {
				if !safe.MatchString(c) || strings.Contains(c, " -o") {
					t.Errorf("%s %s: unsafe command %q", ip, status, c)
				}
			}
			joined := strings.Join(cmds, "\n")
			if status == StatusTemperror && (!strings.Contains(joined, "dig @ns1.example.net ") || !strings.Contains(joined, "dig @192.0.2.1 ") ||
				!strings.Contains(joined, "dig @192.0.2.2 ")) {
				t.Errorf("%s: servers with hostile names are not asked by address, or ns1 by name:\n%s", ip, joined)
			}
		}
	}
}

func TestCommandHost(t *testing.T) {
	for s, want := range map[string]bool{
		"ns1.example.net": true, "NS-1.Example.NET": true, "192.0.2.1": true, "2001:db8::53": true,
		"ns1": false, "-oProxyCommand=x.example": false, "x`id`.example": false, "$(id).example": false, "a b.example": false,
		"ns1.example.net;id": false, "fe80::1%eth0": false, "": false, "a..example": false, "ns_1.example.net": false,
	} {
		if got := commandHost(s); got != want {
			t.Errorf("commandHost(%q) = %v, want %v", s, got, want)
		}
	}
}

// Each finding's steps, read as the user would: each step is one they can
// take. Nothing asks them to set a PTR to the name it already is, to
// announce or publish SPF at a name only the IP's owner controls, or blames
// the reverse zone for a forward zone's fault.
func TestStepsReadAsAUser(t *testing.T) {
	g, d, _ := world(t)
	g[0].SetFault("21.113.0.203.in-addr.arpa.", dns.TypePTR, dnstest.Fault{Rcode: dns.RcodeServerFailure})
	g[1].SetFault("21.113.0.203.in-addr.arpa.", dns.TypePTR, dnstest.Fault{Rcode: dns.RcodeServerFailure})
	g[2].SetFault("21.113.0.203.in-addr.arpa.", dns.TypePTR, dnstest.Fault{Rcode: dns.RcodeServerFailure})
	for _, s := range g {
		s.SetFault("fwdfail.example.com.", dns.TypeA, dnstest.Fault{Rcode: dns.RcodeServerFailure})
	}
	for _, tc := range []struct {
		code Code
		ip   string
		opts Options
		want []string // phrases some step has
		not  []string // phrases no step has
	}{
		{CodeNoPTR, "203.0.113.20", Options{}, []string{"Make sure your mail server's host name, say `mail.example.com`, has an A record pointing at 203.0.113.20",
			"Set the PTR of 203.0.113.20 to `mail.example.com` where the IP is owned, not at your domain's registrar"}, nil},
		{CodeNoPTR, "203.0.113.20", Options{Name: "mx.example.org"}, []string{"Set the PTR of 203.0.113.20 to `mx.example.org`"}, []string{"say `mail.example.com`"}},
		{CodeForwardMissing, "203.0.113.8", Options{}, []string{"The PTR already names `noaddr.example.com`: point that name's A record at 203.0.113.8"}, nil},
		{CodeForwardMismatch, "203.0.113.7", Options{}, []string{"point that name's A record at 203.0.113.7", "Or change the PTR of 203.0.113.7 to a name that does point at it"}, nil},
		{CodeMultiplePTR, "203.0.113.12", Options{}, []string{"exactly one, naming `multi1.example.com`"}, nil},
		{CodeGenericPTR, "203.0.113.13", Options{}, []string{"Consider giving the mail server a name of its own"}, nil},
		{CodeHELOMismatch, "203.0.113.13", Options{HELO: "mx.example.org"}, []string{"choose your own host name, such as `mx.example.org`, ask the IP's owner to set the PTR to it"},
			[]string{"smtp_helo_name = 203-0-113-13", "SPF record at `203-0-113-13"}},
		{CodeGenericPTR, "203.0.113.31", Options{}, []string{"Amazon"}, nil},
		{CodeClasslessDelegation, "203.0.113.70", Options{}, []string{"dig +short -x 203.0.113.70"}, nil},
		{CodePTRNameAlias, "203.0.113.9", Options{}, []string{"plain A/AAAA record, not a CNAME"}, nil},
		{CodeInvalidPTRName, "203.0.113.14", Options{}, []string{"Set the PTR of 203.0.113.14 to `mail.example.com`"}, []string{"`localhost`"}},
		{CodeDNSError, "203.0.113.21", Options{}, []string{"DNS did not answer for the PTR of 203.0.113.21", "whoever runs the name servers of `113.0.203.in-addr.arpa` must fix them"}, nil},
		{CodeDNSError, "203.0.113.27", Options{}, []string{"DNS did not answer for `fwdfail.example.com`", "the name servers of `example.com` must fix them"}, []string{"in-addr.arpa` must fix"}},
		{CodeDNSError, "203.0.113.43", Options{}, []string{"The CNAME chain of `loop1.example.com` is too long or loops", "Whoever runs the zone `example.com`"}, []string{"in-addr.arpa` must fix", "did not answer"}},
		{CodePrivateIP, "10.1.2.3", Options{}, []string{"10.1.2.3 is not an internet address"}, nil},
		{CodeDocumentationIP, "203.0.113.5", Options{}, []string{"203.0.113.5 is not an internet address", "curl -4 https://ifconfig.me"}, nil},
		{CodeReservedIP, "127.0.0.9", Options{}, []string{"127.0.0.9 is not an internet address"}, nil},
		{CodeSPFMisaligned, "203.0.113.6", Options{}, []string{"publish an SPF record at `nospf.example.com` that authorizes 203.0.113.6"}, nil},
		{CodeHELOMismatch, "203.0.113.5", Options{HELO: "other.example.com"}, []string{"make the server announce `mail.example.com`"}, nil},
		{CodeHELOLiteral, "203.0.113.5", Options{HELO: "[198.51.100.7]"}, []string{"make the server announce `mail.example.com`"}, []string{"announce `[198"}},
		{CodeNameNotPTR, "203.0.113.5", Options{Name: "other.example.com"}, []string{"dig +short -x 203.0.113.5"}, nil},
		{CodeSiblingFails, "203.0.113.11", Options{}, []string{"`dual.example.com` also has 2001:db8::11, which has no PTR", "AAAA + PTR pair", "smtp_address_preference = ipv4"}, nil},
		{CodeForwardZoneUnknown, "203.0.113.42", Options{}, []string{"dig +short -x 203.0.113.42"}, nil},
	} {
		t.Run(string(tc.code)+"/"+tc.ip, func(t *testing.T) {
			r := d.DiagnoseIP(context.Background(), netip.MustParseAddr(tc.ip), tc.opts)
			checkFindings(t, r, []Code{tc.code}, nil)
			steps := joinSteps(r)
			for _, s := range tc.want {
				if !strings.Contains(steps, s) {
					t.Errorf("no step says %q:\n%s", s, steps)
				}
			}
			not := append([]string{"{{", "%!", "<no value>"}, tc.not...)
			for _, name := range r.PTRNames {
				not = append(not, "Set the PTR of "+r.IP+" to `"+name+"`")
				if genericPTR(netip.MustParseAddr(r.IP), name) != "" {
					not = append(not, "announce `"+name+"`", "SPF record at `"+name+"`")
				}
			}
			for _, s := range not {
				if strings.Contains(steps, s) {
					t.Errorf("a step says %q:\n%s", s, steps)
				}
			}
			for _, s := range r.Guidance {
				if strings.TrimSpace(s.Text) == "" {
					t.Errorf("an empty step: %+v", r.Guidance)
				}
			}
		})
	}
}
