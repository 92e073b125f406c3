package pool

import (
	"cmp"
	"fmt"
	"io"
	"maps"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"unicode"

	"github.com/rdnsbot/rdnsbot/diagnose"
)

// Summary is a Report ready for rendering, failures first. Its JSON field
// names are a public contract (the `summary` object of `bot diagnose
// --json`): only ever added to.
type Summary struct {
	// Addresses is the number of addresses diagnosed.
	Addresses int `json:"addresses"`
	// NotChecked counts addresses left undiagnosed because the check was
	// cancelled or ran out of time.
	NotChecked int `json:"not_checked,omitempty"`
	// Counts is the number of addresses per RFC 8601 status.
	Counts map[diagnose.Status]int `json:"counts"`
	// Block is the IPv4 /24 every address lies in, when there is one: the
	// address lists then give the last octet only (".5, .9–.12").
	Block string `json:"block,omitempty"`
	// Findings groups the addresses by finding code and severity, errors
	// first, then warnings, then information; the larger group first.
	Findings []Group `json:"findings"`
	// ReverseZones are the zones holding the PTRs, in address order; RFC
	// 2317 child zones are listed apart from their parent.
	ReverseZones []Zone `json:"reverse_zones"`
	// ReverseZoneUnknown counts addresses whose reverse zone was not found
	// (DNS did not answer).
	ReverseZoneUnknown int `json:"reverse_zone_unknown,omitempty"`
	// Providers are the likely providers running the reverse zones, the
	// most addresses first.
	Providers []ProviderCount `json:"providers"`
}

// Group is the addresses with one finding.
type Group struct {
	Code     diagnose.Code     `json:"code"`
	Severity diagnose.Severity `json:"severity"`
	Count    int               `json:"count"`
	// Addresses is the compressed list: ".5, .9–.12" within Summary.Block,
	// else full addresses, an address within the /24 of the one before it
	// as ".N" ("203.0.113.5, .9–.12, 203.0.114.1").
	Addresses string `json:"addresses"`
	// Ranges are the same addresses as runs of consecutive ones.
	Ranges []Range `json:"ranges"`
	// Details name what the finding is about, per address and in address
	// order: forward_mismatch gives each PTR name that does not point back
	// and the addresses it has; generic_ptr the generated name (the first
	// PTR name of an address with several).
	Details []Detail `json:"details,omitempty"`
}

// Range is a run of consecutive addresses, First ≤ Last.
type Range struct {
	First netip.Addr `json:"first"`
	Last  netip.Addr `json:"last"`
}

// Detail is one address's name a finding is about.
type Detail struct {
	IP        netip.Addr `json:"ip"`
	Name      string     `json:"name"`
	Addresses []string   `json:"addresses,omitempty"`
}

// Zone is one reverse zone and the pool addresses whose PTR it holds.
type Zone struct {
	Name string `json:"name"`
	// Classless marks an RFC 2317 child zone, reached by CNAMEs from the
	// parent zone's names.
	Classless   bool     `json:"classless,omitempty"`
	Count       int      `json:"count"`
	Addresses   string   `json:"addresses"` // as in Group
	Ranges      []Range  `json:"ranges"`
	Nameservers []string `json:"nameservers,omitempty"`
	// Provider is the provider most of the zone's addresses are credited to.
	Provider string `json:"provider,omitempty"`
}

// ProviderCount is a provider and how many addresses are in its zones.
type ProviderCount struct {
	diagnose.Provider
	Count int `json:"count"`
}

// severityRank orders groups: errors first.
var severityRank = map[diagnose.Severity]int{diagnose.SeverityError: 0, diagnose.SeverityWarning: 1, diagnose.SeverityInfo: 2}

