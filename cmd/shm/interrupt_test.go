//go:build linux

package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/shmkit/shm/internal/shmtest"
	"github.com/shmkit/shm/sem"
	"github.com/shmkit/shm/topic"
)

// stopSignalsUnderTest are the signals every long-running command must
// treat alike.
var stopSignalsUnderTest = []syscall.Signal{syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP}

// proc is a real shm process started by a test.
type proc struct {
	cmd            *exec.Cmd
	stdout, stderr *bytes.Buffer
	outFile        string // stdout's file, when it goes to one
	done           chan struct{}
}

// startShm starts the built shm with args, stdin from in (nil: none) and
// stdout to a file when toFile, else to a buffer. The process is killed
// when the test ends.
func startShm(t *testing.T, in io.Reader, toFile bool, args ...string) *proc {
	t.Helper()
	p := &proc{cmd: exec.Command(buildShm(t), args...), stdout: new(bytes.Buffer), stderr: new(bytes.Buffer), done: make(chan struct{})}
	p.cmd.Stdin = in
	if toFile {
		p.outFile = filepath.Join(t.TempDir(), "stdout")
		f, err := os.Create(p.outFile)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		p.cmd.Stdout = f
	} else {
		p.cmd.Stdout = p.stdout
	}
	p.cmd.Stderr = p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() { p.cmd.Process.Kill(); <-p.done })
	return p
}

// wait waits up to limit for the process to exit and returns its status.
func (p *proc) wait(t *testing.T, limit time.Duration) int {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(limit):
		t.Fatalf("%v still running after %v; stderr %q", p.cmd.Args[1:], limit, p.stderr)
	}
	return p.cmd.ProcessState.ExitCode()
}

// output is what the process wrote to stdout.
func (p *proc) output(t *testing.T) string {
	t.Helper()
	if p.outFile == "" {
		return p.stdout.String()
	}
	b, err := os.ReadFile(p.outFile)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// waitFor polls cond every 5 ms for up to 20 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no %s within 20 s", what)
		}
	}
}

func lines(from, to int) string {
	var b strings.Builder
	for i := from; i <= to; i++ {
		b.WriteString(strconv.Itoa(i))
		b.WriteByte('\n')
	}
	return b.String()
}

func sigName(sig syscall.Signal) string {
	return map[syscall.Signal]string{syscall.SIGINT: "SIGINT", syscall.SIGTERM: "SIGTERM", syscall.SIGHUP: "SIGHUP"}[sig]
}

