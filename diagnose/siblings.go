package diagnose

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"

	"github.com/miekg/dns"
)

// maxSiblings caps the other addresses of the PTR names that are checked:
// each costs a PTR query and the forward lookups of its names, and a name
// can have hundreds of A records.
const maxSiblings = 8

// Sibling is another address of the diagnosed IP's PTR names, with its own
// FCrDNS verdict. A mail server whose name has an IPv6 address may send from
// it (receivers such as Gmail are reached over IPv6 when the MTA can), so a
// sibling without a working PTR can get mail rejected although the
// diagnosed IP passes. It never changes the diagnosed IP's status.
type Sibling struct {
	IP            string   `json:"ip"`
	Status        Status   `json:"status"`
	PTRNames      []string `json:"ptr_names"`
	ConfirmedName string   `json:"confirmed_name,omitempty"`
	// Host is the diagnosed IP's PTR name that has this address.
	Host string `json:"host"`
}

// Problem says in a few words what is wrong with the sibling, for status
// lines ("has no PTR"); "" when it passes.
func (s Sibling) Problem() string {
	switch s.Status {
	case StatusPermerror:
		return "has no PTR"
	case StatusFail:
		return "has a PTR whose name does not point back"
	case StatusTemperror:
		return "could not be checked: DNS did not answer"
	}
	return ""
}

// family names the address family of an address in text.
func family(ip netip.Addr) string {
	if ip.Is4() {
		return "IPv4"
	}
	return "IPv6"
}

// FailingSiblings returns the siblings that do not pass, in order.
func (r *Result) FailingSiblings() []Sibling {
	var out []Sibling
	for _, s := range r.Siblings {
		if s.Status != StatusPass {
			out = append(out, s)
		}
	}
	return out
}

// SiblingSummary is one short clause for a status line about the first
// sibling of the same host (its Host also has the diagnosed IP) that does
// not pass, e.g. "`mail.example.com`'s IPv6 address 2001:db8::20 has no
// PTR: Gmail prefers IPv6"; "" when there is none. Names are shown as in
// findings (code).
func (r *Result) SiblingSummary() string {
	var bad []Sibling
	for _, s := range r.FailingSiblings() {
		if slices.Contains(r.Forward[s.Host], r.IP) {
			bad = append(bad, s)
		}
	}
	if len(bad) == 0 {
		return ""
	}
	s := bad[0]
	ip, _ := netip.ParseAddr(s.IP)
	out := fmt.Sprintf("%s's %s address %s %s", code(s.Host), family(ip), s.IP, s.Problem())
	if ip.Is6() {
		out += ": Gmail prefers IPv6"
	}
	if len(bad) > 1 {
		out += fmt.Sprintf(" (and %d more)", len(bad)-1)
	}
	return out
}

// siblingFacts is what the sibling check found.
type siblingFacts struct {
	list    []Sibling
	dropped int // distinct addresses beyond maxSiblings, not checked
}

// siblingChecker checks the siblings as the PTR names' addresses come in,
// concurrently with the rest of the diagnosis.
type siblingChecker struct {
	d        *diagnosis
	ip       netip.Addr
	wg       sync.WaitGroup
	mu       sync.Mutex
	verdicts map[netip.Addr]*Sibling // nil until checked
	dropped  map[netip.Addr]bool
}

func newSiblingChecker(d *diagnosis, ip netip.Addr) *siblingChecker {
	return &siblingChecker{d: d, ip: ip, verdicts: map[netip.Addr]*Sibling{}, dropped: map[netip.Addr]bool{}}
}

// start checks the addresses of host other than the diagnosed one.
func (c *siblingChecker) start(ctx context.Context, host string, list []netip.Addr) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, a := range list {
		a = a.Unmap()
		_, started := c.verdicts[a]
		switch {
		case a == c.ip || started || c.dropped[a]:
		case len(c.verdicts) == maxSiblings:
			c.dropped[a] = true
		default:
			c.verdicts[a] = nil
			c.wg.Go(func() {
				s := c.d.sibling(ctx, a)
				c.mu.Lock()
				defer c.mu.Unlock()
				c.verdicts[a] = &s
			})
		}
	}
}

// wait returns the verdicts in the order of the PTR names and their
// addresses, each naming the first PTR name that has it.
func (c *siblingChecker) wait(names []string, fwd map[string]addrs) siblingFacts {
	c.wg.Wait()
	out := siblingFacts{dropped: len(c.dropped)}
	for _, n := range names {
		for _, a := range fwd[n].list {
			if s := c.verdicts[a.Unmap()]; s != nil && s.Host == "" {
				s.Host = strings.TrimSuffix(n, ".")
				out.list = append(out.list, *s)
			}
		}
	}
	return out
}

// sibling is the FCrDNS verdict of one sibling: its PTR, then the forward
// lookups of its names, which the diagnosis mostly has already.
func (d *diagnosis) sibling(ctx context.Context, ip netip.Addr) Sibling {
	rev, _ := dns.ReverseAddr(ip.String())
	ptr := d.resolve(ctx, rev, dns.TypePTR)
	names, _ := ptrNames(ptr, d.cfg.MaxPTRNames)
	fwd := map[string]addrs{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, n := range validNames(names) {
		wg.Go(func() { setLocked(&mu, fwd, n, d.lookupAddrs(ctx, "", n)) })
	}
	wg.Wait()
	status, confirm := evaluate(ip, ptr, names, fwd)
	return Sibling{IP: ip.String(), Status: status, PTRNames: trimDots(names), ConfirmedName: strings.TrimSuffix(confirm, ".")}
}
