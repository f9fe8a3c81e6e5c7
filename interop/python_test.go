//go:build linux

package interop

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/shmkit/shm/internal/mem"
	"github.com/shmkit/shm/internal/shmtest"
	"github.com/shmkit/shm/queue"
	"golang.org/x/sys/unix"
)

// python runs python3 with this repository's python/ on PYTHONPATH. The
// first run builds libshmq from c/ into this run's build directory, as a
// user's first import does.
func python(t testing.TB, args ...string) *exec.Cmd {
	t.Helper()
	py := shmtest.Need(t, "python3")
	shmtest.Need(t, "gcc")
	root := repoDir(t)
	cmd := exec.Command(py, args...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "PYTHONPATH="+filepath.Join(root, "python"), "SHMKIT_BUILD_DIR="+filepath.Join(buildDir, "py"), "PYTHONDONTWRITEBYTECODE=1")
	return cmd
}

// pyPeer runs interop/testdata/pypeer.py with args.
func pyPeer(t testing.TB, args ...string) *exec.Cmd {
	t.Helper()
	return python(t, append([]string{filepath.Join(repoDir(t), "interop", "testdata", "pypeer.py")}, args...)...)
}

// crcMsg is a message of the Python tests: seq, payload, CRC-32 of both.
func crcMsg(seq uint64, payload []byte) []byte {
	b := binary.LittleEndian.AppendUint64(nil, seq)
	b = append(b, payload...)
	return binary.LittleEndian.AppendUint32(b, crc32.ChecksumIEEE(b))
}

func checkCRCMsg(m []byte, want uint64) error {
	if len(m) < 12 {
		return fmt.Errorf("message %d: %d bytes, too short", want, len(m))
	}
	body := m[:len(m)-4]
	if crc32.ChecksumIEEE(body) != binary.LittleEndian.Uint32(m[len(m)-4:]) {
		return fmt.Errorf("message %d: bad checksum", want)
	}
	if seq := binary.LittleEndian.Uint64(body); seq != want {
		return fmt.Errorf("message %d, want %d (lost, duplicated or reordered)", seq, want)
	}
	return nil
}

func pyCount(t *testing.T) int {
	if testing.Short() {
		return 10_000
	}
	return 100_000
}

// TestPythonToGo: Python sends 100 k messages of random sizes with
// checksums, one per send and in random batches of send_batch; Go receives
// them all, in order, then io.EOF.
func TestPythonToGo(t *testing.T) {
	for _, tc := range []struct{ name, cmd string }{
		{"send", "send"},
		{"send_batch", "send-batch"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			name := shmtest.Name(t, "")
			n := pyCount(t)
			q := createQueue(t, name, 64<<10, queue.MaxMessage(2000))
			cmd := pyPeer(t, tc.cmd, name, fmt.Sprint(n), "7")
			var out strings.Builder
			cmd.Stdout, cmd.Stderr = &out, &out
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := ctxFor(10 * time.Minute)
			defer cancel()
			var buf []byte
			for s := range n {
				var err error
				if buf, err = q.Receive(ctx, buf); err != nil {
					cmd.Process.Kill()
					cmd.Wait()
					t.Fatalf("receive %d: %v\npython: %s", s, err, out.String())
				}
				if err := checkCRCMsg(buf, uint64(s)); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := q.Receive(ctx, buf); err != io.EOF {
				t.Fatalf("after the last message: %v, want io.EOF", err)
			}
			if err := waitCmd(t, cmd, time.Minute); err != nil {
				t.Fatalf("python: %v\n%s", err, out.String())
			}
			t.Logf("Python -> Go (%s): %d messages, checksums and order checked", tc.name, n)
		})
	}
}

