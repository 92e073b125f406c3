package bounce

import (
	"bytes"
	"testing"
)

// BenchmarkParse parses the whole fixture set per iteration and reports
// throughput (MB/s) and bounces per second.
func BenchmarkParse(b *testing.B) {
	fixtures := loadFixtures(b)
	var size int64
	for _, fx := range fixtures {
		size += int64(len(fx.body))
	}
	b.SetBytes(size)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		for _, fx := range fixtures {
			ParseString(string(fx.body))
		}
	}
	b.ReportMetric(float64(b.N*len(fixtures))/b.Elapsed().Seconds(), "bounces/s")
}

// BenchmarkPeakHeap parses the 24 MB bounces of the memory target (see
// big24): flat and nested 8 forwards deep, and for comparison one whose
// 24 MB are all text to read (a mail log). Each is parsed from memory
// (Parse), from a reader that tells its length (ParseReader of a file) and
// from one that does not (ParseReader of a download). It reports the highest heap in use during a call, counting the input
// (peak-heap-bytes/op, and peak/input: the target is at most 3), and the
// upper bound of it that the bytes allocated give (bound/input).
func BenchmarkPeakHeap(b *testing.B) {
	in := big24()
	for _, input := range []struct {
		name string
		data string
	}{{"flat", in.flat}, {"nested", in.nested}, {"text", in.text}} {
		data := []byte(input.data)
		for _, entry := range []struct {
			name string
			// held is the memory the caller holds before the call: the
			// input for Parse, nothing for a download.
			held  int
			parse func() (Result, error)
		}{
			{"Parse", len(data), func() (Result, error) { return Parse(data) }},
			{"ParseReader", 0, func() (Result, error) { return ParseReader(bytes.NewReader(data)) }},
			{"ParseReader-nolength", 0, func() (Result, error) { return ParseReader(noHint{bytes.NewReader(data)}) }},
		} {
			b.Run(input.name+"/"+entry.name, func(b *testing.B) {
				b.SetBytes(int64(len(data)))
				b.ReportAllocs()
				var peak, allocated uint64
				for b.Loop() {
					var r Result
					var err error
					p, w := peakHeap(func() { r, err = entry.parse() })
					if err != nil || !r.RDNS {
						b.Fatalf("%+v, %v", r, err)
					}
					peak, allocated = max(peak, p), max(allocated, w.bytes)
				}
				held := uint64(entry.held)
				b.ReportMetric(float64(held+peak), "peak-heap-bytes/op")
				b.ReportMetric(float64(held+peak)/float64(len(data)), "peak/input")
				b.ReportMetric(float64(held+allocated)/float64(len(data)), "bound/input")
			})
		}
	}
}
