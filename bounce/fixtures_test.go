package bounce

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// fixture is one bounce of testdata/fixtures, with its expected verdict,
// the source of its wording and its split from testdata/fixtures.tsv.
type fixture struct {
	name   string
	source string
	split  string // "original", "new" (issue 11, tuned on), "held" (issue 11, held out) or "late" (from further sources, scored once before changes)
	rdns   bool
	ips    []string
	body   []byte
}

func loadFixtures(tb testing.TB) []fixture {
	tb.Helper()
	manifest, err := os.ReadFile("testdata/fixtures.tsv")
	if err != nil {
		tb.Fatal(err)
	}
	var out []fixture
	for line := range strings.Lines(string(manifest)) {
		if strings.HasPrefix(line, "#") {
			continue
		}
		cols := strings.Split(strings.TrimSuffix(line, "\n"), "\t")
		if len(cols) == 4 {
			cols = append(cols, "original")
		}
		if len(cols) != 5 || cols[3] == "" || !slices.Contains([]string{"original", "new", "held", "late"}, cols[4]) {
			tb.Fatalf("fixtures.tsv: want file, rdns, ips, source[, new|held|late]: %q", line)
		}
		fx := fixture{name: cols[0], rdns: cols[1] == "true", source: cols[3], split: cols[4]}
		if cols[2] != "" {
			fx.ips = strings.Split(cols[2], ",")
		}
		if fx.body, err = os.ReadFile(filepath.Join("testdata/fixtures", fx.name)); err != nil {
			tb.Fatal(err)
		}
		out = append(out, fx)
	}
	files, _ := filepath.Glob("testdata/fixtures/*")
	if len(files) != len(out) {
		tb.Fatalf("%d fixture files, %d in fixtures.tsv", len(files), len(out))
	}
	return out
}

// score is the acceptance measure over a set of fixtures: precision and
// recall of the rDNS verdict, the share of bounces naming a sending IP
// whose IPs were read exactly, and how many bounces yielded an address that
// is not the sender's (the receiver's, a HELO literal): that must be none.
type score struct {
	tp, fp, fn, named, ipRight, foreign int
}

func (s *score) add(fx fixture, res Result) {
	switch {
	case res.RDNS && fx.rdns:
		s.tp++
	case res.RDNS && !fx.rdns:
		s.fp++
	case !res.RDNS && fx.rdns:
		s.fn++
	}
	if len(fx.ips) > 0 {
		s.named++
		if slices.Equal(res.SendingIPs, fx.ips) {
			s.ipRight++
		}
	}
	for _, ip := range res.SendingIPs {
		if !slices.Contains(fx.ips, ip) {
			s.foreign++
			break
		}
	}
}

func (s score) precision() float64 { return float64(s.tp) / float64(max(1, s.tp+s.fp)) }
func (s score) recall() float64    { return float64(s.tp) / float64(max(1, s.tp+s.fn)) }
func (s score) ipAccuracy() float64 {
	if s.named == 0 {
		return 1
	}
	return float64(s.ipRight) / float64(s.named)
}

func (s score) String() string {
	return fmt.Sprintf("precision %.3f recall %.3f (tp %d fp %d fn %d), sending IP right %d/%d = %.3f, foreign IPs reported %d",
		s.precision(), s.recall(), s.tp, s.fp, s.fn, s.ipRight, s.named, s.ipAccuracy(), s.foreign)
}

// pass is the acceptance bar of issue 11.
func (s score) pass() bool {
	return s.precision() >= 0.98 && s.recall() >= 0.95 && s.ipAccuracy() >= 0.95 && s.foreign == 0
}

// TestFixtures checks every fixture's verdict and sending IPs, then the
// acceptance thresholds over each split and the whole set: the held-out
// split is the honest figure for bounces not tuned on.
func TestFixtures(t *testing.T) {
	scores := map[string]*score{"original": {}, "new": {}, "held": {}, "late": {}, "all": {}}
	for _, fx := range loadFixtures(t) {
		res := mustParse(t, string(fx.body))
		scores[fx.split].add(fx, res)
		scores["all"].add(fx, res)
		switch {
		case res.RDNS && !fx.rdns:
			t.Errorf("%s: false positive; evidence %q", fx.name, res.Evidence)
		case !res.RDNS && fx.rdns:
			t.Errorf("%s: missed; evidence %q", fx.name, res.Evidence)
		}
		if !slices.Equal(res.SendingIPs, fx.ips) && (len(fx.ips) > 0 || len(res.SendingIPs) > 0) {
			t.Errorf("%s: sending IPs %v (source %q), want %v", fx.name, res.SendingIPs, res.IPSource, fx.ips)
		}
		if (res.Check != "") != res.RDNS || (res.HELO == "") != (res.HELOSource == "") || (res.HELOLiteral && res.HELO == "") {
			t.Errorf("%s: rdns %v check %q, HELO %q from %q literal %v", fx.name, res.RDNS, res.Check, res.HELO, res.HELOSource, res.HELOLiteral)
		}
		if res.HELOLiteral && slices.Contains(res.SendingIPs, strings.Trim(res.HELO, "[]")) && !slices.Contains(fx.ips, strings.Trim(res.HELO, "[]")) {
			t.Errorf("%s: HELO literal %s reported as the sending IP", fx.name, res.HELO)
		}
	}
	for _, split := range []string{"original", "new", "held", "late", "all"} {
		s := scores[split]
		t.Logf("%-8s %v", split, s)
		if !s.pass() {
			t.Errorf("%s: below the acceptance bar (precision >= 0.98, recall >= 0.95, IP >= 0.95, no foreign IP): %v", split, s)
		}
	}
}
