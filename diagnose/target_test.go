package diagnose

import (
	"errors"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/miekg/dns"
)

func TestParseTarget(t *testing.T) {
	tests := []struct {
		in   string
		ip   string // canonical address, "" for a host name
		fail string // part of the error, "" when valid
	}{
		{in: "203.0.113.5", ip: "203.0.113.5"},
		{in: " 203.0.113.5\n", ip: "203.0.113.5"},
		{in: "2001:DB8:0:0::1", ip: "2001:db8::1"},
		{in: "::ffff:203.0.113.5", ip: "203.0.113.5"},
		{in: "[2001:db8::1]", ip: "2001:db8::1"},
		{in: "mail.example.com", ip: ""},
		{in: "mail.example.com.", ip: ""},
		{in: "xn--bcher-kva.example", ip: ""},
		// A PTR-style name that starts with an address and a hyphen is a
		// host name; a range (well formed or not) is not.
		{in: "37.58.100.86-static.reverse.softlayer.com", ip: ""},
		{in: "203.0.113.10-20.example.com", ip: ""},
		{in: "203.0.113.10-20", fail: "an address range (a pool)"},
		{in: "203.0.113.10-203.0.113.20", fail: "e.g. 203.0.113.10"},
		{in: "", fail: "empty"},
		{in: "   ", fail: "empty"},
		{in: "999.1.1.1", fail: "not a valid IPv4 address"},
		{in: "1.2.3", fail: "not a valid IPv4 address"},
		{in: "2001:db8::g", fail: "not a valid IP address"},
		{in: "[mail.example.com]", fail: "not a valid IP address"},
		{in: "fe80::1%eth0", fail: "zone"},
		{in: "<script>", fail: "not allowed"},
		{in: "<!channel>", fail: "not allowed"},
		{in: "a..b", fail: "empty label"},
		{in: "please", fail: "two labels"},
		{in: "check.", fail: "two labels"},
		{in: "localhost", fail: "two labels"},
		{in: "-a.example", fail: "hyphen"},
		{in: "example.123", fail: "numeric"},
		{in: strings.Repeat("a", 64) + ".example", fail: "63"},
		{in: strings.Repeat("a.", 200), fail: "too long"},
	}
	for _, tc := range tests {
		ip, isIP, err := ParseTarget(tc.in)
		if tc.fail != "" {
			if !errors.Is(err, ErrInvalidTarget) || !strings.Contains(err.Error(), tc.fail) {
				t.Errorf("ParseTarget(%q) error = %v, want one with %q", tc.in, err, tc.fail)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseTarget(%q): %v", tc.in, err)
			continue
		}
		if isIP != (tc.ip != "") || (isIP && ip != netip.MustParseAddr(tc.ip)) {
			t.Errorf("ParseTarget(%q) = %v, %v; want %q", tc.in, ip, isIP, tc.ip)
		}
	}
}

// Callers tell refusals apart by kind, never by the message.
func TestParseTargetKinds(t *testing.T) {
	for in, want := range map[string]TargetKind{
		"":               TargetEmpty,
		"203.0.113.0/29": TargetRange,
		"203.0.113.9/29": TargetRange,
		"2001:db8::/64":  TargetRange,
		// Ranges, and what only a range can be (pool says what is wrong).
		"203.0.113.10-203.0.113.20":   TargetRange,
		"203.0.113.10 - 203.0.113.20": TargetRange,
		"203.0.113.10-20":             TargetRange,
		"203.0.113.20-10":             TargetRange,
		"203.0.113.10-256":            TargetRange,
		"203.0.113.10-":               TargetRange,
		"203.0.113.10-+5":             TargetRange,
		"::ffff:203.0.113.1-4":        TargetRange,
		"2001:db8::1-2001:db8::5":     TargetRange,
		"2001:db8::1-20":              TargetRange,
		"fe80::1%eth0":                TargetScopedAddr,
		"999.1.1.1":                   TargetBadAddress,
		"2001:db8::g":                 TargetBadAddress,
		"<script>":                    TargetBadName,
		"please":                      TargetSingleLabel,
		strings.Repeat("a.", 200):     TargetTooLong,
	} {
		_, _, err := ParseTarget(in)
		var te *TargetError
		if !errors.As(err, &te) || te.Kind != want || !errors.Is(err, ErrInvalidTarget) {
			t.Errorf("ParseTarget(%q) = %v, want a *TargetError of kind %s", in, err, want)
		}
	}
	_, _, err := ParseTarget("203.0.113.9/29")
	if msg := err.Error(); !strings.Contains(msg, "address range") || !strings.Contains(msg, "203.0.113.8") || strings.Contains(msg, "not allowed") {
		t.Errorf("CIDR message %q", msg)
	}
}

// The error quotes the input, so hostile text cannot pass as anything else.
func TestParseTargetQuotesInput(t *testing.T) {
	_, _, err := ParseTarget("<@U123> \"x\"\nfoo")
	if err == nil || strings.Contains(err.Error(), "\n") || !strings.Contains(err.Error(), `\"x\"`) {
		t.Errorf("error = %q", err)
	}
}

func FuzzParseTarget(f *testing.F) {
	for _, s := range []string{"203.0.113.5", "2001:db8::1", "mail.example.com", "999.1.1.1", "<script>", "[::1]", "::ffff:1.2.3.4"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ip, isIP, err := ParseTarget(s)
		if err != nil {
			if !errors.Is(err, ErrInvalidTarget) {
				t.Fatalf("error %v does not wrap ErrInvalidTarget", err)
			}
			return
		}
		if isIP && (!ip.IsValid() || ip.Is4In6()) {
			t.Fatalf("ParseTarget(%q) = %v: not canonical", s, ip)
		}
		if name := strings.TrimSpace(s); !isIP && (hostSyntax(name) != "" || !strings.Contains(strings.TrimSuffix(name, "."), ".")) {
			t.Fatalf("ParseTarget(%q) accepted a bad host name", s)
		}
	})
}