// Summary builds the summary; the Report stays usable.
func (rep Report) Summary() Summary {
	s := Summary{Counts: maps.Clone(rep.counts), NotChecked: rep.notChecked, ReverseZoneUnknown: rep.noZone, Findings: []Group{}, ReverseZones: []Zone{}, Providers: []ProviderCount{}}
	for _, n := range rep.counts {
		s.Addresses += n
	}
	var block netip.Prefix
	if !rep.mixed && rep.block.IsValid() {
		block = rep.block
		s.Block = block.String()
	}
	for k, g := range rep.groups {
		addrs := slices.SortedFunc(slices.Values(g.addrs), netip.Addr.Compare)
		text, ranges := compress(addrs, block)
		details := slices.SortedStableFunc(slices.Values(g.details), func(a, b Detail) int { return a.IP.Compare(b.IP) })
		s.Findings = append(s.Findings, Group{Code: k.code, Severity: k.sev, Count: len(addrs), Addresses: text, Ranges: ranges, Details: details})
	}
	slices.SortFunc(s.Findings, func(a, b Group) int {
		return cmp.Or(cmp.Compare(rank(a.Severity), rank(b.Severity)), cmp.Compare(b.Count, a.Count), cmp.Compare(a.Code, b.Code))
	})
	for name, z := range rep.zones {
		addrs := slices.SortedFunc(slices.Values(z.addrs), netip.Addr.Compare)
		text, ranges := compress(addrs, block)
		s.ReverseZones = append(s.ReverseZones, Zone{Name: name, Classless: z.classless, Count: len(addrs), Addresses: text, Ranges: ranges,
			Nameservers: z.nameservers, Provider: z.provider()})
	}
	slices.SortFunc(s.ReverseZones, func(a, b Zone) int {
		return cmp.Or(a.Ranges[0].First.Compare(b.Ranges[0].First), cmp.Compare(a.Name, b.Name))
	})
	for _, p := range rep.providers {
		s.Providers = append(s.Providers, ProviderCount{Provider: p.p, Count: p.n})
	}
	slices.SortFunc(s.Providers, func(a, b ProviderCount) int {
		return cmp.Or(cmp.Compare(b.Count, a.Count), cmp.Compare(a.Name, b.Name))
	})
	return s
}

// statusOrder puts failures first in the table's counts.
var statusOrder = []diagnose.Status{diagnose.StatusFail, diagnose.StatusPermerror, diagnose.StatusTemperror, diagnose.StatusPass}

func statusRank(s diagnose.Status) int {
	if i := slices.Index(statusOrder, s); i >= 0 {
		return i
	}
	return len(statusOrder)
}

func rank(s diagnose.Severity) int {
	if r, ok := severityRank[s]; ok {
		return r
	}
	return len(severityRank)
}

// provider is the provider most of the zone's addresses name (a default PTR
// name can name another than the zone's servers do).
func (z *zoneAcc) provider() string {
	best := ""
	for name, n := range z.providers {
		if n > z.providers[best] || n == z.providers[best] && name < best {
			best = name
		}
	}
	return best
}

// compress turns sorted distinct addresses into runs and their text (see
// Group.Addresses).
func compress(addrs []netip.Addr, block netip.Prefix) (string, []Range) {
	var ranges []Range
	for _, a := range addrs {
		if k := len(ranges) - 1; k >= 0 && ranges[k].Last.Next() == a {
			ranges[k].Last = a
			continue
		}
		ranges = append(ranges, Range{a, a})
	}
	return strings.Join(rangeItems(ranges, block), ", "), ranges
}

// rangeItems writes each run as "203.0.113.9–.12"; within block, and within
// the /24 of the address written before, as ".9–.12".
func rangeItems(ranges []Range, block netip.Prefix) []string {
	items := make([]string, len(ranges))
	var prev netip.Addr // the last address written, for the ".N" form
	for i, r := range ranges {
		items[i] = short(r.First, prev, block)
		if r.Last != r.First {
			items[i] += "–" + short(r.Last, r.First, block)
		}
		prev = r.Last
	}
	return items
}

