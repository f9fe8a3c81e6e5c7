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
	"strings"
	"syscall"
	"testing"
	"time"
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
		if err == nil && bytes.Contains(b, []byte(PeerEnv+"=")) && bytes.Contains(b, mark) {
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
	var seen []Progress
	rep, err := Run(context.Background(), Duration(time.Second), OnProgress(func(p Progress) { seen = append(seen, p) }))
	if err != nil {
		t.Fatal(err)
	}
	want := len(Transports()) * 2 * len(DefaultSizes)
	if len(rep.Results) != want || len(seen) != want {
		t.Fatalf("%d results and %d progress calls, want %d", len(rep.Results), len(seen), want)
	}
	ran := map[string]bool{}
	for _, r := range rep.Results {
		key := fmt.Sprintf("%s/%s/%d", r.Transport, r.Workload, r.Size)
		if r.Error != "" {
			t.Errorf("%s failed: %s", key, r.Error)
			continue
		}
		ran[key] = true
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
		case Stream:
			if r.Messages == 0 || r.MsgsPerS <= 0 || r.BytesPerS != r.MsgsPerS*float64(r.Size) {
				t.Errorf("%s: %d messages, %v msg/s, %v B/s", key, r.Messages, r.MsgsPerS, r.BytesPerS)
			}
		}
		if r.VsRaw <= 0 || r.VsUnix <= 0 {
			t.Errorf("%s: ratios %v to raw, %v to unix", key, r.VsRaw, r.VsUnix)
		}
		if (r.Transport == Raw && r.VsRaw != 1) || (r.Transport == Unix && r.VsUnix != 1) {
			t.Errorf("%s: ratio to itself is not 1: %v, %v", key, r.VsRaw, r.VsUnix)
		}
	}
	for _, tr := range Transports() {
		for _, w := range []Workload{RTT, Stream} {
			for _, s := range DefaultSizes {
				if key := fmt.Sprintf("%s/%s/%d", tr.Name(), w, s); !ran[key] {
					t.Errorf("%s did not run", key)
				}
			}
		}
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
		if len(rows) != len(rep.Results) {
			t.Fatalf("%d JSON rows, want %d", len(rows), len(rep.Results))
		}
		for _, row := range rows {
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
		for _, tr := range TransportNames() {
			if strings.Count(out, "\n"+tr+" ") != 2*len(DefaultSizes) {
				t.Errorf("table has not %d rows for %s:\n%s", 2*len(DefaultSizes), tr, out)
			}
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
		if want := len(Transports()) * len(DefaultSizes); curves != want {
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

const driverEnv = "SHM_BENCH_TEST_DRIVER"

// TestInterruptLeavesNothing starts a driver process, interrupts it with
// SIGINT (Ctrl-C) in the middle of a case of each shared-memory transport,
// and checks that it exits promptly, that its peer is gone and that nothing
// it created is left in /dev/shm.
func TestInterruptLeavesNothing(t *testing.T) {
	if os.Getenv(driverEnv) != "" {
		t.Skip("this is the driver process")
	}
	for _, tr := range Transports() {
		t.Run(tr.Name(), func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^TestDriverProcess$")
			cmd.Env = append(os.Environ(), driverEnv+"="+tr.Name())
			stdout, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			cmd.Stderr = os.Stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
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
				t.Fatal("driver still running 10 s after SIGINT")
			}
			if left := leftovers(t, cmd.Process.Pid); len(left) > 0 {
				t.Errorf("left in /dev/shm: %v", left)
			}
			if p := peersOf(t, cmd.Process.Pid); len(p) > 0 {
				t.Errorf("peers still running: %v", p)
			}
		})
	}
}

// TestDriverProcess is the driver of TestInterruptLeavesNothing: a long
// run, cancelled by SIGINT. It exits 3 when interrupted.
func TestDriverProcess(t *testing.T) {
	name := os.Getenv(driverEnv)
	if name == "" {
		t.Skip("runs only as the driver process of TestInterruptLeavesNothing")
	}
	ts, err := Lookup(name)
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	_, err = Run(ctx, Using(ts...), Workloads(RTT), Sizes(64), Duration(time.Minute),
		OnProgress(func(Progress) { fmt.Println("case") }))
	if errors.Is(err, context.Canceled) {
		os.Exit(3)
	}
	t.Fatalf("run was not interrupted: %v", err)
}
