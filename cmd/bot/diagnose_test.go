package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/rdnsbot/rdnsbot/diagnose"
	"github.com/rdnsbot/rdnsbot/dnstest"
)

// runBot runs the built binary and returns its exit status and output.
func runBot(t *testing.T, bin string, args ...string) (int, string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatalf("run %v: %v", args, err)
	}
	return cmd.ProcessState.ExitCode(), stdout.String(), stderr.String()
}

// diagnoseWorld serves testdata/diagnose.zone: server 0 is the resolver.
func diagnoseWorld(t *testing.T) dnstest.Group {
	t.Helper()
	text, err := os.ReadFile("testdata/diagnose.zone")
	if err != nil {
		t.Fatal(err)
	}
	g := dnstest.Start(t, 2)
	if err := g.Load(string(text)); err != nil {
		t.Fatal(err)
	}
	return g
}

func TestDiagnoseCommand(t *testing.T) {
	g := diagnoseWorld(t)
	g[0].SetFault("9.113.0.203.in-addr.arpa.", dns.TypePTR, dnstest.Fault{Rcode: dns.RcodeServerFailure})
	g[0].SetFault("dual.example.com.", dns.TypeAAAA, dnstest.Fault{Drop: true})
	bin := botBin
	empty := dnstest.Start(t, 1) // a resolver that knows nothing, like one cut off from the internet
	dead := dnstest.Start(t, 1)
	dead.Close() // nothing listens there any more

	net := []string{"--resolver", g[0].Addr(), "--authority-port", strconv.Itoa(g.Port()), "--timeout", "3s"}
	with := func(args ...string) []string { return append(append([]string{"diagnose"}, net...), args...) }
	tests := []struct {
		name   string
		args   []string
		exit   int
		stdout []string
		stderr []string
	}{
		{"pass", with("203.0.113.5"), 0,
			[]string{"203.0.113.5: pass — passes FCrDNS\n  PTR mail.example.com → 203.0.113.5", "findings:", "steps:", "$ dig +short -x 203.0.113.5"}, nil},
		{"flags after the target", []string{"diagnose", "203.0.113.5", "--resolver", g[0].Addr(), "--authority-port", strconv.Itoa(g.Port())}, 0,
			[]string{"203.0.113.5: pass"}, nil},
		{"fail", with("203.0.113.7"), 1, []string{"203.0.113.7: fail", "forward_mismatch", "198.51.100.99"}, nil},
		{"no PTR", with("203.0.113.20"), 1, []string{"203.0.113.20: permerror — has no PTR record", "no_ptr", "not at your domain's registrar"}, nil},
		{"temperror only", with("203.0.113.9"), 3, []string{"203.0.113.9: temperror", "SERVFAIL"}, nil},
		{"pass and temperror", with("203.0.113.5", "203.0.113.9"), 3, []string{"203.0.113.5: pass", "203.0.113.9: temperror"}, nil},
		{"temperror and fail", with("203.0.113.9", "203.0.113.7"), 1, []string{"203.0.113.9: temperror", "203.0.113.7: fail"}, nil},
		{"host name: IPv4 passes, IPv6 has no PTR", with("mail.example.com"), 1,
			[]string{"203.0.113.5 (mail.example.com): pass", "2001:db8::5 (mail.example.com): permerror", "smtp_address_preference = ipv4"}, nil},
		{"host name without addresses", with("nothing.example.com"), 1, nil, []string{"nothing.example.com", "no A or AAAA"}},
		{"host name whose AAAA lookup times out", with("dual.example.com"), 3,
			[]string{"203.0.113.5 (dual.example.com): pass"}, []string{"dual.example.com AAAA", "did not answer"}},
		{"host name whose AAAA lookup times out, JSON", with("--json", "dual.example.com"), 3,
			[]string{`"errors": [`, `"target": "dual.example.com"`, "dual.example.com AAAA"}, nil},
		{"single-label host name", with("please", "203.0.113.5"), 2, nil, []string{`"please"`, "two labels"}},
		{"helo mismatch", with("--helo", "smtp.example.org", "203.0.113.5"), 0, []string{"helo_mismatch", "smtp.example.org"}, nil},
		{"helo literal", with("--helo", "[203.0.113.5]", "203.0.113.5"), 0, []string{"helo_literal", "[203.0.113.5]"}, nil},
		{"sibling without PTR", with("203.0.113.5"), 0,
			[]string{"  sibling 2001:db8::5 (an address of mail.example.com): permerror — has no PTR record", "sibling_fails"}, nil},
		{"typed name is not the PTR name", with("dual.example.com"), 3,
			[]string{"name_not_ptr", "You asked about `dual.example.com`", "see `mail.example.com`"}, nil},
		{"unparseable target, the others still diagnosed", with("203.0.113.5", "999.1.1.1", "203.0.113.7"), 2,
			[]string{"203.0.113.5: pass", "203.0.113.7: fail"}, []string{`"999.1.1.1"`}},
		{"unparseable target, JSON", with("--json", "999.1.1.1", "203.0.113.5"), 2,
			[]string{`"target": "999.1.1.1"`, `"ip": "203.0.113.5"`}, []string{`"999.1.1.1"`}},
		{"hostile target", with("<!channel>"), 2, nil, []string{`"<!channel>"`}},
		{"no target", with(), 2, nil, []string{"no target", "usage: bot diagnose"}},
		{"bad flag", with("--nope", "203.0.113.5"), 2, nil, []string{"nope", "usage: bot diagnose"}},
		{"bad resolver", []string{"diagnose", "--resolver", "nowhere", "203.0.113.5"}, 2, nil, []string{`"nowhere"`, "expected an IP address"}},
		{"offline resolver", []string{"diagnose", "--resolver", empty[0].Addr(), "--timeout", "2s", "8.8.8.8"}, 3,
			[]string{"8.8.8.8: temperror", "resolver_unusable", "/etc/resolv.conf"}, nil},
		{"unreachable resolver", []string{"diagnose", "--resolver", dead[0].Addr(), "--timeout", "2s", "8.8.8.8"}, 3,
			[]string{"8.8.8.8: temperror"}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			exit, stdout, stderr := runBot(t, bin, tc.args...)
			if exit != tc.exit {
				t.Errorf("exit status %d, want %d\nstdout:\n%s\nstderr:\n%s", exit, tc.exit, stdout, stderr)
			}
			for _, s := range tc.stdout {
				if !strings.Contains(stdout, s) {
					t.Errorf("stdout lacks %q:\n%s", s, stdout)
				}
			}
			for _, s := range tc.stderr {
				if !strings.Contains(stderr, s) {
					t.Errorf("stderr lacks %q:\n%s", s, stderr)
				}
			}
		})
	}
}

