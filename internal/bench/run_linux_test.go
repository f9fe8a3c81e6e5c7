package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/shmkit/shm/internal/shmtest"
	"github.com/shmkit/shm/queue"
)

// leftovers returns the objects in /dev/shm that a run by process pid named.
func leftovers(t *testing.T, pid int) []string {
	t.Helper()
	m, err := filepath.Glob(fmt.Sprintf("/dev/shm/shm-bench-%d-*", pid))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// peersOf returns the pids of live peer processes started by driver pid,
// wherever they were reparented: their environment names the driver's pid.
func peersOf(t *testing.T, pid int) []string {
	t.Helper()
	env, _ := filepath.Glob("/proc/[0-9]*/environ")
	mark := []byte(fmt.Sprintf(`"name":"shm-bench-%d-`, pid))
	var out []string
	for _, p := range env {
		b, err := os.ReadFile(p)
		if err == nil && bytes.Contains(b, []byte(peerEnv+"=")) && bytes.Contains(b, mark) {
			out = append(out, p)
		}
	}
	return out
}

// TestRunEveryTransport runs every transport and workload for a few
// milliseconds each and checks that each case produced sane figures, that
// the JSON, table and SVG outputs are well-formed, and that nothing is left
// in /dev/shm. It asserts nothing about speed.
func TestRunEveryTransport(t *testing.T) {
	shmtest.SkipShort(t)
	var seen []Progress
	rep, err := Run(context.Background(), Duration(time.Second), OnProgress(func(p Progress) { seen = append(seen, p) }))
	if err != nil {
		t.Fatal(err)
	}
	// rowsOf counts the cases of a transport: one per workload it runs
	// and size, at the capacity the sweep chose.
	rowsOf := func(tr Transport) int {
		n := 0
		for _, w := range DefaultWorkloads {
			if supports(tr, w) {
				n += len(DefaultSizes)
			}
		}
		return n
	}
	want := 0
	for _, tr := range Transports() {
		want += rowsOf(tr)
	}
	// The sweep: raw's stream and c-ring's stream and batch per size and
	// capacity; without gcc, raw's alone, and the C rows not run.
	_, err = exec.LookPath("gcc")
	haveGCC := err == nil
	sweep := 3 * len(DefaultSizes) * len(DefaultCapacities)
	if !haveGCC {
		sweep = len(DefaultSizes) * len(DefaultCapacities)
	}
	if len(rep.Results) != want || len(rep.Sweep) != sweep || len(seen) != want+sweep {
		t.Fatalf("%d results, %d sweep cases and %d progress calls, want %d, %d and %d", len(rep.Results), len(rep.Sweep), len(seen), want, sweep, want+sweep)
	}
	ran := map[string]bool{}
	for _, r := range rep.Results {
		key := fmt.Sprintf("%s/%s/%d", r.Transport, r.Workload, r.Size)
		if r.Error != "" {
			t.Errorf("%s failed: %s", key, r.Error)
			continue
		}
		ran[key] = true
		if r.Skipped != "" {
			if haveGCC {
				t.Errorf("%s did not run: %s", key, r.Skipped)
			}
			continue
		}
		if r.DurationNS <= 0 {
			t.Errorf("%s: duration %d", key, r.DurationNS)
		}
		switch r.Workload {
		case RTT:
			if r.Samples == 0 || r.Hist == nil || r.Hist.Count() != r.Samples {
				t.Errorf("%s: %d samples", key, r.Samples)
			}
			ordered := []uint64{r.MinNS, r.P50NS, r.P90NS, r.P99NS, r.P999NS, r.MaxNS}
			for i := 1; i < len(ordered); i++ {
				if ordered[i-1] > ordered[i] || ordered[0] == 0 {
					t.Errorf("%s: min, p50, p90, p99, p99.9, max = %v: not positive and ordered", key, ordered)
					break
				}
			}
		case Stream, Batch:
			if r.Messages == 0 || r.MsgsPerS <= 0 || r.BytesPerS != r.MsgsPerS*float64(r.Size) {
				t.Errorf("%s: %d messages, %v msg/s, %v B/s", key, r.Messages, r.MsgsPerS, r.BytesPerS)
			}
		}
		if (haveGCC && r.VsC <= 0) || r.VsRaw <= 0 || r.VsUnix <= 0 || r.VsPipe <= 0 || r.VsSem <= 0 {
			t.Errorf("%s: ratios %v to C, %v to raw, %v to unix, %v to pipe, %v to sem", key, r.VsC, r.VsRaw, r.VsUnix, r.VsPipe, r.VsSem)
		}
		_, sized := transportByName(r.Transport).(sizedTransport)
		if sized != (r.Capacity > 0) {
			t.Errorf("%s: capacity %d", key, r.Capacity)
		}
		checkPeerCPU(t, key, r)
		checkCopy(t, key, r)
		if (r.Transport == Raw && r.VsRaw != 1) || (r.Transport == Unix && r.VsUnix != 1) {
			t.Errorf("%s: ratio to itself is not 1: %v, %v", key, r.VsRaw, r.VsUnix)
		}
	}
	for _, tr := range Transports() {
		for _, w := range DefaultWorkloads {
			for _, s := range DefaultSizes {
				if key := fmt.Sprintf("%s/%s/%d", tr.Name(), w, s); supports(tr, w) && !ran[key] {
					t.Errorf("%s did not run", key)
				}
			}
		}
	}
	for _, r := range rep.Sweep {
		if !r.Sweep || r.Error != "" || r.MsgsPerS <= 0 || r.Capacity < DefaultCapacities[0] {
			t.Errorf("sweep row %s/%s/%d at %d: %v msg/s, %q", r.Transport, r.Workload, r.Size, r.Capacity, r.MsgsPerS, r.Error)
		}
		checkCopy(t, fmt.Sprintf("sweep row %s/%s/%d at %d", r.Transport, r.Workload, r.Size, r.Capacity), r)
	}

	t.Run("json", func(t *testing.T) {
		var buf bytes.Buffer
		if err := WriteJSON(&buf, rep); err != nil {
			t.Fatal(err)
		}
		var rows []map[string]any
		if err := json.Unmarshal(buf.Bytes(), &rows); err != nil {
			t.Fatalf("--json output does not parse: %v\n%s", err, buf.Bytes())
		}
		if len(rows) != len(rep.Results)+len(rep.Sweep) {
			t.Fatalf("%d JSON rows, want %d", len(rows), len(rep.Results)+len(rep.Sweep))
		}
		for _, row := range rows {
			if _, ok := row["skipped"]; ok && !haveGCC {
				continue
			}
			keys := []string{"transport", "workload", "size"}
			if row["workload"] == string(RTT) {
				keys = append(keys, "p50_ns", "p99_ns", "p999_ns")
			} else {
				keys = append(keys, "msgs_per_s", "bytes_per_s")
			}
			for _, k := range keys {
				if _, ok := row[k]; !ok {
					t.Errorf("row %v lacks %q", row, k)
				}
			}
		}
	})
	t.Run("table", func(t *testing.T) {
		var buf bytes.Buffer
		if err := WriteTable(&buf, rep); err != nil {
			t.Fatal(err)
		}
		out := buf.String()
		for _, tr := range Transports() {
			want := rowsOf(tr)
			switch {
			case isC(tr.Name()) && !haveGCC:
				want = 0 // listed under "Not run"
			case tr.Name() == Raw:
				want += len(DefaultSizes) // in the sweep's table
			case tr.Name() == CRing:
				want += 2 * len(DefaultSizes)
			}
			if got := strings.Count(out, "\n"+tr.Name()+" "); got != want {
				t.Errorf("table has %d rows for %s, want %d:\n%s", got, tr.Name(), want, out)
			}
		}
		// Lines on the C copies: under the round trips, the streams, the
		// batches and the sweep, and the legend, where the C programs ran
		// both copies.
		wantCopies := 0
		if haveGCC && runtime.GOARCH == "amd64" {
			wantCopies = 5
		}
		if got := strings.Count(out, "\nC copy"); got != wantCopies {
			t.Errorf("table has %d lines on the C copies, want %d:\n%s", got, wantCopies, out)
		}
	})
	t.Run("svg", func(t *testing.T) {
		var buf bytes.Buffer
		if err := WriteSVG(&buf, rep); err != nil {
			t.Fatal(err)
		}
		d := xml.NewDecoder(&buf)
		curves := 0
		for {
			tok, err := d.Token()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("SVG is not well-formed XML: %v", err)
			}
			if se, ok := tok.(xml.StartElement); ok && se.Name.Local == "polyline" {
				curves++
			}
		}
		want := 0
		for _, tr := range Transports() {
			if supports(tr, RTT) && (haveGCC || !isC(tr.Name())) {
				want += len(DefaultSizes)
			}
		}
		if curves != want {
			t.Errorf("%d curves, want %d", curves, want)
		}
	})

	if left := leftovers(t, os.Getpid()); len(left) > 0 {
		t.Errorf("left in /dev/shm: %v", left)
	}
	if p := peersOf(t, os.Getpid()); len(p) > 0 {
		t.Errorf("peers still running: %v", p)
	}
}

