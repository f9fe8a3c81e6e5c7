package bench

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/shmkit/shm/internal/shmtest"
)

func TestCapacityFor(t *testing.T) {
	tests := []struct {
		t        sizedTransport
		size     int
		capacity int64
		want     int64
	}{
		{rawTransport{}, 64, 1 << 20, 1 << 20},
		{rawTransport{}, 64 << 10, 64 << 10, 2 * (64<<10 + 64)}, // two slots of data and seq
		{semTransport{}, 64 << 10, 64 << 10, 2 * (64<<10 + 64)},
		{queueTransport{}, 64, 1 << 20, 1 << 20},
		{queueTransport{}, 64, 3 << 20, 4 << 20},          // a power of two
		{queueTransport{}, 64 << 10, 64 << 10, 256 << 10}, // half the ring holds the message and its header
		{cRing, 64, 1 << 20, 1 << 20},
		{cRing, 64 << 10, 64 << 10, 2 * (64<<10 + 64)},
	}
	for _, tc := range tests {
		if got := tc.t.capacityFor(tc.size, tc.capacity); got != tc.want {
			t.Errorf("%T for %d-byte messages at %d: %d, want %d", tc.t, tc.size, tc.capacity, got, tc.want)
		}
	}
	for _, size := range []int{16, 64, 1000, 64 << 10} {
		for _, capacity := range []int64{4 << 10, 1 << 20} {
			stride, n, length := ringGeometry(size, capacity)
			if n < minSlots || stride < size+8 || stride%slotAlign != 0 || length != ringSlotsOff+n*stride {
				t.Errorf("ringGeometry(%d, %d) = %d, %d, %d", size, capacity, stride, n, length)
			}
			if n > minSlots && int64(n*stride) > capacity {
				t.Errorf("ringGeometry(%d, %d): %d slots of %d exceed the capacity", size, capacity, n, stride)
			}
		}
	}
}

