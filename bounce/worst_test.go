package bounce

import (
	"bytes"
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
	}
	for name, unit := range patterns {
		t.Run(name, func(t *testing.T) {
			cost := func(size int) time.Duration {
				in := string(bytes.Repeat([]byte(unit), size/len(unit)))
				start := time.Now()
				ParseString(in)
				return time.Since(start)
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
	if testing.Short() {
		t.Skip("reads 25 MiB")
	}
	in := strings.Repeat("550 5.1.1 <a@example.com>: Recipient address rejected: User unknown [192.0.2.1]\n\n", MaxSize/86)
	start := time.Now()
	r, err := Parse(strings.NewReader(in))
	if err != nil || r.RDNS {
		t.Fatalf("%+v, %v", r.RDNS, err)
	}
	t.Logf("%d MiB in %v", len(in)>>20, time.Since(start))
}
