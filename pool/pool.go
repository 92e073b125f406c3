// Package pool diagnoses many addresses at once: CIDR blocks, ranges and
// lists of them ("pools"), summarised failures first.
//
// A pool is checked address by address with the forward-confirmed reverse
// DNS diagnosis of package diagnose (RFC 8601 §3, "iprev"), with bounded
// concurrency and per-reverse-zone pacing, and the results are folded into
// a Summary as they come in: counts by status, the addresses grouped by
// finding, the reverse zones (RFC 1035 §3.5 in-addr.arpa, RFC 3596 ip6.arpa)
// with RFC 2317 classless child zones listed apart from their parent, and
// the providers. Full results are not kept: Config.OnResult streams them to
// callers that want them. Which addresses a block includes follows the
// IPv4 convention of network and broadcast addresses and RFC 3021 for /31
// (see Rule).
package pool

import (
	"cmp"
	"errors"
	"fmt"
	"iter"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/rdnsbot/rdnsbot/diagnose"
	"github.com/rdnsbot/rdnsbot/internal/clip"
)

// Size limits. A pool is small enough to check in seconds and to read in one
// message; larger blocks are refused, never truncated.
const (
	// maxIPv4 is the most addresses an IPv4 pool may have: a /22.
	maxIPv4 = 1024
	// maxIPv6 is the most addresses an IPv6 pool may have: a /120.
	maxIPv6 = 256
	// MaxAddresses is the most addresses a Set (several pools) may have.
	MaxAddresses = maxIPv4
)

// Rule says in words which addresses a pool includes, for help texts.
const Rule = "A CIDR block of /30 or shorter leaves out its IPv4 network and broadcast addresses " +
	"(the first and the last); /31 and /32 blocks include both (RFC 3021), as do IPv6 blocks. " +
	"A range (203.0.113.10-203.0.113.20, or 203.0.113.10-20) or a single address includes exactly what is named, " +
	"so name 203.0.113.0 or 203.0.113.255 to check them too. " +
	"IPv4 pools may have up to 1,024 addresses (a /22), IPv6 ones up to 256 (a /120)."

// errorKind says what is wrong with a pool target.
type errorKind uint8

const (
	// notPool: the text is neither an address, a CIDR block nor a range; it
	// may be a host name, for package diagnose.
	notPool errorKind = iota + 1
	// malformed: the text looks like a block or a range but is not one.
	malformed
	// tooLarge: more addresses than maxIPv4 / maxIPv6 / MaxAddresses.
	tooLarge
	// mixed: a range from an IPv4 address to an IPv6 one.
	mixed
	// reversed: a range whose first address comes after its last.
	reversed
)

// refusal is a pool target that was refused: the error of Parse, Target
// and Join, which callers show as it is.
type refusal struct {
	kind errorKind
	// input is the target as given, at most maxQuoted bytes of it.
	input string
	why   string
}

// maxQuoted bounds the input an error repeats: hostile or pasted text is
// not echoed at length.
const maxQuoted = 80

func (e *refusal) Error() string { return fmt.Sprintf("pool %q: %s", e.input, e.why) }

func refuse(kind errorKind, input, format string, a ...any) *refusal {
	return &refusal{kind: kind, input: clip.To(input, maxQuoted), why: fmt.Sprintf(format, a...)}
}

// Pool is one target: the consecutive addresses from First to Last.
type Pool struct {
	first, last netip.Addr
	text        string // canonical form
	endsSkipped bool   // an IPv4 block's network and broadcast addresses are left out
}

// Parse reads one pool target:
//
//	203.0.113.0/24               CIDR block (host bits are ignored: 203.0.113.7/24 is the /24)
//	2001:db8::/120               IPv6 block
//	203.0.113.10-203.0.113.20    range, both ends included (spaces around "-" allowed)
//	203.0.113.10-20              IPv4 short form: the last octet of the end
//	203.0.113.5                  one address
//
// See Rule for which addresses a block includes. What is a range, an
// address or neither (a host name, for package diagnose) is
// diagnose.ParseTarget's call, so that no text is both; IPv4-mapped IPv6
// addresses count as IPv4, as there.
func Parse(s string) (Pool, error) {
	p, _, err := parse(s)
	return p, err
}

