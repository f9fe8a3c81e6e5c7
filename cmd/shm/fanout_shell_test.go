//go:build linux

package main

import (
	"bytes"
	"context"
	"fmt"
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
)

// TestReadmeTopicSession runs the README's topic session as it stands,
// with bash and the built shm binary: two subscribers started in the
// background, then a million lines from seq published. Each file must
// hold every line, in order, and both subscribers must end by themselves
// (the script waits for them). The subscribers join while the publisher
// already runs or before it does, whatever the scheduler makes of the
// race, so a few runs go through it.
func TestReadmeTopicSession(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the README's topic session with a million lines three times")
	}
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("no bash:", err)
	}
	if _, err := exec.LookPath("seq"); err != nil {
		t.Skip("no seq:", err)
	}
	session := fenced(t, readme(t), "A topic fans out to every subscriber:", "sh")
	const lines = 1000000
	if !strings.Contains(session, "seq "+strconv.Itoa(lines)+" |") {
		t.Fatalf("the README's topic session no longer publishes seq %d:\n%s", lines, session)
	}
	bin := buildShm(t)
	var want bytes.Buffer
	for i := 1; i <= lines; i++ {
		want.WriteString(strconv.Itoa(i))
		want.WriteByte('\n')
	}
	// The session names its topic t: each run uses a name of its own.
	word := regexp.MustCompile(`\bt\b`)
	for run := range 3 {
		name := shmtest.Name(t, "")
		script := word.ReplaceAllLiteralString(session, name) + "wait\n"
		dir := t.TempDir()
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		cmd := exec.CommandContext(ctx, "bash", "-e", "-c", script)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "PATH="+filepath.Dir(bin)+":"+os.Getenv("PATH"))
		// Killing bash's process group takes the subscribers too, should
		// they hang.
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
		cmd.WaitDelay = 10 * time.Second
		start := time.Now()
		out, err := cmd.CombinedOutput()
		timedOut := ctx.Err() != nil
		cancel()
		if timedOut {
			t.Fatalf("run %d: the session did not end within 3 minutes (a subscriber did not exit by itself?)\n%s", run, out)
		}
		if err != nil {
			t.Fatalf("run %d: %v\n%s", run, err, out)
		}
		for _, f := range []string{"a", "b"} {
			got, err := os.ReadFile(filepath.Join(dir, f))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want.Bytes()) {
				t.Errorf("run %d: %s: %s", run, f, lineDiff(got, lines))
			}
		}
		t.Logf("run %d: %v", run, time.Since(start).Round(time.Millisecond))
	}
}

// lineDiff describes how b differs from the lines 1..n, one per line.
func lineDiff(b []byte, n int) string {
	got := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	for i, l := range got {
		if l != strconv.Itoa(i+1) {
			return fmt.Sprintf("%d lines; line %d is %q, want %d", len(got), i+1, l, i+1)
		}
	}
	return fmt.Sprintf("%d lines, want %d", len(got), n)
}
