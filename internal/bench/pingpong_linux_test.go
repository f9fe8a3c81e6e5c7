package bench

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/shmkit/shm/internal/shmtest"
)

// TestPingPongC builds testdata/pingpong.c, the C floor that
// docs/BENCHMARKS.md compares the transports' latency tails with, runs it
// briefly and checks that its report is whole and ordered.
func TestPingPongC(t *testing.T) {
	src, err := os.ReadFile("testdata/pingpong.c")
	if err != nil {
		t.Fatal(err)
	}
	bin := shmtest.BuildC(t, string(src), "-Werror")
	out, err := exec.Command(bin, "20000").CombinedOutput()
	if err != nil {
		t.Fatalf("pingpong: %v\n%s", err, out)
	}
	m := regexp.MustCompile(`^round trips 20000  mean \d+ns  p50 (\d+)ns  p90 (\d+)ns  p99 (\d+)ns  p99\.9 (\d+)ns  max (\d+)ns\n$`).FindStringSubmatch(string(out))
	if m == nil {
		t.Fatalf("pingpong printed %q", out)
	}
	prev := uint64(1)
	for i, s := range m[1:] {
		v, _ := strconv.ParseUint(s, 10, 64)
		if v < prev {
			t.Errorf("percentile %d is %dns, below the one before it (%dns): %q", i, v, prev, out)
		}
		prev = v
	}
	if out, err := exec.Command(bin, "10").CombinedOutput(); err == nil {
		t.Errorf("pingpong 10 succeeded; want a refusal: %q", out)
	}
}

// TestCPrograms builds testdata/ring.c and runs it in both forms, and
// pingpong.c in its -m form with one slot and with rings, briefly: their
// reports are whole and read back as a run reads them, and bad arguments
// are refused with status 2.
func TestCPrograms(t *testing.T) {
	ring := shmtest.BuildC(t, ringSource, "-Werror")
	pingpong := shmtest.BuildC(t, pingpongSource, "-Werror")
	for _, mode := range []string{"stream", "batch"} {
		for _, size := range []string{"16", "1000", "65536"} {
			out, err := exec.Command(ring, mode, size, "65536", "1000000", "20000000", "-1", "-1").CombinedOutput()
			if err != nil {
				t.Fatalf("ring %s %s: %v\n%s", mode, size, err, out)
			}
			var r Result
			if err := parseRate(string(out), &r); err != nil || r.MsgsPerS <= 0 {
				t.Errorf("ring %s %s printed %q: %v", mode, size, out, err)
			}
		}
	}
	for _, capacity := range [][]string{nil, {"1"}, {"8192"}} { // one slot; two, the fewest; eight
		args := append([]string{"-m", "1000", "1000000", "20000000", "-1", "-1"}, capacity...)
		out, err := exec.Command(pingpong, args...).CombinedOutput()
		if err != nil {
			t.Fatalf("pingpong %q: %v\n%s", args, err, out)
		}
		var r Result
		if err := parseHistogram(string(out), &r); err != nil || r.Samples == 0 || r.P50NS < r.MinNS || r.MaxNS < r.P999NS {
			t.Errorf("pingpong %q printed %q: %v, %+v", args, out, err, r)
		}
	}
	for _, args := range [][]string{
		{ring},
		{ring, "sideways", "64", "65536", "0", "1000", "-1", "-1"},
		{ring, "stream", "8", "65536", "0", "1000", "-1", "-1"},
		{ring, "stream", "64", "0", "0", "1000", "-1", "-1"},
		{pingpong, "-m", "8", "0", "1000", "-1", "-1"},
		{pingpong, "-m", "64", "0", "1000", "-1", "-1", "0"},
		{pingpong, "-m", "64", "0", "1000", "-1", "-1", "1", "2"},
	} {
		err := exec.Command(args[0], args[1:]...).Run()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 2 {
			t.Errorf("%q: %v, want exit status 2", args[1:], err)
		}
	}
}

// TestVectorCopy: the vector copy runs the C programs with glibc's REP
// MOVSB threshold raised, put before any tunables already in the
// environment, which win.
func TestVectorCopy(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  []string
		want []string
	}{
		{"none set", []string{"HOME=/root"}, []string{"HOME=/root", "GLIBC_TUNABLES=" + repMovsbTunable}},
		{"others set", []string{"GLIBC_TUNABLES=glibc.malloc.check=3", "PATH=/bin"},
			[]string{"PATH=/bin", "GLIBC_TUNABLES=" + repMovsbTunable + ":glibc.malloc.check=3"}},
		{"set empty", []string{"GLIBC_TUNABLES="}, []string{"GLIBC_TUNABLES=" + repMovsbTunable}},
		{"threshold set by the user", []string{"GLIBC_TUNABLES=glibc.cpu.x86_rep_movsb_threshold=2048"},
			[]string{"GLIBC_TUNABLES=" + repMovsbTunable + ":glibc.cpu.x86_rep_movsb_threshold=2048"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := vectorCopy(tc.env); !slices.Equal(got, tc.want) {
				t.Errorf("vectorCopy(%q) = %q, want %q", tc.env, got, tc.want)
			}
		})
	}
}