// TestGoToPython: Go sends 100 k messages; Python checks each and the end,
// receiving one at a time and in random batches of receive_batch.
func TestGoToPython(t *testing.T) {
	for _, tc := range []struct{ name string }{
		{"receive"},
		{"receive_batch"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			name := shmtest.Name(t, "")
			n := pyCount(t)
			q := createQueue(t, name, 64<<10, queue.MaxMessage(2000))
			args := []string{"recv", name, fmt.Sprint(n)}
			if tc.name == "receive_batch" {
				args = []string{"recv-batch", name, fmt.Sprint(n), "9"}
			}
			cmd := pyPeer(t, args...)
			var out strings.Builder
			cmd.Stdout, cmd.Stderr = &out, &out
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			r := rand.New(rand.NewPCG(8, 8))
			payload := make([]byte, q.MaxMessage())
			ctx, cancel := ctxFor(10 * time.Minute)
			defer cancel()
			for s := range n {
				p := payload[:r.IntN(q.MaxMessage()-12+1)]
				for i := range p {
					p[i] = byte(r.Uint32())
				}
				if err := q.Send(ctx, crcMsg(uint64(s), p)); err != nil {
					cmd.Process.Kill()
					cmd.Wait()
					t.Fatalf("send %d: %v\npython: %s", s, err, out.String())
				}
			}
			q.Close()
			if err := waitCmd(t, cmd, 5*time.Minute); err != nil || strings.TrimSpace(out.String()) != fmt.Sprintf("ok %d", n) {
				t.Fatalf("python: %v\n%s", err, out.String())
			}
			t.Logf("Go -> Python (%s): %d messages, checksums and order checked", tc.name, n)
		})
	}
}

// inFutex reports whether process pid is in the futex system call now.
func inFutex(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/syscall", pid))
	if err != nil {
		return false
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return false
	}
	n, err := strconv.Atoi(f[0])
	return err == nil && n == unix.SYS_FUTEX
}

// sleeping waits until the consumer's wait word (header offset 72) says
// it sleeps and, when pid > 0, process pid is in futex(2).
func sleeping(t *testing.T, b []byte, pid int) {
	t.Helper()
	word := mem.MustUint32(b, 72)
	deadline := time.Now().Add(time.Minute)
	for word.Load() != 1 || pid > 0 && !inFutex(pid) {
		if time.Now().After(deadline) {
			t.Fatalf("the consumer did not go to sleep in a minute (wait word %d)", word.Load())
		}
		time.Sleep(time.Millisecond)
	}
}

// TestPythonWokenByGo: a Python receive asleep in the futex (its process
// in futex(2), the consumer wait word set) gets a Go send; and a Go
// receive asleep gets a Python send. Each round's hand-off time is logged;
// a lost wake-up would still be found by the sleeper's 100 ms look, so the
// test asserts the quickest of the rounds, not every one.
func TestPythonWokenByGo(t *testing.T) {
	name := shmtest.Name(t, "")
	q := createQueue(t, name, 4096)
	b, unmap := mapObject(t, name)
	defer unmap()
	const rounds = 5
	cmd := pyPeer(t, "wait-recv", name, fmt.Sprint(rounds))
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := waitCmd(t, cmd, time.Minute); err != nil {
			t.Errorf("python: %v\n%s", err, stderr.String())
		}
	}()
	lines := bufio.NewScanner(stdout)
	var lat []time.Duration
	for i := range rounds {
		if !lines.Scan() || lines.Text() != "waiting" {
			t.Fatalf("round %d: python said %q\n%s", i, lines.Text(), stderr.String())
		}
		sleeping(t, b, cmd.Process.Pid)
		start := time.Now()
		ctx, cancel := ctxFor(time.Minute)
		err := q.Send(ctx, []byte(fmt.Sprint("wake ", i)))
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		if !lines.Scan() || lines.Text() != fmt.Sprint("got wake ", i) {
			t.Fatalf("round %d: python said %q\n%s", i, lines.Text(), stderr.String())
		}
		lat = append(lat, time.Since(start))
	}
	q.Detach()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	t.Logf("Go send -> Python receive asleep in futex: %v", lat)
	if lat[0] > 50*time.Millisecond {
		t.Errorf("the quickest of %d wake-ups took %v: the sends do not seem to wake the sleeper", rounds, lat[0])
	}

	// The reverse: Go asleep, a running Python process sends.
	name2 := shmtest.Name(t, "")
	q2 := createQueue(t, name2, 4096)
	b2, unmap2 := mapObject(t, name2)
	defer unmap2()
	sender := pyPeer(t, "send-stdin", name2)
	in, err := sender.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	var sout strings.Builder
	sender.Stdout, sender.Stderr = &sout, &sout
	if err := sender.Start(); err != nil {
		t.Fatal(err)
	}
	lat = lat[:0]
	for i := range rounds {
		got := make(chan string, 1)
		go func() {
			ctx, cancel := ctxFor(time.Minute)
			defer cancel()
			m, err := q2.Receive(ctx, nil)
			if err != nil {
				got <- err.Error()
				return
			}
			got <- string(m)
		}()
		sleeping(t, b2, 0)
		start := time.Now()
		fmt.Fprintf(in, "wake %d\n", i)
		if m := <-got; m != fmt.Sprint("wake ", i) {
			t.Fatalf("round %d: Go received %q\npython: %s", i, m, sout.String())
		}
		lat = append(lat, time.Since(start))
	}
	in.Close()
	if err := waitCmd(t, sender, time.Minute); err != nil {
		t.Fatalf("python: %v\n%s", err, sout.String())
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	t.Logf("Python send -> Go receive asleep in futex: %v", lat)
	if lat[0] > 50*time.Millisecond {
		t.Errorf("the quickest of %d wake-ups took %v: the sends do not seem to wake the sleeper", rounds, lat[0])
	}
}