// checkPeerCPU checks that r's peer CPU figures are possible: no negative
// time, and no more than every CPU of the machine busy all along.
func checkPeerCPU(t *testing.T, key string, r Result) {
	t.Helper()
	if r.PeerCPUNS < 0 || r.PeerCPUPercent < 0 || r.PeerCPUPercent > 100*float64(runtime.NumCPU()) {
		t.Errorf("%s: peer used %v of CPU, %.1f%%: impossible on %d CPUs", key, time.Duration(r.PeerCPUNS), r.PeerCPUPercent, runtime.NumCPU())
	}
	if r.PeerCPUNS > 0 != (r.PeerCPUPercent > 0) {
		t.Errorf("%s: peer CPU %dns but %v%%", key, r.PeerCPUNS, r.PeerCPUPercent)
	}
}

// copiesDiffer reports whether glibc's two copies differ for blocks of
// size bytes in this process's environment (see cPrograms.over).
func copiesDiffer(size int) bool {
	ctx := context.Background()
	over, _ := glibcRepMovsbThreshold(ctx, os.Environ())
	upTo, _ := glibcRepMovsbThreshold(ctx, vectorCopy(os.Environ()))
	return size > over && size <= upTo
}

// checkCopy checks that r names the copy its figures are from where it
// ran a C program on amd64 with messages larger than glibc's REP MOVSB
// threshold, which runs both of glibc's copies, and nowhere else.
func checkCopy(t *testing.T, key string, r Result) {
	t.Helper()
	switch {
	case !isC(r.Transport) || r.Skipped != "" || r.Error != "" || runtime.GOARCH != "amd64" || !copiesDiffer(r.Size):
		if r.Copy != "" {
			t.Errorf("%s: copy %q, want none", key, r.Copy)
		}
	case r.Copy != copyMemcpy && r.Copy != copyVector:
		t.Errorf("%s: copy %q, want %q or %q", key, r.Copy, copyMemcpy, copyVector)
	}
}