// TestInterruptedCommandsLoseNothing stops every long-running command with
// each of SIGINT, SIGTERM and SIGHUP in the middle of a stream, in real
// processes: each exits 130 with one line on stderr naming the signal, and
// no message is lost. A receiver stopped mid-stream leaves what it did not
// write out to the next receiver, so the two outputs together are the
// input exactly; a sender stopped mid-stream marks the stream aborted, and
// its receiver prints every message the sender counted as sent and exits
// with status 5.
func TestInterruptedCommandsLoseNothing(t *testing.T) {
	shmtest.SkipShort(t)
	const n = 200_000
	input := lines(1, n)
	for _, sig := range stopSignalsUnderTest {
		for _, mode := range [][]string{{"--follow"}, {"-n", strconv.Itoa(n)}} {
			t.Run(fmt.Sprintf("recv %s/%s", strings.Join(mode, " "), sigName(sig)), func(t *testing.T) {
				dir := t.TempDir()
				ok(t, "", "queue", "create", "q", "--capacity", "64K", "--dir", dir)
				// The sender gets the first half of the input, and the rest
				// only once the receiver was stopped: the signal lands
				// mid-stream however fast the machine.
				pr, pw, err := os.Pipe()
				if err != nil {
					t.Fatal(err)
				}
				defer pr.Close()
				defer pw.Close()
				send := startShm(t, pr, false, "queue", "send", "q", "--dir", dir)
				half := strings.Index(input, "\n"+strconv.Itoa(n/2)+"\n") + 1
				firstHalf := make(chan struct{})
				go func() { pw.WriteString(input[:half]); close(firstHalf) }()
				recv := startShm(t, nil, true, append([]string{"queue", "recv", "q", "--dir", dir}, mode...)...)
				waitFor(t, "output from recv", func() bool { return len(recv.output(t)) > 20_000 })
				recv.cmd.Process.Signal(sig)
				code := recv.wait(t, 20*time.Second)
				go func() { <-firstHalf; pw.WriteString(input[half:]); pw.Close() }()
				first := recv.output(t)
				want := regexp.MustCompile(`^shm: queue receive q: interrupted by ` + sigName(sig) + ` after (\d+) messages\n$`)
				m := want.FindStringSubmatch(recv.stderr.String())
				if code != interruptedStatus || m == nil {
					t.Fatalf("recv after %v: exit %d, stderr %q; want %d and one line matching %s", sig, code, recv.stderr, interruptedStatus, want)
				}
				if got, _ := strconv.Atoi(m[1]); got != strings.Count(first, "\n") {
					t.Errorf("recv says it printed %s messages, its output has %d", m[1], strings.Count(first, "\n"))
				}
				if len(first) >= len(input) || !strings.HasPrefix(input, first) {
					t.Fatalf("the stopped recv printed %d bytes that are not a proper prefix of the input", len(first))
				}
				rest := startShm(t, nil, true, "queue", "recv", "q", "--follow", "--dir", dir)
				if code := rest.wait(t, 60*time.Second); code != 0 {
					t.Fatalf("second recv: exit %d, stderr %q", code, rest.stderr)
				}
				if code := send.wait(t, 20*time.Second); code != 0 {
					t.Fatalf("send: exit %d, stderr %q", code, send.stderr)
				}
				if got := first + rest.output(t); got != input {
					i := 0
					for i < len(got) && i < len(input) && got[i] == input[i] {
						i++
					}
					t.Fatalf("the two receivers printed %d bytes, want the %d of the input; they differ from byte %d (first receiver printed %d bytes)", len(got), len(input), i, len(first))
				}
			})
		}
		t.Run("send/"+sigName(sig), func(t *testing.T) {
			dir := t.TempDir()
			ok(t, "", "queue", "create", "q", "--capacity", "4K", "--dir", dir)
			// The sender fills the queue and waits for room; the receiver
			// has not started yet.
			send := startShm(t, strings.NewReader(input), false, "queue", "send", "q", "--dir", dir)
			full := regexp.MustCompile(`\(9\d\.\d% full\)(.|\n)*producers: +pid \d+ \(alive\)`)
			waitFor(t, "a full queue and its producer", func() bool {
				return full.MatchString(ok(t, "", "queue", "stat", "q", "--dir", dir))
			})
			send.cmd.Process.Signal(sig)
			code := send.wait(t, 20*time.Second)
			want := regexp.MustCompile(`^shm: queue send q: interrupted by ` + sigName(sig) + ` after (\d+) messages; the stream is marked aborted\n$`)
			m := want.FindStringSubmatch(send.stderr.String())
			if code != interruptedStatus || m == nil {
				t.Fatalf("send after %v: exit %d, stderr %q; want %d and one line matching %s", sig, code, send.stderr, interruptedStatus, want)
			}
			sent, _ := strconv.Atoi(m[1])
			recv := startShm(t, nil, true, "queue", "recv", "q", "--follow", "--dir", dir)
			code = recv.wait(t, 20*time.Second)
			if code != abortedStatus || recv.stderr.String() != fmt.Sprintf("shm: queue receive q: the sender aborted the stream after %d messages\n", sent) {
				t.Errorf("recv of the interrupted stream: exit %d, stderr %q; want %d", code, recv.stderr, abortedStatus)
			}
			if got := recv.output(t); sent == 0 || got != lines(1, sent) {
				t.Errorf("recv printed %d lines, want the %d the sender sent", strings.Count(got, "\n"), sent)
			}
		})
		t.Run("topic pub/"+sigName(sig), func(t *testing.T) {
			dir := t.TempDir()
			ok(t, "", "topic", "create", "t", "--capacity", "4K", "--dir", dir)
			// With nobody subscribed, the start grace holds pub once the
			// ring is full.
			pub := startShm(t, strings.NewReader(input), false, "topic", "pub", "t", "--start-grace", "1h", "--dir", dir)
			waitFor(t, "a full topic and its publisher", func() bool {
				st, err := topic.Stat("t", topic.Dir(dir))
				return err == nil && st.Publisher != nil && st.Published > 100
			})
			pub.cmd.Process.Signal(sig)
			code := pub.wait(t, 20*time.Second)
			want := regexp.MustCompile(`^shm: topic publish t: interrupted by ` + sigName(sig) + ` after (\d+) messages; the stream is marked aborted\n$`)
			m := want.FindStringSubmatch(pub.stderr.String())
			if code != interruptedStatus || m == nil {
				t.Fatalf("pub after %v: exit %d, stderr %q; want %d and one line matching %s", sig, code, pub.stderr, interruptedStatus, want)
			}
			// A subscriber that joins now gets what the ring kept of the
			// stream (all of it: the grace kept message 0) and is told
			// that it was cut short.
			published, _ := strconv.Atoi(m[1])
			r := shmRun(t, "", "topic", "sub", "t", "--follow", "--dir", dir)
			if r.code != abortedStatus || r.stdout != lines(1, published) || r.stderr != fmt.Sprintf("shm: topic receive t: the publisher aborted the stream after %d messages\n", published) {
				t.Errorf("sub of the interrupted stream: exit %d, %d lines, stderr %q; want %d, the %d published", r.code, strings.Count(r.stdout, "\n"), r.stderr, abortedStatus, published)
			}
		})
		t.Run("send waiting for input/"+sigName(sig), func(t *testing.T) {
			// A sender blocked reading an idle terminal or pipe stops too.
			dir := t.TempDir()
			ok(t, "", "queue", "create", "q", "--capacity", "4K", "--dir", dir)
			pr, pw, err := os.Pipe()
			if err != nil {
				t.Fatal(err)
			}
			defer pr.Close()
			defer pw.Close()
			send := startShm(t, pr, false, "queue", "send", "q", "--dir", dir)
			fmt.Fprintln(pw, "one")
			waitFor(t, "the first message", func() bool {
				return strings.Contains(ok(t, "", "queue", "stat", "q", "--dir", dir), "waiting:     1 messages")
			})
			send.cmd.Process.Signal(sig)
			if code := send.wait(t, 10*time.Second); code != interruptedStatus || send.stderr.String() != "shm: queue send q: interrupted by "+sigName(sig)+" after 1 message; the stream is marked aborted\n" {
				t.Fatalf("send after %v: exit %d, stderr %q", sig, code, send.stderr)
			}
			r := shmRun(t, "", "queue", "recv", "q", "--follow", "--dir", dir)
			if r.code != abortedStatus || r.stdout != "one\n" {
				t.Errorf("recv: exit %d, stdout %q, stderr %q; want %d and the one message", r.code, r.stdout, r.stderr, abortedStatus)
			}
		})
		t.Run("sem wait/"+sigName(sig), func(t *testing.T) {
			dir := t.TempDir()
			ok(t, "", "sem", "create", "s", "--value", "1", "--dir", dir)
			s, err := sem.Open("s", sem.Dir(dir))
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			wait := startShm(t, nil, false, "sem", "wait", "s", "-n", "3", "--dir", dir)
			waitFor(t, "a registered waiter", func() bool { n, _ := s.Waiters(); return n == 1 })
			wait.cmd.Process.Signal(sig)
			code := wait.wait(t, 10*time.Second)
			if want := "shm: sem wait s: interrupted by " + sigName(sig) + " (took 1 of 3 tokens)\n"; code != interruptedStatus || wait.stderr.String() != want {
				t.Fatalf("sem wait after %v: exit %d, stderr %q; want %d, %q", sig, code, wait.stderr, interruptedStatus, want)
			}
			if v, _ := s.Value(); v != 0 {
				t.Errorf("value %d after the wait took the token, want 0", v)
			}
			if n, _ := s.Waiters(); n != 0 {
				t.Errorf("%d waiters after the stopped wait, want 0", n)
			}
		})
	}
}

