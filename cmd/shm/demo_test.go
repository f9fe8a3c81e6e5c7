//go:build linux

package main

import (
	"bufio"
	"bytes"
	"errors"
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

	"github.com/shmkit/shm"
)

// demoLeftovers lists the objects of the demo run by pid left in dir.
func demoLeftovers(t *testing.T, dir string, pid int) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var left []string
	prefix := "shm-demo-" + strconv.Itoa(pid) + "-"
	for _, e := range ents {
		if strings.HasPrefix(strings.TrimPrefix(e.Name(), shm.SemaphorePrefix), prefix) {
			left = append(left, e.Name())
		}
	}
	return left
}

var peerLine = regexp.MustCompile(`\[peer (\d+)\] wrote "hello back from process (\d+)" at offset 2048`)

// checkTranscript checks that each process showed what the other wrote,
// that they took turns, and that the counter under the mutex came out
// exact. With ordered, the lines of the semaphore step must also appear in
// turn order: true when the demo writes to a file, which the second process
// then writes to directly (see transcriptWriter).
func checkTranscript(t *testing.T, out string, leadPID int, ordered bool) {
	t.Helper()
	m := peerLine.FindStringSubmatch(out)
	if m == nil || m[1] != m[2] || m[1] == strconv.Itoa(leadPID) {
		t.Fatalf("no peer write in the transcript:\n%s", out)
	}
	lead := strconv.Itoa(leadPID)
	for _, want := range []string{
		`[peer ` + m[1] + `] read "hello from process ` + lead + `" at offset 0`,
		`[lead ` + lead + `] read "hello back from process ` + m[1] + `" at offset 2048`,
	} {
		if !strings.Contains(out, want) {
			t.Fatalf("transcript lacks %q:\n%s", want, out)
		}
	}
	checkTurns(t, out, lead, ordered)
	checkCounters(t, out, lead)
	checkEcho(t, out, lead)
	checkFanOut(t, out, lead)
}

var echoTimes = regexp.MustCompile(`\[lead (\d+)\] (queue|pipe) round trip: +median (\S+) \(99th percentile (\S+)\)`)

// checkEcho checks the queue step's transcript: every message came back
// through the queues and the pipes, and both medians were measured.
func checkEcho(t *testing.T, out, lead string) {
	t.Helper()
	n := echoWarmup + echoRounds
	want := regexp.MustCompile(fmt.Sprintf(`\[peer \d+\] echoed %d messages through the queues and %d through the pipes, and exit`, n, n))
	if !want.MatchString(out) {
		t.Fatalf("transcript lacks the peer's %q:\n%s", want, out)
	}
	ms := echoTimes.FindAllStringSubmatch(out, -1)
	if len(ms) != 2 || ms[0][2] != "queue" || ms[1][2] != "pipe" {
		t.Fatalf("transcript lacks the queue's and then the pipe's round trip:\n%s", out)
	}
	for _, m := range ms {
		median, err1 := time.ParseDuration(m[3])
		p99, err2 := time.ParseDuration(m[4])
		if m[1] != lead || err1 != nil || err2 != nil || median <= 0 || p99 < median {
			t.Fatalf("a round-trip line that does not parse or add up: %q", m[0])
		}
	}
}

// checkTurns checks the semaphore step's transcript: each round each
// process saw every word written before its turn, and nothing else.
func checkTurns(t *testing.T, out, lead string, ordered bool) {
	t.Helper()
	m := regexp.MustCompile(`\[peer (\d+)\] opened segment "shm-demo-` + lead + `-turns"`).FindStringSubmatch(out)
	if m == nil || m[1] == lead {
		t.Fatalf("no peer in the semaphore step:\n%s", out)
	}
	peer := m[1]
	var want []string
	var words []string
	for round := 1; round <= turnsRounds; round++ {
		for _, who := range []struct{ role, pid, other string }{{"lead", lead, "peer"}, {"peer", peer, "lead"}} {
			word := turnWord(who.role, round)
			want = append(want, fmt.Sprintf(`[%s %s] my turn (round %d): the text is %q, I add %q and post the %s's turn`,
				who.role, who.pid, round, strings.Join(words, ", "), word, who.other))
			words = append(words, word)
		}
	}
	want = append(want, fmt.Sprintf(`[lead %s] after %d rounds the text is %q`, lead, turnsRounds, strings.Join(words, ", ")))
	rest := out
	for _, w := range want {
		i := strings.Index(rest, w)
		if i < 0 {
			if ordered || !strings.Contains(out, w) {
				t.Fatalf("transcript lacks %q (in turn order: %v):\n%s", w, ordered, out)
			}
			continue
		}
		if ordered {
			rest = rest[i+len(w):]
		}
	}
}