// TestPythonInterrupted: Ctrl-C (SIGINT) during a Python receive (or
// receive_batch) that sleeps raises KeyboardInterrupt, and the same handle
// then receives the next message: the queue and the handle are consistent.
func TestPythonInterrupted(t *testing.T) {
	for _, cmdName := range []string{"interrupt", "interrupt-batch"} {
		t.Run(cmdName, func(t *testing.T) {
			name := shmtest.Name(t, "")
			q := createQueue(t, name, 4096)
			b, unmap := mapObject(t, name)
			defer unmap()
			cmd := pyPeer(t, cmdName, name)
			stdout, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			var stderr strings.Builder
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			lines := bufio.NewScanner(stdout)
			if !lines.Scan() || lines.Text() != "waiting" {
				t.Fatalf("python said %q\n%s", lines.Text(), stderr.String())
			}
			sleeping(t, b, cmd.Process.Pid)
			cmd.Process.Signal(os.Interrupt)
			if !lines.Scan() || lines.Text() != "interrupted" {
				t.Fatalf("after SIGINT python said %q\n%s", lines.Text(), stderr.String())
			}
			ctx, cancel := ctxFor(time.Minute)
			defer cancel()
			if err := q.Send(ctx, []byte("after")); err != nil {
				t.Fatal(err)
			}
			if !lines.Scan() || lines.Text() != "got after" {
				t.Fatalf("python said %q\n%s", lines.Text(), stderr.String())
			}
			if err := waitCmd(t, cmd, time.Minute); err != nil {
				t.Fatalf("python: %v\n%s", err, stderr.String())
			}
		})
	}
}

// TestPythonSendBatchInterrupted: Ctrl-C while a Python send_batch sleeps
// on a full queue raises KeyboardInterrupt whose sent attribute counts the
// messages sent; Go then receives exactly those, whole and in order, and
// the handle's next message. Before the interrupt Go takes a few messages
// and waits until the producer filled the room and slept again, so that
// the library call the signal ends has sent messages itself (the
// KeyboardInterrupt is raised as that call returns, before Python code
// after it runs) and those must be counted too.
func TestPythonSendBatchInterrupted(t *testing.T) {
	name := shmtest.Name(t, "")
	q := createQueue(t, name, 4096)
	b, unmap := mapObject(t, name)
	defer unmap()
	cmd := pyPeer(t, "interrupt-send", name)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := bufio.NewScanner(stdout)
	if !lines.Scan() || lines.Text() != "sending" {
		t.Fatalf("python said %q\n%s", lines.Text(), stderr.String())
	}
	// The producer's wait word (header offset 136) is 2 while it sleeps.
	word := mem.MustUint32(b, 136)
	asleep := func(what string) {
		deadline := time.Now().Add(time.Minute)
		for word.Load() != 2 || !inFutex(cmd.Process.Pid) {
			if time.Now().After(deadline) {
				t.Fatalf("the producer did not go to sleep %s in a minute (wait word %d)\n%s", what, word.Load(), stderr.String())
			}
			time.Sleep(time.Millisecond)
		}
	}
	asleep("on the full queue")
	ctx, cancel := ctxFor(time.Minute)
	defer cancel()
	const pre = 5
	var buf []byte
	for s := range pre {
		if buf, err = q.Receive(ctx, buf); err != nil {
			t.Fatalf("receive %d before the interrupt: %v", s, err)
		}
		if err := checkCRCMsg(buf, uint64(s)); err != nil {
			t.Fatal(err)
		}
	}
	// The producer sends into the room made within its library call (one
	// of 100 ms at most) and sleeps again; the interrupt comes soon after.
	time.Sleep(10 * time.Millisecond)
	asleep("again")
	cmd.Process.Signal(os.Interrupt)
	if !lines.Scan() {
		t.Fatalf("after SIGINT python said nothing\n%s", stderr.String())
	}
	var sent int
	if _, err := fmt.Sscanf(lines.Text(), "interrupted %d", &sent); err != nil || sent <= pre || sent >= 200 {
		t.Fatalf("after SIGINT python said %q, want \"interrupted N\" with %d < N < 200\n%s", lines.Text(), pre, stderr.String())
	}
	for s := pre; s < sent; s++ {
		if buf, err = q.Receive(ctx, buf); err != nil {
			t.Fatalf("receive %d of %d: %v", s, sent, err)
		}
		if err := checkCRCMsg(buf, uint64(s)); err != nil {
			t.Fatal(err)
		}
	}
	if buf, err = q.Receive(ctx, buf); err != nil || string(buf) != "after" {
		t.Fatalf("after the %d messages sent got %q, %v; want \"after\"", sent, buf, err)
	}
	if _, err := q.Receive(ctx, buf); err != io.EOF {
		t.Fatalf("after the last message: %v, want io.EOF", err)
	}
	if err := waitCmd(t, cmd, time.Minute); err != nil {
		t.Fatalf("python: %v\n%s", err, stderr.String())
	}
	t.Logf("interrupted after %d of 200 messages", sent)
}

