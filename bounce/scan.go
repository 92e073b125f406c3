package bounce

// Hand-written scanners for addresses, status codes and mail addresses:
// they run over every statement, where a regexp would cost several times more.

import (
	"net/netip"
	"strings"
)

// namedIPs returns the addresses a rejection names as the client's. When
// some are introduced as addresses ("[ip]", "ip=", "from ip", "for ip"),
// only those are returned: a bare dotted quad elsewhere is as likely a
// section number ("RFC 2821 4.1.1.1") or a tracking code ("- 4.16.55.1").
// Addresses for which skip is true (the receiver's) are left out first, and
// so are HELO values: a client that greets with an address literal names
// no address it sends from.
func namedIPs(s string, skip func(netip.Addr) bool) []netip.Addr {
	var all, named []netip.Addr
	eachClientIP(s, skip, func(a netip.Addr, introduced bool) bool {
		all = append(all, a)
		if introduced {
			named = append(named, a)
		}
		return true
	})
	if len(named) > 0 {
		return named
	}
	return all
}

// namesIP reports whether namedIPs(s, skip) would return any address,
// without building the list.
func namesIP(s string, skip func(netip.Addr) bool) bool {
	found := false
	eachClientIP(s, skip, func(netip.Addr, bool) bool {
		found = true
		return false
	})
	return found
}

// eachClientIP calls yield with each address in s that may be the client's,
// and whether it is introduced as an address, until yield returns false.
func eachClientIP(s string, skip func(netip.Addr) bool, yield func(a netip.Addr, introduced bool) bool) {
	eachIP(s, func(a netip.Addr, at int) bool {
		if skip(a) || elsewhere(s[:at]) || heloValue(s, at) {
			return true
		}
		return yield(a, introduced(s[:at]))
	})
}

// elsewhere reports whether the text before an address makes it something
// other than the client's: a section number ("see RFC 2821 4.1.1.1",
// "section 4.1.4"), the host an Exim sender-verify callout called
// ("550-Called:   192.0.2.1"), which serves the sender's domain, or where a
// name resolves ("HELO name x resolves to 198.51.100.9, which is not …").
func elsewhere(before string) bool {
	tail := before[max(0, len(before)-16):]
	return strings.Contains(tail, "rfc") || strings.Contains(tail, "section") || strings.Contains(tail, "sect.") ||
		strings.Contains(tail, "called:") || strings.HasSuffix(tail, "resolves to ") || strings.HasSuffix(tail, "points to ")
}

// heloValue reports whether the address at offset at of s is a HELO
// argument: Postfix "helo=<[ip]>", Exim "H=(ip) [client]" and "helo=[ip]",
// a transcript's "EHLO [ip]", Exim's "rejected EHLO or HELO ip", Postfix's
// "<[ip]>: Helo command rejected".
func heloValue(s string, at int) bool {
	before := strings.TrimSuffix(s[max(0, at-24):at], "ipv6:")
	before = strings.TrimRight(before, "[<")
	for _, w := range heloLeads {
		if strings.HasSuffix(before, w) {
			return true
		}
	}
	end := at
	for end < len(s) && isIPChar(s[end]) {
		end++
	}
	return strings.HasPrefix(strings.TrimLeft(s[end:], "]>"), ": helo command rejected")
}

// heloLeads end the text before a HELO argument.
var heloLeads = []string{"helo=", "ehlo=", "helo ", "ehlo ", "h=(", "helo: ", "ehlo: "}

// introducers precede an address that a reply names as such.
var introducers = []string{
	"[", "<", "(", "=", "ip ", "ip: ", "ip:", "address ", "from ", "for ", "host ", "client ",
	"sender ", "server ", "ipv6 ", "ipv4 ", "ipv6:", "source ", "access ",
}

func introduced(before string) bool {
	for _, w := range introducers {
		if strings.HasSuffix(before, w) {
			return true
		}
	}
	return false
}

// scanIPs returns the IPv4 and IPv6 addresses written in s, in order. A
// candidate is a run of hex digits, dots and colons standing alone: part of
// a longer name (5.113.0.203.in-addr.arpa, ec2-1-2-3-4) is not an address.
func scanIPs(s string) []netip.Addr {
	var out []netip.Addr
	eachIP(s, func(a netip.Addr, _ int) bool {
		out = append(out, a)
		return true
	})
	return out
}

// eachIP calls yield with each address scanIPs finds in s and its offset,
// in order, until yield returns false. Every address has a dot or a colon,
// so only the runs around one are looked at: the next of each is found by a
// fast byte search and reused until passed, and the text between (words,
// bare numbers) is skipped unread.
func eachIP(s string, yield func(a netip.Addr, at int) bool) {
	dot, colon := -1, -1 // the next '.' and ':' at or after i, len(s) when none
	next := func(c byte, from, found int) int {
		if found >= from {
			return found
		}
		if k := strings.IndexByte(s[from:], c); k >= 0 {
			return from + k
		}
		return len(s)
	}
	// i is 0 or just past a run of address characters, so no run
	// starts before it.
	for i := 0; i < len(s); {
		dot, colon = next('.', i, dot), next(':', i, colon)
		k := min(dot, colon)
		if k == len(s) {
			break
		}
		start, end := k, k+1
		for start > i && isIPChar(s[start-1]) {
			start--
		}
		for end < len(s) && isIPChar(s[end]) {
			end++
		}
		if a, off, ok := ipToken(s, start, end); ok && !yield(a, off) {
			return
		}
		i = end
	}
}