func TestGenericPTR(t *testing.T) {
	tests := []struct {
		ip, name string
		want     string // part of the reason, "" for a chosen name
	}{
		{"203.0.113.5", "mail.example.com", ""},
		{"203.0.113.5", "mx1.example.com", ""},
		{"203.0.113.5", "smtp2024.example.com", ""},
		{"203.0.113.5", "203-0-113-5.example.net", "octets"},
		{"203.0.113.5", "c-203-0-113-5.hsd1.wa.comcast.net", "octets"},
		{"203.0.113.5", "5.113.0.203.bc.googleusercontent.com", "octets"},
		{"203.0.113.5", "static.5.113.0.203.clients.your-server.de", "octets"},
		{"203.0.113.5", "ip203-000-113-005.example.net", "octets"},
		{"51.91.159.9", "9.ip-51-91-159.eu", "octets"},
		{"203.0.113.5", "host-cb007105.example.net", "hexadecimal"},
		{"203.0.113.5", "pool-42.dsl.example.net", `"pool"`},
		{"203.0.113.5", "dynamic.example.net", `"dynamic"`},
		{"203.0.113.5", "cust17.dhcp.example.net", `"dhcp"`},
		{"203.0.113.5", "dyn42.example.net", `"dyn"`},
		{"203.0.113.5", "37.58.100.86-static.reverse.softlayer.com", ""}, // another IP's octets: not this one's
		{"37.58.100.86", "37.58.100.86-static.reverse.softlayer.com", "octets"},
		{"203.0.113.5", "ip-113-5.example.net", `"ip" next to the IP address's octets`},
		{"203.0.113.5", "client-0-113.isp.example", `"client" next to`},
		{"203.0.113.5", "host5-113.example.net", `"host" next to`},
		// Weak keywords alone are chosen names (false positives before).
		{"203.0.113.5", "host1.corp.com", ""},
		{"203.0.113.5", "smtp-client.example.org", ""},
		{"203.0.113.5", "static.example.com", ""},
		{"203.0.113.5", "res.example.net", ""},
		{"203.0.113.5", "ip.example.net", ""},
		{"203.0.113.5", "nat-gw.example.com", ""},
		{"203.0.113.5", "mail.client.example.org", ""},
		{"203.0.113.5", "host113.example.net", ""}, // one octet is a coincidence
		{"2001:db8::5", "mail.example.com", ""},
		{"2001:db8::1:5", "0000-0000-0001-0005.v6.example.net", "nibbles"},
		{"2001:db8::1:5", "5.0.0.0.1.0.0.0.0.0.0.0.0.0.0.0.rev.example.net", "nibbles"},
	}
	for _, tc := range tests {
		got := genericPTR(netip.MustParseAddr(tc.ip), tc.name)
		if (tc.want == "") != (got == "") || !strings.Contains(got, tc.want) {
			t.Errorf("genericPTR(%s, %s) = %q, want %q", tc.ip, tc.name, got, tc.want)
		}
	}
}

