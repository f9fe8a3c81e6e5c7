package bench

import (
	"math"
	"slices"
	"strings"
	"testing"
)

// onePlacement puts every case in one placement, as a run without probes
// does.
func onePlacement(Result) int { return 0 }

func TestPlacements(t *testing.T) {
	// probed runs a case between each two probes, as Run does: the probe
	// after one case is the probe before the next.
	probed := func(probes ...uint64) [][]Result {
		var round []Result
		for i := 0; i+1 < len(probes); i++ {
			round = append(round, Result{LinkBeforeNS: probes[i], LinkAfterNS: probes[i+1]})
		}
		return [][]Result{round}
	}
	for _, tc := range []struct {
		name     string
		rounds   [][]Result
		boundary uint64
		ranges   []PlacementRange
	}{
		{"not probed", probed(0, 0, 0, 0), 0, nil},
		{"one placement", probed(130, 120, 121, 170), 0, []PlacementRange{{120, 170}}},
		{"two placements", probed(130, 120, 120, 361, 400, 390, 271, 130, 125), 271,
			[]PlacementRange{{120, 130}, {271, 400}}},
		{"the widest step splits", probed(100, 100, 101, 160, 161, 800, 801), 800,
			[]PlacementRange{{100, 161}, {800, 801}}},
		{"the first probe is the first case's before only", probed(400, 120, 121, 122), 0, []PlacementRange{{120, 122}}},
		{"a failed probe is left out", probed(0, 130, 125, 0), 0, []PlacementRange{{125, 130}}},
		{"one slow probe is noise", probed(120, 125, 126, 400, 121, 124), 0, []PlacementRange{{121, 400}}},
		{"one fast probe is noise", probed(380, 385, 40, 390, 400), 0, []PlacementRange{{40, 400}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			boundary, ranges := placements(tc.rounds)
			if boundary != tc.boundary || !slices.Equal(ranges, tc.ranges) {
				t.Errorf("placements = %d, %v; want %d, %v", boundary, ranges, tc.boundary, tc.ranges)
			}
		})
	}
}

func TestPlacementOf(t *testing.T) {
	for _, tc := range []struct {
		before, after, boundary uint64
		want                    int
	}{
		{130, 120, 0, 0},
		{0, 0, 0, 0},
		{130, 120, 271, 0},
		{361, 400, 271, 1},
		{130, 400, 271, -1},
		{400, 130, 271, -1},
		{0, 400, 271, -1},
	} {
		if got := placementOf(Result{LinkBeforeNS: tc.before, LinkAfterNS: tc.after}, tc.boundary); got != tc.want {
			t.Errorf("placementOf(%d, %d; boundary %d) = %d, want %d", tc.before, tc.after, tc.boundary, got, tc.want)
		}
	}
}

// TestFoldByPlacement folds four rounds of made-up figures: one whose two
// cases ran while the CPUs were close, one while they were far apart, one
// whose cases ran in different placements and one whose queue case saw
// the CPUs move. Only the first two rounds give ratios, each to its own
// placement's C figure.
func TestFoldByPlacement(t *testing.T) {
	const near, far = 125, 380
	stream := func(transport string, rate float64, before, after uint64) Result {
		return Result{Transport: transport, Workload: Stream, Size: 64, Capacity: 4 << 20, MsgsPerS: rate,
			Messages: uint64(rate), DurationNS: 1e9, LinkBeforeNS: before, LinkAfterNS: after}
	}
	rounds := [][]Result{
		{stream(CRing, 20e6, near, near), stream(Queue, 25e6, near, near)},
		{stream(CRing, 6.8e6, far, far), stream(Queue, 6e6, far, far)},
		{stream(CRing, 20e6, near, near), stream(Queue, 6e6, far, far)},
		{stream(CRing, 20e6, near, near), stream(Queue, 20e6, near, far)},
	}
	rep := &Report{Rounds: len(rounds)}
	rep.fold(rounds, nil)
	if want := []PlacementRange{{near, near}, {far, far}}; !slices.Equal(rep.Placements, want) {
		t.Fatalf("placements %v, want %v", rep.Placements, want)
	}
	q := rep.Results[1]
	nearC, farC := 20.0/25, 6.8/6
	if want := (nearC + farC) / 2; math.Abs(q.VsC-want) > 1e-9 || math.Abs(q.VsCLow-nearC) > 1e-9 || math.Abs(q.VsCHigh-farC) > 1e-9 {
		t.Errorf("queue: xC %v (%v-%v), want %v (%v-%v) from the first two rounds", q.VsC, q.VsCLow, q.VsCHigh, want, nearC, farC)
	}
	if q.LinkLowNS != near || q.LinkHighNS != far {
		t.Errorf("queue: link %d-%d, want %d-%d", q.LinkLowNS, q.LinkHighNS, near, far)
	}
	if len(q.ByPlacement) != 2 {
		t.Fatalf("queue: %d placements, want 2", len(q.ByPlacement))
	}
	for i, want := range []struct {
		vsC    float64
		rounds int
	}{{nearC, 1}, {farC, 2}} {
		if p := q.ByPlacement[i]; math.Abs(p.VsC-want.vsC) > 1e-9 || p.Rounds != want.rounds {
			t.Errorf("queue in placement %d: xC %v, ran there in %d rounds; want %v and %d", i, p.VsC, p.Rounds, want.vsC, want.rounds)
		}
	}
	if c := rep.Results[0].ByPlacement; c[0].Rounds != 3 || c[0].VsC != 1 || c[1].Rounds != 1 {
		t.Errorf("c-ring by placement %+v, want 3 rounds near and 1 far", c)
	}

	var b strings.Builder
	if err := WriteTable(&b, rep); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"125ns around some cases, 380ns around others",
		"By placement:",
		"xC AT 125ns",
		"queue      stream    64B   4MiB      0.80         -              1 of 1  1.13         -              1 of 2",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("table without %q:\n%s", want, out)
		}
	}
}

