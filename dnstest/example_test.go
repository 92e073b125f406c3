package dnstest_test

import (
	"fmt"

	"github.com/miekg/dns"
	"github.com/rdnsbot/rdnsbot/dnstest"
)

// One server can be both the resolver (RD=1) and the authoritative server
// (RD=0) of every zone it holds; NS records then point at 127.0.0.1.
func Example() {
	g, err := dnstest.Listen(1)
	if err != nil {
		panic(err)
	}
	defer g.Close()
	if err := g.Load(`
$ORIGIN example.com.
$TTL 300
@	SOA	ns1 hostmaster 1 3600 600 86400 60
@	NS	ns1
ns1	A	127.0.0.1
mail	A	192.0.2.25
`); err != nil {
		panic(err)
	}
	g[0].SetFault("slow.example.com.", 0, dnstest.Fault{Rcode: dns.RcodeServerFailure})

	for _, name := range []string{"mail.example.com.", "nope.example.com.", "slow.example.com."} {
		m := new(dns.Msg)
		m.SetQuestion(name, dns.TypeA)
		r, err := dns.Exchange(m, g[0].Addr())
		if err != nil {
			panic(err)
		}
		fmt.Println(name, dns.RcodeToString[r.Rcode], len(r.Answer), len(r.Ns))
	}
	// Output:
	// mail.example.com. NOERROR 1 0
	// nope.example.com. NXDOMAIN 0 1
	// slow.example.com. SERVFAIL 0 0
}
