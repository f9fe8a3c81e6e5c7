package bench

import (
	"errors"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"testing"

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

// TestVectorCopy: the C programs run with glibc's REP MOVSB threshold
// raised, put before any tunables already in the environment, which win.
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
