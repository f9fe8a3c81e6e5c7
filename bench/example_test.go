package bench_test

import (
	"context"
	"fmt"
	"time"

	"github.com/shmkit/shm/bench"
)

// A short run of two transports. The peer is this very program, which hands
// over to bench.ServePeer when bench.IsPeer (here, the test's TestMain).
func ExampleRun() {
	ts, err := bench.Lookup(bench.Raw, bench.Unix)
	if err != nil {
		panic(err)
	}
	rep, err := bench.Run(context.Background(), bench.Using(ts...), bench.Workloads(bench.RTT),
		bench.Sizes(64), bench.Duration(100*time.Millisecond))
	if err != nil {
		panic(err)
	}
	for _, r := range rep.Results {
		fmt.Printf("%s %s %s: ran %v, p50 <= p99 <= max %v\n", r.Transport, r.Workload, bench.FormatSize(r.Size),
			r.Error == "" && r.Samples > 0, r.P50NS <= r.P99NS && r.P99NS <= r.MaxNS)
	}
	// Output:
	// raw rtt 64B: ran true, p50 <= p99 <= max true
	// unix rtt 64B: ran true, p50 <= p99 <= max true
}

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
