package bounce

import (
	"fmt"
	"maps"
	"runtime"
	"runtime/metrics"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rdnsbot/rdnsbot/internal/bouncetest"
)

// hostile are inputs built to make a naive reader quadratic: unclosed links
// and tags, one endless line, endless folding, address soup, deep MIME.
var hostile = map[string]string{
	"unclosed links":   "<http",
	"unclosed script":  "Content-Type: text/html\n\n<script>",
	"one long line":    "550 5.7.25 no PTR [203.0.113.5] ",
	"folded header":    "X-A: b\n c\n",
	"folded type":      "Content-Type: text/plain;\n a=b\n",
	"quote markers":    "> > > 550 ",
	"address soup":     "1.2.3.4 2001:db8::1 [198.51.100.7] ",
	"nested multipart": "Content-Type: multipart/mixed; boundary=a\n\n--a\nContent-Type: multipart/mixed; boundary=a\n\n",
	"nested messages":  "Content-Type: message/rfc822\n\n",
	"delimiter soup":   "Content-Type: multipart/mixed; boundary=a\n\n--a--a\n--a \n--ab\n",
	"statements":       "550-5.7.25 reverse dns ptr hostname\n",
	"dense anchors":    "550 generic ",
	"dense ptr":        "ptr ",
	"emails":           "a@b.cd @@ ",
	"underscored log":  "said:_550_no_rDNS_[203.0.113.5]/\n",
}

// work is what one call cost: bytes and objects allocated.
type work struct{ bytes, allocs uint64 }

// measure returns what f allocated, with the heap collected before so
// that pools start alike.
func measure(f func()) work {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return work{after.TotalAlloc - before.TotalAlloc, after.Mallocs - before.Mallocs}
}

// TestHostileInputsLinear: 4x the input may cost about 4x the work, never
// 16x. Work is counted, not timed, so the machine's load does not change
// it: the bytes the MIME walk searched, split and decoded, and the bytes
// and objects the whole parse allocated. Whatever the pattern, the parser
// may allocate only a bounded multiple of its input.
func TestHostileInputsLinear(t *testing.T) {
	// In a fixed order: what earlier subtests left in pools and caches
	// changes what a small input costs, so map order would make the
	// figures differ from run to run.
	for _, name := range slices.Sorted(maps.Keys(hostile)) {
		unit := hostile[name]
		t.Run(name, func(t *testing.T) {
			// The inputs are past 64 KiB, where the statement splitter
			// sizes its slice at once, so both sizes allocate alike. The
			// one-line dense anchors are smaller: classifying them runs at
			// a few MB/s.
			small := 128 << 10
			if name == "dense anchors" {
				small = 16 << 10
			}
			large := 4 * small
			input := func(size int) string { return strings.Repeat(unit, size/len(unit)) }
			cost := func(size int) work {
				in := input(size)
				return measure(func() { mustParse(t, in) })
			}
			// Warm up at the larger size: pooled buffers and lazily built
			// tables then start alike for both sizes, whichever subtest
			// (map order) ran before.
			cost(large)
			s, l := cost(small), cost(large)
			t.Logf("%d KiB: %d B in %d allocs; %d KiB: %d B in %d allocs", small>>10, s.bytes, s.allocs, large>>10, l.bytes, l.allocs)
			// 6x, not 4x: slices grow by doubling, so a 4x input may
			// cross one more power of two. The 256 KiB slack absorbs a
			// bimodal cost seen on dense anchors (a small run of 40 KB or
			// 125 KB, depending on when the collector ran): quadratic work
			// (16x) still exceeds it at every size here.
			if l.bytes > 6*s.bytes+256<<10 || l.allocs > 6*s.allocs+100 {
				t.Errorf("allocation worse than linear: %+v for %d KiB, %+v for %d KiB", s, small>>10, l, large>>10)
			}
			// Generous: the anchor scan (classify.go) allocates up to 34
			// bytes per byte of "ptr ptr ptr", as garbage, statement by
			// statement.
			if l.bytes > 64*uint64(large) {
				t.Errorf("allocated %d bytes for %d of input", l.bytes, large)
			}
			rs, rl := mimeRead(input(small)), mimeRead(input(large))
			if rl > 4*rs+4<<10 || rl > (maxDepth+2)*large {
				t.Errorf("MIME walk read %d bytes of %d KiB, %d of %d KiB", rs, small>>10, rl, large>>10)
			}
		})
	}
}

// TestLargeInputs: inputs of a quarter of MaxSize cost a bounded multiple
// of their size (TestBigBouncesMemory parses MIME of the full size).
func TestLargeInputs(t *testing.T) {
	tests := map[string]struct{ head, unit string }{
		"many statements": {"", "550 5.1.1 <a@example.com>: Recipient address rejected: User unknown [192.0.2.1]\n\n"},
		"one paragraph":   {"", "host mx.example.net[192.0.2.1] said: 550 reverse DNS ptr hostname generic [198.51.100.1]\n"},
		"mime parts": {"Content-Type: multipart/mixed; boundary=b\n\n",
			"--b\nContent-Type: text/plain\nContent-Transfer-Encoding: quoted-printable\n\n550 no PTR=\n\n"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			in := tc.head + strings.Repeat(tc.unit, (MaxSize/4-len(tc.head))/len(tc.unit))
			w := measure(func() { mustParse(t, in) })
			// The input is cut into statements; the copies (decoded parts,
			// lower-cased text, joined lines) are each a bounded multiple
			// of it.
			t.Logf("%d MiB: %d MiB in %d allocs", len(in)>>20, w.bytes>>20, w.allocs)
			if w.bytes > 16*uint64(len(in)) {
				t.Errorf("allocated %d MiB for %d MiB of input", w.bytes>>20, len(in)>>20)
			}
		})
	}
}

