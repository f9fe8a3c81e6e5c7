package bench

import (
	"math"
	"slices"
	"strings"
	"testing"
)

func TestMedian(t *testing.T) {
	for _, tc := range []struct {
		in   []float64
		want float64
	}{
		{[]float64{1.5}, 1.5},
		{[]float64{3, 1, 2}, 2},
		{[]float64{4, 1, 3, 2}, 2.5},
		{[]float64{1.2, 0, 1.1}, 1.15}, // a round without the ratio does not count
		{[]float64{0, 0}, 0},
		{nil, 0},
	} {
		if got := median(tc.in); got != tc.want {
			t.Errorf("median(%v) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

func histOf(vs ...uint64) *Histogram {
	h := &Histogram{}
	for _, v := range vs {
		h.Record(v)
	}
	return h
}

func TestMergeRounds(t *testing.T) {
	rtt := func(d int64, cpu float64, vs ...uint64) Result {
		return Result{Transport: "queue", Workload: RTT, Size: 64, DurationNS: d, PeerCPUNS: int64(cpu * float64(d) / 100),
			PeerCPUPercent: cpu, Hist: histOf(vs...), Samples: uint64(len(vs)), VsRaw: 9}
	}
	stream := func(msgs uint64, d int64) Result {
		return Result{Transport: "queue", Workload: Stream, Size: 64, Messages: msgs, DurationNS: d,
			MsgsPerS: float64(msgs) / (float64(d) / 1e9), VsRaw: 9}
	}
	for _, tc := range []struct {
		name   string
		rounds []Result
		check  func(t *testing.T, m Result)
	}{
		{"round trips of every round", []Result{rtt(1e9, 100, 100, 200), rtt(3e9, 20, 300, 400, 500, 600)}, func(t *testing.T, m Result) {
			if m.Samples != 6 || m.Hist.Count() != 6 {
				t.Errorf("samples %d, histogram %d; want 6", m.Samples, m.Hist.Count())
			}
			if m.MinNS != 100 || m.MaxNS != 600 {
				t.Errorf("min %d, max %d; want 100 and 600", m.MinNS, m.MaxNS)
			}
			if m.P50NS < 300 || m.P50NS > 303 { // exact within 1/128
				t.Errorf("p50 %d, want 300", m.P50NS)
			}
			if m.DurationNS != 4e9 || m.PeerCPUPercent != 40 {
				t.Errorf("duration %d, peer CPU %v%%; want 4e9 and 40%% (weighted by duration)", m.DurationNS, m.PeerCPUPercent)
			}
			if m.VsRaw != 0 {
				t.Errorf("ratio %v kept; roundRatios sets it", m.VsRaw)
			}
		}},
		{"messages of every round", []Result{stream(1000, 1e9), stream(3000, 1e9)}, func(t *testing.T, m Result) {
			if m.Messages != 4000 || m.MsgsPerS != 2000 || m.BytesPerS != 2000*64 {
				t.Errorf("messages %d at %v/s, %v B/s; want 4000 at 2000/s", m.Messages, m.MsgsPerS, m.BytesPerS)
			}
		}},
		{"a failed round fails the case", []Result{stream(1000, 1e9), {Transport: "queue", Workload: Stream, Error: "peer died"}}, func(t *testing.T, m Result) {
			if m.Error != "round 2 of 2: peer died" {
				t.Errorf("error %q", m.Error)
			}
		}},
		{"one round is itself", []Result{rtt(1e9, 50, 100)}, func(t *testing.T, m Result) {
			if m.Samples != 1 || m.DurationNS != 1e9 || m.Error != "" {
				t.Errorf("got %+v", m)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.check(t, mergeRounds(tc.rounds)) })
	}
}

// TestMergeCopies: a C case's merged rounds name the copies its rounds
// kept, each once in the order they first won; a failed case names none.
func TestMergeCopies(t *testing.T) {
	round := func(copy string) Result {
		return Result{Transport: CRing, Workload: Stream, Size: 64 << 10, Messages: 1000, DurationNS: 1e9, MsgsPerS: 1000, Copy: copy}
	}
	failed := Result{Transport: CRing, Workload: Stream, Size: 64 << 10, Error: "ring: exit status 1"}
	for _, tc := range []struct {
		name   string
		rounds []Result
		want   string
	}{
		{"one round", []Result{round("vector")}, "vector"},
		{"every round the same", []Result{round("memcpy"), round("memcpy"), round("memcpy")}, "memcpy"},
		{"both, in the order they first won", []Result{round("vector"), round("memcpy"), round("vector"), round("memcpy")}, "vector+memcpy"},
		{"memcpy first", []Result{round("memcpy"), round("memcpy"), round("vector")}, "memcpy+vector"},
		{"one way only", []Result{round(""), round("")}, ""},
		{"a failed round", []Result{round("vector"), failed}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if m := mergeRounds(tc.rounds); m.Copy != tc.want {
				t.Errorf("copy %q, want %q", m.Copy, tc.want)
			}
		})
	}
}

// TestRoundRatios takes ratios within each round: a machine that runs
// everything twice as fast in the second round leaves the ratio alone,
// where a ratio of the merged figures would not.
func TestRoundRatios(t *testing.T) {
	round := func(rawNS, queueNS uint64) []Result {
		return []Result{
			{Transport: Raw, Workload: RTT, Size: 64, P50NS: rawNS},
			{Transport: "queue", Workload: RTT, Size: 64, P50NS: queueNS},
			{Transport: Unix, Workload: RTT, Size: 64, Error: "no sockets here"},
		}
	}
	rounds := [][]Result{round(400, 480), round(200, 250), round(300, 330)}
	for _, r := range rounds {
		(&Report{Results: r}).ratios(onePlacement)
	}
	merged := []Result{{Transport: Raw}, {Transport: "queue"}, {Transport: Unix, Error: "no sockets here"}}
	roundRatios(merged, rounds)
	q := merged[1]
	if math.Abs(q.VsRaw-1.2) > 1e-9 || math.Abs(q.VsRawLow-1.1) > 1e-9 || math.Abs(q.VsRawHigh-1.25) > 1e-9 {
		t.Errorf("queue: xRAW %v (%v-%v), want 1.2 (1.1-1.25)", q.VsRaw, q.VsRawLow, q.VsRawHigh)
	}
	if q.VsUnix != 0 {
		t.Errorf("queue: xUNIX %v without a unix figure", q.VsUnix)
	}
	if r := merged[0]; r.VsRaw != 1 || r.VsRawLow != 1 || r.VsRawHigh != 1 {
		t.Errorf("raw: xRAW %v (%v-%v), want 1", r.VsRaw, r.VsRawLow, r.VsRawHigh)
	}
	if got := rawRatio(q); got != "1.20 (1.10-1.25)" {
		t.Errorf("the table shows %q", got)
	}
	if got := rawRatio(merged[0]); got != "1.00" {
		t.Errorf("the table shows raw as %q", got)
	}
	var b strings.Builder
	rep := &Report{Rounds: 3, Results: merged}
	if err := WriteTable(&b, rep); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"3 rounds of every case in turn", "median of the ratios of the 3 rounds"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("table without %q:\n%s", want, b.String())
		}
	}
}

// TestQueueYardstick checks xQUEUE on made-up figures: the median of the
// rounds' ratios to the queue with their range, a column only when a
// pattern built on the queue ran with it, and the legend saying what it is.
func TestQueueYardstick(t *testing.T) {
	round := func(queueNS, topicNS uint64) []Result {
		return []Result{
			{Transport: Queue, Workload: RTT, Size: 64, P50NS: queueNS},
			{Transport: "topic", Workload: RTT, Size: 64, P50NS: topicNS},
			{Transport: "queue-consumers-2", Workload: Stream, Size: 64, MsgsPerS: 1e6},
		}
	}
	rounds := [][]Result{round(200, 220), round(300, 390), round(250, 250)}
	for _, r := range rounds {
		(&Report{Results: r}).ratios(onePlacement)
	}
	merged := []Result{{Transport: Queue, Workload: RTT, Size: 64}, {Transport: "topic", Workload: RTT, Size: 64}, {Transport: "queue-consumers-2", Workload: Stream, Size: 64}}
	roundRatios(merged, rounds)
	tp := merged[1]
	if math.Abs(tp.VsQueue-1.1) > 1e-9 || tp.VsQueueLow != 1 || math.Abs(tp.VsQueueHigh-1.3) > 1e-9 {
		t.Errorf("topic: xQUEUE %v (%v-%v), want 1.1 (1-1.3)", tp.VsQueue, tp.VsQueueLow, tp.VsQueueHigh)
	}
	if c := merged[2]; c.VsQueue != 0 {
		t.Errorf("consumers: xQUEUE %v without a queue stream to compare with", c.VsQueue)
	}
	for _, tc := range []struct {
		name    string
		results []Result
		want    bool
	}{
		{"topic and queue", merged, true},
		{"queue alone", merged[:1], false},
	} {
		var b strings.Builder
		if err := WriteTable(&b, &Report{Rounds: 3, Results: tc.results}); err != nil {
			t.Fatal(err)
		}
		out := b.String()
		for _, s := range []string{"xQUEUE  ", "\nxQUEUE: "} {
			if strings.Contains(out, s) != tc.want {
				t.Errorf("%s: table has %q: %v, want %v\n%s", tc.name, s, !tc.want, tc.want, out)
			}
		}
		if tc.want && !strings.Contains(out, "1.10 (1.00-1.30)") {
			t.Errorf("%s: topic's row without its xQUEUE and range:\n%s", tc.name, out)
		}
	}
}

// TestRunOrder: a round runs each workload and size's cases capacity by
// capacity, the transports without a ring first, so that the cases a
// ratio compares run close together.
func TestRunOrder(t *testing.T) {
	c := func(tr string, w Workload, size int, capacity int64) Case {
		return Case{Transport: tr, Workload: w, Size: size, Capacity: capacity}
	}
	for _, tc := range []struct {
		name  string
		cases []Case
		want  []int
	}{
		{"empty", nil, []int{}},
		{"one capacity", []Case{
			c(CPingPong, RTT, 64, 0), c(CRing, RTT, 64, 4<<20), c(Raw, RTT, 64, 4<<20), c(Queue, RTT, 64, 4<<20),
		}, []int{0, 1, 2, 3}},
		{"capacity by capacity", []Case{
			c(CRing, Stream, 64, 1<<20), c(CRing, Stream, 64, 4<<20),
			c(Queue, Stream, 64, 1<<20), c(Queue, Stream, 64, 4<<20),
			c(Pipe, Stream, 64, 0),
		}, []int{4, 0, 2, 1, 3}},
		{"each size and workload apart", []Case{
			c(CRing, Stream, 64, 4<<20), c(Queue, Stream, 64, 1<<20),
			c(CRing, Stream, 1024, 4<<20), c(Queue, Stream, 1024, 1<<20),
			c(CRing, Batch, 64, 4<<20), c(Queue, Batch, 64, 1<<20),
		}, []int{1, 0, 3, 2, 5, 4}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := runOrder(tc.cases); !slices.Equal(got, tc.want) {
				t.Errorf("runOrder = %v, want %v", got, tc.want)
			}
		})
	}
}

// TestRanInReportOrder: the results of a round cut short are given in
// report order, whatever order the cases ran in.
func TestRanInReportOrder(t *testing.T) {
	results := []Result{{Transport: "a"}, {Transport: "b"}, {Transport: "c"}, {Transport: "d"}}
	got := ran(results, []int{3, 0, 2})
	var names []string
	for _, r := range got {
		names = append(names, r.Transport)
	}
	if want := []string{"a", "c", "d"}; !slices.Equal(names, want) {
		t.Errorf("ran = %v, want %v", names, want)
	}
}
