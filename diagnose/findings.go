package diagnose

import (
	"errors"
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
	if f.resolverDown != "" {
		add(CodeResolverUnusable, SeverityError, "The resolver this check used, %s, could not be used: asked for the SOA of in-addr.arpa, "+
			"which every working resolver answers, it gave %s. So nothing is known yet about %s, and this is not what receivers see. "+
			"Check /etc/resolv.conf, or pass --resolver / DNS_RESOLVER.", d.resolver, f.resolverDown, f.ip)
	}
	if fd, special := addressClass(f.ip); special {
		out = append(out, fd)
	}
	ip := f.ip.String()
	zone := f.rz.name

	switch {
	case f.resolverDown != "":
	case f.ptr.err != nil:
		add(CodeDNSError, SeverityError, "The PTR lookup for %s got no answer: %v. That is not a missing record: "+
			"receivers get the same error and defer or reject the mail (temperror).", ip, f.ptr.err)
	case len(f.names) == 0:
		msg := fmt.Sprintf("%s has no PTR record: %s for %s.", ip, strings.ToUpper(negWord(f.ptr)), code(f.ptrAt))
		if ttl, ok := f.negativeTTL(); ok {
			msg += fmt.Sprintf(" Resolvers may keep this negative answer for up to %d s after it is fixed (RFC 2308).", ttl)
		}
		if zone != "" {
			msg += " The PTR belongs in the reverse zone " + code(zone)
			if p != nil {
				msg += ", run by " + p.Name
			}
			msg += ": whoever owns the IP controls it, not your domain's registrar."
		}
		add(CodeNoPTR, SeverityError, "%s", msg)
	}
	if len(f.ptr.chain) > 0 {
		add(CodeClasslessDelegation, SeverityInfo, "The PTR is reached through a CNAME, %s: an RFC 2317 classless delegation. "+
			"The PTR itself is set in the zone %s.", strings.Join(f.ptr.chain, ", "), orUnknown(zone))
	}
	if n := len(f.names) + f.dropped; n > 1 {
		msg := fmt.Sprintf("%s has %d PTR records: %s. Receivers that check only one name may pick one that does not confirm.",
			ip, n, codeList(f.names))
		if f.dropped > 0 {
			msg += fmt.Sprintf(" Only the first %d were evaluated, the limit of RFC 8601 §3.", len(f.names))
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
		n := code(name)
		if why := invalidName(name); why != "" {
			add(CodeInvalidPTRName, SeverityError, "The PTR value %s is not a usable host name: %s.", n, why)
			continue
		}
		a := f.fwd[name]
		switch {
		case errors.Is(a.err, errChain):
			add(CodeDNSError, forwardSeverity, "The forward lookup of %s follows a CNAME chain that is too long or loops, so it never reaches an address. "+
				"The zone %s holds the broken records.", n, orUnknown(f.src.zones[name]))
			continue // its partial chain is no alias to report
		case a.err != nil:
			add(CodeDNSError, forwardSeverity, "The forward lookup of %s got no answer: %v. It is not a missing record.", n, a.err)
		case name == f.confirm:
		case a.neg || len(a.list) == 0:
			add(CodeForwardMissing, forwardSeverity, "The PTR name %s has no A or AAAA record, so it does not point back to %s.", n, ip)
		case !a.has(f.ip):
			add(CodeForwardMismatch, forwardSeverity, "The PTR name %s resolves to %s, not to %s.%s", n, strings.Join(a.strings(), ", "), ip, familyNote(f.ip, a.list))
		}
		if len(a.chain) > 0 {
			add(CodePTRNameAlias, SeverityWarning, "The PTR name %s is an alias, %s; a PTR should name the host itself, not a CNAME (RFC 2181 §10.2). "+
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
	if fd, ok := siblingFinding(f); ok {
		out = append(out, fd)
	}
	out = append(out, d.identityFindings(f, opts)...)
	out = append(out, sourceFindings(f)...)
	return out
}

// identityFindings compare what the mail server calls itself (HELO, the
// name the user gave) with what DNS says, and check SPF for the HELO
// identity. None of them changes the status.
func (d *Diagnoser) identityFindings(f *facts, opts Options) []Finding {
	var out []Finding
	add := func(c Code, format string, a ...any) {
		out = append(out, Finding{Code: c, Severity: SeverityWarning, Message: fmt.Sprintf(format, a...)})
	}
	subject := f.confirm
	if subject == "" && len(f.names) > 0 {
		subject = f.names[0]
	}
	helo := strings.TrimSpace(opts.HELO)
	switch {
	case helo == "":
	case heloLiteral(helo):
		add(CodeHELOLiteral, "The HELO %s is an address literal, not a host name: many receivers reject a bare-address HELO "+
			"(RFC 5321 §4.1.4 asks for the host's name). Announce the mail host's name instead.", code(helo))
	case subject != "" && !strings.EqualFold(dns.Fqdn(helo), subject):
		add(CodeHELOMismatch, "The HELO name %s differs from the PTR name %s. It does not change FCrDNS, but receivers "+
			"such as maddy compare them, and aligned names look managed.", code(helo), code(subject))
	}
	if want := dns.CanonicalName(strings.TrimSpace(opts.Name)); opts.Name != "" && f.ptr.err == nil && !slices.Contains(f.names, want) {
		sees := "no name at all: it has no PTR"
		if len(f.names) > 0 {
			sees = codeList(f.names) + ", the name its PTR gives"
		}
		add(CodeNameNotPTR, "You asked about %s, but receivers that look up %s see %s, not %s.", code(want), f.ip, sees, code(want))
	}
	if f.spfName != "" {
		n := code(f.spfName)
		switch o := f.spf; o.result {
		case spf.Pass:
		case spf.TempError:
			out = append(out, Finding{Code: CodeDNSError, Severity: SeverityWarning,
				Message: fmt.Sprintf("The SPF check of %s got no answer: %v.", n, o.err)})
		default:
			msg := fmt.Sprintf("The SPF record of %s does not authorize %s (result %s), so an SPF check of the HELO identity %s fails. ", n, f.ip, o.result, n)
			if chosenName(d, f, f.spfName) {
				msg += fmt.Sprintf("Publish e.g. \"v=spf1 a -all\" at %s.", n)
			} else {
				msg += "That name belongs to the IP's owner, not to you: choose your own host name, have the PTR set to it, and publish SPF there."
			}
			add(CodeSPFMisaligned, "%s", msg)
		}
	}
	return out
}

// heloName is the HELO as a host name for SPF, "" when it is empty or an
// address literal (RFC 7208 §2.3 checks only a name).
func heloName(helo string) string {
	helo = strings.TrimSpace(helo)
	if helo == "" || heloLiteral(helo) || hostSyntax(helo) != "" {
		return ""
	}
	return dns.CanonicalName(helo)
}

// heloLiteral reports whether the HELO is an address: bare, or an SMTP
// address literal ([198.51.100.7], [IPv6:2001:db8::7], RFC 5321 §4.1.3).
func heloLiteral(helo string) bool {
	s := strings.TrimSuffix(strings.TrimPrefix(helo, "["), "]")
	if len(s) > 5 && strings.EqualFold(s[:5], "IPv6:") {
		s = s[5:]
	}
	_, err := netip.ParseAddr(s)
	return err == nil
}

// siblingFinding reports the other addresses of the PTR names that do not
// pass FCrDNS. Mail may leave from those of a name that also has the
// diagnosed IP (the same host, dual-stacked): the message then says why it
// matters and how to fix or avoid it.
func siblingFinding(f *facts) (Finding, bool) {
	var parts []string
	sameHost, v6 := false, false
	for _, s := range f.siblings.list {
		if s.Status == StatusPass {
			continue
		}
		verb := "has"
		if hostHasIP(f, s) {
			verb, sameHost = "also has", true
			v6 = v6 || strings.Contains(s.IP, ":")
		}
		part := fmt.Sprintf("%s %s %s, which %s (%s)", code(s.Host), verb, s.IP, s.Problem(), s.Status)
		if len(s.PTRNames) > 0 {
			part += ": its PTR names " + codeList(s.PTRNames)
		}
		parts = append(parts, part)
	}
	if len(parts) == 0 {
		return Finding{}, false
	}
	msg := "Other addresses of the PTR names do not pass FCrDNS: " + strings.Join(parts, "; ") + "."
	if f.siblings.dropped > 0 {
		msg += fmt.Sprintf(" %d more addresses were not checked; at most %d are.", f.siblings.dropped, maxSiblings)
	}
	switch {
	case v6 && f.ip.Is4():
		msg += fmt.Sprintf(" Receivers such as Gmail are reached over IPv6 when the mail server can, so mail may leave from the IPv6 address and be rejected although %s passes. "+
			"Either set a correct AAAA + PTR pair where the IPv6 address is owned, or make the server send over IPv4 only: "+
			"Postfix `smtp_address_preference = ipv4` or `inet_protocols = ipv4`, Exim `dns_ipv4_lookup = *` or `disable_ipv6 = true`.", f.ip)
	case sameHost:
		msg += " A server with several addresses may send from any of them: give each a PTR naming a host that points back to it."
	}
	return Finding{Code: CodeSiblingFails, Severity: SeverityWarning, Message: msg}, true
}

// hostHasIP reports whether the sibling's host name also has the diagnosed
// IP: then both are addresses of one mail host.
func hostHasIP(f *facts, s Sibling) bool { return f.fwd[dns.Fqdn(s.Host)].has(f.ip) }

// sourceFindings compares the authoritative servers with the resolver.
func sourceFindings(f *facts) []Finding {
	sc := f.src.check
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
		case s.Server == "" && slices.Contains(f.src.noCut, dns.Fqdn(s.Zone)):
		case s.Server == "":
			broken = append(broken, s.Error)
		default:
			broken = append(broken, fmt.Sprintf("%s at %s: %s", code(s.Server), s.Address, s.Error))
		}
	}
	if len(broken) > 0 {
		add(CodeDNSError, SeverityWarning, "Authoritative servers asked directly did not answer usefully: %s.", strings.Join(broken, "; "))
	}
	if len(f.src.noCut) > 0 {
		add(CodeForwardZoneUnknown, SeverityInfo, "The servers of the forward zone of %s could not be identified: no NS records at the name or at its parent domains, "+
			"a domain that does not exist or a zone delegated at an unusual level. Its addresses were taken from the resolver.", codeList(f.src.noCut))
	}
	if f.src.differ {
		add(CodeAuthoritativeDisagree, SeverityWarning, "The authoritative servers do not all give the same answer: some have not loaded the latest zone, "+
			"or are broken, so receivers get different answers depending on the server their resolver asks.")
	}
	switch {
	case sc.Status == StatusTemperror:
	case f.status == StatusTemperror:
		// Not a cache matter: the resolver did not answer at all.
		add(CodeDNSError, SeverityInfo, "The resolver did not answer, but the authoritative servers asked directly give %s%s: "+
			"that is what receivers see whose resolvers get through.", sc.Status, sourceDetail(f))
	case sc.Status == f.status && slices.Equal(sorted(f.src.names), sorted(f.names)):
		// The source publishes what the resolver serves.
	case sc.Status == StatusPass && sc.Agree && f.status != StatusPass:
		add(CodeCachePropagating, SeverityInfo, "Fixed at the source: the authoritative servers already give pass while the resolver "+
			"still serves the old answer, %s; caches may keep it for up to %d s.", f.status, sc.StaleForSeconds)
	case sc.Status != StatusPass && !f.src.differ:
		add(CodeSourceChanged, SeverityWarning, "The authoritative servers give %s%s, while the resolver still gives %s: the zone changed, "+
			"and the new data is what receivers will see once caches expire, up to %d s. Fix the new data, not the old.",
			sc.Status, sourceDetail(f), f.status, sc.StaleForSeconds)
	}
	return out
}

// sourceDetail says in words what the authoritative servers publish, for
// messages that compare it with the resolver's answer.
func sourceDetail(f *facts) string {
	if len(f.src.names) == 0 {
		return ", no PTR"
	}
	var parts []string
	for _, n := range f.src.names {
		a, name := f.src.fwd[n], code(n)
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
	return ", a PTR to " + strings.Join(parts, "; ")
}

func negWord(l lookup) string {
	if l.nx {
		return "nxdomain"
	}
	return "no data"
}

// orUnknown shows a zone name, or says it is unknown.
func orUnknown(zone string) string {
	if zone == "" {
		return "unknown"
	}
	return code(zone)
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
