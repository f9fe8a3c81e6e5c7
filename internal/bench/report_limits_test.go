package bench

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// TestWriteTableLimits checks the tables on made-up figures with the C
// limits, capacities, a pipe, a case that did not run and a capacity
// sweep: the xC, CAPACITY and xPIPE columns appear, the C rows' peer CPU
// is "-", the sweep marks its choices, and the JSON carries the sweep's
// rows after the results.
func TestWriteTableLimits(t *testing.T) {
	stream := func(tr string, w Workload, capacity int64, rate float64) Result {
		return Result{Transport: tr, Workload: w, Size: 64, Capacity: capacity, MsgsPerS: rate, BytesPerS: 64 * rate, PeerCPUPercent: 99}
	}
	rep := &Report{Placement: Placement{Driver: 0, Peer: 1, Available: 2}, Duration: time.Second, Results: []Result{
		stream(CRing, Stream, 1<<20, 40e6), stream(CRing, Stream, 16<<20, 80e6),
		stream(Queue, Stream, 16<<20, 60e6), stream(Pipe, Stream, 0, 1e6),
		stream(CRing, Batch, 16<<20, 100e6), stream(Queue, Batch, 16<<20, 90e6),
		{Transport: CPingPong, Workload: RTT, Size: 64, Skipped: "not run: gcc is not installed"},
	}, SweepDuration: 100 * time.Millisecond, Sweep: []Result{
		{Transport: Raw, Workload: Stream, Size: 64, Capacity: 1 << 20, MsgsPerS: 30e6, BytesPerS: 1.92e9, Sweep: true},
		{Transport: Raw, Workload: Stream, Size: 64, Capacity: 16 << 20, MsgsPerS: 50e6, BytesPerS: 3.2e9, Sweep: true},
	}}
	rep.ratios(onePlacement)
	var buf bytes.Buffer
	if err := WriteTable(&buf, rep); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	rows := map[string]bool{}
	for _, line := range strings.Split(out, "\n") {
		rows[strings.Join(strings.Fields(line), " ")] = true
	}
	for _, want := range []string{
		"TRANSPORT SIZE CAPACITY MSG/S BYTES/S NS/MSG PEER CPU xC xRAW xUNIX xPIPE",
		"c-ring 64B 1MiB 40.0M/s 2.56GB/s 25.0 - 2.00 - - 0.025",
		"c-ring 64B 16MiB 80.0M/s 5.12GB/s 12.5 - 1.00 - - 0.013",
		"queue 64B 16MiB 60.0M/s 3.84GB/s 16.7 99% 1.33 - - 0.017",
		"pipe 64B - 1.00M/s 64.0MB/s 1000.0 99% 80.0 - - 1.00",
		"queue 64B 16MiB 90.0M/s 5.76GB/s 11.1 99% 1.11 - -", // no pipe batch: no xPIPE
		"raw stream 64B 1.92GB/s 3.20GB/s*",
		"Not run:",
		"c-pingpong: not run: gcc is not installed",
	} {
		if !rows[want] && !strings.Contains(out, want) {
			t.Errorf("no %q in:\n%s", want, out)
		}
	}
	if strings.Contains(out, "Failed") {
		t.Errorf("a case that did not run is listed as failed:\n%s", out)
	}
	if len(rep.Failed()) != 0 {
		t.Errorf("Failed() = %v", rep.Failed())
	}
	buf.Reset()
	if err := WriteJSON(&buf, rep); err != nil {
		t.Fatal(err)
	}
	var got []Result
	if err := json.Unmarshal(buf.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if len(got) != len(rep.Results)+len(rep.Sweep) || !got[len(got)-1].Sweep || got[0].Sweep || got[1].Capacity != 16<<20 {
		t.Errorf("JSON rows: %+v", got)
	}
}

// TestWriteTableCopies: under each table a line names the copy each C row
// kept, with its capacity where the table has its transport and size at
// several; the sweep's line gives a row's copy per column, once when they
// agree; a legend explains them; and a run without copies has none of it.
func TestWriteTableCopies(t *testing.T) {
	stream := func(tr string, w Workload, size int, capacity int64, copy string) Result {
		return Result{Transport: tr, Workload: w, Size: size, Capacity: capacity, MsgsPerS: 1e6, BytesPerS: float64(size) * 1e6, Copy: copy}
	}
	rtt := func(tr string, capacity int64, copy string) Result {
		return Result{Transport: tr, Workload: RTT, Size: 64, Capacity: capacity, P50NS: 200, Samples: 1, Copy: copy}
	}
	sweep := func(tr string, size int, capacity int64, copy string) Result {
		r := stream(tr, Stream, size, capacity, copy)
		r.Sweep = true
		return r
	}
	rep := &Report{Placement: Placement{Driver: 0, Peer: 1, Available: 2}, Duration: time.Second, Results: []Result{
		rtt(CPingPong, 0, "memcpy"), rtt(CRing, 4<<20, "vector"), rtt(Queue, 4<<20, ""),
		stream(CRing, Stream, 64, 1<<20, "memcpy"), stream(CRing, Stream, 64, 16<<20, "vector+memcpy"),
		stream(Queue, Stream, 64, 16<<20, ""), stream(CRing, Stream, 64<<10, 4<<20, "vector"),
		stream(CRing, Batch, 64, 4<<20, ""),
	}, SweepDuration: 100 * time.Millisecond, Sweep: []Result{
		sweep(Raw, 64, 1<<20, ""), sweep(Raw, 64, 4<<20, ""), sweep(Raw, 64, 16<<20, ""),
		sweep(CRing, 64, 1<<20, "memcpy"), sweep(CRing, 64, 4<<20, "memcpy"), sweep(CRing, 64, 16<<20, "memcpy"),
		sweep(CRing, 64<<10, 1<<20, "vector"), sweep(CRing, 64<<10, 16<<20, "memcpy"),
	}}
	rep.ratios(onePlacement)
	var buf bytes.Buffer
	if err := WriteTable(&buf, rep); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	rttLine := "\nC copy: c-pingpong 64B memcpy, c-ring 64B vector.\n"
	streamLine := "\nC copy: c-ring 64B 1MiB memcpy, c-ring 64B 16MiB vector+memcpy, c-ring 64KiB vector.\n"
	for _, want := range []string{
		rttLine, streamLine,
		"\nC copy, capacity by capacity as in the columns: c-ring stream 64B memcpy; c-ring stream 64KiB vector/-/memcpy.\n",
		"\nC copy, under each table: each C case whose messages are larger than glibc's REP MOVSB threshold ran its program twice,",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("no %q in:\n%s", want, out)
		}
	}
	// Each line under its own table: round trips, then streams; the
	// batch table's C row names no copy and gets none.
	if r, s, b := strings.Index(out, rttLine), strings.Index(out, "\nStreaming (one way), messages"), strings.Index(out, streamLine); !(r < s && s < b) {
		t.Errorf("the copies are not under their tables:\n%s", out)
	}
	if n := strings.Count(out, "\nC copy: "); n != 2 {
		t.Errorf("%d lines of C copies under the tables, want 2:\n%s", n, out)
	}
	for _, rs := range [][]Result{rep.Results, rep.Sweep} {
		for i := range rs {
			rs[i].Copy = ""
		}
	}
	buf.Reset()
	if err := WriteTable(&buf, rep); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(buf.String(), "C copy") {
		t.Errorf("a run without copies mentions them:\n%s", buf.String())
	}
}
