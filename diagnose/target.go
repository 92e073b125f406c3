package diagnose

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/rdnsbot/rdnsbot/internal/clip"
)

// maxShown is the most of a refused target its error repeats.
const maxShown = 64

// maxTarget is the longest target accepted: a domain name's 253 characters
// (RFC 1035 §2.3.4) plus a trailing dot.
const maxTarget = 254

// TargetKind says why a target was refused, so callers can word it (or
// act on it) without reading the message.
type TargetKind string

const (
	TargetEmpty       TargetKind = "empty"
	TargetTooLong     TargetKind = "too_long"
	TargetRange       TargetKind = "range"        // a pool: a CIDR prefix (203.0.113.0/29) or a range (203.0.113.10-20), well formed or not
	TargetScopedAddr  TargetKind = "scoped"       // an IPv6 address with a zone (fe80::1%eth0)
	TargetBadAddress  TargetKind = "bad_address"  // looks like an address, is not one
	TargetBadName     TargetKind = "bad_name"     // not a host name (characters, labels)
	TargetSingleLabel TargetKind = "single_label" // a lone word, not a mail host
)

// TargetError is why ParseTarget refused a target. It wraps
// ErrInvalidTarget; its message quotes the input, shortened.
type TargetError struct {
	Input string // as given, trimmed and clipped to maxShown bytes
	Kind  TargetKind
	Why   string
}

func (e *TargetError) Error() string {
	return fmt.Sprintf("%v %q: %s", ErrInvalidTarget, e.Input, e.Why)
}

func (e *TargetError) Unwrap() error { return ErrInvalidTarget }

// ParseTarget checks, without any DNS, that s is an IP address or a host
// name. For an address it returns it canonical (IPv4-mapped IPv6 unmapped)
// with isIP true. The error is a *TargetError (wrapping ErrInvalidTarget).
// A pool, a CIDR block or a range of addresses (see isRange), is refused
// with Kind TargetRange, a malformed one too: package pool reads them, and
// none is ever taken for a host name.
func ParseTarget(s string) (ip netip.Addr, isIP bool, err error) {
	t := strings.TrimSpace(s)
	bad := func(kind TargetKind, why string) (netip.Addr, bool, error) {
		return netip.Addr{}, false, &TargetError{Input: clip.To(t, maxShown), Kind: kind, Why: why}
	}
	switch {
	case t == "":
		return bad(TargetEmpty, "empty")
	case len(t) > maxTarget:
		return bad(TargetTooLong, "too long")
	}
	if p, err := netip.ParsePrefix(t); err == nil {
		return bad(TargetRange, fmt.Sprintf("an address range (a pool), not one address; check it as a pool, or one address of it, e.g. %s", p.Masked().Addr()))
	}
	literal := strings.HasPrefix(t, "[") && strings.HasSuffix(t, "]")
	if literal {
		t = t[1 : len(t)-1] // an SMTP address literal
	}
	a, err := netip.ParseAddr(t)
	if err == nil {
		if a.Zone() != "" {
			return bad(TargetScopedAddr, "an IPv6 zone is local to one host")
		}
		return a.Unmap(), true, nil
	}
	if first, ok := isRange(t); !literal && ok {
		return bad(TargetRange, fmt.Sprintf("an address range (a pool), not one address; check it as a pool, or one address of it, e.g. %s", first.WithZone("")))
	}
	if literal || strings.Contains(t, ":") {
		return bad(TargetBadAddress, "not a valid IP address")
	}
	if why := hostSyntax(t); why != "" {
		kind := TargetBadName
		if why == notIPv4 {
			kind = TargetBadAddress
		}
		return bad(kind, why)
	}
	if !strings.Contains(strings.TrimSuffix(t, "."), ".") {
		// A lone word ("/rdns please check 1.2.3.4") is no mail host: it
		// would be looked up as a top-level domain.
		return bad(TargetSingleLabel, "a host name needs at least two labels, like mail.example.com")
	}
	return netip.Addr{}, false, nil
}

