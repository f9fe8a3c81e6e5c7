//go:build linux

package interop

import (
	"errors"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/shmkit/shm/internal/shmtest"
)

var tools struct {
	sync.Mutex
	shm, send, recv string
}

// cliTools builds the shm command, and shmq-send and shmq-recv with gcc
// alone (-std=c11 -O2 -Wall -Wextra -Werror), once per run.
func cliTools(t *testing.T) (shmBin, sendBin, recvBin string) {
	t.Helper()
	gcc := shmtest.Need(t, "gcc")
	tools.Lock()
	defer tools.Unlock()
	if tools.shm != "" {
		return tools.shm, tools.send, tools.recv
	}
	root := repoDir(t)
	shmBin = filepath.Join(buildDir, "shm")
	if out, err := exec.Command("go", "build", "-o", shmBin, filepath.Join(root, "cmd", "shm")).CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/shm: %v\n%s", err, out)
	}
	for _, prog := range []string{"shmq-send", "shmq-recv"} {
		args := append(append([]string{}, cFlags...), "-O2", "-o", filepath.Join(buildDir, prog), filepath.Join(root, "c", prog+".c"), filepath.Join(root, "c", "shmq.c"))
		if out, err := exec.Command(gcc, args...).CombinedOutput(); err != nil {
			t.Fatalf("gcc %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	tools.shm, tools.send, tools.recv = shmBin, filepath.Join(buildDir, "shmq-send"), filepath.Join(buildDir, "shmq-recv")
	return tools.shm, tools.send, tools.recv
}

// run runs argv with stdin and returns stdout, stderr and the exit status.
func run(t *testing.T, cmd *exec.Cmd, stdin string) (string, string, int) {
	t.Helper()
	cmd.Stdin = strings.NewReader(stdin)
	var out, errOut strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return out.String(), errOut.String(), 0
	case errors.As(err, &ee):
		return out.String(), errOut.String(), ee.ExitCode()
	}
	t.Fatalf("%s: %v", cmd.Path, err)
	return "", "", -1
}

// TestLineSemantics: shm queue send/recv, shmq-send/shmq-recv and python3
// -m shmkit queue send/recv read and print lines the same way, in every
// pairing: a carriage return before a newline is part of the message, an
// empty line is an empty message, a last line without a newline counts;
// -n N waits for N and fails when the queue is closed before; a line longer
// than the maximum message fails the send (status 1) and aborts the stream,
// which the receiver reports after the messages before it (status 5); a
// usage error exits 2.
func TestLineSemantics(t *testing.T) {
	shmtest.SkipShort(t)
	shmBin, sendBin, recvBin := cliTools(t)
	shmtest.Need(t, "python3")
	send := map[string]func(name string) *exec.Cmd{
		"shm":    func(n string) *exec.Cmd { return exec.Command(shmBin, "queue", "send", n) },
		"c":      func(n string) *exec.Cmd { return exec.Command(sendBin, n) },
		"python": func(n string) *exec.Cmd { return python(t, "-m", "shmkit", "queue", "send", n) },
	}
	recv := map[string]func(name string, args ...string) *exec.Cmd{
		"shm": func(n string, a ...string) *exec.Cmd {
			return exec.Command(shmBin, append([]string{"queue", "recv", n}, a...)...)
		},
		"c": func(n string, a ...string) *exec.Cmd { return exec.Command(recvBin, append([]string{n}, a...)...) },
		"python": func(n string, a ...string) *exec.Cmd {
			return python(t, append([]string{"-m", "shmkit", "queue", "recv", n}, a...)...)
		},
	}
	const input = "one\r\ntwo\n\nthree"
	for _, s := range []string{"shm", "c", "python"} {
		for _, r := range []string{"shm", "c", "python"} {
			t.Run(s+"-to-"+r, func(t *testing.T) {
				name := shmtest.Name(t, "")
				if _, e, code := run(t, exec.Command(shmBin, "queue", "create", name, "--capacity", "4K", "--max-message", "16"), ""); code != 0 {
					t.Fatal(e)
				}
				if _, e, code := run(t, send[s](name), input); code != 0 {
					t.Fatalf("%s send: exit %d: %s", s, code, e)
				}
				if out, e, code := run(t, recv[r](name, "-n", "2"), ""); code != 0 || out != "one\r\ntwo\n" {
					t.Fatalf("%s recv -n 2: exit %d, printed %q (%s)", r, code, out, e)
				}
				if out, e, code := run(t, recv[r](name, "--follow"), ""); code != 0 || out != "\nthree\n" {
					t.Fatalf("%s recv --follow: exit %d, printed %q (%s)", r, code, out, e)
				}
				// Closed and drained: -n waits for nothing and says so.
				if out, e, code := run(t, recv[r](name, "-n", "1"), ""); code != 1 || out != "" || !strings.Contains(e, "got 0 of 1 messages") {
					t.Fatalf("%s recv -n 1 on a closed queue: exit %d, printed %q, said %q", r, code, out, e)
				}
				// A line longer than the maximum message (16) fails the send
				// after what came before it was sent.
				if _, e, code := run(t, send[s](name), "fits\n"+strings.Repeat("x", 17)+"\n"); code != 1 || !strings.Contains(e, "maximum") {
					t.Fatalf("%s send of a long line: exit %d, said %q", s, code, e)
				}
				if out, e, code := run(t, recv[r](name), ""); code != 5 || out != "fits\n" || !strings.Contains(e, "aborted") {
					t.Fatalf("%s recv after an aborted send: exit %d, printed %q, said %q; want 5, the message before, and the abort", r, code, out, e)
				}
			})
		}
	}
	for impl, cmd := range map[string]*exec.Cmd{"c": exec.Command(recvBin), "python": python(t, "-m", "shmkit", "queue", "recv")} {
		if _, _, code := run(t, cmd, ""); code != 2 {
			t.Errorf("%s recv without a name: exit %d, want 2 (usage)", impl, code)
		}
	}
}

// TestCompetingConsumersRefused: a queue with competing consumers (shm
// queue create --consumers N) is the Go package's alone; shmq-send,
// shmq-recv and python3 -m shmkit refuse it for its flag bit, with an error
// that names the field, and leave it untouched.
func TestCompetingConsumersRefused(t *testing.T) {
	shmtest.SkipShort(t)
	shmBin, sendBin, recvBin := cliTools(t)
	shmtest.Need(t, "python3")
	name := shmtest.Name(t, "")
	if _, e, code := run(t, exec.Command(shmBin, "queue", "create", name, "--consumers", "2"), ""); code != 0 {
		t.Fatal(e)
	}
	for _, c := range []struct {
		what string
		cmd  *exec.Cmd
	}{
		{"shmq-send", exec.Command(sendBin, name, "x")},
		{"shmq-recv", exec.Command(recvBin, name)},
		{"python send", python(t, "-m", "shmkit", "queue", "send", name, "x")},
		{"python recv", python(t, "-m", "shmkit", "queue", "recv", name)},
	} {
		if _, e, code := run(t, c.cmd, ""); code != 1 || !strings.Contains(e, "flags at offset 12: unknown bits 0x2") {
			t.Errorf("%s on a queue with competing consumers: exit %d, said %q; want exit 1 naming the flags", c.what, code, e)
		}
	}
	if out, e, code := run(t, exec.Command(shmBin, "queue", "stat", name), ""); code != 0 || !strings.Contains(out, "waiting:     0 messages") {
		t.Errorf("the queue after the refusals: exit %d, %q %q", code, out, e)
	}
}
