package bench

import (
	"bytes"
	"errors"
	"math"
	"strings"
	"testing"
	"time"
)

func TestFormat(t *testing.T) {
	tests := []struct {
		got, want string
	}{
		{FormatNS(0), "0ns"},
		{FormatNS(431), "431ns"},
		{FormatNS(1249), "1.25µs"},
		{FormatNS(46_335), "46.3µs"},
		{FormatNS(2_686_975), "2.69ms"},
		{FormatNS(3_500_000_000), "3.50s"},
		{FormatSize(64), "64B"},
		{FormatSize(1024), "1KiB"},
		{FormatSize(1536), "1.5KiB"},
		{FormatSize(64 << 10), "64KiB"},
		{FormatSize(16 << 20), "16MiB"},
		{FormatRate(4.43e6, ""), "4.43M/s"},
		{FormatRate(18.26e9, "B"), "18.3GB/s"},
		{FormatRate(912, ""), "912/s"},
		{ratio(0), "-"},
		{ratio(1), "1.00"},
		{ratio(0.0099), "0.010"},
		{ratio(58.5), "58.5"},
		{ratio(107.4), "107"},
		{formatPercent(0), "0.0%"},
		{formatPercent(0.34), "0.3%"},
		{formatPercent(2.44), "2.4%"},
		{formatPercent(9.94), "9.9%"},
		{formatPercent(9.96), "10%"},
		{formatPercent(99.6), "100%"},
		{formatPercent(187.2), "187%"},
	}
	for _, tc := range tests {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
}

func TestPlotLabels(t *testing.T) {
	decades := map[int]string{0: "1ns", 2: "100ns", 3: "1µs", 4: "10µs", 7: "10ms", 9: "1s", 11: "100s"}
	for d, want := range decades {
		if got := decadeLabel(d); got != want {
			t.Errorf("decadeLabel(%d) = %q, want %q", d, got, want)
		}
	}
	nines := map[int]string{0: "0%", 1: "90%", 2: "99%", 3: "99.9%", 5: "99.999%"}
	for n, want := range nines {
		if got := ninesLabel(n); got != want {
			t.Errorf("ninesLabel(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestQuantileCell(t *testing.T) {
	tests := []struct {
		name string
		q    float64
		n    uint64
		want string
	}{
		{"median of one", 0.5, 1, "-"}, // the maximum
		{"median of two", 0.5, 2, "1.50µs"},
		{"p99 of 99", 0.99, 99, "-"},
		{"p99 of 100", 0.99, 100, "1.50µs"},
		{"p99.9 of 999", 0.999, 999, "-"},
		{"p99.9 of 1000", 0.999, 1000, "1.50µs"},
		{"p90 of none", 0.9, 0, "-"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := quantileCell(tc.q, 1500, tc.n); got != tc.want {
				t.Errorf("quantileCell(%v, 1500, %d) = %q, want %q", tc.q, tc.n, got, tc.want)
			}
		})
	}
}

func TestPeerUse(t *testing.T) {
	clock := func(readings ...time.Duration) func() (time.Duration, error) {
		return func() (time.Duration, error) {
			if len(readings) == 0 {
				return 0, errors.New("process gone")
			}
			r := readings[0]
			readings = readings[1:]
			return r, nil
		}
	}
	tests := []struct {
		name    string
		peerCPU func() (time.Duration, error)
		wall    time.Duration
		open    bool
		cpu     time.Duration
		percent float64
		wantErr bool
	}{
		{"idle", clock(5*time.Millisecond, 15*time.Millisecond), time.Second, true, 10 * time.Millisecond, 1, false},
		{"one CPU busy", clock(time.Second, 2*time.Second), time.Second, true, time.Second, 100, false},
		{"two threads busy", clock(0, time.Second), 500 * time.Millisecond, true, time.Second, 200, false},
		{"clock went back", clock(2*time.Second, time.Second), time.Second, true, 0, 0, true},
		{"empty window", clock(0, 0), 0, true, 0, 0, true},
		{"peer gone before the end", clock(time.Second), time.Second, true, 0, 0, true},
		{"no clock", nil, time.Second, true, 0, 0, true},
		{"never opened", clock(0, 0), time.Second, false, 0, 0, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := &window{peerCPU: tc.peerCPU}
			if tc.open {
				w.open()
			}
			w.close()
			// The wall time of the window is set, not measured.
			w.end = w.start.Add(tc.wall)
			cpu, percent, err := w.peerUse()
			if (err != nil) != tc.wantErr {
				t.Fatalf("peerUse: %v, %v, %v; want an error: %v", cpu, percent, err, tc.wantErr)
			}
			if cpu != tc.cpu || percent != tc.percent {
				t.Errorf("peerUse = %v, %v%%, want %v, %v%%", cpu, percent, tc.cpu, tc.percent)
			}
		})
	}
}

func TestRatios(t *testing.T) {
	rtt := func(tr string, w Workload, p50 uint64) Result {
		return Result{Transport: tr, Workload: w, Size: 64, P50NS: p50}
	}
	rep := &Report{Results: []Result{
		rtt(Raw, RTT, 250), rtt(Queue, RTT, 500), rtt(Sem, RTT, 50_000), rtt(Unix, RTT, 25_000),
		rtt(Raw, Wake, 2_000), rtt(Queue, Wake, 60_000), rtt(Sem, Wake, 40_000),
		{Transport: Queue, Workload: Stream, Size: 64, MsgsPerS: 1e6},
		{Transport: Queue, Workload: Wake, Size: 1024, P50NS: 1000},
		{Transport: Sem, Workload: Wake, Size: 1024, Error: "failed"},
	}}
	rep.ratios(onePlacement)
	tests := []struct {
		i                    int
		vsRaw, vsUnix, vsSem float64
	}{
		{0, 1, 0.01, 0.005},
		{1, 2, 0.02, 0.01},
		{2, 200, 2, 1},
		{3, 100, 1, 0.5},
		{4, 1, 0, 0.05},
		{5, 30, 0, 1.5},
		{6, 20, 0, 1},
		{7, 0, 0, 0}, // no stream to compare with
		{8, 0, 0, 0}, // sem failed at this size
		{9, 0, 0, 0},
	}
	for _, tc := range tests {
		r := rep.Results[tc.i]
		if r.VsRaw != tc.vsRaw || r.VsUnix != tc.vsUnix || r.VsSem != tc.vsSem {
			t.Errorf("%s %s %d: vs raw %v, unix %v, sem %v; want %v, %v, %v", r.Transport, r.Workload, r.Size,
				r.VsRaw, r.VsUnix, r.VsSem, tc.vsRaw, tc.vsUnix, tc.vsSem)
		}
	}
}

// TestRoundTripLimit: a round trip's C limit is the faster of c-pingpong
// and c-ring at each size, c-ring at the fastest of its capacities.
func TestRoundTripLimit(t *testing.T) {
	rtt := func(tr string, size int, capacity int64, p50 uint64) Result {
		return Result{Transport: tr, Workload: RTT, Size: size, Capacity: capacity, P50NS: p50}
	}
	rep := &Report{Results: []Result{
		rtt(CPingPong, 64, 0, 150), rtt(CRing, 64, 4<<10, 200), rtt(CRing, 64, 4<<20, 225), rtt(Queue, 64, 4<<20, 300),
		rtt(CPingPong, 65536, 0, 20_000), rtt(CRing, 65536, 4<<20, 8_000), rtt(Queue, 65536, 4<<20, 6_000),
	}}
	rep.ratios(onePlacement)
	for i, want := range []float64{1, 200.0 / 150, 1.5, 2, 2.5, 1, 0.75} {
		if r := rep.Results[i]; r.VsC != want {
			t.Errorf("%s %d B at %d: xC %v, want %v", r.Transport, r.Size, r.Capacity, r.VsC, want)
		}
	}
}

// TestRoundTripTailLimit: a round trip's p99.9 is compared with the least
// p99.9 of the C limit's cases at its size, over every program and
// capacity regardless of which had the faster median, and only where both
// timed enough round trips to have a p99.9.
func TestRoundTripTailLimit(t *testing.T) {
	rtt := func(tr string, size int, capacity int64, p50, p999, samples uint64) Result {
		return Result{Transport: tr, Workload: RTT, Size: size, Capacity: capacity, P50NS: p50, P999NS: p999, Samples: samples}
	}
	const many = 1_000_000
	rep := &Report{Results: []Result{
		rtt(CPingPong, 64, 0, 150, 240, many), rtt(CRing, 64, 4<<10, 160, 250, many), rtt(CRing, 64, 4<<20, 170, 200, many),
		rtt(Queue, 64, 4<<20, 200, 300, many),
		rtt(Queue, 64, 8<<10, 190, 500, 999), // too few round trips for a p99.9
		rtt(CPingPong, 1024, 0, 200, 300, 999), rtt(Queue, 1024, 4<<20, 300, 450, many),
		rtt(CPingPong, 4096, 0, 300, 400, many), rtt(CRing, 4096, 4<<20, 280, 0, many), rtt(Queue, 4096, 4<<20, 350, 600, many),
		{Transport: Queue, Workload: Stream, Size: 64, MsgsPerS: 1e6},
		{Transport: CRing, Workload: Stream, Size: 64, MsgsPerS: 2e6},
	}}
	rep.ratios(onePlacement)
	for i, want := range []float64{1.2, 1.25, 1, 1.5, 0, 0, 0, 1, 0, 1.5, 0, 0} {
		if r := rep.Results[i]; math.Abs(r.VsCTail-want) > 1e-9 {
			t.Errorf("%s %s %d B at %d: xC P99.9 %v, want %v", r.Transport, r.Workload, r.Size, r.Capacity, r.VsCTail, want)
		}
	}
	var b strings.Builder
	if err := WriteTable(&b, rep); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"xC P99.9  xRAW", "1.33  1.50", "xC P99.9: a round trip's p99.9 over the least p99.9"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("table without %q:\n%s", want, b.String())
		}
	}
}

