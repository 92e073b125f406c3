package diagnose

import (
	"net/netip"
	"slices"
	"strings"
	"text/template"

	"github.com/miekg/dns"
)

// stepRule is one row of the guidance table: when it applies and what it
// says. Text and Commands are text/template over stepData.
type stepRule struct {
	on       []Code // applies when any of these findings is present; none = always
	status   Status // applies only with this iprev status, when set
	failing  bool   // applies only when the status is not pass
	ipv6Fail bool   // applies only to an IPv6 address that does not pass
	text     string
	commands []string // one command per line once executed
}

// guidanceTable is ordered: steps come out in this order. Sources: the
// notes (providers.md §2 for forcing IPv4, §3 for providers; dns.md §6 for
// PTR/HELO/SPF alignment).
var guidanceTable = []stepRule{
	{
		on:       []Code{CodePrivateIP, CodeDocumentationIP, CodeReservedIP},
		text:     "{{.IP}} is not an internet address: receivers see the public address your mail leaves from. Take the IP from the bounce (or run the command below on the mail server) and diagnose that one.",
		commands: []string{"curl -{{if .IPv6}}6{{else}}4{{end}} https://ifconfig.me"},
	},
	{
		on:       []Code{CodeDNSError},
		status:   StatusTemperror,
		text:     "DNS did not answer, so receivers defer or reject your mail for now. Retry in a few minutes; if it persists, whoever runs the name servers of {{or .Zone \"the reverse zone\"}} must fix them: ask each one directly.",
		commands: []string{"dig -x {{.IP}}", "{{range .Servers}}dig @{{.}} {{$.Rev}} PTR +norecurse\n{{end}}"},
	},
	{
		on:       []Code{CodeSourceChanged},
		text:     "The name servers of {{or .Zone \"the reverse zone\"}} already publish a changed PTR; resolvers still serve the old answer for up to {{.Stale}} s. What they publish now is what needs fixing: the steps below are about it.",
		commands: []string{"{{range .Servers}}dig @{{.}} {{$.Rev}} PTR +norecurse\n{{end}}"},
	},
	{
		on:     []Code{CodeGenericPTR},
		status: StatusPass,
		text:   "{{.Name}} forward-confirms, so FCrDNS passes, but it looks like a generated name and spam filters score such names as unmanaged hosts. Consider giving the mail server a name of its own ({{or .Alt \"say mail.example.com\"}}): an {{.AddrType}} record pointing at {{.IP}}, then the PTR set to it where the IP is owned{{if .Provider}} ({{.Provider}}){{end}}.",
	},
	{
		on:       []Code{CodeNoPTR, CodeForwardMissing, CodeForwardMismatch, CodeInvalidPTRName, CodeGenericPTR},
		failing:  true,
		text:     "Make sure {{if .Guess}}your mail server's host name (say {{.Name}}){{else}}{{.Name}}{{end}} has an {{.AddrType}} record pointing at {{.IP}}, at the DNS host of its domain. Do this first: many providers refuse a PTR whose name does not resolve to the IP.",
		commands: []string{"dig +short {{.Name}} {{.AddrType}}"},
	},
	{
		on:       []Code{CodeNoPTR, CodeForwardMismatch, CodeInvalidPTRName, CodeGenericPTR},
		failing:  true,
		text:     "Set the PTR of {{.IP}} to {{.Name}} where the IP is owned, not at your domain's registrar: {{if .Provider}}{{.Provider}}. {{.HowTo}}{{else}}your hosting provider or ISP (the reverse zone {{or .Zone \"of this address\"}} is theirs; ask them if they offer no setting).{{end}}",
		commands: []string{"dig +short -x {{.IP}}"},
	},
	{
		on:   []Code{CodeMultiplePTR},
		text: "Remove the extra PTR records so that {{.IP}} has exactly one, naming {{.Name}}.",
	},
	{
		on:   []Code{CodePTRNameAlias},
		text: "Make the PTR name a plain A/AAAA record, not a CNAME, or point the PTR at the CNAME's target.",
	},
	{
		ipv6Fail: true,
		text:     "Until this IPv6 address passes, you can send over IPv4 only: Postfix `smtp_address_preference = ipv4` (a preference) or `inet_protocols = ipv4` (strict; stop and start Postfix); Exim `dns_ipv4_lookup = *` or `disable_ipv6 = true`.",
		commands: []string{"postconf -e smtp_address_preference=ipv4 && postfix reload"},
	},
	{
		on:       []Code{CodeHELOMismatch, CodeSPFMisaligned},
		text:     "Align PTR, HELO and SPF: make the server announce {{.Name}} (Postfix `smtp_helo_name = {{.Name}}`, Exim `helo_data = {{.Name}}`) and publish an SPF record at {{.Name}} that authorizes {{.IP}}, e.g. `v=spf1 a -all`.",
		commands: []string{"dig +short {{.Name}} TXT"},
	},
	{
		on:       []Code{CodeAuthoritativeDisagree},
		text:     "The name servers of {{or .Zone \"the reverse zone\"}} disagree: ask whoever runs them to check that every server has loaded the current zone (a stale secondary, a failed transfer).",
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

var stepTemplates = func() map[string]*template.Template {
	m := map[string]*template.Template{}
	for _, r := range guidanceTable {
		for _, s := range append([]string{r.text}, r.commands...) {
			m[s] = template.Must(template.New("").Parse(s))
		}
	}
	return m
}()

// stepData is what the step templates can use. Commands are pasted into
// shells: everything a command template uses is either computed here (IP,
// Rev, AddrType) or passes commandHost (Name, Servers). Zone, Provider,
// HowTo and Alt appear in step texts only.
type stepData struct {
	IP, Rev, Zone, Name, AddrType, Provider, HowTo string
	Alt                                            string // a chosen name other than Name (the HELO), for generic names
	IPv6                                           bool
	Guess                                          bool     // Name is a placeholder
	Servers                                        []string // authoritative server names (or addresses)
	Stale                                          uint32
}

// guidance returns the ordered fix and verification steps for a result.
func (d *Diagnoser) guidance(f *facts, r *Result, opts Options) []Step {
	has := map[Code]bool{}
	for _, fd := range r.Findings {
		has[fd.Code] = true
	}
	data := stepData{IP: r.IP, Rev: strings.TrimSuffix(f.rev, "."), Zone: r.ReverseZone, AddrType: "A", IPv6: f.ip.Is6()}
	data.Name, data.Guess = suggestedName(d, f, opts)
	if helo := dns.Fqdn(opts.HELO); opts.HELO != "" && chosenName(d, f, helo) && !strings.EqualFold(helo, data.Name+".") {
		data.Alt = strings.TrimSuffix(helo, ".")
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
	}
	steps := []Step{}
	for _, rule := range guidanceTable {
		if !rule.applies(has, r.Status, data.IPv6) {
			continue
		}
		s := Step{Text: execute(rule.text, data)}
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

func (rule stepRule) applies(has map[Code]bool, status Status, ipv6 bool) bool {
	if (rule.status != "" && rule.status != status) || (rule.failing && status == StatusPass) {
		return false
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
// the HELO name, a PTR name the authoritative servers already publish, or
// another PTR name, as long as it looks chosen rather than generated; else a
// placeholder (guess true).
func suggestedName(d *Diagnoser, f *facts, opts Options) (name string, guess bool) {
	if f.confirm != "" { // a valid name: only those are forward-resolved (validNames)
		return strings.TrimSuffix(f.confirm, "."), false
	}
	candidates := append(append([]string{dns.Fqdn(opts.HELO)}, f.srcNames...), f.names...)
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