// TestCCopies: on amd64 a C case runs with the environment as it is and
// with the vector loop's tunable; elsewhere once, unnamed, as it is.
func TestCCopies(t *testing.T) {
	env := []string{"HOME=/root"}
	for _, tc := range []struct {
		arch string
		want []cCopy
	}{
		{"amd64", []cCopy{{copyMemcpy, env}, {copyVector, vectorCopy(env)}}},
		{"arm64", []cCopy{{"", env}}},
		{"386", []cCopy{{"", env}}},
	} {
		got := cCopies(tc.arch, env)
		if !slices.EqualFunc(got, tc.want, func(a, b cCopy) bool { return a.name == b.name && slices.Equal(a.env, b.env) }) {
			t.Errorf("cCopies(%q) = %q, want %q", tc.arch, got, tc.want)
		}
	}
}

// TestFasterCopy keeps the faster of a C case's two runs: for a stream
// the higher rate, for round trips the lower p50 (whatever the tail), the
// first run on a tie.
func TestFasterCopy(t *testing.T) {
	stream := func(copy string, rate float64) Result {
		return Result{Transport: CRing, Workload: Stream, Size: 8 << 10, MsgsPerS: rate, Copy: copy}
	}
	batch := func(copy string, rate float64) Result {
		r := stream(copy, rate)
		r.Workload = Batch
		return r
	}
	rtt := func(copy string, p50, p999 uint64) Result {
		return Result{Transport: CPingPong, Workload: RTT, Size: 64 << 10, P50NS: p50, P999NS: p999, Copy: copy}
	}
	for _, tc := range []struct {
		name     string
		a, b     Result
		wantCopy string
	}{
		{"stream, vector faster", stream(copyMemcpy, 8.2e6), stream(copyVector, 13.2e6), copyVector},
		{"stream, memcpy faster", stream(copyMemcpy, 1.04e6), stream(copyVector, 0.98e6), copyMemcpy},
		{"stream, a tie", stream(copyMemcpy, 5e6), stream(copyVector, 5e6), copyMemcpy},
		{"batch, vector faster", batch(copyMemcpy, 2e6), batch(copyVector, 3e6), copyVector},
		{"round trips, memcpy's p50 lower", rtt(copyMemcpy, 3900, 9000), rtt(copyVector, 4800, 5000), copyMemcpy},
		{"round trips, vector's p50 lower", rtt(copyMemcpy, 5200, 6000), rtt(copyVector, 4100, 30000), copyVector},
		{"round trips, a tie", rtt(copyMemcpy, 4000, 6000), rtt(copyVector, 4000, 5000), copyMemcpy},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := fasterCopy(tc.a, tc.b)
			if got.Copy != tc.wantCopy {
				t.Errorf("fasterCopy kept %s (%v msg/s, p50 %dns), want %s", got.Copy, got.MsgsPerS, got.P50NS, tc.wantCopy)
			}
		})
	}
}

