package diagnose

import (
	"strings"
	"testing"
)

// Examples from /work/shared/notes/providers.md: each must name its provider.
func TestDefaultProviders(t *testing.T) {
	d, err := New(Config{Resolver: "127.0.0.1:53"})
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{
		"ec2-18-204-123-63.compute-1.amazonaws.com":                    "Amazon",
		"ec2-1-2-3-4.ap-northeast-1.compute.amazonaws.com":             "Amazon",
		"4.3.2.1.bc.googleusercontent.com":                             "Google",
		"static.219.156.76.144.clients.your-server.de":                 "Hetzner",
		"213-239-205-134.clients.your-server.de":                       "Hetzner",
		"9.ip-51-91-159.eu":                                            "OVH",
		"ns1006999.ip-51-81-155.us":                                    "OVH",
		"203-0-113-1.ip.linodeusercontent.com":                         "Linode",
		"li209-253.members.linode.com":                                 "Linode",
		"108.61.177.131.vultrusercontent.com":                          "Vultr",
		"205-43-15-51.instances.scw.cloud":                             "Scaleway",
		"51-15-18-180.rev.poneytelecom.eu":                             "Scaleway",
		"0b4e7d2a-5f7c-4c1e-9a0b-1c2d3e4f5a6b.pub.instances.scw.cloud": "Scaleway",
		"vmi3247644.contaboserver.net":                                 "Contabo",
		"94-237-98-172.de-fra1.upcloud.host":                           "UpCloud",
		"ecs-80-158-1-2.compute.example.com":                           "Huawei",
		"mail.example.com":                                             "",
		"ec2.example.com":                                              "",
	} {
		if got := d.providerDefault(name + "."); !strings.Contains(got, want) || (want == "") != (got == "") {
			t.Errorf("providerDefault(%s) = %q, want %q", name, got, want)
		}
	}
	for ns, want := range map[string]string{
		"ns1-24-us-east-2.ec2-rdns.amazonaws.com.": "Amazon",
		"ns-gce-public3.googledomains.com.":        "Google",
		"prd1.azuredns-cloud.net.":                 "Azure",
		"ns1.example.net.":                         "",
	} {
		p := d.provider(&facts{rz: zoneInfo{servers: []server{{name: ns}}}})
		if (p == nil) != (want == "") || (p != nil && !strings.Contains(p.Name, want)) {
			t.Errorf("provider for NS %s = %+v, want %q", ns, p, want)
		}
	}
	for _, r := range DefaultProviders {
		if r.Name == "" || r.HowTo == "" || (r.DefaultPTR == nil && r.NameServers == nil) {
			t.Errorf("incomplete row %+v", r.Provider)
		}
	}
}
