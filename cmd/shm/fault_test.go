//go:build linux

package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/shmkit/shm"
	"github.com/shmkit/shm/sem"
	"github.com/spf13/cobra"
)

// TestMappingFaultIsOneLine: a mapping truncated under a command gives
// one line, "shm: OP NAME: memory fault ...", and exit status 1, never a
// SIGBUS and a goroutine dump: a real "shm sem wait" whose semaphore file
// is truncated while it sleeps, and any command that touches a mapping
// the libraries do not guard (a test command added to the tree).
func TestMappingFaultIsOneLine(t *testing.T) {
	t.Run("sem wait", func(t *testing.T) {
		dir := t.TempDir()
		ok(t, "", "sem", "create", "s", "--dir", dir)
		s, err := sem.Open("s", sem.Dir(dir))
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		wait := startShm(t, nil, false, "sem", "wait", "s", "--dir", dir)
		waitFor(t, "a registered waiter", func() bool { n, _ := s.Waiters(); return n == 1 })
		if err := os.Truncate(filepath.Join(dir, shm.SemaphorePrefix+"s"), 0); err != nil {
			t.Fatal(err)
		}
		code := wait.wait(t, 10*time.Second)
		want := regexp.MustCompile(`^shm: sem wait s: memory fault in the mapping [^\n]*: the object was truncated to 0 bytes; it had 32\n$`)
		if code != 1 || !want.MatchString(wait.stderr.String()) {
			t.Errorf("sem wait on a truncated semaphore: exit %d, stderr %q; want 1 and one line matching %s", code, wait.stderr, want)
		}
	})
	t.Run("any command", func(t *testing.T) {
		dir := t.TempDir()
		root := newRootCmd()
		root.AddCommand(&cobra.Command{
			Use:  "touch-cut NAME",
			Args: exactArgs("NAME"),
			RunE: func(cmd *cobra.Command, args []string) error {
				seg, err := shm.Create(args[0], 8192, shm.Dir(dir))
				if err != nil {
					return err
				}
				defer seg.Close()
				if err := os.Truncate(filepath.Join(dir, args[0]), 0); err != nil {
					return err
				}
				faultSink = seg.Bytes()[4096] // the page is gone
				return nil
			},
		})
		var out, errb strings.Builder
		code := execute(root, []string{"touch-cut", "x"}, strings.NewReader(""), &out, &errb)
		if want := "shm: touch-cut x: " + shm.ErrFault.Error() + "\n"; code != 1 || errb.String() != want {
			t.Errorf("a fault in a command: exit %d, stderr %q; want 1, %q", code, errb.String(), want)
		}
	})
}

// faultSink keeps the test's read of a truncated page from being optimized
// away.
var faultSink byte

// TestFaultMessageWithoutAddress: "queue send" on a queue truncated to 0
// bytes under it says so in one line, without the faulting address (sem
// wait's case is in TestMappingFaultIsOneLine).
func TestFaultMessageWithoutAddress(t *testing.T) {
	dir := t.TempDir()
	ok(t, "", "queue", "create", "q", "--capacity", "4K", "--dir", dir)
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	defer pw.Close()
	send := startShm(t, pr, false, "queue", "send", "q", "--dir", dir)
	pw.WriteString("one\n")
	waitFor(t, "the first message", func() bool {
		return strings.Contains(ok(t, "", "queue", "stat", "q", "--dir", dir), "waiting:     1 messages")
	})
	if err := os.Truncate(filepath.Join(dir, "q"), 0); err != nil {
		t.Fatal(err)
	}
	pw.WriteString("two\n")
	pw.Close()
	code := send.wait(t, 20*time.Second)
	want := regexp.MustCompile(`^shm: queue send q: memory fault in the mapping [^\n]*: the object was truncated to 0 bytes; it had \d+\n$`)
	if code != 1 || !want.MatchString(send.stderr.String()) || strings.Contains(send.stderr.String(), "0x") {
		t.Errorf("send on a queue truncated to 0: exit %d, stderr %q; want 1 and one line matching %s", code, send.stderr, want)
	}
}
