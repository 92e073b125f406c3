package bounce

import (
	"bytes"
	"runtime"
	"strings"
	"testing"
	"time"
)

// TestHostileInputsLinear: inputs built to make a naive reader quadratic
// (unclosed links and tags, one endless line, endless folding, address
// soup) must cost about linear time: 4x the input may not cost 16x.
func TestHostileInputsLinear(t *testing.T) {
	patterns := map[string]string{
		"unclosed links":   "<http",
		"unclosed script":  "Content-Type: text/html\n\n<script>",
		"one long line":    "550 5.7.25 no PTR [203.0.113.5] ",
		"folded header":    "X-A: b\n c\n",
		"quote markers":    "> > > 550 ",
		"address soup":     "1.2.3.4 2001:db8::1 [198.51.100.7] ",
		"nested multipart": "Content-Type: multipart/mixed; boundary=a\n\n--a\nContent-Type: multipart/mixed; boundary=a\n\n",
		"statements":       "550-5.7.25 reverse dns ptr hostname\n",
		"dense anchors":    "550 generic ",
		"dense ptr":        "ptr ",
		"emails":           "a@b.cd @@ ",
		"underscored log":  "said:_550_no_rDNS_[203.0.113.5]/\n",
	}
	for name, unit := range patterns {
		t.Run(name, func(t *testing.T) {
			// The best of three runs: the machine is shared, and a linear
			// parser's best run is still about linear.
			cost := func(size int) time.Duration {
				in := string(bytes.Repeat([]byte(unit), size/len(unit)))
				best := time.Duration(1 << 62)
				for range 3 {
					start := time.Now()
					ParseString(in)
					best = min(best, time.Since(start))
				}
				return best
			}
			cost(64 << 10) // warm up
			small, large := cost(512<<10), cost(2<<20)
			if large > 16*small+200*time.Millisecond {
				t.Errorf("512 KiB took %v, 2 MiB took %v: worse than linear", small, large)
			}
		})
	}
}

func TestMaxSizeInBoundedTime(t *testing.T) {
	tests := map[string]struct{ head, unit string }{
		"many statements": {"", "550 5.1.1 <a@example.com>: Recipient address rejected: User unknown [192.0.2.1]\n\n"},
		"one paragraph":   {"", "host mx.example.net[192.0.2.1] said: 550 reverse DNS ptr hostname generic [198.51.100.1]\n"},
		"mime parts": {"Content-Type: multipart/mixed; boundary=b\n\n",
			"--b\nContent-Type: text/plain\nContent-Transfer-Encoding: quoted-printable\n\n550 no PTR=\n\n"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			in := tc.head + strings.Repeat(tc.unit, (MaxSize-len(tc.head))/len(tc.unit))
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			start := time.Now()
			if _, err := Parse(strings.NewReader(in)); err != nil {
				t.Fatal(err)
			}
			elapsed := time.Since(start)
			runtime.ReadMemStats(&after)
			// The input is held as one string and cut into statements; the
			// copies (decoded parts, lower-cased text, joined lines) are each
			// a bounded multiple of it.
			allocated := after.TotalAlloc - before.TotalAlloc
			t.Logf("%d MiB in %v, %d MiB allocated", len(in)>>20, elapsed, allocated>>20)
			if allocated > 16*uint64(len(in)) {
				t.Errorf("allocated %d MiB for %d MiB of input", allocated>>20, len(in)>>20)
			}
		})
	}
}
