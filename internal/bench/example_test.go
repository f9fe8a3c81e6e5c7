package bench_test

import (
	"fmt"

	"github.com/shmkit/shm/internal/bench"
)

// Quantiles are the upper bounds of the histogram's buckets, within 1/128 of
// the exact values (50.0µs and 99.0µs here).
func ExampleHistogram() {
	var h bench.Histogram
	for v := uint64(1); v <= 1000; v++ {
		h.Record(v * 100) // 100ns to 100µs
	}
	fmt.Println(h.Count(), bench.FormatNS(h.Min()), bench.FormatNS(h.Quantile(0.5)), bench.FormatNS(h.Quantile(0.99)), bench.FormatNS(h.Max()))
	// Output:
	// 1000 100ns 50.2µs 99.3µs 100µs
}
