package pool

import (
	"encoding/json"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/rdnsbot/rdnsbot/diagnose"
)

func addrs(ss ...string) []netip.Addr {
	out := make([]netip.Addr, len(ss))
	for i, s := range ss {
		out[i] = netip.MustParseAddr(s)
	}
	return out
}

func TestCompress(t *testing.T) {
	block := netip.MustParsePrefix("203.0.113.0/24")
	tests := []struct {
		name   string
		in     []netip.Addr
		block  netip.Prefix
		want   string
		ranges int
	}{
		{"one /24", addrs("203.0.113.5", "203.0.113.9", "203.0.113.10", "203.0.113.11", "203.0.113.12"), block, ".5, .9–.12", 2},
		{"one address", addrs("203.0.113.255"), block, ".255", 1},
		{"several /24s", addrs("203.0.113.5", "203.0.113.9", "203.0.113.10", "203.0.114.1"), netip.Prefix{},
			"203.0.113.5, .9–.10, 203.0.114.1", 3},
		{"a run across /24s", addrs("203.0.113.255", "203.0.114.0", "203.0.114.7"), netip.Prefix{},
			"203.0.113.255–203.0.114.0, .7", 2},
		{"IPv6 in full", addrs("2001:db8::1", "2001:db8::2", "2001:db8::9"), netip.Prefix{}, "2001:db8::1–2001:db8::2, 2001:db8::9", 2},
		{"both families", addrs("203.0.113.5", "2001:db8::1"), netip.Prefix{}, "203.0.113.5, 2001:db8::1", 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			text, ranges := compress(tc.in, tc.block)
			if text != tc.want || len(ranges) != tc.ranges {
				t.Errorf("compress = %q in %d runs, want %q in %d", text, len(ranges), tc.want, tc.ranges)
			}
		})
	}
}

// A report of addresses in several /24s has no Block and full addresses.
func TestSummaryWithoutBlock(t *testing.T) {
	rep := newReport()
	for _, a := range addrs("203.0.114.9", "203.0.113.5", "203.0.113.6") {
		rep.add(a, &diagnose.Result{IP: a.String(), Status: diagnose.StatusPermerror,
			Findings: []diagnose.Finding{{Code: diagnose.CodeNoPTR, Severity: diagnose.SeverityError}}})
	}
	s := rep.Summary()
	if s.Block != "" || len(s.Findings) != 1 || s.Findings[0].Addresses != "203.0.113.5–.6, 203.0.114.9" || s.ReverseZoneUnknown != 3 {
		t.Errorf("summary %+v", s)
	}
}

// The table neither passes terminal control sequences from DNS through nor
// grows without bound.
func TestTable(t *testing.T) {
	var details []Detail
	var ranges []Range
	for i := 1; i < 200; i += 2 {
		a := netip.AddrFrom4([4]byte{203, 0, 113, byte(i)})
		details = append(details, Detail{IP: a, Name: "evil\x1b[2J.example.com"})
		ranges = append(ranges, Range{a, a})
	}
	s := Summary{Addresses: 100, Counts: map[diagnose.Status]int{diagnose.StatusPass: 100}, Block: "203.0.113.0/24",
		Findings:     []Group{{Code: diagnose.CodeGenericPTR, Severity: diagnose.SeverityWarning, Count: 100, Ranges: ranges, Details: details}},
		ReverseZones: []Zone{{Name: "113.0.203.in-addr.arpa", Count: 100, Ranges: ranges}}, ReverseZoneUnknown: 2}
	var b strings.Builder
	if err := s.Table(&b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	t.Logf("\n%s", out)
	for _, line := range strings.Split(out, "\n") {
		if len(line) > 200 {
			t.Errorf("line of %d bytes: %q", len(line), line)
		}
	}
	for _, want := range []string{"100 pass", ".1, .3, .5,", "… (+", "e.g. .1 (evil?[2J.example.com)", "(not found: DNS did not answer)  2"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q", want)
		}
	}
	if strings.ContainsRune(out, '\x1b') {
		t.Error("an escape character reached the table")
	}
}

// The JSON field names are a contract: snake_case, as documented.
func TestSummaryJSON(t *testing.T) {
	a := netip.MustParseAddr("203.0.113.7")
	s := Summary{Addresses: 1, Counts: map[diagnose.Status]int{diagnose.StatusFail: 1}, Block: "203.0.113.0/24",
		Findings: []Group{{Code: diagnose.CodeForwardMismatch, Severity: diagnose.SeverityError, Count: 1, Addresses: ".7",
			Ranges: []Range{{a, a}}, Details: []Detail{{IP: a, Name: "mx7.example.com", Addresses: []string{"198.51.100.8"}}}}},
		ReverseZones:       []Zone{{Name: "113.0.203.in-addr.arpa", Classless: true, Count: 1, Addresses: ".7", Ranges: []Range{{a, a}}, Nameservers: []string{"ns1.example.net"}, Provider: "P"}},
		ReverseZoneUnknown: 1, NotChecked: 1,
		Providers: []ProviderCount{{Provider: diagnose.Provider{Name: "P", HowTo: "h", DocURL: "u"}, Count: 1}}}
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, x := range v {
				keys = append(keys, k)
				walk(x)
			}
		case []any:
			for _, x := range v {
				walk(x)
			}
		}
	}
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	walk(v)
	for _, want := range []string{"addresses", "not_checked", "counts", "fail", "block", "findings", "code", "severity", "count", "ranges",
		"first", "last", "details", "ip", "name", "reverse_zones", "classless", "nameservers", "provider", "reverse_zone_unknown",
		"providers", "how_to", "doc_url"} {
		if !slices.Contains(keys, want) {
			t.Errorf("JSON lacks %q: %s", want, b)
		}
	}
	if !strings.Contains(string(b), `"first":"203.0.113.7"`) {
		t.Errorf("addresses are not in text form: %s", b)
	}
}