// TestInterruptedCommandsLoseNothingOnBrokenOutput: a receiver whose
// standard output fails mid-stream (a file that reached the file size
// limit, set with ulimit -f) leaves every message it did not write out in
// the queue: what reached the file and what the next receiver prints cover
// the input with no gap. (A pipe would not do for this test: what sits in
// a pipe's buffer when its reader exits was written, and is lost with the
// reader.)
func TestInterruptedCommandsLoseNothingOnBrokenOutput(t *testing.T) {
	if _, err := exec.LookPath("sh"); err != nil {
		t.Skip("no sh to set the file size limit with")
	}
	const n = 200_000
	input := lines(1, n)
	dir := t.TempDir()
	ok(t, "", "queue", "create", "q", "--capacity", "64K", "--dir", dir)
	send := startShm(t, strings.NewReader(input), false, "queue", "send", "q", "--dir", dir)
	out := filepath.Join(t.TempDir(), "out")
	// 100 blocks of 512 bytes: the output fails after 51200 bytes.
	recv := exec.Command("sh", "-c", `ulimit -f 100 && exec "$0" queue recv q --follow --dir "$1" > "$2"`, buildShm(t), dir, out)
	var stderr bytes.Buffer
	recv.Stderr = &stderr
	err := recv.Run()
	first, rerr := os.ReadFile(out)
	if rerr != nil {
		t.Fatal(rerr)
	}
	if err == nil || len(first) != 51200 {
		t.Fatalf("recv with a 51200-byte output limit: %v, %d bytes out, stderr %q; want a failure after 51200 bytes", err, len(first), stderr.String())
	}
	rest := startShm(t, nil, true, "queue", "recv", "q", "--follow", "--dir", dir)
	if code := rest.wait(t, 60*time.Second); code != 0 {
		t.Fatalf("second recv: exit %d, stderr %q", code, rest.stderr)
	}
	if code := send.wait(t, 20*time.Second); code != 0 {
		t.Fatalf("send: exit %d, stderr %q", code, send.stderr)
	}
	second := rest.output(t)
	if !strings.HasPrefix(input, string(first)) || !strings.HasSuffix(input, second) || len(input)-len(second) > len(first) {
		t.Fatalf("the file got bytes 0 to %d of the input and the next receiver the last %d: a gap of %d bytes", len(first), len(second), len(input)-len(second)-len(first))
	}
}

