package bounce

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// fixture is one file of testdata/fixtures: leading "# key: value" lines
// give its source and expected verdict, the rest is the bounce.
type fixture struct {
	name   string
	source string
	rdns   bool
	ips    []string
	body   []byte
}

func loadFixtures(tb testing.TB) []fixture {
	tb.Helper()
	files, err := filepath.Glob("testdata/fixtures/*.txt")
	if err != nil || len(files) == 0 {
		tb.Fatalf("no fixtures: %v", err)
	}
	var out []fixture
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			tb.Fatal(err)
		}
		fx := fixture{name: filepath.Base(f)}
		for strings.HasPrefix(string(data), "# ") {
			line, rest, _ := strings.Cut(string(data), "\n")
			data = []byte(rest)
			key, val, _ := strings.Cut(strings.TrimPrefix(line, "# "), ": ")
			switch key {
			case "source":
				fx.source = val
			case "rdns":
				fx.rdns = val == "true"
			case "ips":
				if val != "" {
					fx.ips = strings.Split(val, ",")
				}
			}
		}
		if fx.source == "" {
			tb.Fatalf("%s: fixture without a source line", f)
		}
		fx.body = data
		out = append(out, fx)
	}
	return out
}

// TestFixtures checks every fixture's verdict and sending IPs, then the
// acceptance thresholds over the whole set.
func TestFixtures(t *testing.T) {
	var tp, fp, fn, named, ipRight int
	for _, fx := range loadFixtures(t) {
		res := ParseString(string(fx.body))
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
