package bounce

import (
	"fmt"
	"slices"
	"testing"
)

func TestZZMeasure(t *testing.T) {
	fx := loadFixtures(t)
	sets := map[string][]fixture{"old": fx[:88], "new": fx[88:], "all": fx}
	for _, name := range []string{"old", "new", "all"} {
		var tp, fp, fn, named, right, recvIP int
		for _, f := range sets[name] {
			r := ParseString(string(f.body))
			switch {
			case r.RDNS && f.rdns:
				tp++
			case r.RDNS && !f.rdns:
				fp++
				if name == "new" { fmt.Printf("FP %s: %q\n", f.name, r.Evidence) }
			case !r.RDNS && f.rdns:
				fn++
				if name == "new" { fmt.Printf("FN %s: %q\n", f.name, r.Evidence) }
			}
			if len(f.ips) > 0 {
				named++
				if slices.Equal(r.SendingIPs, f.ips) { right++ } else if name == "new" { fmt.Printf("IP %s: got %v (%s) want %v\n", f.name, r.SendingIPs, r.IPSource, f.ips) }
			} else if len(r.SendingIPs) > 0 && f.rdns {
				recvIP++
				if name == "new" { fmt.Printf("EXTRA-IP %s: got %v (%s)\n", f.name, r.SendingIPs, r.IPSource) }
			}
		}
		fmt.Printf("%s: n=%d precision %.3f recall %.3f (tp %d fp %d fn %d) ip %d/%d = %.3f, ips where none named %d\n", name, len(sets[name]),
			float64(tp)/float64(max(1, tp+fp)), float64(tp)/float64(max(1, tp+fn)), tp, fp, fn, right, named, float64(right)/float64(max(1, named)), recvIP)
	}
}