// TestRunWake runs the wake workload briefly over the queue with its
// default strategy and over the semaphores it is compared with, and checks
// that each case timed round trips, measured its peer's CPU within what is
// possible, and compared itself with sem. It asserts nothing about speed
// and logs how busy each peer was.
func TestRunWake(t *testing.T) {
	ts, err := Lookup(Queue, Sem)
	if err != nil {
		t.Fatal(err)
	}
	if len(ts) != 2 {
		t.Skipf("transports %v: queue or sem not in this build", TransportNames())
	}
	rep, err := Run(context.Background(), Using(ts...), Workloads(Wake), Sizes(64), Duration(600*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Results) != 2 {
		t.Fatalf("%d results, want 2", len(rep.Results))
	}
	for _, r := range rep.Results {
		key := fmt.Sprintf("%s/%s/%d", r.Transport, r.Workload, r.Size)
		if r.Error != "" {
			t.Errorf("%s failed: %s", key, r.Error)
			continue
		}
		if r.Workload != Wake || r.Samples == 0 || r.Hist == nil || r.Hist.Count() != r.Samples {
			t.Errorf("%s: %d samples", key, r.Samples)
		}
		if !(r.MinNS > 0 && r.MinNS <= r.P50NS && r.P50NS <= r.P99NS && r.P99NS <= r.MaxNS) {
			t.Errorf("%s: min %d, p50 %d, p99 %d, max %d: not positive and ordered", key, r.MinNS, r.P50NS, r.P99NS, r.MaxNS)
		}
		// The pauses are not timed: if they were, no round trip would be
		// shorter than one.
		if r.MinNS >= uint64(WakeGap) {
			t.Errorf("%s: shortest round trip %v includes the %v pause", key, FormatNS(r.MinNS), WakeGap)
		}
		checkPeerCPU(t, key, r)
		if r.VsSem <= 0 || (r.Transport == Sem && r.VsSem != 1) {
			t.Errorf("%s: %v to sem", key, r.VsSem)
		}
		t.Logf("%s: %d round trips, p50 %s, peer CPU %s, x%.2f sem", key, r.Samples, FormatNS(r.P50NS),
			formatPercent(r.PeerCPUPercent), r.VsSem)
	}
	var buf bytes.Buffer
	if err := WriteJSON(&buf, rep); err != nil {
		t.Fatal(err)
	}
	var rows []map[string]any
	if err := json.Unmarshal(buf.Bytes(), &rows); err != nil {
		t.Fatalf("JSON does not parse: %v\n%s", err, buf.Bytes())
	}
	for _, row := range rows {
		for _, k := range []string{"workload", "p50_ns", "samples", "peer_cpu_ns", "peer_cpu_percent", "vs_sem"} {
			if _, ok := row[k]; !ok {
				t.Errorf("row %v lacks %q", row, k)
			}
		}
	}
	if left := leftovers(t, os.Getpid()); len(left) > 0 {
		t.Errorf("left in /dev/shm: %v", left)
	}
}

// WakeGap must outlast the queue's spinning, or the wake workload would
// time a spinning peer, not a sleeping one.
func TestWakeGapOutlastsSpin(t *testing.T) {
	if WakeGap < 10*queue.DefaultSpin {
		t.Fatalf("WakeGap %v is not well above queue.DefaultSpin %v", WakeGap, queue.DefaultSpin)
	}
}

// TestProcessCPU reads this process's CPU clock around some work: it
// advances, by no more than the wall time on all CPUs. There is no clock
// for a process that was reaped or a pid that cannot be.
func TestProcessCPU(t *testing.T) {
	start := time.Now()
	before, err := processCPU(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	after := before
	for after-before < 5*time.Millisecond && time.Since(start) < 10*time.Second {
		if after, err = processCPU(os.Getpid()); err != nil {
			t.Fatal(err)
		}
	}
	wall := time.Since(start)
	if after-before < 5*time.Millisecond || after-before > wall*time.Duration(runtime.NumCPU()) {
		t.Fatalf("CPU clock went from %v to %v in %v of wall time", before, after, wall)
	}
	reaped := exec.Command("true")
	if err := reaped.Run(); err != nil {
		t.Fatal(err)
	}
	for _, pid := range []int{reaped.Process.Pid, 0, -1, 1<<22 + 1, 1 << 30} {
		if d, err := processCPU(pid); err == nil {
			t.Errorf("CPU clock of process %d, which is not there: %v, no error", pid, d)
		}
	}
}

// TestRunRounds runs two transports in three rounds and checks that every
// case ran in every round, in turn, and that the merged results carry the
// rounds' ratios.
func TestRunRounds(t *testing.T) {
	var seen []Progress
	rep, err := Run(context.Background(), Using(rawTransport{}, pipeTransport{}), Workloads(RTT, Stream), Sizes(64),
		Duration(600*time.Millisecond), Rounds(3), Capacities(1<<20), OnProgress(func(p Progress) { seen = append(seen, p) }))
	if err != nil {
		t.Fatal(err)
	}
	if rep.Rounds != 3 || len(rep.Results) != 4 || len(seen) != 12 {
		t.Fatalf("%d rounds, %d results, %d cases run; want 3, 4, 12", rep.Rounds, len(rep.Results), len(seen))
	}
	for i, p := range seen {
		if want := seen[i%4].Case; p.Case.Transport != want.Transport || p.Case.Workload != want.Workload || p.Index != i || p.Total != 12 {
			t.Errorf("case %d: %s %s (%d of %d); want %s %s, as in the first round", i, p.Case.Transport, p.Case.Workload, p.Index, p.Total, want.Transport, want.Workload)
		}
	}
	// The pipe, which has no ring, runs first in each workload; the
	// report keeps the order it was asked for.
	if first := seen[0].Case.Transport; first != Pipe {
		t.Errorf("the first case run is %s, want %s", first, Pipe)
	}
	var got []string
	for _, r := range rep.Results {
		got = append(got, r.Transport+"/"+string(r.Workload))
	}
	if want := []string{"raw/rtt", "pipe/rtt", "raw/stream", "pipe/stream"}; !slices.Equal(got, want) {
		t.Errorf("results in the order %v, want %v", got, want)
	}
	for _, r := range rep.Results {
		key := r.Transport + "/" + string(r.Workload)
		switch {
		case r.Error != "":
			t.Errorf("%s failed: %s", key, r.Error)
		case r.VsRaw == 0 && len(rep.Placements) == 2:
			// The host moved the CPUs in every round between this case
			// and raw's: no round compares the two.
		case r.Transport == Raw && (r.VsRaw != 1 || r.VsRawLow != 1 || r.VsRawHigh != 1):
			t.Errorf("%s: xRAW %v (%v-%v), want 1", key, r.VsRaw, r.VsRawLow, r.VsRawHigh)
		case r.Transport != Raw && !(r.VsRawLow > 0 && r.VsRawLow <= r.VsRaw && r.VsRaw <= r.VsRawHigh):
			t.Errorf("%s: xRAW %v outside its rounds' %v-%v", key, r.VsRaw, r.VsRawLow, r.VsRawHigh)
		}
		switch {
		case r.Workload == RTT && (r.Samples == 0 || r.Hist.Count() != r.Samples):
			t.Errorf("%s: %d samples, histogram %d", key, r.Samples, r.Hist.Count())
		case r.Workload == Stream && (r.Messages == 0 || r.MsgsPerS <= 0):
			t.Errorf("%s: %d messages at %v/s", key, r.Messages, r.MsgsPerS)
		}
	}
	if left := leftovers(t, os.Getpid()); len(left) > 0 {
		t.Errorf("left in /dev/shm: %v", left)
	}
}

func TestRunRefusesBadInput(t *testing.T) {
	tests := []struct {
		name string
		opts []Option
	}{
		{"size too small", []Option{Sizes(MinSize - 1)}},
		{"size too large", []Option{Sizes(MaxSize + 1)}},
		{"unknown workload", []Option{Workloads("burst")}},
		{"same CPU twice", []Option{CPUs(0, 0)}},
		{"CPU not available", []Option{CPUs(0, 1<<14)}},
		{"no rounds", []Option{Rounds(-1)}},
		{"too many rounds", []Option{Rounds(MaxRounds + 1)}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Run(context.Background(), tc.opts...); err == nil {
				t.Fatal("no error")
			}
		})
	}
	if _, err := Lookup("raw", "carrier-pigeon"); err == nil || !strings.Contains(err.Error(), "carrier-pigeon") {
		t.Fatalf("Lookup of an unknown transport: %v", err)
	}
}

// TestPeerFailureIsReported checks that a peer that cannot attach turns into
// an error on its case, not a hang, and that the run goes on.
func TestPeerFailureIsReported(t *testing.T) {
	rep, err := Run(context.Background(), Using(rawTransport{}, pipeTransport{}), Workloads(RTT), Sizes(64),
		Duration(20*time.Millisecond), PeerCommand("/bin/false"))
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rep.Results {
		if r.Error == "" {
			t.Errorf("%s: no error with a peer that exits at once", r.Transport)
		}
	}
	if left := leftovers(t, os.Getpid()); len(left) > 0 {
		t.Errorf("left in /dev/shm: %v", left)
	}
}

func init() { shmtest.Role("bench-driver", benchDriver) }

// TestInterruptLeavesNothing starts a driver process, interrupts it with
// SIGINT (Ctrl-C) in the middle of a case of each shared-memory transport,
// and checks that it exits promptly, that its peer is gone and that nothing
// it created is left in /dev/shm.
func TestInterruptLeavesNothing(t *testing.T) {
	shmtest.SkipShort(t)
	for _, tr := range Transports() {
		t.Run(tr.Name(), func(t *testing.T) {
			cmd := shmtest.Command(t, "bench-driver", shmtest.Args{"transport": tr.Name()})
			stdout, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			cmd.Stderr = os.Stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			// The driver prints a line when its first case starts.
			line := make([]byte, 64)
			if n, err := stdout.Read(line); err != nil || !strings.HasPrefix(string(line[:n]), "case") {
				t.Fatalf("driver said %q, %v", line[:n], err)
			}
			time.Sleep(300 * time.Millisecond) // well inside the case
			if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
				t.Fatal(err)
			}
			exited := make(chan error, 1)
			go func() { io.Copy(io.Discard, stdout); exited <- cmd.Wait() }()
			select {
			case err := <-exited:
				var ee *exec.ExitError
				if !errors.As(err, &ee) || ee.ExitCode() != 3 {
					t.Errorf("driver exited with %v, want status 3 (interrupted)", err)
				}
			case <-time.After(10 * time.Second):
				cmd.Process.Kill()
				<-exited // reaped here, not by the harness's cleanup
				t.Fatal("driver still running 10 s after SIGINT")
			}
			if left := leftovers(t, cmd.Process.Pid); len(left) > 0 {
				t.Errorf("left in /dev/shm: %v", left)
			}
			if p := peersGone(t, cmd.Process.Pid); len(p) > 0 {
				t.Errorf("peers still running 2 s after the driver exited: %v", p)
			}
		})
	}
}

// peersGone waits up to 2 s for the peers of driver pid to be gone and
// returns those still running then. The driver kills its peer, and a
// peer's own children (the extra consumers and subscribers) die of their
// parent-death signal, which the kernel delivers as the peer exits: they
// may outlive the driver by a moment.
func peersGone(t *testing.T, pid int) []string {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for {
		p := peersOf(t, pid)
		if len(p) == 0 || time.Now().After(deadline) {
			return p
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// benchDriver is the driver of TestInterruptLeavesNothing: a long run of
// one transport, cancelled by SIGINT. It exits 3 when interrupted.
func benchDriver(a shmtest.Args) int {
	ts, err := Lookup(a["transport"])
	if err != nil {
		return shmtest.ExitStatus(err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	// A capacity, so that the first case is the transport's own, not the
	// sweep's; a stream, for c-ring.
	_, err = Run(ctx, Using(ts...), Workloads(RTT, Stream), Sizes(64), Duration(time.Minute), Capacities(1<<20),
		OnProgress(func(Progress) { fmt.Println("case") }))
	if errors.Is(err, context.Canceled) {
		return 3
	}
	return shmtest.ExitStatus(fmt.Errorf("run was not interrupted: %v", err))
}