func TestDiagnoseCommandJSON(t *testing.T) {
	g := diagnoseWorld(t)
	exit, stdout, stderr := runBot(t, botBin, "diagnose", "--json", "--resolver", g[0].Addr(), "--authority-port", strconv.Itoa(g.Port()),
		"203.0.113.5", "203.0.113.20", "nothing.example.com")
	if exit != 1 {
		t.Fatalf("exit %d, stderr %s", exit, stderr)
	}
	// The documented field names, read back without the Go types.
	var raw struct {
		Results []map[string]json.RawMessage `json:"results"`
		Errors  []map[string]string          `json:"errors"`
	}
	if err := json.Unmarshal([]byte(stdout), &raw); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, stdout)
	}
	if len(raw.Results) != 2 || len(raw.Errors) != 1 || raw.Errors[0]["target"] != "nothing.example.com" {
		t.Fatalf("results %d errors %v", len(raw.Results), raw.Errors)
	}
	for _, k := range []string{"target", "ip", "status", "ptr_names", "confirmed_name", "forward", "findings",
		"reverse_zone", "reverse_nameservers", "source", "guidance", "checked_at", "duration_ms"} {
		if _, ok := raw.Results[0][k]; !ok {
			t.Errorf("passing result lacks %q", k)
		}
	}
	if _, ok := raw.Results[1]["negative_ttl_seconds"]; !ok {
		t.Errorf("no-PTR result lacks negative_ttl_seconds")
	}

	var out struct {
		Results []diagnose.Result `json:"results"`
	}
	if err := json.Unmarshal([]byte(stdout), &out); err != nil {
		t.Fatal(err)
	}
	pass, noPTR := out.Results[0], out.Results[1]
	if pass.Status != diagnose.StatusPass || pass.ConfirmedName != "mail.example.com" || pass.Forward["mail.example.com"][0] != "203.0.113.5" ||
		!pass.Fixed() || pass.ReverseZone != "113.0.203.in-addr.arpa" || pass.ReverseNameservers[0] != "ns1.example.net" {
		t.Errorf("pass result: %+v", pass)
	}
	if noPTR.Status != diagnose.StatusPermerror || *noPTR.NegativeTTLSeconds != 120 || noPTR.Findings[1].Code != diagnose.CodeNoPTR {
		t.Errorf("no-PTR result: %+v", noPTR)
	}
}