// TestRunCapacities runs raw, a queue and the C ring at two capacities
// each: a row per capacity, no sweep, and the C limit taken at its best.
func TestRunCapacities(t *testing.T) {
	shmtest.SkipShort(t)
	shmtest.Need(t, "gcc")
	rep, err := Run(context.Background(), Using(cRing, rawTransport{}, transportByName(QueueSpin)), Workloads(Stream, Batch),
		Sizes(64), Capacities(64<<10, 1<<20), Duration(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Sweep) != 0 || len(rep.Results) != 12 {
		t.Fatalf("%d results and %d sweep rows, want 12 and none", len(rep.Results), len(rep.Sweep))
	}
	seen := map[string]bool{}
	bestC := map[Workload]float64{}
	for _, r := range rep.Results {
		key := r.Transport + "/" + string(r.Workload) + "/" + FormatSize(int(r.Capacity))
		seen[key] = true
		if r.Error != "" || r.MsgsPerS <= 0 || r.VsC <= 0 {
			t.Errorf("%s: %v msg/s, xC %v, error %q", key, r.MsgsPerS, r.VsC, r.Error)
		}
		checkCopy(t, key, r)
		if r.Transport == CRing && (bestC[r.Workload] == 0 || r.VsC < bestC[r.Workload]) {
			bestC[r.Workload] = r.VsC
		}
	}
	for _, tr := range []string{CRing, Raw, QueueSpin} {
		for _, w := range []Workload{Stream, Batch} {
			for _, c := range []string{"64KiB", "1MiB"} {
				if !seen[tr+"/"+string(w)+"/"+c] {
					t.Errorf("no row for %s %s at %s", tr, w, c)
				}
			}
		}
	}
	for w, c := range bestC {
		if c != 1 {
			t.Errorf("the best c-ring %s row is %vx the C limit, want 1", w, c)
		}
	}
}

// TestRunSweep lets a run choose its capacities: the sweep streams raw and
// c-ring at every default capacity per size, and the run's rows use the
// fastest of each.
func TestRunSweep(t *testing.T) {
	shmtest.SkipShort(t)
	shmtest.Need(t, "gcc")
	sizes := []int{64, 1 << 10}
	rep, err := Run(context.Background(), Using(cRing, rawTransport{}, transportByName(Queue)), Workloads(Stream),
		Sizes(sizes...), Duration(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if want := 2 * len(sizes) * len(DefaultCapacities); len(rep.Sweep) != want || rep.SweepDuration <= 0 {
		t.Fatalf("%d sweep rows of %v, want %d", len(rep.Sweep), rep.SweepDuration, want)
	}
	// The fastest capacity of each transport and size, among the sweep's
	// cases that ran in the placement of the CPUs most of them ran in: a
	// case run while the VM had moved the CPUs is not compared
	// (sweptCapacity, TestSweptCapacity).
	boundary, _ := placements([][]Result{rep.Sweep})
	fastest := map[string]int64{}
	top := map[string]float64{}
	for _, r := range rep.Sweep {
		key := r.Transport + "/" + FormatSize(r.Size)
		if r.Error != "" || !r.Sweep || r.Workload != Stream {
			t.Fatalf("sweep row %s: workload %s, error %q", key, r.Workload, r.Error)
		}
		checkCopy(t, "sweep row "+key, r)
		if placementOf(r, boundary) != sweepPlacement(rep.Sweep, boundary, r.Transport, r.Workload, r.Size) {
			continue
		}
		if r.MsgsPerS > top[key] {
			top[key], fastest[key] = r.MsgsPerS, r.Capacity
		}
	}
	for _, r := range rep.Results {
		want := fastest[Raw+"/"+FormatSize(r.Size)]
		if r.Transport == CRing {
			want = fastest[CRing+"/"+FormatSize(r.Size)]
		}
		if tr := transportByName(r.Transport).(sizedTransport); r.Capacity != tr.capacityFor(r.Size, want) {
			t.Errorf("%s %s: capacity %d, want %d from the sweep", r.Transport, FormatSize(r.Size), r.Capacity, want)
		}
	}
	var buf bytes.Buffer
	if err := WriteTable(&buf, rep); err != nil {
		t.Fatal(err)
	}
	if out := buf.String(); !strings.Contains(out, "\nCapacity sweep (") || strings.Count(out, "*") != 2*len(sizes)+1 {
		t.Errorf("the table does not show the sweep with one choice per transport and size (and the legend):\n%s", out)
	}
}

// TestRunWithoutGCC hides gcc: the C rows say why they did not run, the
// others run, and the run does not count that as a failure.
func TestRunWithoutGCC(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	rep, err := Run(context.Background(), Using(cPingPong, cRing, rawTransport{}), Workloads(RTT, Stream), Sizes(64),
		Duration(300*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	// Round trips: c-pingpong, c-ring and raw; streams: c-ring and raw.
	if len(rep.Results) != 5 || len(rep.Failed()) != 0 {
		t.Fatalf("%d results, %d failed; want 5 and none", len(rep.Results), len(rep.Failed()))
	}
	for _, r := range rep.Results {
		switch {
		case isC(r.Transport) && !strings.Contains(r.Skipped, "gcc is not installed"):
			t.Errorf("%s %s: skipped %q, want the reason", r.Transport, r.Workload, r.Skipped)
		case !isC(r.Transport) && (r.Skipped != "" || r.VsRaw != 1 || r.VsC != 0):
			t.Errorf("raw %s: skipped %q, xRAW %v, xC %v", r.Workload, r.Skipped, r.VsRaw, r.VsC)
		}
	}
	for _, r := range rep.Sweep {
		if r.Transport != Raw {
			t.Errorf("the sweep ran %s without gcc", r.Transport)
		}
	}
	var buf bytes.Buffer
	if err := WriteTable(&buf, rep); err != nil {
		t.Fatal(err)
	}
	if out := buf.String(); !strings.Contains(out, "\nNot run:\n  c-pingpong: not run: gcc is not installed") || strings.Contains(out, "Failed") {
		t.Errorf("the table does not say why the C rows are absent:\n%s", out)
	}
}

// TestBatchAndZeroCopy runs the batch workload and the zero-copy queue,
// with large messages that fill the ring and small ones, over the queue
// and the kernel's transports: every message arrives in order (both sides
// check) and every case yields figures.
func TestBatchAndZeroCopy(t *testing.T) {
	shmtest.SkipShort(t)
	ts, err := Lookup(Queue, QueueZeroCopy, Pipe, Unix)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := Run(context.Background(), Using(ts...), Workloads(RTT, Batch), Sizes(64, 64<<10),
		Capacities(256<<10), Duration(1600*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Results) != 16 {
		t.Fatalf("%d results, want 16", len(rep.Results))
	}
	for _, r := range rep.Results {
		key := r.Transport + "/" + string(r.Workload) + "/" + FormatSize(r.Size)
		switch {
		case r.Error != "":
			t.Errorf("%s: %s", key, r.Error)
		case r.Workload == Batch && r.MsgsPerS <= 0, r.Workload == RTT && r.Samples == 0:
			t.Errorf("%s: no figures: %+v", key, r)
		}
	}
}

func TestParseCOutput(t *testing.T) {
	var r Result
	if err := parseHistogram("bucket 100 2\nbucket 173 1\ntotal 3 sum 373 min 100 max 173\n", &r); err != nil {
		t.Fatal(err)
	}
	if r.Samples != 3 || r.MinNS != 100 || r.P50NS != 100 || r.MaxNS != 173 || r.MeanNS != 124 {
		t.Errorf("histogram read as %+v", r)
	}
	for _, bad := range []string{
		"",
		"bucket 100 2\n", // no totals
		"bucket 100 2\ntotal 3 sum 200 min 100 max 100\n",  // counts disagree
		"bucket 100 2\ntotal 2 sum 200 min 90 max 100\n",   // minimum outside its bucket
		"bucket 99999 1\ntotal 1 sum 1 min 1 max 1\n",      // no such bucket
		"bucket 100 1\ntotal 1 sum 100 min 100 max 100\nx", // more after the totals
		"bucket x 1\n",
	} {
		if err := parseHistogram(bad, &Result{}); err == nil {
			t.Errorf("parseHistogram(%q) accepted it", bad)
		}
	}
	if err := parseRate("messages 1000 ns 2000000 slots 8\n", &r); err != nil || r.MsgsPerS != 500_000 {
		t.Errorf("rate read as %v msg/s, %v", r.MsgsPerS, err)
	}
	for _, bad := range []string{"", "messages 0 ns 10 slots 2\n", "messages 5 ns 0 slots 2\n", "messages x"} {
		if err := parseRate(bad, &Result{}); err == nil {
			t.Errorf("parseRate(%q) accepted it", bad)
		}
	}
}