// isRange reports whether t is written as a range of addresses, FIRST-LAST
// (package pool: 203.0.113.10-203.0.113.20, 203.0.113.10-20), well formed
// or not, and gives FIRST: text before the first "-" that is an address,
// followed by an address, by digits (the short form's last octet), or by
// anything that makes the whole no host name. A host name may start with
// an address and a hyphen ("37.58.100.86-static.reverse.softlayer.com",
// as providers name their PTRs), so that alone is no range.
func isRange(t string) (first netip.Addr, ok bool) {
	a, b, found := strings.Cut(t, "-")
	if !found {
		return netip.Addr{}, false
	}
	first, err := netip.ParseAddr(strings.TrimSpace(a))
	if err != nil {
		return netip.Addr{}, false
	}
	b = strings.TrimSpace(b)
	if _, err := netip.ParseAddr(b); err == nil || b != "" && strings.Trim(b, "0123456789") == "" || hostSyntax(t) != "" {
		return first.Unmap(), true
	}
	return netip.Addr{}, false
}

// notIPv4 is hostSyntax's reason for an all-numeric name.
const notIPv4 = "not a valid IPv4 address"

// hostSyntax returns why name is not a host name (letters, digits, hyphens
// in labels of at most 63 characters, RFC 1123 §2.1), or "".
func hostSyntax(name string) string {
	name = strings.TrimSuffix(name, ".")
	if name == "" {
		return "empty name"
	}
	labels := strings.Split(name, ".")
	allNumeric := true
	for _, l := range labels {
		if l == "" {
			return "empty label"
		}
		if len(l) > 63 {
			return "label longer than 63 characters"
		}
		if l[0] == '-' || l[len(l)-1] == '-' {
			return "label starts or ends with a hyphen"
		}
		for _, c := range l {
			switch {
			case c >= '0' && c <= '9':
			case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c == '-':
				allNumeric = false
			default:
				return fmt.Sprintf("character %s not allowed in a host name", code(string(c)))
			}
		}
	}
	if allNumeric {
		return notIPv4
	}
	if tld := labels[len(labels)-1]; strings.Trim(tld, "0123456789") == "" {
		return "the top-level label is numeric"
	}
	return ""
}

// invalidName returns why a PTR value cannot forward-confirm anything
// (Postfix rejects numeric and malformed names, see the notes §1.4), or "".
func invalidName(name string) string {
	n := strings.ToLower(strings.TrimSuffix(name, "."))
	switch {
	case n == "localhost" || strings.HasSuffix(n, ".localhost") || strings.HasPrefix(n, "localhost."):
		return "localhost is not a public host name"
	case isAddr(n):
		return "an IP address literal is not a host name"
	case !strings.Contains(n, "."):
		return "a single label is not a fully qualified host name"
	}
	if why := hostSyntax(n); why != "" {
		return why
	}
	return ""
}

func isAddr(s string) bool {
	_, err := netip.ParseAddr(strings.Trim(s, "[]"))
	return err == nil
}

// addressRange is a special-purpose block (RFC 6890 registries).
type addressRange struct {
	prefix netip.Prefix
	code   Code
	what   string
}

var specialRanges = func() []addressRange {
	var out []addressRange
	add := func(code Code, what string, prefixes ...string) {
		for _, p := range prefixes {
			out = append(out, addressRange{netip.MustParsePrefix(p), code, what})
		}
	}
	add(CodePrivateIP, "a private address (RFC 1918)", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")
	add(CodePrivateIP, "a carrier-grade NAT address (RFC 6598)", "100.64.0.0/10")
	add(CodePrivateIP, "a unique local address (RFC 4193)", "fc00::/7")
	add(CodeDocumentationIP, "a documentation address (RFC 5737)", "192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24")
	add(CodeDocumentationIP, "a documentation address (RFC 3849, RFC 9637)", "2001:db8::/32", "3fff::/20")
	add(CodeReservedIP, "a loopback address", "127.0.0.0/8", "::1/128")
	add(CodeReservedIP, "a link-local address", "169.254.0.0/16", "fe80::/10")
	add(CodeReservedIP, "a multicast address", "224.0.0.0/4", "ff00::/8")
	add(CodeReservedIP, "a reserved address", "0.0.0.0/8", "240.0.0.0/4", "198.18.0.0/15", "192.0.0.0/24", "::/128", "64:ff9b:1::/48", "100::/64")
	return out
}()

// addressClass reports whether ip can appear on the internet at all.
func addressClass(ip netip.Addr) (Finding, bool) {
	for _, r := range specialRanges {
		if r.prefix.Contains(ip) {
			return Finding{
				Code:     r.code,
				Severity: SeverityWarning,
				Message: fmt.Sprintf("%s is %s: it is not routable on the internet, so no receiver ever sees mail from it. "+
					"The bounce names your public address (the one your NAT or provider sends from): diagnose that one.", ip, r.what),
			}, true
		}
	}
	return Finding{}, false
}
