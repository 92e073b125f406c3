package pool

import (
	"errors"
	"net/netip"
	"slices"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	tests := []struct {
		in          string
		first, last string // of a valid pool
		n           int
		skipped     bool
		text        string    // canonical form
		kind        errorKind // of an error
		msg         string    // the error message must say this
	}{
		// CIDR blocks and the network/broadcast rule.
		{in: "203.0.113.0/24", first: "203.0.113.1", last: "203.0.113.254", n: 254, skipped: true, text: "203.0.113.0/24"},
		{in: " 203.0.113.77/24 ", first: "203.0.113.1", last: "203.0.113.254", n: 254, skipped: true, text: "203.0.113.0/24"},
		{in: "198.51.100.0/22", first: "198.51.100.1", last: "198.51.103.254", n: 1022, skipped: true},
		{in: "198.51.100.0/21", kind: tooLarge, msg: "a /21 has 2048 addresses; at most 1024 (a /22)"},
		{in: "10.0.0.0/8", kind: tooLarge, msg: "16777216"},
		{in: "203.0.113.8/30", first: "203.0.113.9", last: "203.0.113.10", n: 2, skipped: true},
		{in: "203.0.113.8/31", first: "203.0.113.8", last: "203.0.113.9", n: 2},
		{in: "203.0.113.8/32", first: "203.0.113.8", last: "203.0.113.8", n: 1},
		{in: "255.255.255.254/31", first: "255.255.255.254", last: "255.255.255.255", n: 2},
		{in: "2001:db8::/120", first: "2001:db8::", last: "2001:db8::ff", n: 256},
		{in: "2001:db8::100/128", first: "2001:db8::100", last: "2001:db8::100", n: 1},
		{in: "2001:db8::/119", kind: tooLarge, msg: "a /119 has 512 addresses; at most 256 (a /120)"},
		{in: "2001:db8::/32", kind: tooLarge, msg: "2^96"},
		{in: "::ffff:203.0.113.0/120", kind: malformed, msg: "IPv4 form"},
		{in: "203.0.113.0/33", kind: malformed, msg: "not a CIDR block"},
		{in: "example.com/24", kind: malformed, msg: "not a CIDR block"},
		// Ranges: both ends included, nothing skipped.
		{in: "203.0.113.10-203.0.113.20", first: "203.0.113.10", last: "203.0.113.20", n: 11, text: "203.0.113.10-203.0.113.20"},
		{in: "203.0.113.10 - 203.0.113.20", first: "203.0.113.10", last: "203.0.113.20", n: 11},
		{in: "203.0.113.10-20", first: "203.0.113.10", last: "203.0.113.20", n: 11, text: "203.0.113.10-203.0.113.20"},
		{in: "203.0.113.0-255", first: "203.0.113.0", last: "203.0.113.255", n: 256},
		{in: "203.0.113.7-7", first: "203.0.113.7", last: "203.0.113.7", n: 1},
		{in: "198.51.100.0-198.51.103.255", first: "198.51.100.0", last: "198.51.103.255", n: 1024},
		{in: "198.51.100.0-198.51.104.0", kind: tooLarge, msg: "more than 1024 addresses, the most an IPv4 pool"},
		{in: "0.0.0.0-255.255.255.255", kind: tooLarge, msg: "1024"},
		{in: "::ffff:203.0.113.1-::ffff:203.0.113.4", first: "203.0.113.1", last: "203.0.113.4", n: 4},
		{in: "2001:db8::-2001:db8::ff", first: "2001:db8::", last: "2001:db8::ff", n: 256},
		{in: "2001:db8::-2001:db8::100", kind: tooLarge, msg: "more than 256 addresses, the most an IPv6 pool"},
		{in: "2001:db8::-2001:db9::", kind: tooLarge, msg: "256"},
		{in: "::-ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", kind: tooLarge, msg: "256"},
		{in: "203.0.113.20-203.0.113.10", kind: reversed, msg: "write the lower address first (203.0.113.10-203.0.113.20)"},
		{in: "203.0.113.20-10", kind: reversed, msg: "ends before it starts"},
		{in: "203.0.113.10-2001:db8::1", kind: mixed, msg: "not across families"},
		{in: "2001:db8::1-203.0.113.10", kind: mixed, msg: "not across families"},
		{in: "203.0.113.10-256", kind: malformed, msg: "203.0.113.10-20"},
		{in: "203.0.113.10-", kind: malformed, msg: "not an address"},
		{in: "203.0.113.10-+5", kind: malformed, msg: "not an address"},
		{in: "2001:db8::1-20", kind: malformed, msg: "not an address"},
		{in: "fe80::1%eth0-fe80::5", kind: malformed, msg: "scoped"},
		// One address; anything else is for the host name path.
		{in: "203.0.113.5", first: "203.0.113.5", last: "203.0.113.5", n: 1, text: "203.0.113.5"},
		{in: "::ffff:203.0.113.5", first: "203.0.113.5", last: "203.0.113.5", n: 1},
		{in: "fe80::1%eth0", kind: malformed, msg: "scoped"},
		{in: "mail.example.com", kind: notPool},
		{in: "mail-1.example.com", kind: notPool},
		{in: "", kind: notPool},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			p, err := Parse(tc.in)
			if tc.kind != 0 {
				var pe *refusal
				if !errors.As(err, &pe) || pe.kind != tc.kind {
					t.Fatalf("Parse(%q) = %v, %v; want a kind %d error", tc.in, p, err, tc.kind)
				}
				if !strings.Contains(err.Error(), tc.msg) || !strings.Contains(err.Error(), strings.TrimSpace(tc.in)) {
					t.Errorf("message %q does not say %q and name the input", err, tc.msg)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse(%q): %v", tc.in, err)
			}
			if p.First().String() != tc.first || p.Last().String() != tc.last || p.Len() != tc.n || p.EndsSkipped() != tc.skipped {
				t.Errorf("Parse(%q) = %s…%s, %d addresses, ends skipped %v; want %s…%s, %d, %v",
					tc.in, p.First(), p.Last(), p.Len(), p.EndsSkipped(), tc.first, tc.last, tc.n, tc.skipped)
			}
			if tc.text != "" && p.String() != tc.text {
				t.Errorf("String() = %q, want %q", p.String(), tc.text)
			}
			all := slices.Collect(p.All())
			if len(all) != tc.n || all[0] != p.First() || all[len(all)-1] != p.Last() {
				t.Errorf("All() gave %d addresses from %v to %v", len(all), all[0], all[len(all)-1])
			}
		})
	}
}