// TestInterruptedDemoAndBench: the demo and the benchmark stop on SIGTERM
// and SIGHUP as on SIGINT (TestDemoInterrupted and TestBenchInterrupt
// cover SIGINT): status 130, one line, nothing left behind.
func TestInterruptedDemoAndBench(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGHUP} {
		t.Run("demo/"+sigName(sig), func(t *testing.T) {
			d := startPausedDemo(t)
			var transcript strings.Builder
			for !strings.Contains(transcript.String(), "press Enter") {
				line, err := d.out.ReadString('\n')
				transcript.WriteString(line)
				if err != nil {
					t.Fatalf("demo ended before pausing: %v\n%s", err, transcript.String())
				}
			}
			d.cmd.Process.Signal(sig)
			code, rest := d.wait(t, 10*time.Second)
			if code != interruptedStatus || d.stderr.String() != "shm: demo: interrupted; its objects are removed\n" {
				t.Fatalf("demo after %v: exit %d, stderr %q\n%s%s", sig, code, d.stderr.String(), transcript.String(), rest)
			}
			if ents, _ := os.ReadDir(d.dir); len(ents) != 0 {
				t.Fatalf("demo left %v", ents)
			}
		})
		t.Run("bench/"+sigName(sig), func(t *testing.T) {
			b := startShm(t, nil, false, "bench", "--transport", "raw", "--duration", "1m")
			waitFor(t, "a bench peer", func() bool { return len(childrenOf(b.cmd.Process.Pid)) > 0 })
			time.Sleep(200 * time.Millisecond)
			b.cmd.Process.Signal(sig)
			code := b.wait(t, 20*time.Second)
			if code != interruptedStatus || b.stderr.String() != "shm: bench: interrupted; its objects are removed\n" {
				t.Fatalf("bench after %v: exit %d, stderr %q", sig, code, b.stderr)
			}
			if left := benchLeftovers(t, b.cmd.Process.Pid); len(left) > 0 {
				t.Errorf("left in /dev/shm: %v", left)
			}
		})
	}
}

