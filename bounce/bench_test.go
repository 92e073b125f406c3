package bounce

import "testing"

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
