package diagnose

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"regexp"
	"slices"
	"strings"
	"testing"

	"blitiri.com.ar/go/spf"
	"github.com/miekg/dns"
	"github.com/rdnsbot/rdnsbot/dnstest"
)

// The SPF library asserts err.(*net.DNSError) itself, so the resolver's errors
// must be bare *net.DNSError values with the right flags.
func TestSPFResolverErrors(t *testing.T) {
	g, d, _ := world(t)
	g[0].SetFault("broken.example.com.", 0, dnstest.Fault{Rcode: dns.RcodeServerFailure})
	x := d.Session().begin()
	r := spfResolver{x}
	ctx := context.Background()

	txt, err := r.LookupTXT(ctx, "mail.example.com")
	if err != nil || !slices.Equal(txt, []string{"v=spf1 a -all"}) {
		t.Errorf("LookupTXT = %q, %v", txt, err)
	}
	names, err := r.LookupAddr(ctx, "203.0.113.5")
	if err != nil || !slices.Equal(names, []string{"mail.example.com."}) {
		t.Errorf("LookupAddr = %q, %v", names, err)
	}
	ips, err := r.LookupIPAddr(ctx, "dual.example.com")
	if err != nil || len(ips) != 2 {
		t.Errorf("LookupIPAddr = %v, %v", ips, err)
	}

	for _, tc := range []struct {
		name      string
		lookup    func() error
		notFound  bool
		temporary bool
	}{
		{"TXT NXDOMAIN", func() error { _, err := r.LookupTXT(ctx, "nothing.example.com"); return err }, true, false},
		{"TXT NODATA", func() error { _, err := r.LookupTXT(ctx, "dual.example.com"); return err }, true, false},
		{"MX NODATA", func() error { _, err := r.LookupMX(ctx, "example.com"); return err }, true, false},
		{"A/AAAA NODATA", func() error { _, err := r.LookupIPAddr(ctx, "noaddr.example.com"); return err }, true, false},
		{"PTR NXDOMAIN", func() error { _, err := r.LookupAddr(ctx, "203.0.113.99"); return err }, true, false},
		{"TXT SERVFAIL", func() error { _, err := r.LookupTXT(ctx, "broken.example.com"); return err }, false, true},
		{"A/AAAA SERVFAIL", func() error { _, err := r.LookupIPAddr(ctx, "broken.example.com"); return err }, false, true},
	} {
		err := tc.lookup()
		derr, ok := err.(*net.DNSError)
		if !ok || derr.IsNotFound != tc.notFound || derr.Temporary() != tc.temporary {
			t.Errorf("%s: error %#v, want *net.DNSError notFound=%v temporary=%v", tc.name, err, tc.notFound, tc.temporary)
		}
	}

	for name, want := range map[string]spf.Result{
		"mail.example.com.":      spf.Pass,
		"nospf.example.com.":     spf.None,
		"broken.example.com.":    spf.TempError,
		"elsewhere.example.com.": spf.None,
	} {
		if got := x.checkSPF(ctx, netip.MustParseAddr("203.0.113.5"), name); got.result != want {
			t.Errorf("checkSPF(%s) = %s (%v), want %s", name, got.result, got.err, want)
		}
	}
}

func TestBrokenResolver(t *testing.T) {
	empty := dnstest.Start(t, 1) // answers NXDOMAIN without SOA for everything, like a cut-off resolver
	dead := dnstest.Start(t, 1)
	dead.Close()
	for name, addr := range map[string]string{"no SOA": empty[0].Addr(), "nothing listening": dead[0].Addr()} {
		t.Run(name, func(t *testing.T) {
			d, err := New(Config{Resolver: addr, Timeout: 2e9, QueryTimeout: 2e8})
			if err != nil {
				t.Fatal(err)
			}
			r := d.DiagnoseIP(context.Background(), netip.MustParseAddr("8.8.8.8"), Options{})
			if r.Status != StatusTemperror || len(r.Findings) == 0 || r.Findings[0].Code != CodeResolverUnusable || !r.ResolverUnusable() ||
				slices.Contains(codes(r), CodeNoPTR) || !strings.Contains(r.Findings[0].Message, "/etc/resolv.conf") {
				t.Errorf("status %s findings %v", r.Status, r.Findings)
			}
			if r.Fixed() || r.FixedAtSource() {
				t.Errorf("a broken resolver reads as fixed: %+v", r.Source)
			}
			// The engine's own resolver failed: nobody else is to blame,
			// and the text reads without nested parentheses.
			all := joinSteps(r)
			for _, f := range r.Findings {
				all += f.Message + "\n"
			}
			for _, blame := range []string{"receivers get the same error", "must fix them", "%!"} {
				if strings.Contains(all, blame) {
					t.Errorf("%q in the findings or steps:\n%s", blame, all)
				}
			}
			if regexp.MustCompile(`\([^)]*\(`).MatchString(all) {
				t.Errorf("nested parentheses:\n%s", all)
			}
			if !strings.Contains(r.Guidance[0].Text, "--resolver") {
				t.Errorf("the first step is not about the resolver: %+v", r.Guidance)
			}
			for _, s := range r.Source.Servers {
				if s.Zone == "" && s.Server == "" && s.Address == "" {
					t.Errorf("a source entry that names nothing: %+v", s)
				}
			}
			if _, err := diagnoseOne(context.Background(), d, "mail.example.com", Options{}); err == nil || !errors.Is(err, ErrLookup) {
				t.Errorf("host name lookup error = %v, want ErrLookup", err)
			}
		})
	}
}