// TestInterruptedClean: "clean --force" stopped by each stop signal while
// it removes many idle objects finishes the object at hand, has printed
// every outcome so far (text, or a JSON array that parses), exits with
// interruptedStatus, and leaves no object under a hidden name: each
// object is either removed, and said so, or still under its own name. It
// runs in a PID namespace of its own, where every object is idle rather
// than unknown.
func TestInterruptedClean(t *testing.T) {
	shmtest.SkipShort(t)
	if !shmtest.OwnPIDNamespace(t) {
		return
	}
	// More objects than the outcomes a pipe holds (64 KiB of lines): the
	// clean blocks on its output until the signal has been sent.
	const objects = 2000
	for _, sig := range stopSignalsUnderTest {
		for _, asJSON := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/json=%v", sigName(sig), asJSON), func(t *testing.T) {
				dir := shmtest.Tmpfs(t, "4m")
				for i := range objects {
					if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("idle-%04d", i)), nil, 0o600); err != nil {
						t.Fatal(err)
					}
				}
				args := []string{"clean", "--dir", dir, "--idle", "--older-than", "0s", "--force"}
				if asJSON {
					args = append(args, "--json")
				}
				cmd := exec.Command(buildShm(t), args...)
				var stderr bytes.Buffer
				cmd.Stderr = &stderr
				out, err := cmd.StdoutPipe()
				if err != nil {
					t.Fatal(err)
				}
				if err := cmd.Start(); err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { cmd.Process.Kill() })
				r := bufio.NewReader(out)
				first, err := r.ReadString('\n')
				if err != nil {
					t.Fatalf("first line: %q, %v", first, err)
				}
				cmd.Process.Signal(sig)
				rest, err := io.ReadAll(r)
				if err != nil {
					t.Fatal(err)
				}
				cmd.Wait()
				printed := first + string(rest)
				if code := cmd.ProcessState.ExitCode(); code != interruptedStatus {
					t.Fatalf("exit status %d (%v), want %d; stderr %q", code, cmd.ProcessState, interruptedStatus, stderr.String())
				}
				if want := "interrupted by " + sigName(sig) + " after "; !strings.Contains(stderr.String(), want) {
					t.Errorf("stderr %q lacks %q", stderr.String(), want)
				}
				var said []string // the names printed as removed
				if asJSON {
					var rows []struct{ Name, Action string }
					if err := json.Unmarshal([]byte(printed), &rows); err != nil {
						t.Fatalf("clean --json output does not parse: %v\n%s", err, printed)
					}
					for _, row := range rows {
						if row.Action == "removed" {
							said = append(said, row.Name)
						}
					}
				} else {
					for _, line := range strings.Split(strings.TrimSuffix(printed, "\n"), "\n") {
						name, ok := strings.CutPrefix(line, "removed ")
						if !ok {
							t.Fatalf("unexpected line %q", line)
						}
						said = append(said, strings.Fields(name)[0])
					}
				}
				entries, err := os.ReadDir(dir)
				if err != nil {
					t.Fatal(err)
				}
				left := map[string]bool{}
				for _, e := range entries {
					if strings.HasPrefix(e.Name(), ".shm-clean-") {
						t.Errorf("an object was left under the hidden name %s", e.Name())
					}
					left[e.Name()] = true
				}
				if len(said) == 0 || len(said) >= objects {
					t.Fatalf("%d of %d objects removed: the signal did not stop the clean half-way", len(said), objects)
				}
				for _, name := range said {
					if left[name] {
						t.Errorf("%s printed as removed but still there", name)
					}
				}
				if len(said)+len(left) != objects {
					t.Errorf("%d printed as removed and %d left, of %d objects", len(said), len(left), objects)
				}
			})
		}
	}
}