// Only the block's own network and broadcast addresses are left out: inside
// a /22, 198.51.100.255 and 198.51.101.0 are ordinary host addresses.
func TestBlockEnds(t *testing.T) {
	p, err := Parse("198.51.100.0/22")
	if err != nil {
		t.Fatal(err)
	}
	all := slices.Collect(p.All())
	for _, a := range []string{"198.51.100.255", "198.51.101.0", "198.51.103.0"} {
		if !slices.Contains(all, netip.MustParseAddr(a)) {
			t.Errorf("%s missing from the /22", a)
		}
	}
	for _, a := range []string{"198.51.100.0", "198.51.103.255"} {
		if slices.Contains(all, netip.MustParseAddr(a)) {
			t.Errorf("%s (network or broadcast) included", a)
		}
	}
}

func TestErrorQuotesInputBriefly(t *testing.T) {
	_, err := Parse(strings.Repeat("9", 500) + "/24")
	if err == nil || len(err.Error()) > 200 || !strings.Contains(err.Error(), "…") {
		t.Errorf("error for a long input: %v", err)
	}
}

// Iterating a /22 allocates nothing per address.
func TestAllDoesNotAllocatePerAddress(t *testing.T) {
	p, err := Parse("198.51.100.0/22")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	allocs := testing.AllocsPerRun(10, func() {
		for range p.All() {
			n++
		}
	})
	if allocs > 1 {
		t.Errorf("iterating a /22 made %.0f allocations", allocs)
	}
}

func TestJoin(t *testing.T) {
	tests := []struct {
		targets []string
		n       int
		first   string
		last    string
		kind    errorKind
	}{
		{targets: []string{"203.0.113.0/24", "203.0.113.0"}, n: 255, first: "203.0.113.0", last: "203.0.113.254"},
		{targets: []string{"203.0.113.10-20", "203.0.113.15-30", "203.0.113.12"}, n: 21, first: "203.0.113.10", last: "203.0.113.30"},
		{targets: []string{"203.0.113.10-20", "203.0.113.21-22"}, n: 13, first: "203.0.113.10", last: "203.0.113.22"},
		{targets: []string{"2001:db8::/120", "203.0.113.1"}, n: 257, first: "203.0.113.1", last: "2001:db8::ff"},
		{targets: []string{"255.255.255.250-255", "255.255.255.254/31"}, n: 6, first: "255.255.255.250", last: "255.255.255.255"},
		{targets: []string{"198.51.100.0/22", "203.0.113.1"}, n: 1023, first: "198.51.100.1", last: "203.0.113.1"},
		{targets: []string{"198.51.100.0/22", "203.0.113.1-3"}, kind: tooLarge},
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.targets, " "), func(t *testing.T) {
			var pools []Pool
			for _, s := range tc.targets {
				p, err := Parse(s)
				if err != nil {
					t.Fatal(err)
				}
				pools = append(pools, p)
			}
			s, err := Join(pools...)
			if tc.kind != 0 {
				var pe *refusal
				if !errors.As(err, &pe) || pe.kind != tc.kind || !strings.Contains(err.Error(), "at most 1024") {
					t.Fatalf("Join = %v, want a kind %d error", err, tc.kind)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			all := slices.Collect(s.All())
			if s.Len() != tc.n || len(all) != tc.n || all[0].String() != tc.first || all[len(all)-1].String() != tc.last {
				t.Errorf("Join: %d (%d yielded) from %v to %v, want %d from %s to %s", s.Len(), len(all), all[0], all[len(all)-1], tc.n, tc.first, tc.last)
			}
			if !slices.IsSortedFunc(all, netip.Addr.Compare) || len(slices.Compact(slices.Clone(all))) != len(all) {
				t.Errorf("Join yields addresses out of order or twice: %v", all)
			}
		})
	}
}

func TestPaceDomain(t *testing.T) {
	for in, want := range map[string]string{
		"203.0.113.5":        "0.203.in-addr.arpa",
		"::ffff:203.0.114.9": "0.203.in-addr.arpa",
		"198.51.100.1":       "51.198.in-addr.arpa",
		"2001:db8:1:2::1":    "1.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa",
	} {
		if got := PaceDomain(netip.MustParseAddr(in)); got != want {
			t.Errorf("PaceDomain(%s) = %q, want %q", in, got, want)
		}
	}
}
