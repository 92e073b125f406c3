package diagnose

import (
	"errors"
	"net"
	"net/netip"
	"slices"
	"strings"
	"text/template"

	"github.com/miekg/dns"
)

// stepRule is one row of the guidance table: when it applies and what it
// says. Text and Commands are text/template over stepData; texts show names
// with {{code …}} (see Finding), commands use only names that passed
// commandHost.
type stepRule struct {
	on       []Code // applies when any of these findings is present; none = always
	unless   []Code // never applies when one of these is present
	status   Status // applies only with this iprev status, when set
	failing  bool   // applies only when the status is not pass
	ipv6Fail bool   // applies only to an IPv6 address that does not pass
	text     string
	commands []string // one command per line once executed
}

// forceIPv4 is how to make the mail server send over IPv4 only (the notes,
// providers.md §2).
const forceIPv4 = "Postfix `smtp_address_preference = ipv4` (a preference) or `inet_protocols = ipv4` (strict; stop and start Postfix); Exim `dns_ipv4_lookup = *` or `disable_ipv6 = true`."

// guidanceTable is ordered: steps come out in this order. Sources: the
// notes (providers.md §2 for forcing IPv4, §3 for providers; dns.md §6 for
// PTR/HELO/SPF alignment). Every step is one the user can take: nothing
// asks them to change what only the IP's owner controls, or what is
// already so.
var guidanceTable = []stepRule{
	{
		on:       []Code{CodeResolverUnusable},
		text:     "First make this check's own resolver work: {{.Resolver}} answers nothing useful. Check /etc/resolv.conf, or pass --resolver / DNS_RESOLVER with a working resolver, then run the check again. Nothing about {{.IP}} is known until then.",
		commands: []string{"{{if .ResolverCmd}}dig {{.ResolverCmd}} in-addr.arpa SOA{{end}}"},
	},
	{
		on:       []Code{CodePrivateIP, CodeDocumentationIP, CodeReservedIP},
		text:     "{{.IP}} is not an internet address: receivers see the public address your mail leaves from. Take the IP from the bounce, or run the command below on the mail server, and diagnose that one.",
		commands: []string{"curl -{{if .IPv6}}6{{else}}4{{end}} https://ifconfig.me"},
	},
	{
		on:     []Code{CodeDNSError},
		unless: []Code{CodeResolverUnusable},
		status: StatusTemperror,
		text: "{{if .PTRFailed}}DNS did not answer for the PTR of {{.IP}}, so receivers defer or reject your mail for now. Retry in a few minutes; " +
			"{{if .SourceOK}}the name servers of {{zone .Zone}} answer when asked directly, so the trouble is on the way to them.{{else}}if it persists, whoever runs the name servers of {{zone .Zone}} must fix them: ask each one directly.{{end}}" +
			"{{else if .BrokenChain}}The CNAME chain of {{code .Broken}} is too long or loops, so no receiver can confirm {{.IP}}. Whoever runs the zone {{zone .BrokenZone}} must fix those CNAME records." +
			"{{else}}DNS did not answer for {{code .Broken}}, so receivers defer or reject your mail for now. Retry in a few minutes; " +
			"{{if .SourceOK}}the name servers of {{zone .BrokenZone}} answer when asked directly, so the trouble is on the way to them.{{else}}if it persists, whoever runs the name servers of {{zone .BrokenZone}} must fix them.{{end}}{{end}}",
		commands: []string{"{{if .PTRFailed}}dig -x {{.IP}}\n{{range .Servers}}dig @{{.}} {{$.Rev}} PTR +norecurse\n{{end}}{{else}}dig {{.Broken}} {{.AddrType}}{{end}}"},
	},
	{
		on:       []Code{CodeSourceChanged},
		text:     "The name servers of {{zone .Zone}} already publish a changed PTR; resolvers still serve the old answer for up to {{.Stale}} s. What they publish now is what needs fixing: the steps below are about it.",
		commands: []string{"{{range .Servers}}dig @{{.}} {{$.Rev}} PTR +norecurse\n{{end}}"},
	},
	{
		on:     []Code{CodeGenericPTR},
		status: StatusPass,
		text:   "{{code .Name}} forward-confirms, so FCrDNS passes, but it looks like a generated name and spam filters score such names as unmanaged hosts. Consider giving the mail server a name of its own{{if .Alt}}, {{code .Alt}}{{else}}, say `mail.example.com`{{end}}: an {{.AddrType}} record pointing at {{.IP}}, then the PTR set to it where the IP is owned{{if .Provider}}, at {{.Provider}}{{end}}.",
	},
	{
		on:      []Code{CodeNoPTR, CodeForwardMissing, CodeForwardMismatch, CodeInvalidPTRName, CodeGenericPTR},
		failing: true,
		text: "{{if .IsPTR}}The PTR already names {{code .Name}}: point that name's {{.AddrType}} record at {{.IP}}, at the DNS host of its domain." +
			"{{else}}Make sure {{if .Guess}}your mail server's host name, say {{code .Name}},{{else}}{{code .Name}}{{end}} has an {{.AddrType}} record pointing at {{.IP}}, at the DNS host of its domain. Do this first: many providers refuse a PTR whose name does not resolve to the IP.{{end}}",
		commands: []string{"dig +short {{.Name}} {{.AddrType}}"},
	},
	{
		on:      []Code{CodeNoPTR, CodeForwardMismatch, CodeInvalidPTRName, CodeGenericPTR},
		failing: true,
		text: "{{if .IsPTR}}Or change the PTR of {{.IP}} to a name that does point at it, {{else}}Set the PTR of {{.IP}} to {{code .Name}} {{end}}where the IP is owned, not at your domain's registrar: " +
			"{{if .Provider}}{{.Provider}}. {{.HowTo}}{{else}}your hosting provider or ISP. The reverse zone {{if .Zone}}{{code .Zone}}{{else}}of this address{{end}} is theirs; ask them if they offer no setting.{{end}}",
		commands: []string{"dig +short -x {{.IP}}"},
	},
	{
		on:   []Code{CodeMultiplePTR},
		text: "Remove the extra PTR records so that {{.IP}} has exactly one, naming {{code .Name}}.",
	},
	{
		on:   []Code{CodePTRNameAlias},
		text: "Make the PTR name a plain A/AAAA record, not a CNAME, or point the PTR at the CNAME's target.",
	},
	{
		ipv6Fail: true,
		text:     "Until this IPv6 address passes, you can send over IPv4 only: " + forceIPv4,
		commands: []string{"postconf -e smtp_address_preference=ipv4 && postfix reload"},
	},
	{
		on: []Code{CodeSiblingFails},
		// Only for a sibling of the same host: another host's address is
		// not where this mail leaves from. A text that comes out empty
		// drops the step.
		text: "{{if .SibIP}}{{code .SibHost}} also has {{.SibIP}}, which {{.SibProblem}}, and mail may leave from it. " +
			"{{if .SibIPv6}}Either set a correct AAAA + PTR pair where that IPv6 address is owned: the PTR of {{.SibIP}} naming a host whose AAAA is {{.SibIP}}; or send over IPv4 only: " + forceIPv4 +
			"{{else}}Set its PTR where it is owned, naming a host that points back to it{{if .Passes}}, or send only from {{.IP}}{{end}}.{{end}}{{end}}",
		commands: []string{"{{if .SibIP}}dig +short -x {{.SibIP}}{{end}}", "{{if .SibIPv6}}postconf -e smtp_address_preference=ipv4 && postfix reload{{end}}"},
	},
	{
		// Name is a usable host name here (suggestedName), so it is safe
		// inside the configuration snippets.
		on: []Code{CodeHELOMismatch, CodeHELOLiteral, CodeSPFMisaligned},
		text: "{{if .Generic}}{{code .Name}} is a name the IP's owner generated, so you cannot publish SPF at it: choose your own host name{{if .Alt}}, such as {{code .Alt}}{{end}}, ask the IP's owner to set the PTR to it, then make the server announce that name and publish SPF at it, e.g. `v=spf1 a -all`." +
			"{{else}}Align PTR, HELO and SPF: make the server announce {{code .Name}} (Postfix `smtp_helo_name = {{.Name}}`, Exim `helo_data = {{.Name}}`) and publish an SPF record at {{code .Name}} that authorizes {{.IP}}, e.g. `v=spf1 a -all`.{{end}}",
		commands: []string{"{{if not .Generic}}dig +short {{.Name}} TXT{{end}}"},
	},
	{
		on:       []Code{CodeAuthoritativeDisagree},
		text:     "The name servers of {{zone .Zone}} disagree: ask whoever runs them to check that every server has loaded the current zone: a stale secondary, a failed transfer.",
		commands: []string{"{{range .Servers}}dig @{{.}} {{$.Rev}} PTR +norecurse\n{{end}}"},
	},
	{
		on:       []Code{CodeCachePropagating},
		text:     "The authoritative servers already serve the new answer; resolvers catch up within {{.Stale}} s. Nothing more to change there.",
		commands: []string{"{{range .Servers}}dig @{{.}} {{$.Rev}} PTR +norecurse\n{{end}}"},
	},
	{
		text:     "Verify: the PTR must name the host, and the host must point back to {{.IP}}.",
		commands: []string{"dig +short -x {{.IP}}", "{{if not .Guess}}dig +short {{.Name}} {{.AddrType}}{{end}}"},
	},
}

