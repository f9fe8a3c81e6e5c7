package shmtest_test

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/shmkit/shm/internal/shmtest"
)

func TestMain(m *testing.M) { shmtest.Main(m) }

func init() {
	shmtest.Role("echo-args", func(a shmtest.Args) int {
		fmt.Println("noise")
		fmt.Printf("args %d %v %q %q\n", a.Int("n"), a.Duration("d"), a["text"], a["empty"])
		fmt.Println("env", os.Getenv("SHMTEST_EXTRA"))
		return shmtest.ExitOK
	})
	shmtest.Role("exit", func(a shmtest.Args) int {
		fmt.Fprintln(os.Stderr, "leaving with", a["code"])
		return a.Int("code")
	})
	shmtest.Role("fail", func(a shmtest.Args) int {
		return shmtest.ExitStatus(fmt.Errorf("broken %s", a["what"]))
	})
	shmtest.Role("stdin", func(shmtest.Args) int {
		line, err := bufio.NewReader(os.Stdin).ReadString('\n')
		fmt.Printf("read %q %v\n", line, err)
		io.Copy(io.Discard, os.Stdin)
		fmt.Println("eof")
		return shmtest.ExitOK
	})
	shmtest.Role("sleep", func(shmtest.Args) int {
		fmt.Println("ready")
		time.Sleep(time.Hour)
		return shmtest.ExitOK
	})
}

// TestArgs: the arguments arrive by name, values with spaces, '=' and
// newlines intact, and Env reaches the child's environment.
func TestArgs(t *testing.T) {
	text := "a b=c\nd"
	p := shmtest.Spawn(t, "echo-args", shmtest.Args{"n": "42", "d": "1.5s", "text": text, "empty": ""}, shmtest.Env("SHMTEST_EXTRA=x"))
	line, ok := p.Expect("args", 10*time.Second)
	if want := fmt.Sprintf("args 42 1.5s %q %q", text, ""); !ok || line != want {
		t.Fatalf("Expect = %q, %v; want %q (output %s)", line, ok, want, p.Output())
	}
	if line, ok := p.Next(10 * time.Second); !ok || line != "env x" {
		t.Fatalf("Next = %q, %v; want env x", line, ok)
	}
	if !p.Finish(10 * time.Second) {
		return
	}
	if line, ok := p.Next(time.Second); ok {
		t.Errorf("Next after the end = %q, true", line)
	}
	if !strings.HasPrefix(p.Output(), "noise\n") {
		t.Errorf("Output = %q, want the passed-over line kept", p.Output())
	}
}

func TestExitStatus(t *testing.T) {
	for _, tc := range []struct {
		role string
		args shmtest.Args
		code int
		out  string
	}{
		{"exit", shmtest.Args{"code": "0"}, 0, "stderr: leaving with 0"},
		{"exit", shmtest.Args{"code": "3"}, 3, "stderr: leaving with 3"},
		{"fail", shmtest.Args{"what": "thing"}, shmtest.ExitFail, "stderr: broken thing"},
		{"exit", shmtest.Args{"code": "x"}, 2, `child argument code="x"`}, // a test's mistake panics
		{"no-such-role", nil, shmtest.ExitFail, `unknown role "no-such-role"`},
	} {
		p := shmtest.Spawn(t, tc.role, tc.args)
		if code := p.ExitCode(10 * time.Second); code != tc.code {
			t.Errorf("%s %v: exit status %d, want %d; output:\n%s", tc.role, tc.args, code, tc.code, p.Output())
		}
		if !strings.Contains(p.Output(), tc.out) {
			t.Errorf("%s %v: output %q lacks %q", tc.role, tc.args, p.Output(), tc.out)
		}
		err := p.Wait(time.Second)
		if (err == nil) != (tc.code == 0) || err != nil && !strings.Contains(err.Error(), fmt.Sprintf("exit status %d", tc.code)) {
			t.Errorf("%s %v: Wait = %v", tc.role, tc.args, err)
		}
	}
}

func TestStdin(t *testing.T) {
	p := shmtest.Spawn(t, "stdin", nil)
	fmt.Fprintln(p.Stdin, "hello")
	if line, ok := p.Next(10 * time.Second); !ok || line != `read "hello\n" <nil>` {
		t.Fatalf("Next = %q, %v", line, ok)
	}
	p.Stdin.Close()
	if line, ok := p.Next(10 * time.Second); !ok || line != "eof" {
		t.Fatalf("Next after closing stdin = %q, %v", line, ok)
	}
	p.Finish(10 * time.Second)
}

func TestKill(t *testing.T) {
	p := shmtest.Spawn(t, "sleep", nil)
	if _, ok := p.Expect("ready", 10*time.Second); !ok {
		t.Fatalf("not ready: %s", p.Output())
	}
	if code := p.ExitCode(10 * time.Millisecond); code != shmtest.StillRunning {
		t.Fatalf("ExitCode of a sleeping child = %d, want StillRunning", code)
	}
	p.KillWait()
	if sig, ok := p.Signal(); !ok || sig.String() != "killed" {
		t.Fatalf("Signal = %v, %v; want killed", sig, ok)
	}
	if code := p.ExitCode(0); code != -1 {
		t.Errorf("ExitCode after SIGKILL = %d, want -1", code)
	}
	q := shmtest.Spawn(t, "sleep", nil)
	if err := q.Wait(100 * time.Millisecond); err == nil || !strings.Contains(err.Error(), "still running") {
		t.Errorf("Wait on a sleeping child = %v, want still running", err)
	}
	if _, ok := q.Signal(); !ok {
		t.Errorf("Wait did not kill the child that was still running")
	}
}

// TestCommand: a command from Command runs the role with the caller's
// streams.
func TestCommand(t *testing.T) {
	cmd := shmtest.Command(t, "echo-args", shmtest.Args{"n": "1", "d": "1s"})
	out, err := cmd.Output()
	if err != nil || !strings.Contains(string(out), "args 1 1s") {
		t.Fatalf("Output = %q, %v", out, err)
	}
}
