package bench_test

import (
	"context"
	"fmt"
	"time"

	"github.com/shmkit/shm/internal/bench"
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

// A stream at two ring capacities, next to the C limit (not run, with the
// reason in Skipped, where gcc is missing): a row per transport and
// capacity, each with its ratio to the faster C row in VsC.
func ExampleCapacities() {
	ts, err := bench.Lookup(bench.CRing, bench.Raw)
	if err != nil {
		panic(err)
	}
	rep, err := bench.Run(context.Background(), bench.Using(ts...), bench.Workloads(bench.Stream),
		bench.Sizes(1024), bench.Capacities(256<<10, 4<<20), bench.Duration(400*time.Millisecond))
	if err != nil {
		panic(err)
	}
	for _, r := range rep.Results {
		done := r.Error == "" && (r.MsgsPerS > 0 || r.Skipped != "")
		fmt.Printf("%s %s at %s: %v\n", r.Transport, bench.FormatSize(r.Size), bench.FormatSize(int(r.Capacity)), done)
	}
	// Output:
	// c-ring 1KiB at 256KiB: true
	// c-ring 1KiB at 4MiB: true
	// raw 1KiB at 256KiB: true
	// raw 1KiB at 4MiB: true
}