// TestHelpAndUsageErrors: every command prints its help to stdout with exit
// 0, and a usage error to stderr with exit 2.
func TestHelpAndUsageErrors(t *testing.T) {
	tests := []struct {
		args   []string
		exit   int
		stdout string
		stderr string
	}{
		{[]string{"--help"}, 0, "usage:\n  bot ", ""},
		{[]string{"help"}, 0, "usage:\n  bot ", ""},
		{[]string{"diagnose", "-h"}, 0, "usage: bot diagnose", ""},
		{[]string{"diagnose", "--help"}, 0, "-authority-port", ""},
		{[]string{"parse-bounce", "--help"}, 0, "usage: bot parse-bounce", ""},
		{[]string{"healthcheck", "-h"}, 0, "usage: bot healthcheck", ""},
		{[]string{"nope"}, 2, "", `bot: unknown command "nope"`},
		{[]string{"parse-bounce", "--nope"}, 2, "", "bot parse-bounce: flag provided but not defined: -nope\nusage: bot parse-bounce"},
		{[]string{"healthcheck", "http://a", "http://b"}, 2, "", "bot healthcheck: one URL at most"},
		{[]string{"diagnose", "--timeout", "0s", "192.0.2.1"}, 2, "", "bot diagnose: --timeout 0s must be positive"},
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			t.Parallel()
			exit, stdout, stderr := runBot(t, botBin, tc.args...)
			if exit != tc.exit {
				t.Errorf("exit %d, want %d", exit, tc.exit)
			}
			if tc.stdout != "" && !strings.Contains(stdout, tc.stdout) || tc.stdout == "" && stdout != "" {
				t.Errorf("stdout %q, want it to hold %q", stdout, tc.stdout)
			}
			if tc.stderr != "" && !strings.Contains(stderr, tc.stderr) || tc.stderr == "" && stderr != "" {
				t.Errorf("stderr %q, want it to hold %q", stderr, tc.stderr)
			}
		})
	}
}

// TestCollectExitStatus: the exit status follows the worst outcome; a
// target left beyond the per-request cap was never diagnosed, so it reads
// as not known yet (3), never as passing (0).
func TestCollectExitStatus(t *testing.T) {
	pass := diagnose.Result{IP: "192.0.2.1", Status: diagnose.StatusPass}
	capped := fmt.Errorf("%w: 192.0.2.17: one request diagnoses at most 16 distinct addresses", diagnose.ErrBatchCap)
	for _, tc := range []struct {
		name     string
		outcomes []diagnose.Outcome
		want     int
	}{
		{"all pass", []diagnose.Outcome{{Target: "192.0.2.1", Results: []diagnose.Result{pass}}}, 0},
		{"one capped", []diagnose.Outcome{{Target: "192.0.2.1", Results: []diagnose.Result{pass}}, {Target: "192.0.2.17", Err: capped}}, 3},
		{"host name over its own cap", []diagnose.Outcome{{Target: "many.example.com", Results: []diagnose.Result{pass},
			Err: fmt.Errorf("%w: many.example.com", diagnose.ErrTooManyAddresses)}}, 0},
		{"capped and unusable", []diagnose.Outcome{{Target: "192.0.2.17", Err: capped}, {Target: "x y", Err: diagnose.ErrInvalidTarget}}, 2},
	} {
		var stderr bytes.Buffer
		out, code := collect(diagnose.Batch{Outcomes: tc.outcomes}, &stderr)
		if code != tc.want {
			t.Errorf("%s: exit %d, want %d (errors %v)", tc.name, code, tc.want, out.Errors)
		}
	}
}
