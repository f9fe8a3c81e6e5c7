package shmtest

import (
	"context"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// envPIDNamespace names, in the re-executed test binary, the test that runs
// in its own PID namespace.
const envPIDNamespace = "SHMTEST_PID_NAMESPACE"

// OwnPIDNamespace runs the calling test again in a new PID and mount
// namespace with a /proc of its own, where the test and the processes it
// starts are the only processes: for tests that scan /proc and must not
// depend on the machine's other processes (some of which, such as a
// sandbox's init, not even root may inspect). It returns true in that
// re-run, which carries on with the test, and false in the caller's run,
// which must return at once: the re-run's result and output have become
// this test's. It skips the test, saying why, when it is not root.
//
// The /proc mount is private to the new mount namespace, and every process
// of the namespace is killed when the re-run ends.
func OwnPIDNamespace(t *testing.T) bool {
	t.Helper()
	if os.Getenv(envPIDNamespace) == t.Name() {
		if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
			t.Fatalf("make mounts private: %v", err)
		}
		if err := unix.Mount("proc", "/proc", "proc", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
			t.Fatalf("mount /proc: %v", err)
		}
		return true
	}
	if os.Geteuid() != 0 {
		t.Skip("skipping: a PID namespace of its own needs root")
	}
	parts := strings.Split(t.Name(), "/")
	for i, p := range parts {
		parts[i] = "^" + regexp.QuoteMeta(p) + "$"
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	args := []string{"-test.run=" + strings.Join(parts, "/"), "-test.count=1", "-test.v"}
	if testing.Short() {
		args = append(args, "-test.short")
	}
	cmd := exec.CommandContext(ctx, os.Args[0], args...)
	cmd.Env = append(os.Environ(), envPIDNamespace+"="+t.Name())
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWPID | syscall.CLONE_NEWNS}
	out, err := cmd.CombinedOutput()
	t.Logf("in a PID namespace of its own:\n%s", out)
	switch {
	case err != nil:
		t.Fatalf("the run in its own PID namespace failed: %v", err)
	case !strings.Contains(string(out), "--- PASS: "+t.Name()) && !strings.Contains(string(out), "--- SKIP: "+t.Name()):
		t.Fatalf("the run in its own PID namespace did not run %s", t.Name())
	}
	return false
}
