package bench

import (
	"os"
	"os/exec"
	"regexp"
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