// stepFuncs show names in step texts: code as in findings, zone also
// when the zone is unknown.
var stepFuncs = template.FuncMap{
	"code": code,
	"zone": func(z string) string {
		if z == "" {
			return "the zone"
		}
		return code(z)
	},
}

var stepTemplates = func() map[string]*template.Template {
	m := map[string]*template.Template{}
	for _, r := range guidanceTable {
		for _, s := range append([]string{r.text}, r.commands...) {
			m[s] = template.Must(template.New("").Funcs(stepFuncs).Parse(s))
		}
	}
	return m
}()

// stepData is what the step templates can use. Commands are pasted into
// shells: everything a command template uses is either computed here (IP,
// Rev, AddrType, SibIP, ResolverCmd) or passes commandHost (Name, Servers,
// Broken). Zone, Provider, HowTo, Alt, BrokenZone and SibHost appear in
// step texts only.
type stepData struct {
	IP, Rev, Zone, Name, AddrType, Provider, HowTo string
	Alt                                            string // a chosen name other than Name (the HELO), for generic names
	IPv6, Passes                                   bool
	Guess                                          bool     // Name is a placeholder
	IsPTR                                          bool     // Name is already a PTR name of the IP
	Generic                                        bool     // Name is a generated name, not the user's own
	Servers                                        []string // authoritative server names (or addresses)
	Stale                                          uint32
	// A temperror: the PTR lookup failed, or the forward lookup of Broken
	// (in BrokenZone; BrokenChain when its CNAME chain loops or is too long).
	PTRFailed, BrokenChain bool
	Broken, BrokenZone     string
	SourceOK               bool // the authoritative servers gave a verdict

	// The first sibling of the same host that does not pass.
	SibIP, SibHost, SibProblem string
	SibIPv6                    bool
	// The resolver, and its "@host -p port" for dig when it is safe to paste.
	Resolver, ResolverCmd string
}

