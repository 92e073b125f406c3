package diagnose

import (
	"regexp"
	"slices"
	"strings"
)

// ProviderRule recognises a provider from its default PTR names or from the
// name servers of the reverse zones it runs. The data comes from
// /work/shared/notes/providers.md (summary table, §4): add a row to extend it.
type ProviderRule struct {
	Provider
	// DefaultPTR matches the provider's generated PTR names (lower case, no
	// trailing dot). A match is also reported as generic_ptr.
	DefaultPTR *regexp.Regexp
	// NameServers matches the reverse zone's NS names or its SOA MNAME.
	NameServers *regexp.Regexp
}

var re = regexp.MustCompile

// DefaultProviders is the built-in table. Patterns marked "observed" in the
// notes are evidence, not provider documentation.
var DefaultProviders = []ProviderRule{
	{
		Provider: Provider{Name: "Amazon Web Services (EC2)",
			HowTo:  "EC2 console → Elastic IPs → select the address → Actions → Update reverse DNS (or `aws ec2 modify-address-attribute --allocation-id … --domain-name NAME`); only Elastic IPs, and the A record must exist first.",
			DocURL: "https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/Using_Elastic_Addressing_Reverse_DNS.html"},
		DefaultPTR:  re(`^ec2-\d+-\d+-\d+-\d+\.(compute-1|[a-z0-9-]+\.compute)\.amazonaws\.com$`),
		NameServers: re(`\.ec2-rdns\.amazonaws\.com$`),
	},
	{
		Provider: Provider{Name: "Google Cloud",
			HowTo:  "`gcloud compute instances update-access-config VM --network-interface=nic0 --public-ptr --public-ptr-domain=NAME.` (IPv6: `--ipv6-public-ptr-domain`); the domain must be verified by the caller.",
			DocURL: "https://cloud.google.com/compute/docs/instances/create-ptr-record"},
		DefaultPTR:  re(`^\d+\.\d+\.\d+\.\d+\.bc\.googleusercontent\.com$`),
		NameServers: re(`^ns-gce-public\d\.googledomains\.com$`),
	},
	{
		Provider: Provider{Name: "Microsoft Azure",
			HowTo:  "Not in the portal: `az network public-ip update -g RG -n IPNAME --reverse-fqdn NAME.` (add `--dns-name LABEL` the first time); the name must be the IP's own DNS name or point at it first; IPv4 only.",
			DocURL: "https://github.com/MicrosoftDocs/azure-docs/blob/HEAD/articles/dns/dns-reverse-dns-for-azure-services.md"},
		NameServers: re(`azuredns-cloud\.net$`),
	},
	{
		Provider: Provider{Name: "Hetzner",
			HowTo:  "Hetzner Cloud: `hcloud server set-rdns --ip IP --hostname NAME SERVER` (or the console); dedicated servers: Robot → IPs → reverse DNS.",
			DocURL: "https://docs.hetzner.com/dns-console/dns/general/reverse-dns/"},
		DefaultPTR: re(`^(static\.)?\d+[.-]\d+[.-]\d+[.-]\d+\.clients\.your-server\.de$`),
	},
	{
		Provider: Provider{Name: "OVHcloud",
			HowTo:  "Control Panel → Network → Public IP Addresses → … → Modify the reverse path; the name's A/AAAA must already point at the IP.",
			DocURL: "https://github.com/ovh/docs/blob/HEAD/pages/bare_metal_cloud/virtual_private_servers/configuring-reverse-dns/guide.en-gb.md"},
		DefaultPTR: re(`^(ns\d+|ip\d+|\d+)\.ip-\d+-\d+-\d+\.(eu|net|us)$`),
	},
	{
		Provider: Provider{Name: "Linode (Akamai)",
			HowTo:  "Cloud Manager → Linodes → the instance → Network → Edit rDNS (or `linode-cli networking ip-update IP --rdns NAME`); forward DNS must exist first.",
			DocURL: "https://github.com/linode/docs/blob/HEAD/docs/products/compute/compute-instances/guides/configure-rdns/index.md"},
		DefaultPTR: re(`^(\d+-\d+-\d+-\d+\.ip\.linodeusercontent\.com|li\d+-\d+\.members\.linode\.com)$`),
	},
	{
		Provider: Provider{Name: "Vultr",
			HowTo:  "Customer portal: the instance's reverse DNS (or `vultr-cli instance reverse-dns set-ipv4 ID IP --entry NAME`). The default name never forward-confirms.",
			DocURL: "https://www.vultr.com/docs/how-to-create-reverse-dns-or-ptr-records-in-the-vultr-control-panel"},
		DefaultPTR: re(`^\d+\.\d+\.\d+\.\d+\.vultrusercontent\.com$`),
	},
	{
		Provider: Provider{Name: "Scaleway",
			HowTo:  "Console → Instances → Flexible IPs → … → Edit reverse (IPv6 inside a /64: the IPAM API); a matching A record must exist.",
			DocURL: "https://github.com/scaleway/docs-content/blob/HEAD/pages/instances/how-to/configure-reverse-dns.mdx"},
		DefaultPTR: re(`(\.pub\.instances\.scw\.cloud|^\d+-\d+-\d+-\d+\.instances\.scw\.cloud|^\d+-\d+-\d+-\d+\.rev\.poneytelecom\.eu)$`),
	},
	{
		Provider: Provider{Name: "Contabo",
			HowTo: "Contabo API: `PUT /v1/dns/ptrs/{ip}` (control-panel path not documented in our notes)."},
		DefaultPTR: re(`^vm[id]\d+\.contaboserver\.net$`),
	},
	{
		Provider: Provider{Name: "UpCloud",
			HowTo: "UpCloud API: `PUT /1.2/ip_address/{ip}` with `ptr_record` (control-panel path not documented in our notes)."},
		DefaultPTR: re(`^\d+-\d+-\d+-\d+\.[a-z]{2}-[a-z]{3}\d\.upcloud\.host$`),
	},
	{
		Provider: Provider{Name: "Huawei Cloud / Open Telekom Cloud",
			HowTo:  "DNS console → PTR Records → create a record for the EIP.",
			DocURL: "https://docs.otc.t-systems.com/domain-name-service/umn/ptr_records/creating_a_ptr_record.html"},
		DefaultPTR: re(`^ecs-\d+-\d+-\d+-\d+\.compute\.`),
	},
}