func isIPChar(c byte) bool {
	return isDigit(c) || c == '.' || c == ':' || ('a' <= c && c <= 'f')
}

// ipToken parses s[i:j] as an address if it stands alone, and returns
// where the address starts.
func ipToken(s string, i, j int) (netip.Addr, int, bool) {
	// "IPv6:2001:db8::1" (RFC 5321 4.1.3 address literal) is the one
	// prefix allowed.
	if i >= 3 && s[i-3:i] == "ipv" && j-i > 2 && s[i:i+2] == "6:" {
		i += 2
	} else if i > 0 && (isAlpha(s[i-1]) || isDigit(s[i-1]) || s[i-1] == '-' || s[i-1] == '_') {
		return netip.Addr{}, 0, false
	}
	if j < len(s) && (isAlpha(s[j]) || s[j] == '-' || s[j] == '_') {
		return netip.Addr{}, 0, false
	}
	tok := s[i:j]
	// Sentence punctuation and a trailing port separator are not part of it.
	for len(tok) > 0 && (tok[len(tok)-1] == '.' || (tok[len(tok)-1] == ':' && !strings.HasSuffix(tok, "::"))) {
		if tok[len(tok)-1] == '.' && j < len(s) && isAlpha(s[j]) {
			return netip.Addr{}, 0, false // "203.0.113.5.in-addr"
		}
		tok = tok[:len(tok)-1]
	}
	dots, colons := 0, 0
	for k := 0; k < len(tok); k++ {
		switch tok[k] {
		case '.':
			dots++
		case ':':
			colons++
		}
	}
	switch {
	case colons == 1 && dots == 3: // 192.0.2.1:25
		ap, err := netip.ParseAddrPort(tok)
		return ap.Addr(), i, err == nil
	case (colons == 0 && dots == 3) || colons >= 2:
		a, err := netip.ParseAddr(tok)
		return a, i, err == nil
	default:
		return netip.Addr{}, 0, false
	}
}

// findStatus returns the first RFC 3463 enhanced status code in l
// ("5.7.25": class 2, 4 or 5, then two numbers of up to three digits) and
// its offset, or -1. Parts of longer dotted numbers (addresses, versions)
// do not count.
func findStatus(l string) (string, int) {
	for i := 0; i+5 <= len(l); i++ {
		c := l[i]
		if (c != '2' && c != '4' && c != '5') || l[i+1] != '.' || (i > 0 && (isDigit(l[i-1]) || l[i-1] == '.')) {
			continue
		}
		j := digits(l, i+2)
		if j == i+2 || j-(i+2) > 3 || j >= len(l) || l[j] != '.' {
			continue
		}
		k := digits(l, j+1)
		if k == j+1 || k-(j+1) > 3 {
			continue
		}
		if k < len(l) && (isDigit(l[k]) || (l[k] == '.' && k+1 < len(l) && isDigit(l[k+1]))) {
			continue
		}
		return l[i:k], i
	}
	return "", -1
}

// digits returns the end of the run of digits starting at i.
func digits(s string, i int) int {
	for i < len(s) && isDigit(s[i]) {
		i++
	}
	return i
}

// findEmails returns the offsets of the mail addresses in l (lower-cased):
// a local part and a dotted domain around each "@".
func findEmails(l string) [][2]int {
	var out [][2]int
	for from := 0; ; {
		at := strings.IndexByte(l[from:], '@')
		if at < 0 {
			return out
		}
		at += from
		from = at + 1
		lo := at
		for lo > 0 && isLocalChar(l[lo-1]) {
			lo--
		}
		hi := at + 1
		for hi < len(l) && (isAlpha(l[hi]) || isDigit(l[hi]) || l[hi] == '.' || l[hi] == '-') {
			hi++
		}
		for hi > at+1 && (l[hi-1] == '.' || l[hi-1] == '-') {
			hi--
		}
		dot := strings.LastIndexByte(l[at+1:hi], '.')
		if lo == at || dot <= 0 || hi-(at+1+dot+1) < 2 {
			continue
		}
		out = append(out, [2]int{lo, hi})
	}
}

func isLocalChar(c byte) bool {
	return isAlpha(c) || isDigit(c) || strings.IndexByte("._%+-=", c) >= 0
}

// lexicon finds a fixed set of literals, each in a numbered group, in one
// pass over a text: per first byte, a bit set of the second bytes any
// literal has rules out most positions with one test, and only the few
// literals sharing a first byte are compared at the rest.
type lexicon struct {
	byFirst [256][]lexWord
	pairs   [256][4]uint64
}

// lexWord is a literal of a lexicon, with its group and, for a family's
// anchor, the family's index (else -1).
type lexWord struct {
	group, fam int
	lit        string
}

// add indexes lit (two bytes or longer).
func (x *lexicon) add(group, fam int, lit string) {
	x.byFirst[lit[0]] = append(x.byFirst[lit[0]], lexWord{group, fam, lit})
	x.pairs[lit[0]][lit[1]>>6] |= 1 << (lit[1] & 63)
}

// each calls found with every literal occurrence in l and its offset, in
// order of offset.
func (x *lexicon) each(l string, found func(w lexWord, at int)) {
	for i := 0; i+1 < len(l); i++ {
		if x.pairs[l[i]][l[i+1]>>6]&(1<<(l[i+1]&63)) == 0 {
			continue
		}
		for _, w := range x.byFirst[l[i]] {
			if w.lit[1] == l[i+1] && strings.HasPrefix(l[i:], w.lit) {
				found(w, i)
			}
		}
	}
}
