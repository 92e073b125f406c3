package smtpprobe_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/rdnsbot/rdnsbot/diagnose"
	"github.com/rdnsbot/rdnsbot/smtpprobe"
	"github.com/rdnsbot/rdnsbot/smtpprobe/smtptest"
)

func codes(fs []diagnose.Finding) []diagnose.Code {
	var out []diagnose.Code
	for _, f := range fs {
		out = append(out, f.Code)
	}
	return out
}

// Each distinct address is probed once, and every result of it (a host
// name's target and the IP's own) gets the findings; the EHLO carries the
// configured name.
func TestProbeResults(t *testing.T) {
	srv := smtptest.Start(t, "other.example.org ESMTP")
	p, err := smtpprobe.New(smtpprobe.Config{HELOName: "rdnsbot.example.net", Port: srv.Port(), AllowNonPublic: true})
	if err != nil {
		t.Fatal(err)
	}
	ip := srv.Addr().String()
	results := []diagnose.Result{
		{Target: ip, IP: ip, PTRNames: []string{"mail.example.com"}, Findings: []diagnose.Finding{{Code: diagnose.CodeReservedIP}}},
		{Target: "mail.example.com", IP: ip, PTRNames: []string{"mail.example.com"}},
	}
	p.ProbeResults(context.Background(), results, "T1")
	for i, r := range results {
		if !slices.Contains(codes(r.Findings), diagnose.Code("banner_mismatch")) {
			t.Errorf("result %d findings %v; want banner_mismatch", i, codes(r.Findings))
		}
	}
	if codes(results[0].Findings)[0] != diagnose.CodeReservedIP {
		t.Errorf("the diagnosis's own findings must come first: %v", codes(results[0].Findings))
	}
	var ehlos int
	for _, c := range srv.Commands() {
		if strings.HasPrefix(c, "EHLO ") {
			ehlos++
			if c != "EHLO rdnsbot.example.net" {
				t.Errorf("sent %q; want EHLO rdnsbot.example.net", c)
			}
		}
	}
	if ehlos != 1 {
		t.Errorf("probed %d times; want once for the one address", ehlos)
	}
}