// TestFoldTailByPlacement folds four rounds of made-up round trips, three
// near and one far: each round's p99.9 ratio comes from that round's own
// figures, the row's is their median, and each placement gets its own.
func TestFoldTailByPlacement(t *testing.T) {
	const near, far = 125, 380
	rtt := func(transport string, p50, p999 uint64, probe uint64) Result {
		return Result{Transport: transport, Workload: RTT, Size: 64, P50NS: p50, P999NS: p999, Samples: 1_000_000,
			DurationNS: 1e9, LinkBeforeNS: probe, LinkAfterNS: probe}
	}
	rounds := [][]Result{
		{rtt(CPingPong, 150, 200, near), rtt(QueueSpin, 180, 300, near)},
		{rtt(CPingPong, 400, 1000, far), rtt(QueueSpin, 450, 1100, far)},
		{rtt(CPingPong, 150, 250, near), rtt(QueueSpin, 190, 300, near)},
		{rtt(CPingPong, 150, 200, near), rtt(QueueSpin, 190, 300, near)},
	}
	rep := &Report{Rounds: len(rounds)}
	rep.fold(rounds, nil)
	q := rep.Results[1]
	if want := 1.35; math.Abs(q.VsCTail-want) > 1e-9 {
		t.Errorf("queue-spin: xC P99.9 %v, want %v, the median of 1.5, 1.1, 1.2 and 1.5", q.VsCTail, want)
	}
	if len(q.ByPlacement) != 2 {
		t.Fatalf("queue-spin: %d placements, want 2", len(q.ByPlacement))
	}
	if near, far := q.ByPlacement[0].VsCTail, q.ByPlacement[1].VsCTail; near != 1.5 || math.Abs(far-1.1) > 1e-9 {
		t.Errorf("queue-spin: xC P99.9 %v near and %v far, want 1.5 and 1.1", near, far)
	}
	var b strings.Builder
	if err := WriteTable(&b, rep); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"xC P99.9 AT 125ns", "xC P99.9 AT 380ns"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("table without %q:\n%s", want, b.String())
		}
	}
}

// TestFoldOnePlacement: with one placement, or none probed, every round
// counts and no row has ratios by placement.
func TestFoldOnePlacement(t *testing.T) {
	for _, probe := range []uint64{0, 125} {
		rounds := [][]Result{
			{{Transport: Raw, Workload: RTT, Size: 64, P50NS: 200, LinkBeforeNS: probe, LinkAfterNS: probe},
				{Transport: Queue, Workload: RTT, Size: 64, P50NS: 240, LinkBeforeNS: probe, LinkAfterNS: probe}},
			{{Transport: Raw, Workload: RTT, Size: 64, P50NS: 400, LinkBeforeNS: probe, LinkAfterNS: probe},
				{Transport: Queue, Workload: RTT, Size: 64, P50NS: 440, LinkBeforeNS: probe, LinkAfterNS: probe}},
		}
		rep := &Report{Rounds: 2}
		rep.fold(rounds, nil)
		q := rep.Results[1]
		if math.Abs(q.VsRaw-1.15) > 1e-9 || q.ByPlacement != nil {
			t.Errorf("probe %d: queue xRAW %v, by placement %v; want 1.15 and none", probe, q.VsRaw, q.ByPlacement)
		}
		var b strings.Builder
		if err := WriteTable(&b, rep); err != nil {
			t.Fatal(err)
		}
		if got := strings.Contains(b.String(), "probed before and after every case: 125ns."); got != (probe != 0) {
			t.Errorf("probe %d: the table says the link: %v\n%s", probe, got, b.String())
		}
	}
}