var bareLine = regexp.MustCompile(`\] the bare counter holds (\d+): (?:(\d+) adds were lost|this time the adds happened not to collide)`)

// checkCounters checks the mutex step's transcript: the counter under the
// mutex is exact, and what it says of the bare one adds up.
func checkCounters(t *testing.T, out, lead string) {
	t.Helper()
	total := 2 * counterAdds
	want := fmt.Sprintf("[lead %s] the counter under the mutex holds %d: exact", lead, total)
	if !strings.Contains(out, want) {
		t.Fatalf("transcript lacks %q:\n%s", want, out)
	}
	m := bareLine.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("transcript lacks the bare counter:\n%s", out)
	}
	bare, _ := strconv.Atoi(m[1])
	lost, _ := strconv.Atoi(m[2])
	if bare > total || (bare < total) != (m[2] != "") || bare+lost != total {
		t.Fatalf("the bare counter's line does not add up to %d: %q", total, m[0])
	}
}

// The demo as a user runs it: the built binary, in /dev/shm and in another
// directory. It exits 0, each process shows the other's words, and nothing
// of it is left.
func TestDemoBinary(t *testing.T) {
	bin := buildShm(t)
	for _, dir := range []string{shm.DefaultDir, t.TempDir()} {
		t.Run(dir, func(t *testing.T) {
			var out, errb bytes.Buffer
			cmd := exec.Command(bin, "demo", "--dir", dir)
			cmd.Stdout, cmd.Stderr = &out, &errb
			if err := cmd.Run(); err != nil {
				t.Fatalf("shm demo: %v\nstdout:\n%s\nstderr:\n%s", err, out.String(), errb.String())
			}
			if errb.Len() != 0 {
				t.Fatalf("stderr: %s", errb.String())
			}
			checkTranscript(t, out.String(), cmd.Process.Pid, true)
			if left := demoLeftovers(t, dir, cmd.Process.Pid); len(left) != 0 {
				t.Fatalf("demo left %v in %s", left, dir)
			}
			if dir != shm.DefaultDir {
				if ents, _ := os.ReadDir(dir); len(ents) != 0 {
					t.Fatalf("demo left %v in %s", ents, dir)
				}
			}
		})
	}
}

// The demo in-process (the second process is this test binary, see
// TestMain), also with --pause answered by Enter on stdin.
func TestDemoInProcess(t *testing.T) {
	for _, pause := range []bool{false, true} {
		dir := t.TempDir()
		args := []string{"demo", "--dir", dir}
		if pause {
			args = append(args, "--pause")
		}
		r := shmRun(t, "\n\n\n\n", args...)
		if r.code != 0 || r.stderr != "" {
			t.Fatalf("shm %v: %+v", args, r)
		}
		checkTranscript(t, r.stdout, os.Getpid(), false)
		if strings.Contains(r.stdout, "press Enter") != pause {
			t.Fatalf("--pause=%v but the transcript says:\n%s", pause, r.stdout)
		}
		if ents, _ := os.ReadDir(dir); len(ents) != 0 {
			t.Fatalf("demo left %v", ents)
		}
	}
}

// Ctrl-C while the demo holds a segment: it removes the segment and exits
// 130 with one line on stderr.
func TestDemoInterrupted(t *testing.T) {
	d := startPausedDemo(t)
	cmd, dir, br := d.cmd, d.dir, d.out

	// Read the transcript up to the first pause point: the segment exists.
	var transcript strings.Builder
	for !strings.Contains(transcript.String(), "press Enter") {
		line, err := br.ReadString('\n')
		transcript.WriteString(line)
		if err != nil {
			t.Fatalf("demo ended before pausing: %v\n%s", err, transcript.String())
		}
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Fatalf("at the pause the directory holds %v, want the demo's segment", ents)
	}
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	code, rest := d.wait(t, 10*time.Second)
	if code != 130 {
		t.Fatalf("demo after SIGINT exited %d\n%s%s", code, transcript.String(), rest)
	}
	if d.stderr.String() != "shm: demo: interrupted; its objects are removed\n" {
		t.Fatalf("stderr %q", d.stderr.String())
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Fatalf("demo left %v after SIGINT", ents)
	}
}