// TestWriteTableWake checks the wake-up table on made-up figures: its own
// section with PEER CPU and xSEM, and "-" for a percentile the case timed
// too few round trips for, with the legend saying so.
func TestWriteTableWake(t *testing.T) {
	wake := func(tr string, p50 uint64, samples uint64, cpu float64) Result {
		return Result{Transport: tr, Workload: Wake, Size: 64, Samples: samples, MinNS: p50 / 2, P50NS: p50,
			P90NS: p50 * 2, P99NS: p50 * 3, P999NS: p50 * 4, MaxNS: p50 * 5, PeerCPUPercent: cpu}
	}
	rep := &Report{Placement: Placement{Driver: 0, Peer: 1, Available: 2}, Duration: time.Second, Results: []Result{
		wake(Queue, 60_000, 450, 3.14), wake(Sem, 40_000, 2000, 2.5),
		{Transport: Raw, Workload: RTT, Size: 64, Samples: 10_000, MinNS: 200, P50NS: 250, P90NS: 260, P99NS: 300,
			P999NS: 400, MaxNS: 9000, PeerCPUPercent: 99.7},
	}}
	rep.ratios(onePlacement)
	var buf bytes.Buffer
	if err := WriteTable(&buf, rep); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, want := range []string{
		"\nRound trip (ping-pong)",
		"ROUND TRIPS  PEER CPU  xRAW  xUNIX\n",
		"\nWake-up of an idle peer (ping-pong, 2ms pause before each round trip)",
		"ROUND TRIPS  PEER CPU  xRAW  xSEM\n",
		"\nxSEM: ",
		"\nPEER CPU: ",
		"\nA percentile shown as - has fewer than one round trip above it",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("no %q in:\n%s", want, out)
		}
	}
	rows := map[string]bool{}
	for _, line := range strings.Split(out, "\n") {
		rows[strings.Join(strings.Fields(line), " ")] = true
	}
	for _, want := range []string{
		"raw 64B 250ns 260ns 300ns 400ns 9.00µs 10000 100% 1.00 -",
		"queue 64B 60.0µs 120µs 180µs - 300µs 450 3.1% - 1.50",
		"sem 64B 40.0µs 80.0µs 120µs 160µs 200µs 2000 2.5% - 1.00",
	} {
		if !rows[want] {
			t.Errorf("no row %q in:\n%s", want, out)
		}
	}
	if strings.Contains(out, "Streaming") {
		t.Errorf("a streaming table without streams:\n%s", out)
	}
}