// TestRunCBothCopies runs a C case through a stand-in for ring.c, a
// script that logs its environment and arguments and streams faster or
// slower, or fails, as its copy says: runC runs it once per copy, each
// with half of the warm-up and of the measuring time, keeps the faster
// run and names its copy, and fails the case when either run fails.
func TestRunCBothCopies(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "log")
	script := filepath.Join(dir, "ring")
	// RATE_memcpy and RATE_vector: the messages it reports per
	// millisecond with that copy; "fail" fails.
	const text = `#!/bin/sh
copy=memcpy
case "$GLIBC_TUNABLES" in *x86_rep_movsb_threshold=1073741824*) copy=vector ;; esac
echo "$copy $4 $5" >> "$LOG"
eval n=\$RATE_$copy
if [ "$n" = fail ]; then echo "no luck with $copy" >&2; exit 1; fi
echo "messages $n ns 1000000 slots 64"
`
	if err := os.WriteFile(script, []byte(text), 0o700); err != nil {
		t.Fatal(err)
	}
	cs := Case{Transport: CRing, Workload: Stream, Size: 8 << 10, Capacity: 4 << 20}
	d := 2 * time.Second
	warm, measure := caseTimes(d)
	half := fmt.Sprintf("%d %d", warm/2, measure/2)
	for _, tc := range []struct {
		memcpy, vector string // RATE_memcpy, RATE_vector
		wantCopy       string
		wantRate       float64
		wantErr        string
		wantRuns       []string
	}{
		{"1000", "3000", copyVector, 3e6, "", []string{"memcpy " + half, "vector " + half}},
		{"3000", "1000", copyMemcpy, 3e6, "", []string{"memcpy " + half, "vector " + half}},
		{"2000", "fail", "", 0, "vector copy: ring: exit status 1: no luck with vector", []string{"memcpy " + half, "vector " + half}},
		{"fail", "2000", "", 0, "memcpy copy: ring: exit status 1: no luck with memcpy", []string{"memcpy " + half}},
	} {
		name := "memcpy " + tc.memcpy + ", vector " + tc.vector
		t.Run(name, func(t *testing.T) {
			os.Remove(log)
			env := []string{"PATH=/usr/bin:/bin", "LOG=" + log, "RATE_memcpy=" + tc.memcpy, "RATE_vector=" + tc.vector}
			progs := &cPrograms{bins: map[string]string{ringC.file: script}, copies: cCopies("amd64", env)}
			res := runC(context.Background(), cRing, progs, cs, d, Placement{Driver: -1, Peer: -1})
			if res.Error != tc.wantErr || res.Copy != tc.wantCopy || res.MsgsPerS != tc.wantRate {
				t.Errorf("error %q, copy %q, %v msg/s; want %q, %q, %v", res.Error, res.Copy, res.MsgsPerS, tc.wantErr, tc.wantCopy, tc.wantRate)
			}
			b, err := os.ReadFile(log)
			if err != nil {
				t.Fatal(err)
			}
			if runs := strings.Split(strings.TrimSpace(string(b)), "\n"); !slices.Equal(runs, tc.wantRuns) {
				t.Errorf("runs (copy, warm-up, measuring time) %q, want %q", runs, tc.wantRuns)
			}
		})
	}
	t.Run("alternating", func(t *testing.T) {
		// The second round of a case runs the vector loop first, the third
		// memcpy again.
		env := []string{"PATH=/usr/bin:/bin", "LOG=" + log, "RATE_memcpy=1000", "RATE_vector=1000"}
		progs := &cPrograms{bins: map[string]string{ringC.file: script}, copies: cCopies("amd64", env)}
		var first []string
		for range 3 {
			os.Remove(log)
			res := runC(context.Background(), cRing, progs, cs, d, Placement{Driver: -1, Peer: -1})
			b, _ := os.ReadFile(log)
			runs := strings.Split(strings.TrimSpace(string(b)), "\n")
			if len(runs) != 2 || res.Copy != strings.Fields(runs[0])[0] {
				t.Fatalf("runs %q, copy %q: want two runs, and on a tie the first one's copy", runs, res.Copy)
			}
			first = append(first, strings.Fields(runs[0])[0])
		}
		if want := []string{copyMemcpy, copyVector, copyMemcpy}; !slices.Equal(first, want) {
			t.Errorf("first runs of three cases %q, want %q", first, want)
		}
	})
	// Cases that run once, as glibc chooses, with the whole time: at
	// glibc's REP MOVSB threshold and below, where both copies are its
	// vector loop; above the threshold in the vector loop's environment,
	// where the user's GLIBC_TUNABLES makes both REP MOVSB; and where there
	// is one copy only.
	for _, tc := range []struct {
		name       string
		arch       string
		size       int
		over, upTo int
	}{
		{"at the threshold", "amd64", 4096, 4096, 0},
		{"below the threshold", "amd64", 1000, 0, 0},
		{"above the user's threshold", "amd64", 8192, 2112, 4096},
		{"one way", "arm64", cs.Size, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := []string{"PATH=/usr/bin:/bin", "LOG=" + log, "RATE_memcpy=1000", "RATE_vector=3000"}
			progs := &cPrograms{bins: map[string]string{ringC.file: script}, copies: cCopies(tc.arch, env), over: tc.over, upTo: tc.upTo}
			c := cs
			c.Size = tc.size
			os.Remove(log)
			res := runC(context.Background(), cRing, progs, c, d, Placement{Driver: -1, Peer: -1})
			if res.Error != "" || res.Copy != "" || res.MsgsPerS != 1e6 {
				t.Errorf("error %q, copy %q, %v msg/s; want no error, no copy, 1e6", res.Error, res.Copy, res.MsgsPerS)
			}
			b, _ := os.ReadFile(log)
			if got, want := strings.TrimSpace(string(b)), fmt.Sprintf("memcpy %d %d", warm, measure); got != want {
				t.Errorf("runs %q, want %q: one run with the whole time", got, want)
			}
		})
	}
}

// TestGlibcRepMovsbThreshold reads glibc's REP MOVSB threshold from its
// dynamic loader, as GLIBC_TUNABLES sets it when it does.
func TestGlibcRepMovsbThreshold(t *testing.T) {
	ctx := context.Background()
	def, ok := glibcRepMovsbThreshold(ctx, []string{})
	if !ok {
		t.Skip("no glibc loader here that lists its tunables (amd64, glibc 2.33 or later)")
	}
	if def < repMovsbFloor {
		t.Errorf("threshold %d, below glibc's least, %d", def, repMovsbFloor)
	}
	for _, tc := range []struct {
		env  string
		want int
	}{
		{"GLIBC_TUNABLES=glibc.cpu.x86_rep_movsb_threshold=65536", 65536},
		{"GLIBC_TUNABLES=" + repMovsbTunable, 1 << 30},
	} {
		if got, ok := glibcRepMovsbThreshold(ctx, []string{tc.env}); got != tc.want || !ok {
			t.Errorf("threshold with %s: %d, %v; want %d", tc.env, got, ok, tc.want)
		}
	}
	t.Logf("glibc's REP MOVSB threshold here: %d bytes", def)
}
