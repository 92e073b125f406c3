package diagnose

import (
	"regexp"
	"slices"
	"strings"
)

// ProviderRule recognises a provider from its default PTR names or from the
// name servers of the reverse zones it runs. Each row below cites the
// public source of its patterns: add a row, with its source, to extend it.
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
		// ec2-<ip-dashed>.compute-1.amazonaws.com / .<region>.compute.amazonaws.com;
		// NS ns<n>-24-<region>.ec2-rdns.amazonaws.com (notes §3 AWS; index 62901009659).
		Provider: Provider{Name: "Amazon Web Services (EC2)",
			HowTo:  "EC2 console → Elastic IPs → select the address → Actions → Update reverse DNS (or `aws ec2 modify-address-attribute --allocation-id … --domain-name NAME`); only Elastic IPs, and the A record must exist first.",
			DocURL: "https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/Using_Elastic_Addressing_Reverse_DNS.html"},
		DefaultPTR:  re(`^ec2-\d+-\d+-\d+-\d+\.(compute-1|[a-z0-9-]+\.compute)\.amazonaws\.com$`),
		NameServers: re(`\.ec2-rdns\.amazonaws\.com$`),
	},
	{
		// 4.3.2.1.bc.googleusercontent.com for 1.2.3.4
		// (https://github.com/GoogleCloudPlatform/google-cloud-visualstudio/issues/790);
		// NS ns-gce-public1..4.googledomains.com (notes §3 GCP; index 32193500225).
		Provider: Provider{Name: "Google Cloud",
			HowTo:  "`gcloud compute instances update-access-config VM --network-interface=nic0 --public-ptr --public-ptr-domain=NAME.` (IPv6: `--ipv6-public-ptr-domain`); the domain must be verified by the caller.",
			DocURL: "https://cloud.google.com/compute/docs/instances/create-ptr-record"},
		DefaultPTR:  re(`^\d+\.\d+\.\d+\.\d+\.bc\.googleusercontent\.com$`),
		NameServers: re(`^ns-gce-public\d\.googledomains\.com$`),
	},
	{
		// No default PTR; reverse-zone SOA prd1.azuredns-cloud.net
		// (https://github.com/mailcow/mailcow-dockerized/issues/2282).
		Provider: Provider{Name: "Microsoft Azure",
			HowTo:  "Not in the portal: `az network public-ip update -g RG -n IPNAME --reverse-fqdn NAME.` (add `--dns-name LABEL` the first time); the name must be the IP's own DNS name or point at it first; IPv4 only.",
			DocURL: "https://github.com/MicrosoftDocs/azure-docs/blob/HEAD/articles/dns/dns-reverse-dns-for-azure-services.md"},
		NameServers: re(`azuredns-cloud\.net$`),
	},
	{
		Provider: Provider{Name: "Hetzner",
			HowTo:  "Hetzner Cloud: `hcloud server set-rdns --ip IP --hostname NAME SERVER` (or the console); dedicated servers: Robot → IPs → reverse DNS.",
			DocURL: "https://docs.hetzner.com/dns-console/dns/general/reverse-dns/"},
		// static.219.156.76.144.clients.your-server.de (reversed) and
		// 213-239-205-134.clients.your-server.de (legacy): notes §3 Hetzner.
		DefaultPTR: re(`^(static\.)?\d+[.-]\d+[.-]\d+[.-]\d+\.clients\.your-server\.de$`),
		// Hetzner's own (Robot) name servers, ns1.your-server.de,
		// ns.second-ns.com, ns3.second-ns.de, seen as the NS set and SOA
		// MNAME of zones Hetzner hosts (zone exports in public repositories,
		// e.g. index 66862342138, 46385600434; "ns1.your-server.de … ist der
		// Robot-Nameserver", index 68521187468). A reverse zone served by
		// them is run by Hetzner, whose Robot/Cloud console sets the PTR.
		NameServers: re(`^(ns1\.your-server\.de|ns\.second-ns\.com|ns3\.second-ns\.de)$`),
	},
	{
		// (ns|ip)NNNN.ip-a-b-c.eu defaults (iRedMail release notes,
		// https://github.com/iredmail/docs); 9.ip-51-91-159.eu, ns1006999.ip-51-81-155.us
		// (notes §3 OVHcloud; index 35003241577, 29797548877).
		Provider: Provider{Name: "OVHcloud",
			HowTo:  "Control Panel → Network → Public IP Addresses → … → Modify the reverse path; the name's A/AAAA must already point at the IP.",
			DocURL: "https://github.com/ovh/docs/blob/HEAD/pages/bare_metal_cloud/virtual_private_servers/configuring-reverse-dns/guide.en-gb.md"},
		DefaultPTR: re(`^(ns\d+|ip\d+|\d+)\.ip-\d+-\d+-\d+\.(eu|net|us)$`),
	},
	{
		// "default rDNS value of x.ip.linodeusercontent.com", older *.members.linode.com
		// (https://github.com/linode/docs/blob/HEAD/docs/products/compute/compute-instances/guides/configure-rdns/index.md).
		Provider: Provider{Name: "Linode (Akamai)",
			HowTo:  "Cloud Manager → Linodes → the instance → Network → Edit rDNS (or `linode-cli networking ip-update IP --rdns NAME`); forward DNS must exist first.",
			DocURL: "https://github.com/linode/docs/blob/HEAD/docs/products/compute/compute-instances/guides/configure-rdns/index.md"},
		DefaultPTR: re(`^(\d+-\d+-\d+-\d+\.ip\.linodeusercontent\.com|li\d+-\d+\.members\.linode\.com)$`),
	},
	{
		// 108.61.177.131.vultrusercontent.com (https://github.com/v2fly/domain-list-community/pull/1197).
		Provider: Provider{Name: "Vultr",
			HowTo:  "Customer portal: the instance's reverse DNS (or `vultr-cli instance reverse-dns set-ipv4 ID IP --entry NAME`). The default name never forward-confirms.",
			DocURL: "https://www.vultr.com/docs/how-to-create-reverse-dns-or-ptr-records-in-the-vultr-control-panel"},
		DefaultPTR: re(`^\d+\.\d+\.\d+\.\d+\.vultrusercontent\.com$`),
	},
	{
		// "*.pub.instances.scw.cloud" (the DocURL page); 205-43-15-51.instances.scw.cloud,
		// 51-15-18-180.rev.poneytelecom.eu (notes §3 Scaleway; index 19229157070, 19203985128).
		Provider: Provider{Name: "Scaleway",
			HowTo:  "Console → Instances → Flexible IPs → … → Edit reverse (IPv6 inside a /64: the IPAM API); a matching A record must exist.",
			DocURL: "https://github.com/scaleway/docs-content/blob/HEAD/pages/instances/how-to/configure-reverse-dns.mdx"},
		DefaultPTR: re(`(\.pub\.instances\.scw\.cloud|^\d+-\d+-\d+-\d+\.instances\.scw\.cloud|^\d+-\d+-\d+-\d+\.rev\.poneytelecom\.eu)$`),
	},
	{
		// vmi3247644.contaboserver.net, vmd….contaboserver.net (notes §3 Contabo;
		// index 71368335191, 45655504211). No Contabo page on setting the PTR was found.
		Provider: Provider{Name: "Contabo",
			HowTo: "Contabo API: `PUT /v1/dns/ptrs/{ip}` (control-panel path not documented in our notes)."},
		DefaultPTR: re(`^vm[id]\d+\.contaboserver\.net$`),
	},
	{
		// 94-237-98-172.de-fra1.upcloud.host (notes §3 UpCloud; index 27972008397);
		// API: https://github.com/UpCloudLtd/upcloud-python-api/blob/HEAD/docs/IP-address.md
		Provider: Provider{Name: "UpCloud",
			HowTo: "UpCloud API: `PUT /1.2/ip_address/{ip}` with `ptr_record` (control-panel path not documented in our notes)."},
		DefaultPTR: re(`^\d+-\d+-\d+-\d+\.[a-z]{2}-[a-z]{3}\d\.upcloud\.host$`),
	},
	{
		// "ecs-xx-xx-xx-xx.compute.xxx.com" (the DocURL page).
		Provider: Provider{Name: "Huawei Cloud / Open Telekom Cloud",
			HowTo:  "DNS console → PTR Records → create a record for the EIP.",
			DocURL: "https://docs.otc.t-systems.com/domain-name-service/umn/ptr_records/creating_a_ptr_record.html"},
		DefaultPTR: re(`^ecs-\d+-\d+-\d+-\d+\.compute\.`),
	},
	{
		// IONOS Cloud (formerly ProfitBricks, "pbiaas" = ProfitBricks IaaS;
		// that reading of the name is ours): ip87-106-108-193.pbiaas.com,
		// ip85-215-241-41.pbiaas.com seen in Received: headers and scripts
		// (index 24654492401, 48254181927, 7338359607): forward order, dashes.
		Provider: Provider{Name: "IONOS Cloud",
			HowTo:  "Data Center Designer → Cloud DNS → Reverse DNS records (or API `POST …/reverserecords`, `ionosctl dns reverse-record create`): only reserved IPv4 addresses and the VDC's public IPv6; create the A/AAAA record first.",
			DocURL: "https://docs.ionos.com/cloud/network-services/cloud-dns/dcd-how-tos/reverse-dns"},
		DefaultPTR: re(`^ip\d+-\d+-\d+-\d+\.pbiaas\.com$`),
	},
	{
		// Residential Xfinity: c-73-30-170-10.hsd1.de.comcast.net
		// (https://github.com/maxprehl/blog/blob/HEAD/notes/pfsense.md);
		// hsd1.<state>.comcast.net is also Comcast's residential pattern in a
		// network-identity generator's provider table (index 29399319844).
		Provider: Provider{Name: "Comcast Xfinity (residential)",
			HowTo: "Residential Xfinity addresses are dynamic, so no PTR you could have set would follow them: send through a smarthost (your mail provider's relay on port 587), or move the server to a Comcast Business static IP and ask Comcast Business support for the PTR."},
		DefaultPTR: re(`^c-\d+-\d+-\d+-\d+\.hsd\d\.[a-z]{2}\.comcast\.net$`),
	},
	{
		// Comcast Business static IPs: 50-201-11-157-static.hfc.comcastbusiness.net,
		// 74-95-184-57-Philadelphia.hfc.comcastbusiness.net
		// (https://github.com/maxprehl/blog/blob/HEAD/notes/pfsense.md), and
		// host-69-140-19-190.static.comcast.net in an EHLO transcript
		// (index 58199750483). Support sets PTRs for a static block on request:
		// https://github.com/docunext/docunext.github.io/blob/HEAD/_posts/2007-11-27-comcast-reverse-dns.md
		Provider: Provider{Name: "Comcast Business",
			HowTo: "Static IPs only: ask Comcast Business support to set the PTR of each address to your mail host name (create its A record first); there is no self-service page in our sources."},
		DefaultPTR: re(`^(\d+-\d+-\d+-\d+-[a-z]+\.hfc\.comcastbusiness\.net|host-\d+-\d+-\d+-\d+\.static\.comcast\.net)$`),
	},
	{
		// Deutsche Telekom dynamic pool: p + the address in hex, e.g.
		// p579356c7.dip0.t-ipconnect.de for 87.147.86.199 and
		// p200300ec2f0ecc00e0dae233c87b7dc7.dip0.t-ipconnect.de for the IPv6
		// address 2003:ec:2f0e:cc00:e0da:e233:c87b:7dc7, in Received: headers
		// of public mailing-list mail (linux-mailinglist-archives; index
		// 23142273229, 38683250659, 33612347854).
		Provider: Provider{Name: "Deutsche Telekom",
			HowTo:  "dip0.t-ipconnect.de is Telekom's dynamic consumer pool: the address changes, so no PTR of yours can follow it, and receivers may refuse mail from dynamic addresses. Relay through your mail provider's smarthost, or use a business line with fixed IPs and ask Telekom business support for the PTR.",
			DocURL: "http://postmaster.t-online.de/"},
		DefaultPTR: re(`^p[0-9a-f]{8}([0-9a-f]{24})?\.dip0\.t-ipconnect\.de$`),
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
