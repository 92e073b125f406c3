package diagnose

import (
	"strings"
	"testing"
	"text/template"
)

// Every template in the guidance table executes against stepData, so a
// typo in a field name fails here rather than showing raw braces to a user.
func TestGuidanceTemplates(t *testing.T) {
	data := stepData{IP: "2001:db8::5", Rev: "5.0.ip6.arpa", Zone: "8.b.d.0.1.0.0.2.ip6.arpa", Name: "mail.example.com",
		AddrType: "AAAA", Provider: "Example", HowTo: "Click.", IPv6: true, Servers: []string{"ns1.example.net"}, Stale: 60}
	for i, rule := range guidanceTable {
		for _, text := range append([]string{rule.text}, rule.commands...) {
			tmpl := template.Must(template.New("").Option("missingkey=error").Parse(text))
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
