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

// envRerun names, in a test binary re-run by OwnPIDNamespace or OwnDevShm,
// the kind of re-run and the test it runs ("pidns TestX").
const envRerun = "SHMTEST_RERUN"

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
	return rerun(t, "pidns", "a PID namespace of its own", syscall.CLONE_NEWPID|syscall.CLONE_NEWNS, func() error {
		return unix.Mount("proc", "/proc", "proc", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "")
	})
}

// OwnDevShm runs the calling test again in a new mount namespace with an
// empty tmpfs of its own on /dev/shm: for tests that read the whole of
// /dev/shm (a listing) and must not depend on what other programs create,
// remove or leave there. The test and the processes it starts see only the
// objects they make. It returns true in the re-run and false in the
// caller's run, and skips when not root, as OwnPIDNamespace does.
func OwnDevShm(t *testing.T) bool {
	t.Helper()
	return rerun(t, "devshm", "a /dev/shm of its own", syscall.CLONE_NEWNS, func() error {
		return unix.Mount("tmpfs", "/dev/shm", "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "size=64m,mode=1777")
	})
}

// rerun runs the calling test again in new namespaces (cloneflags, which
// include CLONE_NEWNS), where mount, after the mounts were made private,
// sets up the namespace. It returns true in the re-run.
func rerun(t *testing.T, kind, what string, cloneflags uintptr, mount func() error) bool {
	t.Helper()
	if os.Getenv(envRerun) == kind+" "+t.Name() {
		if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
			t.Fatalf("make mounts private: %v", err)
		}
		if err := mount(); err != nil {
			t.Fatalf("set up %s: %v", what, err)
		}
		return true
	}
	if os.Geteuid() != 0 {
		t.Skip("skipping: " + what + " needs root")
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
	cmd.Env = append(os.Environ(), envRerun+"="+kind+" "+t.Name())
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: cloneflags}
	out, err := cmd.CombinedOutput()
	t.Logf("in %s:\n%s", what, out)
	switch {
	case err != nil:
		t.Fatalf("the run in %s failed: %v", what, err)
	case !strings.Contains(string(out), "--- PASS: "+t.Name()) && !strings.Contains(string(out), "--- SKIP: "+t.Name()):
		t.Fatalf("the run in %s did not run %s", what, t.Name())
	}
	return false
}