// parse is Parse, and says whether s is a single address (no block, no
// range): the one pool Target leaves to package diagnose.
func parse(s string) (p Pool, single bool, err error) {
	in := s
	s = strings.TrimSpace(s)
	if strings.Contains(s, "/") {
		p, err = parsePrefix(in, s)
		return p, false, err
	}
	a, isIP, err := diagnose.ParseTarget(s)
	te, _ := errors.AsType[*diagnose.TargetError](err)
	switch {
	case isIP:
		return Pool{first: a, last: a, text: a.String()}, true, nil
	case te != nil && te.Kind == diagnose.TargetRange:
		text, end, _ := strings.Cut(s, "-")
		first, err := netip.ParseAddr(strings.TrimSpace(text))
		if err != nil {
			return Pool{}, false, refuse(malformed, in, "its first address is not an IP address")
		}
		p, err = parseRange(in, first, strings.TrimSpace(end))
		return p, false, err
	case te != nil && te.Kind == diagnose.TargetScopedAddr:
		return Pool{}, false, refuse(malformed, in, "a scoped address (%%zone) has no reverse DNS")
	}
	return Pool{}, false, refuse(notPool, in, "not an IP address, CIDR block or range")
}

func parsePrefix(in, s string) (Pool, error) {
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return Pool{}, refuse(malformed, in, "not a CIDR block (want e.g. 203.0.113.0/24 or 2001:db8::/120)")
	}
	if p.Addr().Is4In6() {
		return Pool{}, refuse(malformed, in, "write an IPv4-mapped block in IPv4 form (e.g. 203.0.113.0/24)")
	}
	p = p.Masked()
	bits, minBits, limit := p.Bits(), 22, maxIPv4
	if p.Addr().Is6() {
		minBits, limit = 120, maxIPv6
	}
	if bits < minBits {
		return Pool{}, refuse(tooLarge, in, "a /%d has %s addresses; at most %d (a /%d) are checked at once: split it into /%d blocks",
			bits, blockSize(p), limit, minBits, minBits)
	}
	first, last := p.Addr(), lastAddr(p)
	pl := Pool{first: first, last: last, text: p.String()}
	if first.Is4() && bits <= 30 {
		pl.first, pl.last, pl.endsSkipped = first.Next(), last.Prev(), true
	}
	return pl, nil
}

// blockSize is 2^(address bits - prefix bits) in words a person can read.
func blockSize(p netip.Prefix) string {
	host := p.Addr().BitLen() - p.Bits()
	if host < 63 {
		return strconv.FormatUint(1<<host, 10)
	}
	return "2^" + strconv.Itoa(host)
}

func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Addr().As16()
	off := 0
	if p.Addr().Is4() {
		off = 12
	}
	for i := off*8 + p.Bits(); i < 128; i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	a := netip.AddrFrom16(b)
	if p.Addr().Is4() {
		return a.Unmap()
	}
	return a
}

func parseRange(in string, first netip.Addr, end string) (Pool, error) {
	first = first.Unmap()
	last, err := netip.ParseAddr(end)
	if err != nil && first.Is4() {
		last, err = shortEnd(first, end)
	}
	switch {
	case err != nil:
		return Pool{}, refuse(malformed, in, "the end of the range is not an address (want e.g. 203.0.113.10-203.0.113.20 or 203.0.113.10-20)")
	case first.Zone() != "" || last.Zone() != "":
		return Pool{}, refuse(malformed, in, "a scoped address (%%zone) has no reverse DNS")
	}
	last = last.Unmap()
	if first.Is4() != last.Is4() {
		return Pool{}, refuse(mixed, in, "a range runs from one IPv4 address to another or from one IPv6 address to another, not across families")
	}
	if last.Less(first) {
		return Pool{}, refuse(reversed, in, "the range ends before it starts; write the lower address first (%s-%s)", last, first)
	}
	limit := uint64(maxIPv4)
	if first.Is6() {
		limit = maxIPv6
	}
	if n, ok := span(first, last); !ok || n > limit {
		return Pool{}, refuse(tooLarge, in, "the range has more than %d addresses, the most an %s pool may have", limit, family(first))
	}
	return Pool{first: first, last: last, text: first.String() + "-" + last.String()}, nil
}