// guidance returns the ordered fix and verification steps for a result.
func (d *Diagnoser) guidance(f *facts, r *Result, opts Options) []Step {
	has := map[Code]bool{}
	for _, fd := range r.Findings {
		has[fd.Code] = true
	}
	data := d.stepData(f, r, opts)
	steps := []Step{}
	for _, rule := range guidanceTable {
		if !rule.applies(has, r.Status, data.IPv6) {
			continue
		}
		s := Step{Text: execute(rule.text, data)}
		if strings.TrimSpace(s.Text) == "" {
			continue
		}
		for _, c := range rule.commands {
			for _, line := range strings.Split(execute(c, data), "\n") {
				if line = strings.TrimSpace(line); line != "" {
					s.Commands = append(s.Commands, line)
				}
			}
		}
		steps = append(steps, s)
	}
	return steps
}

// stepData fills in what the step templates show for a result.
func (d *Diagnoser) stepData(f *facts, r *Result, opts Options) stepData {
	data := stepData{IP: r.IP, Rev: strings.TrimSuffix(f.rev, "."), Zone: r.ReverseZone, AddrType: "A", IPv6: f.ip.Is6(), Passes: r.Status == StatusPass}
	data.Name, data.Guess = suggestedName(d, f, opts)
	name := dns.Fqdn(data.Name)
	data.IsPTR = !data.Guess && (slices.Contains(f.names, name) || slices.Contains(f.src.names, name))
	data.Generic = !data.Guess && !chosenName(d, f, name)
	for _, alt := range []string{opts.Name, opts.HELO} {
		if alt = dns.Fqdn(strings.TrimSpace(alt)); alt != "." && chosenName(d, f, alt) && !strings.EqualFold(alt, name) {
			data.Alt = strings.TrimSuffix(alt, ".")
			break
		}
	}
	if data.IPv6 {
		data.AddrType = "AAAA"
	}
	if r.Provider != nil {
		data.Provider, data.HowTo = r.Provider.Name, r.Provider.HowTo
	}
	data.Servers = commandServers(f.rz.servers)
	if r.Source != nil {
		data.Stale = r.Source.StaleForSeconds
		data.SourceOK = r.Source.Status != StatusTemperror
	}
	data.PTRFailed = f.ptr.err != nil
	for _, n := range validNames(f.names) {
		if err := f.fwd[n].err; err != nil && data.Broken == "" {
			data.Broken, data.BrokenZone = strings.TrimSuffix(n, "."), f.src.zones[n]
			data.BrokenChain = errors.Is(err, errChain)
		}
	}
	for _, s := range r.FailingSiblings() {
		if hostHasIP(f, s) {
			data.SibIP, data.SibHost, data.SibProblem = s.IP, s.Host, s.Problem()
			data.SibIPv6 = strings.Contains(s.IP, ":")
			break
		}
	}
	data.Resolver = d.resolver
	if host, port, err := net.SplitHostPort(d.resolver); err == nil && commandHost(host) {
		data.ResolverCmd = "@" + host + " -p " + port
	}
	return data
}