func TestInvalidName(t *testing.T) {
	for name, bad := range map[string]bool{
		"mail.example.com.": false, "localhost.": true, "localhost.localdomain.": true, "203.0.113.5.": true,
		"mail_server.example.com.": true, "mail.": true, "2001:db8::1": true,
	} {
		if got := invalidName(name) != ""; got != bad {
			t.Errorf("invalidName(%q) = %v, want %v", name, invalidName(name), bad)
		}
	}
}

func TestAddressClass(t *testing.T) {
	for ip, want := range map[string]Code{
		"10.1.2.3": CodePrivateIP, "192.168.1.1": CodePrivateIP, "100.64.0.1": CodePrivateIP, "fd00::1": CodePrivateIP,
		"192.0.2.1": CodeDocumentationIP, "2001:db8::1": CodeDocumentationIP,
		"127.0.0.1": CodeReservedIP, "169.254.1.1": CodeReservedIP, "fe80::1": CodeReservedIP, "240.0.0.1": CodeReservedIP,
		"8.8.8.8": "", "2a00:1450::1": "",
	} {
		f, special := addressClass(netip.MustParseAddr(ip))
		if special != (want != "") || f.Code != want {
			t.Errorf("addressClass(%s) = %v %v, want %q", ip, f.Code, special, want)
		}
	}
}

// A range given to DiagnoseTargets (no caller split it off as a pool) is
// refused as one, malformed or not, and never asked of DNS as a host name;
// a host name that starts with an address and a hyphen is looked up.
func TestDiagnoseTargetsRefusesRanges(t *testing.T) {
	g, d, _ := world(t)
	ranges := []string{"203.0.113.10-20", "203.0.113.10-203.0.113.20", "203.0.113.10-256", "203.0.113.20-10"}
	b := d.DiagnoseTargets(t.Context(), append(ranges, "203.0.113.10-static.example.com"), Options{})
	for i, o := range b.Outcomes[:len(ranges)] {
		if te, ok := errors.AsType[*TargetError](o.Err); !ok || te.Kind != TargetRange || len(o.Results) != 0 {
			t.Errorf("%s: %v, %d results; want a %s refusal", ranges[i], o.Err, len(o.Results), TargetRange)
		}
	}
	if o := b.Outcomes[len(ranges)]; !errors.Is(o.Err, ErrNoAddress) {
		t.Errorf("203.0.113.10-static.example.com: %v, want a lookup saying it has no address", o.Err)
	}
	for _, q := range g[0].Queries() {
		if slices.Contains(ranges, strings.TrimSuffix(q.Name, ".")) {
			t.Errorf("asked DNS about %s %s", q.Name, dns.TypeToString[q.Type])
		}
	}
}
