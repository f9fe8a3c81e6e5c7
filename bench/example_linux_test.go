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