// provider names who controls the reverse zone: first by a default PTR name,
// then by the zone's name servers or SOA MNAME.
func (d *Diagnoser) provider(f *facts) *Provider {
	r := d.rule(defaultPTR, append(slices.Clone(f.names), f.src.names...)...)
	if r == nil {
		servers := []string{f.soaMname}
		for _, s := range f.rz.servers {
			servers = append(servers, s.name)
		}
		r = d.rule(nameServers, servers...)
	}
	if r == nil {
		return nil
	}
	p := r.Provider
	return &p
}

func defaultPTR(r *ProviderRule) *regexp.Regexp  { return r.DefaultPTR }
func nameServers(r *ProviderRule) *regexp.Regexp { return r.NameServers }

// rule returns the first rule whose pattern matches one of the names.
func (d *Diagnoser) rule(pattern func(*ProviderRule) *regexp.Regexp, names ...string) *ProviderRule {
	for i := range d.cfg.Providers {
		re := pattern(&d.cfg.Providers[i])
		if re == nil {
			continue
		}
		for _, n := range names {
			if n != "" && re.MatchString(strings.ToLower(strings.TrimSuffix(n, "."))) {
				return &d.cfg.Providers[i]
			}
		}
	}
	return nil
}

// providerDefault returns the provider whose default PTR name this is.
func (d *Diagnoser) providerDefault(name string) string {
	if r := d.rule(defaultPTR, name); r != nil {
		return r.Name
	}
	return ""
}