// short writes a as ".N" when it lies in block, or in the same IPv4 /24 as
// prev, else in full.
func short(a, prev netip.Addr, block netip.Prefix) string {
	same := a.Is4() && prev.Is4() && netip.PrefixFrom(prev, 24).Masked().Contains(a)
	if block.Contains(a) || same {
		return "." + strconv.Itoa(int(a.As4()[3]))
	}
	return a.String()
}

// Table limits: a terminal line stays readable, JSON has everything.
const (
	tableAddrs   = 100 // characters of an address list
	tableDetails = 3   // details listed in full; more are shown by one example
)

// Table writes the summary as a compact table for a terminal, failures first.
func (s Summary) Table(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	block, _ := netip.ParsePrefix(s.Block) // invalid without one: full addresses
	var counts []string
	statuses := slices.SortedFunc(maps.Keys(s.Counts), func(a, b diagnose.Status) int {
		return cmp.Or(cmp.Compare(statusRank(a), statusRank(b)), cmp.Compare(a, b))
	})
	for _, st := range statuses {
		counts = append(counts, fmt.Sprintf("%d %s", s.Counts[st], clean(string(st))))
	}
	head := fmt.Sprintf("%d addresses", s.Addresses)
	if s.Block != "" {
		head += " in " + s.Block
	}
	if len(counts) > 0 {
		head += ": " + strings.Join(counts, ", ")
	}
	if s.NotChecked > 0 {
		head += fmt.Sprintf(" (%d not checked: cancelled or out of time)", s.NotChecked)
	}
	fmt.Fprintln(tw, head)
	if len(s.Findings) > 0 {
		fmt.Fprintln(tw, "\nSEVERITY\tFINDING\tN\tADDRESSES")
	}
	for _, g := range s.Findings {
		items, example := rangeItems(g.Ranges, block), ""
		switch {
		case len(g.Details) > 0 && len(g.Details) <= tableDetails:
			// Few: each address with what it is about.
			items = items[:0]
			for _, d := range g.Details {
				items = append(items, d.text(block))
			}
		case len(g.Details) > 0:
			example = "e.g. " + g.Details[0].text(block)
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\n", clean(string(g.Severity)), clean(string(g.Code)), g.Count, cut(items, tableAddrs))
		if example != "" {
			fmt.Fprintf(tw, "\t\t\t%s\n", example)
		}
	}
	if len(s.ReverseZones) > 0 || s.ReverseZoneUnknown > 0 {
		fmt.Fprintln(tw, "\nREVERSE ZONE\tN\tADDRESSES\tNAME SERVERS\tPROVIDER")
	}
	for _, z := range s.ReverseZones {
		name := clean(z.Name)
		if z.Classless {
			name += " (RFC 2317)"
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\n", name, z.Count, cut(rangeItems(z.Ranges, block), tableAddrs/2), clean(strings.Join(z.Nameservers, " ")), clean(z.Provider))
	}
	if s.ReverseZoneUnknown > 0 {
		fmt.Fprintf(tw, "(not found: DNS did not answer)\t%d\t\t\t\n", s.ReverseZoneUnknown)
	}
	return tw.Flush()
}

// text is ".7 (mx7.example.com → 198.51.100.8)", for the table.
func (d Detail) text(block netip.Prefix) string {
	s := short(d.IP, netip.Addr{}, block) + " (" + clean(d.Name)
	if len(d.Addresses) > 0 {
		s += " → " + clean(strings.Join(d.Addresses, ", "))
	}
	return s + ")"
}

// cut joins items up to about n characters, saying how many it left out.
func cut(items []string, n int) string {
	var b strings.Builder
	for i, it := range items {
		if i > 0 && b.Len()+len(it) > n {
			fmt.Fprintf(&b, ", … (+%d)", len(items)-i)
			break
		}
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(it)
	}
	return b.String()
}

// clean keeps names from DNS from driving the terminal: anything not
// printable becomes "?".
func clean(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsPrint(r) {
			return r
		}
		return '?'
	}, s)
}