// TestFoldYardstickSplit: c-ring ran at two capacities, and in one round
// its faster capacity ran in the other placement than the queue's case.
// That round gives the queue no ratio to C: C's best in the queue's
// placement is unknown there.
func TestFoldYardstickSplit(t *testing.T) {
	const near, far = 125, 380
	stream := func(transport string, capacity int64, rate float64, link uint64) Result {
		return Result{Transport: transport, Workload: Stream, Size: 64, Capacity: capacity, MsgsPerS: rate,
			Messages: uint64(rate), DurationNS: 1e9, LinkBeforeNS: link, LinkAfterNS: link}
	}
	rounds := [][]Result{
		{stream(CRing, 1<<20, 20e6, near), stream(CRing, 16<<20, 18e6, near), stream(Queue, 16<<20, 25e6, near)},
		{stream(CRing, 1<<20, 20e6, near), stream(CRing, 16<<20, 6e6, far), stream(Queue, 16<<20, 6e6, far)},
		{stream(CRing, 1<<20, 7e6, far), stream(CRing, 16<<20, 6e6, far), stream(Queue, 16<<20, 6e6, far)},
	}
	rep := &Report{Rounds: len(rounds)}
	rep.fold(rounds, nil)
	q := rep.Results[2]
	if want := (20.0/25 + 7.0/6) / 2; math.Abs(q.VsC-want) > 1e-9 {
		t.Errorf("queue: xC %v, want %v from the first and last rounds", q.VsC, want)
	}
	if p := q.ByPlacement; len(p) != 2 || p[1].Rounds != 2 || math.Abs(p[1].VsC-7.0/6) > 1e-9 {
		t.Errorf("queue by placement %+v, want the far xC from the last round alone", p)
	}
}

// TestFoldTailYardstickSplit: the p99.9 ratio follows xC's placement
// rule. In the second round c-ring's 4 MiB case ran in the other
// placement than its 8 KiB case and the queue's, so that round gives the
// queue no ratio of either kind.
func TestFoldTailYardstickSplit(t *testing.T) {
	const near, far = 125, 380
	rtt := func(transport string, capacity int64, p50, p999 uint64, link uint64) Result {
		return Result{Transport: transport, Workload: RTT, Size: 64, Capacity: capacity, P50NS: p50, P999NS: p999,
			Samples: 1_000_000, DurationNS: 1e9, LinkBeforeNS: link, LinkAfterNS: link}
	}
	rounds := [][]Result{
		{rtt(CRing, 8<<10, 150, 200, near), rtt(CRing, 4<<20, 160, 220, near), rtt(Queue, 4<<20, 190, 300, near)},
		{rtt(CRing, 8<<10, 150, 200, near), rtt(CRing, 4<<20, 400, 900, far), rtt(Queue, 4<<20, 190, 300, near)},
		{rtt(CRing, 8<<10, 380, 1000, far), rtt(CRing, 4<<20, 400, 900, far), rtt(Queue, 4<<20, 450, 1080, far)},
	}
	rep := &Report{Rounds: len(rounds)}
	rep.fold(rounds, nil)
	q := rep.Results[2]
	if want := (1.5 + 1.2) / 2; math.Abs(q.VsCTail-want) > 1e-9 {
		t.Errorf("queue: xC P99.9 %v, want %v from the first and last rounds", q.VsCTail, want)
	}
	if p := q.ByPlacement; len(p) != 2 || p[0].Rounds != 2 || p[0].VsCTail != 1.5 || math.Abs(p[1].VsCTail-1.2) > 1e-9 {
		t.Errorf("queue by placement %+v, want xC P99.9 1.5 near from the first round alone, 1.2 far", p)
	}
}

// TestStopped: an interrupted run reports its complete rounds, or with none
// complete the cases of the first round that finished, and the table says
// which.
func TestStopped(t *testing.T) {
	rtt := func(transport string, p50 uint64) Result {
		return Result{Transport: transport, Workload: RTT, Size: 64, P50NS: p50, P999NS: 2 * p50, Samples: 1_000_000, DurationNS: 1e9}
	}
	round := func() []Result { return []Result{rtt(CPingPong, 150), rtt(Queue, 200)} }
	for _, tc := range []struct {
		name    string
		done    [][]Result
		partial []Result
		rounds  int
		rows    int
		note    string
	}{
		{"in the first case", nil, nil, 0, 0, "Interrupted: no case finished."},
		{"in the first round", nil, round()[:1], 0, 1, "Interrupted: the figures cover the cases of the first round that finished."},
		{"in the second round", [][]Result{round()}, round()[:1], 1, 2, "Interrupted: the figures cover the one round that was complete."},
		{"in the fourth round", [][]Result{round(), round(), round()}, nil, 3, 2, "Interrupted: the figures cover the 3 rounds that were complete."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rep := &Report{Rounds: 4}
			rep.stopped(tc.done, tc.partial)
			if !rep.Interrupted || rep.Rounds != tc.rounds || len(rep.Results) != tc.rows {
				t.Fatalf("interrupted %v, %d rounds, %d rows; want true, %d, %d", rep.Interrupted, rep.Rounds, len(rep.Results), tc.rounds, tc.rows)
			}
			var b strings.Builder
			if err := WriteTable(&b, rep); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(b.String(), tc.note) {
				t.Errorf("table without %q:\n%s", tc.note, b.String())
			}
		})
	}
}

