package diagnose

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"blitiri.com.ar/go/spf"
	"github.com/miekg/dns"
)

// findings turns the facts into plain-worded findings, most important first.
func (d *Diagnoser) findings(f *facts, p *Provider, opts Options) []Finding {
	out := []Finding{}
	add := func(c Code, s Severity, format string, a ...any) {
		out = append(out, Finding{Code: c, Severity: s, Message: fmt.Sprintf(format, a...)})
	}
	if fd, special := addressClass(f.ip); special {
		out = append(out, fd)
	}
	ip := f.ip.String()
	zone := strings.TrimSuffix(f.rz.name, ".")

	switch {
	case f.ptr.err != nil:
		add(CodeDNSError, SeverityError, "The PTR lookup for %s did not get an answer (%v). This is not a missing record: "+
			"receivers get the same error and defer or reject the mail (temperror).", ip, f.ptr.err)
	case len(f.names) == 0:
		msg := fmt.Sprintf("%s has no PTR record (%s for %s).", ip, strings.ToUpper(negWord(f.ptr)), strings.TrimSuffix(f.ptrAt, "."))
		if ttl, ok := f.negativeTTL(); ok {
			msg += fmt.Sprintf(" Resolvers may keep this negative answer for up to %d s after it is fixed (RFC 2308).", ttl)
		}
		if zone != "" {
			msg += fmt.Sprintf(" The PTR belongs in the reverse zone %s", zone)
			if p != nil {
				msg += " (run by " + p.Name + ")"
			}
			msg += ": whoever owns the IP controls it, not your domain's registrar."
		}
		add(CodeNoPTR, SeverityError, "%s", msg)
	}
	if len(f.ptr.chain) > 0 {
		add(CodeClasslessDelegation, SeverityInfo, "The PTR is reached through a CNAME (%s): an RFC 2317 classless delegation. "+
			"The PTR itself is set in the zone %s.", strings.Join(f.ptr.chain, ", "), orUnknown(zone))
	}
	if n := len(f.names) + f.dropped; n > 1 {
		msg := fmt.Sprintf("%s has %d PTR records (%s). Receivers that check only one name may pick one that does not confirm.",
			ip, n, strings.Join(trimDots(f.names), ", "))
		if f.dropped > 0 {
			msg += fmt.Sprintf(" Only the first %d were evaluated (RFC 8601 §3 limit).", len(f.names))
		}
		add(CodeMultiplePTR, SeverityWarning, "%s", msg)
	}
	// When another name confirms, a name that does not is only a warning:
	// it matters to receivers that check just one name.
	forwardSeverity := SeverityError
	if f.status == StatusPass {
		forwardSeverity = SeverityWarning
	}
	for _, name := range f.names {
		n := strings.TrimSuffix(name, ".")
		if why := invalidName(name); why != "" {
			add(CodeInvalidPTRName, SeverityError, "The PTR value %q is not a usable host name: %s.", n, why)
			continue
		}
		a := f.fwd[name]
		switch {
		case a.err != nil:
			add(CodeDNSError, forwardSeverity, "The forward lookup of %s did not get an answer (%v); it is not a missing record.", n, a.err)
		case name == f.confirm:
		case a.neg || len(a.list) == 0:
			add(CodeForwardMissing, forwardSeverity, "The PTR name %s has no A or AAAA record, so it does not point back to %s.", n, ip)
		case !a.has(f.ip):
			add(CodeForwardMismatch, forwardSeverity, "The PTR name %s resolves to %s, not to %s.%s", n, strings.Join(a.strings(), ", "), ip, familyNote(f.ip, a.list))
		}
		if len(a.chain) > 0 {
			add(CodePTRNameAlias, SeverityWarning, "The PTR name %s is an alias (%s); a PTR should name the host itself, not a CNAME (RFC 2181 §10.2). "+
				"Most receivers follow it, some do not.", n, strings.Join(a.chain, ", "))
		}
		if why, prov := genericPTR(f.ip, name), d.providerDefault(name); why != "" || prov != "" {
			msg := fmt.Sprintf("The PTR name %s looks generated, not chosen", n)
			if prov != "" {
				msg += fmt.Sprintf(": it is %s's default name", prov)
			} else {
				msg += ": it contains " + why
			}
			add(CodeGenericPTR, SeverityWarning, "%s. Receivers and spam filters treat such names as dynamic or unmanaged hosts; use your own mail host name.", msg)
		}
	}

	subject := f.confirm
	if subject == "" && len(f.names) > 0 {
		subject = f.names[0]
	}
	if opts.HELO != "" && subject != "" && !strings.EqualFold(dns.Fqdn(opts.HELO), subject) {
		add(CodeHELOMismatch, SeverityWarning, "The HELO name %s differs from the PTR name %s. It does not change FCrDNS, but receivers "+
			"such as maddy compare them, and aligned names look managed.", strings.TrimSuffix(opts.HELO, "."), strings.TrimSuffix(subject, "."))
	}
	if o, ok := f.spf[f.confirm]; ok && f.confirm != "" {
		n := strings.TrimSuffix(f.confirm, ".")
		switch o.result {
		case spf.Pass:
		case spf.TempError:
			add(CodeDNSError, SeverityWarning, "The SPF check of %s did not get an answer (%v).", n, o.err)
		default:
			add(CodeSPFMisaligned, SeverityWarning, "The SPF record of %s does not authorize %s (result %s), so an SPF check of "+
				"the HELO identity %s fails. Publish e.g. \"v=spf1 a -all\" at %s.", n, ip, o.result, n, n)
		}
	}
	out = append(out, sourceFindings(f)...)
	return out
}