func (rule stepRule) applies(has map[Code]bool, status Status, ipv6 bool) bool {
	if (rule.status != "" && rule.status != status) || (rule.failing && status == StatusPass) {
		return false
	}
	for _, c := range rule.unless {
		if has[c] {
			return false
		}
	}
	if rule.ipv6Fail && (!ipv6 || status == StatusPass || status == StatusTemperror) {
		return false
	}
	if len(rule.on) == 0 {
		return true
	}
	for _, c := range rule.on {
		if has[c] {
			return true
		}
	}
	return false
}

func execute(text string, data stepData) string {
	var b strings.Builder
	if err := stepTemplates[text].Execute(&b, data); err != nil {
		// The templates are constants checked by the tests; this cannot
		// happen at run time, and if it does, the raw text is still readable.
		return text
	}
	return b.String()
}

// suggestedName is the host name the steps tell the user to use: the
// confirmed PTR name (it works: the steps never swap it for another), else
// the name the user gave, the HELO name, a PTR name the authoritative servers already publish, or
// another PTR name, as long as it looks chosen rather than generated; else a
// placeholder (guess true).
func suggestedName(d *Diagnoser, f *facts, opts Options) (name string, guess bool) {
	if f.confirm != "" { // a valid name: only those are forward-resolved (validNames)
		return strings.TrimSuffix(f.confirm, "."), false
	}
	candidates := append(append([]string{dns.Fqdn(strings.TrimSpace(opts.Name)), dns.Fqdn(strings.TrimSpace(opts.HELO))}, f.src.names...), f.names...)
	for _, n := range candidates {
		if chosenName(d, f, n) {
			return strings.TrimSuffix(n, "."), false
		}
	}
	return "mail.example.com", true
}

// chosenName reports whether n is a usable host name that looks chosen by
// its owner. Usable implies commandHost: such names may go into commands.
func chosenName(d *Diagnoser, f *facts, n string) bool {
	return n != "." && invalidName(n) == "" && genericPTR(f.ip, n) == "" && d.providerDefault(n) == ""
}

// commandServers names the authoritative servers for dig commands: by name
// when the name is a plain host name, else by address. Names come from DNS,
// where anyone who runs a zone can publish x`id`$(id)y as a name server.
func commandServers(servers []server) []string {
	var out []string
	for _, s := range servers {
		name := strings.TrimSuffix(s.name, ".")
		if !commandHost(name) {
			ap, err := netip.ParseAddrPort(s.addr)
			if err != nil {
				continue
			}
			name = ap.Addr().String()
		}
		if !slices.Contains(out, name) {
			out = append(out, name)
		}
	}
	return out
}

// commandHost reports whether s can be pasted into a shell command as is: a
// host name of letters, digits, hyphens and dots (RFC 1123 §2.1, no label
// starting with a hyphen, so never an option), or an IP address literal.
func commandHost(s string) bool {
	if a, err := netip.ParseAddr(s); err == nil {
		return a.Zone() == ""
	}
	return strings.Contains(s, ".") && hostSyntax(s) == ""
}