func family(a netip.Addr) string {
	if a.Is4() {
		return "IPv4"
	}
	return "IPv6"
}

// shortEnd reads the IPv4 short form's end: the last octet, in decimal.
func shortEnd(first netip.Addr, end string) (netip.Addr, error) {
	n, err := strconv.ParseUint(end, 10, 8)
	if err != nil || end == "" || end[0] == '+' {
		return netip.Addr{}, fmt.Errorf("not an octet: %q", end)
	}
	b := first.As4()
	b[3] = byte(n)
	return netip.AddrFrom4(b), nil
}

// span is the number of addresses from a to b (a ≤ b, one family); ok is
// false when it does not fit in a uint64.
func span(a, b netip.Addr) (n uint64, ok bool) {
	x, y := a.As16(), b.As16()
	if [8]byte(x[:8]) != [8]byte(y[:8]) {
		return 0, false
	}
	lo := func(v [16]byte) uint64 {
		var u uint64
		for _, c := range v[8:] {
			u = u<<8 | uint64(c)
		}
		return u
	}
	d := lo(y) - lo(x)
	return d + 1, d != ^uint64(0)
}

// First is the first address checked.
func (p Pool) First() netip.Addr { return p.first }

// Last is the last address checked.
func (p Pool) Last() netip.Addr { return p.last }

// Len is the number of addresses checked.
func (p Pool) Len() int {
	n, _ := span(p.first, p.last)
	return int(n)
}

// EndsSkipped reports whether the block's IPv4 network and broadcast
// addresses were left out (see Rule).
func (p Pool) EndsSkipped() bool { return p.endsSkipped }

// String is the target in canonical form (the block or range as written,
// normalised).
func (p Pool) String() string { return p.text }

// All yields the addresses in order, without building a list.
func (p Pool) All() iter.Seq[netip.Addr] {
	return func(yield func(netip.Addr) bool) {
		for a := p.first; a.IsValid(); a = a.Next() {
			if !yield(a) || a == p.last {
				return
			}
		}
	}
}

// Set is the union of several pools: each address once, in order.
type Set struct {
	spans []Pool // disjoint, not adjacent, sorted
	n     int
}

// Join merges pools (overlapping or repeated ones count once) and refuses
// a union of more than MaxAddresses.
func Join(pools ...Pool) (Set, error) {
	sorted := slices.SortedFunc(slices.Values(pools), func(a, b Pool) int {
		return cmp.Or(a.first.Compare(b.first), a.last.Compare(b.last))
	})
	var s Set
	for _, p := range sorted {
		if k := len(s.spans) - 1; k >= 0 && touches(s.spans[k].last, p.first) {
			if s.spans[k].last.Less(p.last) {
				s.spans[k].last = p.last
			}
			continue
		}
		s.spans = append(s.spans, p)
	}
	for _, p := range s.spans {
		s.n += p.Len()
	}
	if s.n > MaxAddresses {
		names := make([]string, len(pools))
		for i, p := range pools {
			names[i] = p.text
		}
		return Set{}, refuse(tooLarge, strings.Join(names, " "), "the targets add up to %d addresses; at most %d are checked at once", s.n, MaxAddresses)
	}
	return s, nil
}

// touches reports whether a span ending at last and one starting at first
// (not before the other's start) overlap or are adjacent.
func touches(last, first netip.Addr) bool {
	return last.Is4() == first.Is4() && (first.Compare(last) <= 0 || last.Next() == first)
}

// Len is the number of distinct addresses.
func (s Set) Len() int { return s.n }

// All yields every address once, in order.
func (s Set) All() iter.Seq[netip.Addr] {
	return func(yield func(netip.Addr) bool) {
		for _, p := range s.spans {
			for a := range p.All() {
				if !yield(a) {
					return
				}
			}
		}
	}
}
