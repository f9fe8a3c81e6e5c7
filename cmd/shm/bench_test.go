//go:build linux

package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/shmkit/shm/internal/bench"
	"github.com/shmkit/shm/internal/shmtest"
)

// benchLeftovers lists what a bench run by process pid left in /dev/shm.
func benchLeftovers(t *testing.T, pid int) []string {
	t.Helper()
	m, err := filepath.Glob(fmt.Sprintf("/dev/shm/shm-bench-%d-*", pid))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// childrenOf returns the pids of the live children of pid.
func childrenOf(pid int) []int {
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	var out []int
	for _, p := range stats {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		i := bytes.LastIndexByte(b, ')')
		f := strings.Fields(string(b[i+1:])) // state, ppid, ...
		if len(f) > 1 && f[1] == strconv.Itoa(pid) && f[0] != "Z" {
			c, _ := strconv.Atoi(filepath.Base(filepath.Dir(p)))
			out = append(out, c)
		}
	}
	return out
}

// TestBenchJSON runs the real binary over every transport for a short
// while and checks the --json output and the --plot file. No timing is
// asserted: only that every case ran and its figures are sane.
func TestBenchJSON(t *testing.T) {
	shmtest.SkipShort(t)
	bin := buildShm(t)
	plot := filepath.Join(t.TempDir(), "latency.svg")
	cmd := exec.Command(bin, "bench", "--json", "--duration", "1s", "--plot", plot)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("shm bench: %v\n%s", err, stderr.String())
	}
	if stderr.Len() != 0 {
		t.Errorf("stderr is not a terminal, yet the command wrote %q", stderr.String())
	}
	var rows []struct {
		Transport string   `json:"transport"`
		Workload  string   `json:"workload"`
		Size      int      `json:"size"`
		P50       uint64   `json:"p50_ns"`
		P99       uint64   `json:"p99_ns"`
		P999      uint64   `json:"p999_ns"`
		Max       uint64   `json:"max_ns"`
		MsgsPerS  float64  `json:"msgs_per_s"`
		BytesPerS float64  `json:"bytes_per_s"`
		PeerCPU   *float64 `json:"peer_cpu_percent"`
		Error     string   `json:"error"`
		Skipped   string   `json:"skipped"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &rows); err != nil {
		t.Fatalf("--json output does not parse: %v\n%s", err, stdout.String())
	}
	got := map[string]bool{}
	for _, r := range rows {
		key := fmt.Sprintf("%s %s %d", r.Transport, r.Workload, r.Size)
		got[key] = true
		_, noGCC := exec.LookPath("gcc")
		switch {
		case r.Skipped != "":
			if noGCC == nil {
				t.Errorf("%s did not run: %s", key, r.Skipped)
			}
		case r.Error != "":
			t.Errorf("%s: %s", key, r.Error)
		case r.Workload == "rtt" && !(r.P50 > 0 && r.P50 <= r.P99 && r.P99 <= r.P999 && r.P999 <= r.Max):
			t.Errorf("%s: p50 %d, p99 %d, p99.9 %d, max %d", key, r.P50, r.P99, r.P999, r.Max)
		case (r.Workload == "stream" || r.Workload == "batch") && !(r.MsgsPerS > 0 && r.BytesPerS > 0):
			t.Errorf("%s: %v msg/s, %v B/s", key, r.MsgsPerS, r.BytesPerS)
		case r.PeerCPU == nil || *r.PeerCPU < 0 || *r.PeerCPU > 100*float64(runtime.NumCPU()):
			t.Errorf("%s: peer_cpu_percent %v, want 0 to %d", key, r.PeerCPU, 100*runtime.NumCPU())
		}
	}
	for _, tr := range bench.TransportNames() {
		workloads := []string{"rtt", "stream", "batch"}
		switch tr {
		case bench.CPingPong:
			workloads = []string{"rtt"}
		case bench.QueueConsumers2:
			workloads = []string{"stream"}
		}
		for _, w := range workloads {
			for _, s := range []int{64, 1024, 65536} {
				if key := fmt.Sprintf("%s %s %d", tr, w, s); !got[key] {
					t.Errorf("no result for %s", key)
				}
			}
		}
	}
	svg, err := os.ReadFile(plot)
	if err != nil || !bytes.HasPrefix(svg, []byte("<svg")) || !bytes.HasSuffix(svg, []byte("</svg>\n")) {
		t.Errorf("--plot wrote %d bytes (%v), not an SVG document", len(svg), err)
	}
	if left := benchLeftovers(t, cmd.Process.Pid); len(left) > 0 {
		t.Errorf("left in /dev/shm: %v", left)
	}
}

// TestBenchTable checks the table for people: a subset of transports and
// sizes, chosen by flags written the way a user would.
func TestBenchTable(t *testing.T) {
	shmtest.SkipShort(t)
	bin := buildShm(t)
	out, err := exec.Command(bin, "bench", "--transport", "raw,unix", "--size", "64,1K", "--workload", "rtt", "--duration", "200ms").CombinedOutput()
	if err != nil {
		t.Fatalf("shm bench: %v\n%s", err, out)
	}
	s := string(out)
	if !strings.Contains(s, "TRANSPORT  SIZE") || strings.Contains(s, "Streaming") {
		t.Errorf("want one round-trip table:\n%s", s)
	}
	for _, row := range []string{"\nraw        64B ", "\nunix       64B ", "\nraw        1KiB ", "\nunix       1KiB "} {
		if !strings.Contains(s, row) {
			t.Errorf("no row %q in:\n%s", row, s)
		}
	}
	if strings.Contains(s, "\npipe ") || strings.Contains(s, "64KiB") {
		t.Errorf("rows that were not asked for:\n%s", s)
	}
}

// TestBenchWake runs the wake workload alone, over the queue and the
// semaphores it is compared with: one table, of wake-ups, with the peer's
// CPU use and the ratio to sem, and the legend that explains both.
func TestBenchWake(t *testing.T) {
	shmtest.SkipShort(t)
	bin := buildShm(t)
	out, err := exec.Command(bin, "bench", "--workload", "wake", "--transport", "queue,sem", "--size", "64", "--duration", "400ms").CombinedOutput()
	if err != nil {
		t.Fatalf("shm bench: %v\n%s", err, out)
	}
	s := string(out)
	for _, want := range []string{"\nWake-up of an idle peer", "PEER CPU  xRAW  xSEM\n", "\nqueue  ", "\nsem    ", "\nxSEM: ", "\nPEER CPU: "} {
		if !strings.Contains(s, want) {
			t.Errorf("no %q in:\n%s", want, s)
		}
	}
	if strings.Contains(s, "Round trip (ping-pong)") || strings.Contains(s, "Streaming") {
		t.Errorf("tables that were not asked for:\n%s", s)
	}
}

// TestBenchOneCPU runs the bench confined to one CPU, where it cannot pin
// the two processes apart: the busy-polling transports must still make
// progress (they yield the CPU), and the output must say nothing is pinned.
func TestBenchOneCPU(t *testing.T) {
	shmtest.SkipShort(t)
	taskset := shmtest.Need(t, "taskset")
	bin := buildShm(t)
	out, err := exec.Command(taskset, "-c", "0", bin, "bench", "--json", "--transport", "raw,unix", "--size", "64", "--duration", "300ms").Output()
	if err != nil {
		t.Fatalf("shm bench on one CPU: %v", err)
	}
	var all, rows []bench.Result
	if err := json.Unmarshal(out, &all); err != nil {
		t.Fatalf("--json: %v\n%s", err, out)
	}
	for _, r := range all {
		if !r.Sweep {
			rows = append(rows, r)
		}
	}
	if len(rows) != 6 || len(all) != 6+len(bench.DefaultCapacities) {
		t.Fatalf("%d results and %d of the capacity sweep, want 6 and %d:\n%s", len(rows), len(all)-len(rows), len(bench.DefaultCapacities), out)
	}
	for _, r := range rows {
		if r.Error != "" || r.DriverCPU != -1 || r.PeerCPU != -1 {
			t.Errorf("%s %s: error %q, CPUs %d and %d (want -1: not pinned)", r.Transport, r.Workload, r.Error, r.DriverCPU, r.PeerCPU)
		}
		if r.Workload == bench.RTT && (r.P50NS == 0 || r.P50NS > r.MaxNS) || r.Workload != bench.RTT && r.MsgsPerS <= 0 {
			t.Errorf("%s %s: figures %+v", r.Transport, r.Workload, r)
		}
	}
}

func TestBenchUsageErrors(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"bench", "--transport", "raw,carrier-pigeon"}, `unknown transport "carrier-pigeon"`},
		{[]string{"bench", "--size", "1.5K"}, "fractions are not accepted"},
		{[]string{"bench", "--size", "8"}, "--size: 8 is outside 16 to 16M"},
		{[]string{"bench", "--workload", "burst"}, `unknown workload "burst"`},
		{[]string{"bench", "--duration", "0s"}, "--duration: 0s is not positive"},
		{[]string{"bench", "--rounds", "0"}, "--rounds: 0 is outside 1 to 100"},
		{[]string{"bench", "--capacity", "1M,1K"}, "--capacity: 1K is outside 4K to 1G"},
		{[]string{"bench", "--capacity", "2G"}, "--capacity: 2G is outside 4K to 1G"},
		{[]string{"bench", "--capacity", "1.5M"}, "fractions are not accepted"},
		{[]string{"bench", "--rounds", "101"}, "--rounds: 101 is outside 1 to 100"},
		{[]string{"bench", "--plot", "latency.png"}, "only SVG is drawn"},
		{[]string{"bench", "--cpus", "1"}, "want two CPUs"},
		{[]string{"bench", "--cpus", "0,1", "--no-pin"}, "exclude each other"},
		{[]string{"bench", "extra"}, "takes no arguments"},
		{[]string{"bench", "peer"}, "is started by 'shm bench'"},
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			r := shmRun(t, "", tc.args...)
			if r.code != 2 || !strings.Contains(r.stderr, tc.want) || r.stdout != "" {
				t.Errorf("exit %d, stdout %q, stderr %q; want exit 2 and %q", r.code, r.stdout, r.stderr, tc.want)
			}
		})
	}
}

// TestBenchInterrupt interrupts a running bench the way Ctrl-C does (SIGINT
// to the whole process group: the bench and its peer) and, for one
// transport, with SIGINT to the bench alone; each time it must stop at once
// with status 130, leave no peer running and nothing in /dev/shm.
func TestBenchInterrupt(t *testing.T) {
	shmtest.SkipShort(t)
	bin := buildShm(t)
	type tcase struct {
		transport string
		group     bool
	}
	var cases []tcase
	for _, tr := range bench.TransportNames() {
		cases = append(cases, tcase{tr, true})
	}
	cases = append(cases, tcase{bench.Raw, false})
	for _, tc := range cases {
		name := tc.transport + "/ctrl-c"
		if !tc.group {
			name = tc.transport + "/sigint-to-bench-only"
		}
		t.Run(name, func(t *testing.T) {
			cmd := exec.Command(bin, "bench", "--transport", tc.transport, "--duration", "1m")
			cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL); cmd.Wait() })
			var peers []int
			for deadline := time.Now().Add(10 * time.Second); len(peers) == 0; time.Sleep(20 * time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatal("no peer process within 10 s")
				}
				peers = childrenOf(cmd.Process.Pid)
			}
			time.Sleep(200 * time.Millisecond) // inside the first case
			target := cmd.Process.Pid
			if tc.group {
				target = -target
			}
			if err := syscall.Kill(target, syscall.SIGINT); err != nil {
				t.Fatal(err)
			}
			exited := make(chan error, 1)
			go func() { exited <- cmd.Wait() }()
			select {
			case err := <-exited:
				var ee *exec.ExitError
				if !errors.As(err, &ee) || ee.ExitCode() != 130 {
					t.Errorf("exit %v, want status 130", err)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("still running 10 s after SIGINT")
			}
			if want := "shm: bench: interrupted; its objects are removed\n"; stderr.String() != want {
				t.Errorf("stderr %q, want %q", stderr.String(), want)
			}
			if left := benchLeftovers(t, cmd.Process.Pid); len(left) > 0 {
				t.Errorf("left in /dev/shm: %v", left)
			}
			for _, p := range peers {
				if err := syscall.Kill(p, 0); err == nil {
					if b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p)); !bytes.Contains(b, []byte(") Z ")) {
						t.Errorf("peer %d still alive", p)
					}
				}
			}
		})
	}
}

// The progress line goes to terminals (character devices) only.
func TestBenchProgressOnlyOnTerminal(t *testing.T) {
	null, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer null.Close()
	file, err := os.Create(filepath.Join(t.TempDir(), "stderr"))
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	if newProgress(null) == nil {
		t.Error("no progress on a character device")
	}
	if newProgress(file) != nil || newProgress(&bytes.Buffer{}) != nil {
		t.Error("progress on a file or a buffer")
	}
	var buf bytes.Buffer
	p := &progress{w: &buf, start: time.Now()}
	p.show(bench.Progress{Case: bench.Case{Transport: "raw", Workload: bench.RTT, Size: 1024}, Index: 0, Total: 42})
	p.clear()
	if got, want := buf.String(), "\r\033[K[1/42] raw rtt 1KiB  (0s elapsed)\r\033[K"; got != want {
		t.Errorf("progress wrote %q, want %q", got, want)
	}
}

// TestBenchInterruptPrintsWhatFinished stops a run in its second case:
// it exits 130 as any interrupted run does, and prints the first case's
// row, saying that the figures are the cases that finished.
func TestBenchInterruptPrintsWhatFinished(t *testing.T) {
	shmtest.SkipShort(t)
	bin := buildShm(t)
	cmd := exec.Command(bin, "bench", "--workload", "rtt", "--transport", bench.QueueSpin, "--size", "64,1K", "--duration", "10s")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	// Every case starts a peer process of its own: a second peer means that
	// the first case has finished.
	var first []int
	for deadline := time.Now().Add(50 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		peers := childrenOf(cmd.Process.Pid)
		if first == nil && len(peers) > 0 {
			first = peers
		}
		if slices.ContainsFunc(peers, func(p int) bool { return !slices.Contains(first, p) }) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no second peer process within 50 s")
		}
	}
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	err := cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 130 {
		t.Errorf("exit %v, want status 130", err)
	}
	if want := "shm: bench: interrupted; its objects are removed\n"; stderr.String() != want {
		t.Errorf("stderr %q, want %q", stderr.String(), want)
	}
	out := stdout.String()
	row := regexp.MustCompile(`(?m)^` + bench.QueueSpin + ` +64B `)
	if !strings.Contains(out, "Interrupted: the figures cover the cases of the first round that finished.") || !row.MatchString(out) || strings.Contains(out, "1KiB") {
		t.Errorf("stdout has no note of the interruption, no 64 B row, or a 1 KiB row:\n%s", out)
	}
	if left := benchLeftovers(t, cmd.Process.Pid); len(left) > 0 {
		t.Errorf("left in /dev/shm: %v", left)
	}
}