// TestDeepMIMEReadAsText: past maxDepth, nested MIME is read as raw text,
// not thrown away (a bounce behind it is still found), whether the nesting
// is of multiparts or of attached messages. (Far past the bound, raw text
// of nested messages holds "Content-Type: message/rfc822" lines, which the
// text reader takes as the start of a returned message, as in a pasted DSN:
// only multiparts are nested that far.)
func TestDeepMIMEReadAsText(t *testing.T) {
	const bounceText = "550 5.7.25 [203.0.113.5] The IP address sending this message does not have a PTR record setup.\n"
	multipart := func(inner string, k int) string {
		return fmt.Sprintf("Content-Type: multipart/mixed; boundary=\"b%d\"\n\n--b%d\n%s\n--b%d--\n", k, k, inner, k)
	}
	message := func(inner string, _ int) string {
		return "Content-Type: message/rfc822\n\nSubject: Fwd\n" + inner
	}
	for name, wrap := range map[string]func(string, int) string{"multipart": multipart, "message": message} {
		for _, depth := range []int{maxDepth - 1, maxDepth, maxDepth + 1, 3 * maxDepth} {
			if name == "message" && depth > maxDepth+1 {
				continue
			}
			t.Run(fmt.Sprintf("%s %d", name, depth), func(t *testing.T) {
				in := "Content-Type: text/plain\n\n" + bounceText
				for k := range depth {
					in = wrap(in, k)
				}
				in = "From: a@example.org\n" + in
				r := mustParse(t, in)
				if !r.RDNS || !slices.Equal(r.SendingIPs, []string{"203.0.113.5"}) {
					t.Fatalf("nested %d deep: %+v", depth, r)
				}
			})
		}
	}
}

// big24 builds the 24 MB bounces of the memory targets. Flat: a DSN whose
// returned message carries a 24 MB attachment. Nested: that DSN forwarded
// as an attachment 8 times (multipart/mixed → message/rfc822 →
// multipart/mixed → …), each forward with a base64 attachment of its own.
// Text: the DSN's text part followed by 24 MB of mail log, all of it read.
// All use CRLF, as mail files do.
var big24 = sync.OnceValue(func() (inputs struct{ flat, nested, text string }) {
	const size, forwards = 24 << 20, 8
	crlf, dsn := bouncetest.CRLF, bouncetest.DSN
	inputs.flat = crlf(dsn(bouncetest.Attachment(size - 2<<10)))
	inputs.nested = crlf(bouncetest.Nested(size, forwards))
	logLine := "Nov 30 10:41:45 mx postfix/smtp[1234]: 4F2A: to=<bob@example.org>, relay=mx.example.org[192.0.2.1]:25, delay=1, status=sent (250 2.0.0 OK)\n"
	inputs.text = crlf(strings.Replace(dsn(""), "--dsn\nContent-Type: message/delivery-status",
		strings.Repeat(logLine, (size-4<<10)/len(logLine))+"--dsn\nContent-Type: message/delivery-status", 1))
	return inputs
})

// peakHeap runs f and returns the highest heap in use above the heap
// before it, as a sampler sees it every 50µs, and what f allocated in all
// (an upper bound of the peak: nothing can be in use that was not
// allocated).
func peakHeap(f func()) (peak uint64, w work) {
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	heap := func() uint64 { metrics.Read(sample); return sample[0].Value.Uint64() }
	runtime.GC()
	base := heap()
	done, seen := make(chan struct{}), make(chan uint64)
	go func() {
		highest := base
		for {
			select {
			case <-done:
				seen <- highest
				return
			default:
				highest = max(highest, heap())
				time.Sleep(50 * time.Microsecond)
			}
		}
	}()
	w = measure(f)
	close(done)
	return <-seen - base, w
}

// TestBigBouncesMemory: the 24 MB bounces are found at a bounded cost:
// Parse allocates a small part of the input, in few objects (no copy per
// MIME level, no decoding of attachments), and ParseReader the input's
// buffer more. The bound is on bytes allocated, which the load of the
// machine does not change, and bounds the peak heap.
func TestBigBouncesMemory(t *testing.T) {
	in := big24()
	for name, s := range map[string]string{"flat": in.flat, "nested": in.nested} {
		t.Run(name, func(t *testing.T) {
			data := []byte(s)
			var r Result
			w := measure(func() { r, _ = Parse(data) })
			if !r.RDNS || !slices.Equal(r.SendingIPs, []string{"203.0.113.5"}) {
				t.Fatalf("%+v", r)
			}
			t.Logf("Parse: %d KiB in %d allocs for %d MiB", w.bytes>>10, w.allocs, len(s)>>20)
			if w.bytes > uint64(len(s))/8 || w.allocs > 2000 {
				t.Errorf("Parse allocated %d bytes in %d objects for %d of input", w.bytes, w.allocs, len(s))
			}
			w = measure(func() { r, _ = ParseReader(strings.NewReader(s)) })
			t.Logf("ParseReader: %d KiB in %d allocs", w.bytes>>10, w.allocs)
			if !r.RDNS || w.bytes > uint64(len(s))*9/8+64<<10 || w.allocs > 2000 {
				t.Errorf("ParseReader allocated %d bytes in %d objects for %d of input: %+v", w.bytes, w.allocs, len(s), r)
			}
		})
	}
}