// The second process is SIGKILLed while it sleeps waiting for its turn in
// the semaphore step: the lead does not wait for a turn that cannot come,
// reports the peer's death as one line, exits 1, and removes every object,
// the named semaphore's sem.NAME file included (which exists at the step's
// first pause).
func TestDemoPeerKilled(t *testing.T) {
	d := startPausedDemo(t)
	dir, br, stdin := d.dir, d.out, d.stdin
	lead := strconv.Itoa(d.cmd.Process.Pid)
	semFile := shm.SemaphorePrefix + "shm-demo-" + lead + "-lead-turn"
	peerRe := regexp.MustCompile(`\[peer (\d+)\] opened segment "shm-demo-` + lead + `-turns"`)

	var transcript strings.Builder
	peer := 0
	for killed := false; !killed; {
		line, err := br.ReadString('\n')
		transcript.WriteString(line)
		if err != nil {
			t.Fatalf("demo ended before the semaphore step's pauses: %v\n%s", err, transcript.String())
		}
		if m := peerRe.FindStringSubmatch(line); m != nil {
			peer, _ = strconv.Atoi(m[1])
		}
		switch {
		case strings.Contains(line, "shm sem value "):
			if _, err := os.Stat(filepath.Join(dir, semFile)); err != nil {
				t.Fatalf("at the semaphore step's first pause: %v\n%s", err, transcript.String())
			}
		case strings.Contains(line, "the peer sleeps in Wait"):
			if peer == 0 {
				t.Fatalf("no peer process in the transcript:\n%s", transcript.String())
			}
			if err := syscall.Kill(peer, syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			killed = true
		}
		if strings.Contains(line, "press Enter") {
			if _, err := io.WriteString(stdin, "\n"); err != nil {
				t.Fatal(err)
			}
		}
	}
	code, rest := d.wait(t, time.Minute)
	if code != 1 {
		t.Fatalf("demo after its peer was killed exited %d\n%s%s", code, transcript.String(), rest)
	}
	if want := "shm: demo: the second process (sem step): signal: killed\n"; d.stderr.String() != want {
		t.Fatalf("stderr %q, want %q", d.stderr.String(), want)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Fatalf("demo left %v after its peer was killed", ents)
	}
}

// pausedDemo is `shm demo --pause` running in a directory of its own, with
// its standard input and output at hand and its standard error collected.
type pausedDemo struct {
	cmd    *exec.Cmd
	dir    string
	stdin  io.WriteCloser
	out    *bufio.Reader
	stderr bytes.Buffer
}

// startPausedDemo starts the demo; it is killed, if still running, when
// the test ends.
func startPausedDemo(t *testing.T) *pausedDemo {
	t.Helper()
	d := &pausedDemo{dir: t.TempDir()}
	d.cmd = exec.Command(buildShm(t), "demo", "--pause", "--dir", d.dir)
	var err error
	if d.stdin, err = d.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	stdout, err := d.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	d.out = bufio.NewReader(stdout)
	d.cmd.Stderr = &d.stderr
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.stdin.Close(); d.cmd.Process.Kill(); d.cmd.Wait() })
	return d
}

// wait reads the rest of the demo's output and waits, at most limit, for it
// to exit; it returns the exit code and that output.
func (d *pausedDemo) wait(t *testing.T, limit time.Duration) (code int, rest string) {
	t.Helper()
	b, _ := io.ReadAll(d.out)
	done := make(chan error, 1)
	go func() { done <- d.cmd.Wait() }()
	var err error
	select {
	case err = <-done:
	case <-time.After(limit):
		t.Fatalf("demo did not end within %v\n%s", limit, b)
	}
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatalf("waiting for the demo: %v", err)
	}
	return d.cmd.ProcessState.ExitCode(), string(b)
}
