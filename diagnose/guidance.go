package diagnose

import (
	"strings"
	"text/template"

	"github.com/miekg/dns"
)

// stepRule is one row of the guidance table: when it applies and what it
// says. Text and Commands are text/template over stepData.
type stepRule struct {
	on       []Code // applies when any of these findings is present; none = always
	status   Status // applies only with this iprev status, when set
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
		on:       []Code{CodeNoPTR, CodeForwardMissing, CodeForwardMismatch, CodeInvalidPTRName, CodeGenericPTR},
		text:     "Make sure {{if .Guess}}your mail server's host name (say {{.Name}}){{else}}{{.Name}}{{end}} has an {{.AddrType}} record pointing at {{.IP}}, at the DNS host of its domain. Do this first: many providers refuse a PTR whose name does not resolve to the IP.",
		commands: []string{"dig +short {{.Name}} {{.AddrType}}"},
	},
	{
		on:       []Code{CodeNoPTR, CodeForwardMismatch, CodeInvalidPTRName, CodeGenericPTR},
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

// stepData is what the step templates can use.
type stepData struct {
	IP, Rev, Zone, Name, AddrType, Provider, HowTo string
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
	if data.IPv6 {
		data.AddrType = "AAAA"
	}
	if r.Provider != nil {
		data.Provider, data.HowTo = r.Provider.Name, r.Provider.HowTo
	}
	data.Servers = r.ReverseNameservers
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
	if rule.status != "" && rule.status != status {
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
// confirmed PTR name, else the HELO name, else another PTR name, as long as
// it looks chosen rather than generated; else a placeholder (guess true).
func suggestedName(d *Diagnoser, f *facts, opts Options) (name string, guess bool) {
	chosen := func(n string) bool {
		return n != "" && invalidName(n) == "" && genericPTR(f.ip, n) == "" && d.providerDefault(n) == ""
	}
	candidates := append([]string{f.confirm, dns.Fqdn(opts.HELO)}, f.names...)
	for _, n := range candidates {
		if n != "." && chosen(n) {
			return strings.TrimSuffix(n, "."), false
		}
	}
	return "mail.example.com", true
}
