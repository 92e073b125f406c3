package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"maps"
	"net/netip"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/rdnsbot/rdnsbot/diagnose"
	"github.com/rdnsbot/rdnsbot/dnstest"
	"github.com/rdnsbot/rdnsbot/pool"
)

// poolWorld serves testdata/diagnose.zone and testdata/pool.zone, with
// 198.51.100.6's PTR lookup failing at the resolver (server 0).
func poolWorld(t *testing.T) (dnstest.Group, []string) {
	t.Helper()
	var text strings.Builder
	for _, f := range []string{"testdata/diagnose.zone", "testdata/pool.zone"} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		text.Write(b)
	}
	g := dnstest.Start(t, 2)
	if err := g.Load(text.String()); err != nil {
		t.Fatal(err)
	}
	g[0].SetFault("6.100.51.198.in-addr.arpa.", dns.TypePTR, dnstest.Fault{Rcode: dns.RcodeServerFailure})
	return g, []string{"diagnose", "--resolver", g[0].Addr(), "--authority-port", strconv.Itoa(g.Port()), "--timeout", "3s"}
}

// TestDiagnosePools runs bot diagnose on CIDR blocks, ranges and lists of
// them mixed with addresses and host names.
func TestDiagnosePools(t *testing.T) {
	_, net := poolWorld(t)
	with := func(args ...string) []string { return append(slices.Clone(net), args...) }
	tests := []struct {
		name      string
		args      []string
		exit      int
		stdout    []string
		notStdout []string
		stderr    []string
	}{
		{"a /29: failing results, then the table", with("198.51.100.0/29"), 1,
			[]string{
				"198.51.100.3: fail", "198.51.100.4: permerror", "198.51.100.6: temperror",
				"198.51.100.0/29: 6 addresses, 198.51.100.1 to 198.51.100.6 (its network and broadcast addresses are left out",
				"6 addresses in 198.51.100.0/24: 1 fail, 1 permerror, 1 temperror, 3 pass\n",
				"\nSEVERITY  FINDING           N  ADDRESSES\n",
				"error     forward_mismatch  1  .3 (elsewhere.example.com → 198.51.100.99)\n",
				"error     no_ptr            1  .4\n",
				"warning   generic_ptr       1  .5 (198-51-100-5.dyn.example.org)\n",
				"\nREVERSE ZONE             N  ADDRESSES  NAME SERVERS",
				"100.51.198.in-addr.arpa  6  .1–.6      ns1.example.net",
			},
			[]string{"198.51.100.1: pass", "198.51.100.5: pass", "198.51.100.0:", "198.51.100.7:"}, nil},
		{"--all prints every result", with("--all", "198.51.100.0/29"), 1,
			[]string{"198.51.100.1: pass", "198.51.100.2: pass", "198.51.100.5: pass", "198.51.100.3: fail", "6 addresses in"}, nil, nil},
		{"a range, every address passes", with("198.51.100.1-2"), 0,
			[]string{"198.51.100.1-198.51.100.2: 2 addresses, 198.51.100.1 to 198.51.100.2\n", "2 addresses in 198.51.100.0/24: 2 pass\n"},
			[]string{": pass —", "left out", "SEVERITY  FINDING           N  ADDRESSES\nerror"}, nil},
		{"a range with a temperror only", with("198.51.100.5-6"), 3,
			[]string{"198.51.100.6: temperror", "2 addresses in 198.51.100.0/24: 1 temperror, 1 pass"}, []string{"198.51.100.5: pass"}, nil},
		{"a /31 includes both addresses", with("198.51.100.4/31"), 1,
			[]string{"198.51.100.4: permerror", "2 addresses in 198.51.100.0/24: 1 permerror, 1 pass"}, []string{"left out"}, nil},
		{"a mixed list: a block, an address, a host name", with("198.51.100.0/29", "203.0.113.5", "mail.example.com"), 1,
			[]string{"203.0.113.5: pass", "203.0.113.5 (mail.example.com): pass", "2001:db8::5 (mail.example.com): permerror",
				"198.51.100.3: fail", "6 addresses in 198.51.100.0/24: 1 fail"},
			[]string{"198.51.100.1: pass"}, nil},
		{"overlapping pools count each address once", with("198.51.100.1-3", "198.51.100.2/31"), 1,
			[]string{"3 addresses in 198.51.100.0/24: 1 fail, 2 pass"}, nil, nil},
		{"a too-large block is refused, the others still diagnosed", with("198.51.100.0/21", "203.0.113.5", "198.51.100.1-2"), 2,
			[]string{"203.0.113.5: pass", "2 addresses in 198.51.100.0/24: 2 pass"}, nil,
			[]string{`bot diagnose: invalid target: pool "198.51.100.0/21": a /21 has 2048 addresses; at most 1024 (a /22) are checked at once: split it into /22 blocks`}},
		{"a too-large IPv6 prefix", with("2001:db8::/119"), 2, nil, []string{"addresses in"},
			[]string{`pool "2001:db8::/119": a /119 has 512 addresses; at most 256 (a /120)`}},
		{"pools adding up to more than the cap", with("198.51.100.0/22", "192.0.2.0/22", "203.0.113.5"), 2,
			[]string{"203.0.113.5: pass"}, []string{"addresses in"},
			[]string{"the targets add up to 2044 addresses; at most 1024 are checked at once"}},
		{"a reversed range", with("198.51.100.9-3", "203.0.113.5"), 2, []string{"203.0.113.5: pass"}, nil,
			[]string{"the range ends before it starts"}},
		{"a range across families", with("198.51.100.1-2001:db8::1"), 2, nil, nil, []string{"not across families"}},
		{"a malformed range is refused as one, never looked up as a host name", with("198.51.100.1-256", "203.0.113.5"), 2,
			[]string{"203.0.113.5: pass"}, []string{"addresses in"},
			[]string{`bot diagnose: invalid target: pool "198.51.100.1-256": the end of the range is not an address`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			exit, stdout, stderr := runBot(t, botBin, tc.args...)
			if exit != tc.exit {
				t.Errorf("exit status %d, want %d\nstdout:\n%s\nstderr:\n%s", exit, tc.exit, stdout, stderr)
			}
			for _, s := range tc.stdout {
				if !strings.Contains(stdout, s) {
					t.Errorf("stdout lacks %q:\n%s", s, stdout)
				}
			}
			for _, s := range tc.notStdout {
				if strings.Contains(stdout, s) {
					t.Errorf("stdout has %q:\n%s", s, stdout)
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

// TestDiagnosePoolsJSON reads the --json document back by its documented
// field names: every result, and the summary.
func TestDiagnosePoolsJSON(t *testing.T) {
	_, net := poolWorld(t)
	exit, stdout, stderr := runBot(t, botBin, append(net, "--json", "198.51.100.0/29", "203.0.113.5", "198.51.100.0/21")...)
	if exit != 2 {
		t.Fatalf("exit %d, want 2 (the /21); stderr %s", exit, stderr)
	}
	var raw struct {
		Results []map[string]json.RawMessage `json:"results"`
		Errors  []map[string]string          `json:"errors"`
		Summary map[string]json.RawMessage   `json:"summary"`
	}
	if err := json.Unmarshal([]byte(stdout), &raw); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, stdout)
	}
	var ips []string
	for _, r := range raw.Results {
		var ip string
		if err := json.Unmarshal(r["ip"], &ip); err != nil {
			t.Fatal(err)
		}
		ips = append(ips, ip)
	}
	// The single address first, then every pool address (passing ones
	// too), in address order.
	want := []string{"203.0.113.5", "198.51.100.1", "198.51.100.2", "198.51.100.3", "198.51.100.4", "198.51.100.5", "198.51.100.6"}
	if !slices.Equal(ips, want) {
		t.Errorf("results for %v, want %v", ips, want)
	}
	if len(raw.Errors) != 1 || raw.Errors[0]["target"] != "198.51.100.0/21" || !strings.Contains(raw.Errors[0]["error"], "at most 1024 (a /22)") {
		t.Errorf("errors %v", raw.Errors)
	}
	for _, k := range []string{"addresses", "counts", "block", "findings", "reverse_zones", "providers"} {
		if _, ok := raw.Summary[k]; !ok {
			t.Errorf("summary lacks %q: %s", k, stdout)
		}
	}

	var doc struct {
		Summary pool.Summary `json:"summary"`
	}
	if err := json.Unmarshal([]byte(stdout), &doc); err != nil {
		t.Fatal(err)
	}
	s := doc.Summary
	wantCounts := map[diagnose.Status]int{diagnose.StatusPass: 3, diagnose.StatusFail: 1, diagnose.StatusPermerror: 1, diagnose.StatusTemperror: 1}
	if s.Addresses != 6 || !maps.Equal(s.Counts, wantCounts) || s.Block != "198.51.100.0/24" {
		t.Errorf("summary: %d addresses, counts %v, block %q", s.Addresses, s.Counts, s.Block)
	}
	if len(s.Findings) == 0 || s.Findings[0].Severity != diagnose.SeverityError {
		t.Fatalf("findings not errors first: %+v", s.Findings)
	}
	byCode := map[diagnose.Code]pool.Group{}
	for _, g := range s.Findings {
		if g.Severity == diagnose.SeverityError {
			byCode[g.Code] = g
		}
	}
	if g := byCode[diagnose.CodeForwardMismatch]; g.Count != 1 || g.Addresses != ".3" || len(g.Details) != 1 ||
		g.Details[0].Name != "elsewhere.example.com" || !slices.Equal(g.Details[0].Addresses, []string{"198.51.100.99"}) {
		t.Errorf("forward_mismatch group: %+v", g)
	}
	if g := byCode[diagnose.CodeNoPTR]; g.Count != 1 || len(g.Ranges) != 1 || g.Ranges[0].First != netip.MustParseAddr("198.51.100.4") {
		t.Errorf("no_ptr group: %+v", g)
	}
	if len(s.ReverseZones) != 1 || s.ReverseZones[0].Name != "100.51.198.in-addr.arpa" || s.ReverseZones[0].Count != 6 ||
		!slices.Equal(s.ReverseZones[0].Nameservers, []string{"ns1.example.net"}) {
		t.Errorf("reverse zones: %+v", s.ReverseZones)
	}
}

// TestDiagnosePoolsJSONWithoutPools: no pool checked, no summary; and
// without any pool target the document is as before.
func TestDiagnosePoolsJSONWithoutPools(t *testing.T) {
	_, net := poolWorld(t)
	for _, args := range [][]string{{"198.51.100.0/21", "203.0.113.5"}, {"203.0.113.5"}} {
		_, stdout, _ := runBot(t, botBin, append(append(slices.Clone(net), "--json"), args...)...)
		var raw map[string]json.RawMessage
		if err := json.Unmarshal([]byte(stdout), &raw); err != nil {
			t.Fatalf("%v: not JSON: %v\n%s", args, err, stdout)
		}
		if _, ok := raw["summary"]; ok {
			t.Errorf("%v: a summary without a pool checked", args)
		}
		if _, ok := raw["results"]; !ok {
			t.Errorf("%v: no results", args)
		}
	}
}

// TestDiagnoseHelpSaysPoolRule: the help states which addresses a block
// includes, and the limits.
func TestDiagnoseHelpSaysPoolRule(t *testing.T) {
	exit, stdout, _ := runBot(t, botBin, "diagnose", "--help")
	flat := strings.Join(strings.Fields(stdout), " ")
	for _, s := range []string{strings.Join(strings.Fields(pool.Rule), " "), "up to 1024 addresses", "-all"} {
		if exit != 0 || !strings.Contains(flat, s) {
			t.Errorf("exit %d, help lacks %q:\n%s", exit, s, stdout)
		}
	}
}

// TestDiagnosePoolsInterrupted: an interrupt while the pool is checked
// counts the unfinished addresses as not checked, never as DNS failures,
// and the exit status is 3, not 0.
func TestDiagnosePoolsInterrupted(t *testing.T) {
	g, net := poolWorld(t)
	for _, s := range g {
		s.SetFault("", 0, dnstest.Fault{Drop: true}) // nothing answers: every diagnosis waits
	}
	cmd := exec.Command(botBin, append(net, "--timeout", "10s", "--json", "198.51.100.0/29")...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	// Interrupt once the check is under way: the first query has come in.
	for i := 0; len(g.Log()) == 0; i++ {
		if i == 500 {
			t.Fatal("no query reached the servers")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	var exit *exec.ExitError
	if err := cmd.Wait(); !errors.As(err, &exit) || exit.ExitCode() != 3 {
		t.Fatalf("wait: %v, want exit status 3\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
	}
	var doc struct {
		Summary pool.Summary `json:"summary"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &doc); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, stdout.String())
	}
	if s := doc.Summary; s.NotChecked == 0 || s.Addresses+s.NotChecked != 6 || s.Counts[diagnose.StatusPermerror] > 0 {
		t.Errorf("summary: %d diagnosed (%v), %d not checked; want the unfinished ones not checked", s.Addresses, s.Counts, s.NotChecked)
	}
	if !strings.Contains(stderr.String(), "pool addresses were not checked: cancelled or out of time") {
		t.Errorf("stderr: %s", stderr.String())
	}
}
