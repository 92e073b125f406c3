package diagnose

import (
	"encoding/hex"
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// genericKeywords mark names an ISP or cloud generated for a whole range
// (SpamAssassin 20_dynrdns.cf, rspamd hfilter, fqrdns.pcre; see the notes §5).
// They are matched as whole tokens between dots and hyphens, digits trimmed
// ("pool42", "dhcp-7").
var genericKeywords = map[string]bool{
	"dynamic": true, "dyn": true, "dynip": true, "dhcp": true, "dial": true, "dialup": true,
	"ppp": true, "pppoe": true, "pool": true, "dsl": true, "adsl": true, "vdsl": true, "xdsl": true,
	"cable": true, "catv": true, "docsis": true, "cpe": true, "broadband": true, "wireless": true,
	"unassigned": true,
}

// weakKeywords name customers and hosts in general. Chosen names use them
// too (host1.corp.example, smtp-client.example.org, static.example.com;
// SpamAssassin notes its res/client rule "hits a little ham", rspamd weighs
// them 1-2 of 5), so they count only next to the IP's own octets, the
// rspamd "clients?[.-][0-9]{2,}" shape: ip-113-5, cust113-5, host-0-113.
var weakKeywords = map[string]bool{
	"cust": true, "customer": true, "client": true, "clients": true, "res": true, "resnet": true,
	"static": true, "ip": true, "host": true, "nat": true, "user": true,
}

var digitRun = regexp.MustCompile(`[0-9]+`)

// genericPTR returns why name looks like a provider's generated default
// rather than a mail host's own name, or "". It is a heuristic (static
// server names often embed the IP too): a warning, never a failure.
func genericPTR(ip netip.Addr, name string) string {
	n := strings.ToLower(strings.TrimSuffix(name, "."))
	if why := embedsAddr(ip, n); why != "" {
		return why
	}
	labels := strings.Split(n, ".")
	if len(labels) > 2 {
		labels = labels[:len(labels)-2] // the registered domain is the owner's choice
	} else {
		labels = labels[:1]
	}
	host := strings.Join(labels, ".")
	for _, l := range labels {
		for _, tok := range strings.Split(l, "-") {
			k := strings.Trim(tok, "0123456789")
			switch {
			case genericKeywords[k]:
				return fmt.Sprintf("the keyword %q typical of generated names", k)
			case weakKeywords[k] && ip.Is4() && octetsIn(ip, host) >= 2:
				return fmt.Sprintf("the keyword %q next to the IP address's octets", k)
			}
		}
	}
	return ""
}

// octetsIn counts the IPv4 address's octets that appear as whole digit runs
// in s, each run used once (leading zeros ignored).
func octetsIn(ip netip.Addr, s string) int {
	runs := digitRuns(s)
	n := 0
	for _, o := range ip.As4() {
		if i := slices.Index(runs, strconv.Itoa(int(o))); i >= 0 {
			runs = slices.Delete(runs, i, i+1)
			n++
		}
	}
	return n
}

// digitRuns returns the decimal runs of s without leading zeros.
func digitRuns(s string) []string {
	runs := digitRun.FindAllString(s, -1)
	for i := range runs {
		runs[i] = strings.TrimLeft(runs[i], "0")
		if runs[i] == "" {
			runs[i] = "0"
		}
	}
	return runs
}

// embedsAddr finds the address inside the name: IPv4 octets in either order
// (three or four of them, as decimal runs), eight hex digits, or IPv6 nibbles.
func embedsAddr(ip netip.Addr, n string) string {
	if ip.Is4() {
		b := ip.As4()
		oct := []string{strconv.Itoa(int(b[0])), strconv.Itoa(int(b[1])), strconv.Itoa(int(b[2])), strconv.Itoa(int(b[3]))}
		runs := digitRuns(n)
		rev := []string{oct[3], oct[2], oct[1], oct[0]}
		for _, seq := range [][]string{oct[:3], oct[1:], rev[:3], rev[1:]} {
			if containsSeq(runs, seq) {
				return "the IP address's octets"
			}
		}
		h := hex.EncodeToString(b[:])
		if strings.Contains(n, h) {
			return "the IP address in hexadecimal"
		}
		return ""
	}
	b := ip.As16()
	h := hex.EncodeToString(b[8:]) // the interface identifier
	flat := strings.NewReplacer(".", "", "-", "").Replace(n)
	if strings.Contains(flat, h) || strings.Contains(flat, reverseString(h)) {
		return "the IPv6 address's nibbles"
	}
	if strings.Contains(n, strings.ReplaceAll(ip.String(), ":", "-")) {
		return "the IPv6 address"
	}
	return ""
}

func containsSeq(runs, seq []string) bool {
	for i := 0; i+len(seq) <= len(runs); i++ {
		match := true
		for j := range seq {
			if runs[i+j] != seq[j] {
				match = false
				break
			}
		}
		if match {
			return true
		}
	}
	return false
}

func reverseString(s string) string {
	r := []byte(s)
	for i, j := 0, len(r)-1; i < j; i, j = i+1, j-1 {
		r[i], r[j] = r[j], r[i]
	}
	return string(r)
}
