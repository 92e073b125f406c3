package bounce

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// fixture is one bounce of testdata/fixtures, with its expected verdict
// and the source of its wording from testdata/fixtures.tsv.
type fixture struct {
	name   string
	source string
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
		if len(cols) != 4 || cols[3] == "" {
			tb.Fatalf("fixtures.tsv: want file, rdns, ips, source: %q", line)
		}
		fx := fixture{name: cols[0], rdns: cols[1] == "true", source: cols[3]}
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

// TestFixtures checks every fixture's verdict and sending IPs, then the
// acceptance thresholds over the whole set.
func TestFixtures(t *testing.T) {
	var tp, fp, fn, named, ipRight int
	for _, fx := range loadFixtures(t) {
		res := mustParse(t, string(fx.body))
		switch {
		case res.RDNS && fx.rdns:
			tp++
		case res.RDNS && !fx.rdns:
			fp++
			t.Errorf("%s: false positive; evidence %q", fx.name, res.Evidence)
		case !res.RDNS && fx.rdns:
			fn++
			t.Errorf("%s: missed; evidence %q", fx.name, res.Evidence)
		}
		if len(fx.ips) > 0 {
			named++
			if slices.Equal(res.SendingIPs, fx.ips) {
				ipRight++
			} else {
				t.Errorf("%s: sending IPs %v (source %q), want %v", fx.name, res.SendingIPs, res.IPSource, fx.ips)
			}
		} else if fx.rdns && len(res.SendingIPs) > 0 {
			t.Errorf("%s: sending IPs %v from %q, the bounce names none", fx.name, res.SendingIPs, res.IPSource)
		}
	}
	precision := float64(tp) / float64(max(1, tp+fp))
	recall := float64(tp) / float64(max(1, tp+fn))
	ipAcc := float64(ipRight) / float64(max(1, named))
	t.Logf("fixtures: precision %.3f recall %.3f (tp %d fp %d fn %d), sending IP right %d/%d = %.3f",
		precision, recall, tp, fp, fn, ipRight, named, ipAcc)
	if precision < 0.98 || recall < 0.95 || ipAcc < 0.95 {
		t.Errorf("below the acceptance bar: precision %.3f (>= 0.98), recall %.3f (>= 0.95), IP %.3f (>= 0.95)", precision, recall, ipAcc)
	}
}