// TestFoldPartialRound: a run stopped in its first round compares every
// case it has, says so when the CPUs moved, and still gives the probes.
func TestFoldPartialRound(t *testing.T) {
	partial := []Result{
		{Transport: Raw, Workload: RTT, Size: 64, P50NS: 200, LinkBeforeNS: 50, LinkAfterNS: 52},
		{Transport: Queue, Workload: RTT, Size: 64, P50NS: 600, LinkBeforeNS: 52, LinkAfterNS: 51},
		{Transport: Pipe, Workload: RTT, Size: 64, P50NS: 9000, LinkBeforeNS: 51, LinkAfterNS: 380},
		{Transport: Unix, Workload: RTT, Size: 64, P50NS: 9000, LinkBeforeNS: 380, LinkAfterNS: 390},
	}
	rep := &Report{Rounds: 5}
	rep.fold(nil, partial)
	if len(rep.Placements) != 2 || rep.placed {
		t.Fatalf("placements %v, placed %v; want two, not used", rep.Placements, rep.placed)
	}
	if q := rep.Results[1]; q.VsRaw != 3 || q.LinkLowNS != 51 || q.LinkHighNS != 52 {
		t.Errorf("queue: xRAW %v, link %d-%d; want 3 and 51-52", q.VsRaw, q.LinkLowNS, q.LinkHighNS)
	}
	var b strings.Builder
	if err := WriteTable(&b, rep); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	if !strings.Contains(out, "a ratio may compare cases that ran in different placements") || strings.Contains(out, "By placement") {
		t.Errorf("table of a partial round:\n%s", out)
	}
}

// TestSweptCapacity: the sweep's choice compares a row's capacities
// within the placement most of them ran in. Here raw's 16 MiB case ran
// while the CPUs were close, and fastest of all, but two of the others
// ran far apart and one while the CPUs moved: 1 MiB, the faster of the
// two, is chosen, and the table marks the other cells as not compared.
func TestSweptCapacity(t *testing.T) {
	const near, far = 60, 350
	swept := func(capacity int64, rate float64, before, after uint64) Result {
		return Result{Transport: Raw, Workload: Stream, Size: 64, Capacity: capacity, MsgsPerS: rate,
			BytesPerS: rate * 64, Sweep: true, LinkBeforeNS: before, LinkAfterNS: after}
	}
	for _, tc := range []struct {
		name  string
		sweep []Result
		want  int64
		marks bool
	}{
		{"one placement", []Result{
			swept(256<<10, 10e6, near, near), swept(1<<20, 12e6, near, near),
			swept(4<<20, 20e6, near, near), swept(16<<20, 15e6, near, near)}, 4 << 20, false},
		{"most ran far", []Result{
			swept(256<<10, 5e6, far, far), swept(1<<20, 7e6, far, far),
			swept(4<<20, 6e6, far, near), swept(16<<20, 30e6, near, near)}, 1 << 20, true},
		{"no figure", nil, 4 << 20, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			boundary, _ := placements([][]Result{tc.sweep})
			if got := sweptCapacity(tc.sweep, boundary, Raw, Stream, 64); got != tc.want {
				t.Errorf("sweptCapacity = %d, want %d", got, tc.want)
			}
			if len(tc.sweep) == 0 {
				return
			}
			var b strings.Builder
			if err := WriteTable(&b, &Report{Sweep: tc.sweep}); err != nil {
				t.Fatal(err)
			}
			out := b.String()
			if got := strings.Contains(out, "~ marks a case"); got != tc.marks {
				t.Errorf("the sweep's table marks cases apart: %v, want %v\n%s", got, tc.marks, out)
			}
			if tc.marks && (!strings.Contains(out, "1.92GB/s~") || !strings.Contains(out, "448MB/s*")) {
				t.Errorf("want the 16 MiB cell marked apart and 1 MiB chosen:\n%s", out)
			}
		})
	}
}
