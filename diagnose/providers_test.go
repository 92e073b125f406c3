package diagnose

import (
	"strings"
	"testing"
)

// One row per provider in DefaultProviders, with a realistic default PTR name
// and/or reverse-zone name server from the sources cited in providers.go, and
// customer-chosen names that must match no provider.
func TestDefaultProviders(t *testing.T) {
	d, err := New(Config{Resolver: "127.0.0.1:53"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		want string // a substring of Provider.Name; "" = no provider
		ptr  []string
		ns   []string
	}{
		{want: "Amazon", ptr: []string{"ec2-18-204-123-63.compute-1.amazonaws.com", "ec2-1-2-3-4.ap-northeast-1.compute.amazonaws.com"},
			ns: []string{"ns1-24-us-east-2.ec2-rdns.amazonaws.com"}},
		{want: "Google", ptr: []string{"4.3.2.1.bc.googleusercontent.com"}, ns: []string{"ns-gce-public3.googledomains.com"}},
		{want: "Azure", ns: []string{"prd1.azuredns-cloud.net"}},
		{want: "Hetzner", ptr: []string{"static.219.156.76.144.clients.your-server.de", "213-239-205-134.clients.your-server.de"},
			ns: []string{"ns1.your-server.de", "ns.second-ns.com", "ns3.second-ns.de"}},
		{want: "OVH", ptr: []string{"9.ip-51-91-159.eu", "ns1006999.ip-51-81-155.us", "ns545536.ip-51-222-41.net"}},
		{want: "Linode", ptr: []string{"203-0-113-1.ip.linodeusercontent.com", "li209-253.members.linode.com"}},
		{want: "Vultr", ptr: []string{"108.61.177.131.vultrusercontent.com"}},
		{want: "Scaleway", ptr: []string{"205-43-15-51.instances.scw.cloud", "51-15-18-180.rev.poneytelecom.eu",
			"0b4e7d2a-5f7c-4c1e-9a0b-1c2d3e4f5a6b.pub.instances.scw.cloud"}},
		{want: "Contabo", ptr: []string{"vmi3247644.contaboserver.net", "vmd12345.contaboserver.net"}},
		{want: "UpCloud", ptr: []string{"94-237-98-172.de-fra1.upcloud.host", "83-136-248-107.uk-lon1.upcloud.host"}},
		{want: "Huawei", ptr: []string{"ecs-80-158-1-2.compute.example.com"}},
		{want: "IONOS", ptr: []string{"ip87-106-108-193.pbiaas.com", "ip85-215-241-41.pbiaas.com"}},
		{want: "Comcast Xfinity", ptr: []string{"c-73-30-170-10.hsd1.de.comcast.net"}},
		{want: "Comcast Business", ptr: []string{"50-201-11-157-static.hfc.comcastbusiness.net",
			"74-95-184-57-Philadelphia.hfc.comcastbusiness.net", "host-69-140-19-190.static.comcast.net"}},
		{want: "Deutsche Telekom", ptr: []string{"p579356c7.dip0.t-ipconnect.de", "pD9F60F2D.dip0.t-ipconnect.de",
			"p200300ec2f0ecc00e0dae233c87b7dc7.dip0.t-ipconnect.de"}},
		// A customer's own names, including ones that borrow a provider's words.
		{want: "", ptr: []string{"mail.example.com", "ec2.example.com", "mail.your-server.de.example.com",
			"smtp.comcast.net.example.org", "c-mail.hsd1.example.com", "pmail.dip0.t-ipconnect.de.example.net",
			"mx1.contaboserver.net.example.com", "vmimail.example.com"},
			ns: []string{"ns1.example.net", "ns1.your-server.de.example.net", "dns.example.com"}},
	}
	seen := map[string]bool{}
	for _, tc := range tests {
		for _, name := range tc.ptr {
			got := d.providerDefault(name + ".")
			if (tc.want == "") != (got == "") || !strings.Contains(got, tc.want) {
				t.Errorf("providerDefault(%s) = %q, want %q", name, got, tc.want)
			}
			seen[got] = true
		}
		for _, ns := range tc.ns {
			p := d.provider(&facts{rz: zoneInfo{servers: []server{{name: ns + "."}}}})
			if (p == nil) != (tc.want == "") || (p != nil && !strings.Contains(p.Name, tc.want)) {
				t.Errorf("provider for NS %s = %+v, want %q", ns, p, tc.want)
			}
			if p != nil {
				seen[p.Name] = true
			}
		}
	}
	for _, r := range DefaultProviders {
		if r.Name == "" || r.HowTo == "" || (r.DefaultPTR == nil && r.NameServers == nil) {
			t.Errorf("incomplete row %+v", r.Provider)
		}
		if r.DocURL != "" && !strings.HasPrefix(r.DocURL, "https://") && !strings.HasPrefix(r.DocURL, "http://") {
			t.Errorf("%s: DocURL %q is not a web address", r.Name, r.DocURL)
		}
		if !seen[r.Name] {
			t.Errorf("provider %s has no test row", r.Name)
		}
	}
}