// TestPythonKilledMidSend: a Python producer SIGKILLed while it sends
// leaves whole messages behind it, the Go consumer gets ErrPeerDead, and a
// new Python producer's message comes next.
func TestPythonKilledMidSend(t *testing.T) {
	shmtest.SkipShort(t)
	r := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 5))
	for trial := range trials(3, 30) {
		name := shmtest.Name(t, "")
		q, err := queue.Create(name, 16<<10, queue.MaxMessage(4000))
		if err != nil {
			t.Fatal(err)
		}
		res := make(chan error, 1)
		got := 0
		go func() {
			var buf []byte
			for s := 0; ; s++ {
				ctx, cancel := ctxFor(time.Minute)
				var err error
				buf, err = q.Receive(ctx, buf)
				cancel()
				if err == nil {
					err = checkCRCMsg(buf, uint64(s))
				}
				if err != nil {
					got = s
					res <- err
					return
				}
			}
		}()
		cmd := pyPeer(t, "send-forever", name)
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(stdout)
		if !sc.Scan() || sc.Text() != "running" {
			t.Fatalf("python said %q", sc.Text())
		}
		time.Sleep(time.Duration(r.IntN(20000)) * time.Microsecond)
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
		if err := <-res; !errors.Is(err, queue.ErrPeerDead) {
			t.Fatalf("trial %d: after %d whole messages: %v, want ErrPeerDead", trial, got, err)
		}
		if out, err := pyPeer(t, "send-lines", name, "after").CombinedOutput(); err != nil {
			t.Fatalf("trial %d: a new Python producer: %v\n%s", trial, err, out)
		}
		ctx, cancel := ctxFor(time.Minute)
		m, err := q.Receive(ctx, nil)
		cancel()
		if err != nil || string(m) != "after" {
			t.Fatalf("trial %d: after the kill got %q, %v; want the new producer's message", trial, m, err)
		}
		q.Close()
		t.Logf("trial %d: %d whole messages, then ErrPeerDead; the queue took a new producer", trial, got)
	}
}

// TestPythonBenchScript runs python/bench.py for a moment, to keep it
// working: every transport prints a row for every size. (Its figures are
// for quiet machines and longer runs; this test reads none of them.)
func TestPythonBenchScript(t *testing.T) {
	shmtest.SkipShort(t)
	cmd := python(t, filepath.Join(repoDir(t), "python", "bench.py"), "--seconds", "0.02", "--sizes", "64,4096")
	cmd.Env = append(cmd.Env, "PYTHONWARNINGS=error::UserWarning:multiprocessing.resource_tracker")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("bench.py: %v\n%s", err, out)
	}
	rows := 0
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) == 5 && (f[0] == "64" || f[0] == "4096") {
			if _, err := strconv.ParseFloat(f[2], 64); err != nil {
				t.Errorf("row without a rate: %q", line)
			}
			rows++
		}
	}
	if rows != 12 {
		t.Fatalf("bench.py printed %d rows, want 12 (6 transports, 2 sizes):\n%s", rows, out)
	}
	if !strings.Contains(string(out), "ratios: ") || strings.Contains(string(out), "leaked") {
		t.Fatalf("bench.py: no ratios line, or leaked objects:\n%s", out)
	}
}
