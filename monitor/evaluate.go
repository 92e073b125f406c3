package monitor

import (
	"hash/fnv"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/rdnsbot/rdnsbot/diagnose"
	"github.com/rdnsbot/rdnsbot/store"
)

// observed is what one check found, normalised for comparison.
type observed struct {
	status   diagnose.Status
	names    []string
	siblings []string // failing, temperror excluded
}

func observe(r diagnose.Result) observed {
	o := observed{status: r.Status, names: normNames(r.PTRNames)}
	for _, sib := range r.FailingSiblings() {
		if sib.Status != diagnose.StatusTemperror {
			o.siblings = append(o.siblings, sib.IP)
		}
	}
	slices.Sort(o.siblings)
	o.siblings = slices.Compact(o.siblings)
	return o
}

func normNames(ns []string) []string {
	out := make([]string, 0, len(ns))
	for _, n := range ns {
		out = append(out, strings.TrimSuffix(strings.ToLower(n), "."))
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// sig names an observation, to recognise it on the next check.
func (o observed) sig() string {
	h := fnv.New64a()
	h.Write([]byte(string(o.status) + "|" + strings.Join(o.names, ",") + "|" + strings.Join(o.siblings, ",")))
	return strconv.FormatUint(h.Sum64(), 36)
}

func (o observed) same(st store.AddrState) bool {
	return o.status == st.Status && slices.Equal(o.names, st.Names) && slices.Equal(o.siblings, st.FailingSiblings)
}

// authoritative reports whether the authoritative servers agree among
// themselves and answered (a usable second opinion), and their status.
func authoritative(r diagnose.Result) (diagnose.Status, bool) {
	if r.Source == nil || !r.Source.Agree || r.SourceUnreachable() || r.Source.Status == diagnose.StatusTemperror || r.Source.Status == "" {
		return "", false
	}
	return r.Source.Status, true
}

// sourceNames are the PTR names the reverse zone's servers gave.
func sourceNames(r diagnose.Result) []string {
	for _, a := range r.Source.Servers {
		if a.Error == "" && len(a.Addresses) == 0 && len(a.PTRNames) > 0 {
			return normNames(a.PTRNames)
		}
	}
	return []string{}
}

// evaluate compares a check's result with an address's state: the new state
// and the confirmed changes.
func evaluate(ip netip.Addr, st store.AddrState, r diagnose.Result, now time.Time, unansweredAfter time.Duration) (store.AddrState, []Change) {
	var out []Change
	if r.Status == diagnose.StatusTemperror || r.Status == "" {
		// Not an answer: neither a regression nor a confirmation.
		st.Candidate = ""
		if st.TempSince.IsZero() {
			st.TempSince = now
		}
		if !st.TempNoticed && now.Sub(st.TempSince) >= unansweredAfter {
			st.TempNoticed = true
			out = append(out, Change{Kind: ChangeDNSUnanswered, IP: ip, Before: st.Status, After: diagnose.StatusTemperror, Since: st.TempSince, Result: r})
		}
		return st, out
	}
	if st.TempNoticed {
		out = append(out, Change{Kind: ChangeDNSBack, IP: ip, Before: diagnose.StatusTemperror, After: r.Status, Result: r})
	}
	st.TempSince, st.TempNoticed = time.Time{}, false
	o := observe(r)
	src, ok := authoritative(r)
	st.Propagating = ok && src != r.Status
	switch {
	case st.Status == "": // the first answer is the baseline
		st.Status, st.Names, st.FailingSiblings, st.Candidate = o.status, o.names, o.siblings, ""
		return st, out
	case st.Propagating, o.same(st):
		st.Candidate = ""
		return st, out
	}
	confirmed := ok && (o.status == diagnose.StatusPermerror || slices.Equal(sourceNames(r), o.names))
	if sig := o.sig(); !confirmed && st.Candidate != sig {
		st.Candidate = sig // a second check must agree
		return st, out
	}
	c := Change{IP: ip, Before: st.Status, After: o.status, BeforeNames: st.Names, AfterNames: o.names, Result: r}
	switch was, is := st.Status == diagnose.StatusPass, o.status == diagnose.StatusPass; {
	case was && !is:
		c.Kind = ChangeRegression
	case !was && is:
		c.Kind = ChangeRecovery
	case !slices.Equal(st.Names, o.names) && len(o.names) > 0 && len(st.Names) > 0:
		c.Kind = ChangePTRChanged
	}
	if c.Kind != "" {
		out = append(out, c)
	}
	if broke := minus(o.siblings, st.FailingSiblings); len(broke) > 0 {
		out = append(out, Change{Kind: ChangeSiblingBroke, IP: ip, Before: st.Status, After: o.status, Siblings: broke, Result: r})
	}
	if back := minus(st.FailingSiblings, o.siblings); len(back) > 0 {
		out = append(out, Change{Kind: ChangeSiblingRecovered, IP: ip, Before: st.Status, After: o.status, Siblings: back, Result: r})
	}
	st.Status, st.Names, st.FailingSiblings, st.Candidate = o.status, o.names, o.siblings, ""
	return st, out
}

// minus is a without b (both sorted).
func minus(a, b []string) []string {
	var out []string
	for _, x := range a {
		if _, found := slices.BinarySearch(b, x); !found {
			out = append(out, x)
		}
	}
	return out
}