// sourceFindings compares the authoritative servers with the resolver.
func sourceFindings(f *facts) []Finding {
	sc := f.source
	if sc == nil {
		return nil
	}
	var out []Finding
	add := func(c Code, s Severity, format string, a ...any) {
		out = append(out, Finding{Code: c, Severity: s, Message: fmt.Sprintf(format, a...)})
	}
	var broken []string
	for _, s := range sc.Servers {
		switch {
		case s.Error == "":
		case s.Server == "":
			broken = append(broken, s.Error)
		default:
			broken = append(broken, fmt.Sprintf("%s (%s): %s", s.Server, s.Address, s.Error))
		}
	}
	if len(broken) > 0 {
		add(CodeDNSError, SeverityWarning, "Authoritative servers asked directly did not answer usefully: %s.", strings.Join(broken, "; "))
	}
	if f.srcDiffer {
		add(CodeAuthoritativeDisagree, SeverityWarning, "The authoritative servers do not all give the same answer: some have not loaded the latest zone "+
			"(or are broken), so receivers get different answers depending on the server their resolver asks.")
	}
	switch {
	case sc.Status == StatusTemperror:
	case f.status == StatusTemperror:
		// Not a cache matter: the resolver did not answer at all.
		add(CodeDNSError, SeverityInfo, "The resolver did not answer, but the authoritative servers asked directly give %s%s: "+
			"that is what receivers see whose resolvers get through.", sc.Status, sourceDetail(f))
	case sc.Status == f.status && slices.Equal(sorted(f.srcNames), sorted(f.names)):
		// The source publishes what the resolver serves.
	case sc.Status == StatusPass && sc.Agree && f.status != StatusPass:
		add(CodeCachePropagating, SeverityInfo, "Fixed at the source: the authoritative servers already give pass while the resolver "+
			"still serves the old answer (%s); caches may keep it for up to %d s.", f.status, sc.StaleForSeconds)
	case sc.Status != StatusPass && !f.srcDiffer:
		add(CodeSourceChanged, SeverityWarning, "The authoritative servers give %s%s while the resolver still gives %s: the zone changed, "+
			"and the new data is what receivers will see once caches expire (up to %d s). Fix the new data, not the old.",
			sc.Status, sourceDetail(f), f.status, sc.StaleForSeconds)
	}
	return out
}

// sourceDetail says in words what the authoritative servers publish, for
// messages that compare it with the resolver's answer.
func sourceDetail(f *facts) string {
	if len(f.srcNames) == 0 {
		return " (no PTR)"
	}
	var parts []string
	for _, n := range f.srcNames {
		a, name := f.srcFwd[n], strings.TrimSuffix(n, ".")
		switch {
		case invalidName(n) != "":
			parts = append(parts, fmt.Sprintf("%s, which is not a usable host name", name))
		case a.err != nil:
			parts = append(parts, fmt.Sprintf("%s, whose forward zone did not answer", name))
		case a.has(f.ip):
			parts = append(parts, fmt.Sprintf("%s, which points back", name))
		case len(a.list) == 0:
			parts = append(parts, fmt.Sprintf("%s, which has no A or AAAA record", name))
		default:
			parts = append(parts, fmt.Sprintf("%s, which resolves to %s", name, strings.Join(a.strings(), ", ")))
		}
	}
	return " (PTR " + strings.Join(parts, "; ") + ")"
}

func negWord(l lookup) string {
	if l.nx {
		return "nxdomain"
	}
	return "no data"
}

func orUnknown(s string) string {
	if s == "" {
		return "(unknown)"
	}
	return s
}

// familyNote explains a mismatch caused by the address family alone.
func familyNote(ip netip.Addr, list []netip.Addr) string {
	for _, a := range list {
		if a.Is4() == ip.Is4() && !a.Is4In6() {
			return ""
		}
	}
	if ip.Is4() {
		return " It has only IPv6 addresses (or an IPv4-mapped AAAA): an IPv4 sender needs an A record."
	}
	return " It has only IPv4 addresses: an IPv6 sender needs an AAAA record."
}
