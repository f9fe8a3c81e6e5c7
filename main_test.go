//go:build linux

package shm_test

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/shmkit/shm"
	"github.com/shmkit/shm/internal/shmtest"
	"golang.org/x/sys/unix"
)

// The multi-process tests re-execute this test binary as the peer, in a
// role of runChild (see shmtest.Role) on the object named by the argument
// "name", with the role's own argument "arg".

// Exit codes of the child roles.
const (
	childOK         = shmtest.ExitOK
	childFailed     = shmtest.ExitFail
	childPermission = 3
)

func init() {
	roles := []string{"open", "truncate"}
	for role := range attachRoles {
		roles = append(roles, role)
	}
	for _, role := range roles {
		shmtest.Role(role, func(a shmtest.Args) int { return runChild(role, a["name"], a["arg"]) })
	}
}

func TestMain(m *testing.M) { shmtest.Main(m) }

// runChild is the peer process. It prints what happened on stdout.
func runChild(role, name, arg string) int {
	switch role {
	case "open":
		// Open the object (as whatever user we were started as), read-write
		// or with arg "ro" read-only, and report the error.
		var opts []shm.Option
		if arg == "ro" {
			opts = append(opts, shm.ReadOnly())
		}
		seg, err := shm.Open(name, opts...)
		if err != nil {
			fmt.Println(err)
			if errors.Is(err, fs.ErrPermission) {
				return childPermission
			}
			return childFailed
		}
		seg.Close()
		fmt.Println("opened")
		return childOK
	case "truncate":
		// Cut the object down to arg bytes with ftruncate, as a misbehaving
		// peer would.
		size, err := strconv.ParseInt(arg, 10, 64)
		if err != nil {
			fmt.Println(err)
			return childFailed
		}
		p, err := shm.Path("", name)
		if err == nil {
			err = unix.Truncate(p, size)
		}
		if err != nil {
			fmt.Println(err)
			return childFailed
		}
		fmt.Println("truncated")
		return childOK
	}
	if f := attachRoles[role]; f != nil {
		return f(name, arg)
	}
	fmt.Printf("unknown child role %q\n", role)
	return childFailed
}

// child returns a command that re-executes the test binary in role, on the
// object name, with arg. It is killed and reaped when the test ends.
func child(t *testing.T, role, name, arg string) *exec.Cmd {
	t.Helper()
	return shmtest.Command(t, role, shmtest.Args{"name": name, "arg": arg})
}

// runPeer runs cmd to completion and returns its trimmed standard output and
// exit code; it fails the test if the command could not run at all.
func runPeer(t *testing.T, cmd *exec.Cmd) (string, int) {
	t.Helper()
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatalf("%s: %v\nstderr: %s", cmd, err, stderr.String())
	}
	if stderr.Len() > 0 {
		t.Logf("%s stderr:\n%s", cmd.Path, stderr.String())
	}
	return strings.TrimSpace(string(out)), cmd.ProcessState.ExitCode()
}

// create makes a segment of size bytes under a fresh test name in dir ("" is
// /dev/shm), and closes it when the test ends; the name is unlinked by
// shmtest.Name's cleanup.
func create(t testing.TB, name string, size int64, opts ...shm.Option) *shm.Segment {
	t.Helper()
	seg, err := shm.Create(name, size, opts...)
	if err != nil {
		t.Fatalf("Create(%q, %d): %v", name, size, err)
	}
	t.Cleanup(func() { seg.Close() })
	return seg
}

// open opens a segment and closes it when the test ends.
func open(t testing.TB, name string, opts ...shm.Option) *shm.Segment {
	t.Helper()
	seg, err := shm.Open(name, opts...)
	if err != nil {
		t.Fatalf("Open(%q): %v", name, err)
	}
	t.Cleanup(func() { seg.Close() })
	return seg
}

// readString returns the bytes of seg at off up to the first NUL (at most n).
func readString(t *testing.T, seg *shm.Segment, off int64, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := seg.ReadAt(b, off); err != nil {
		t.Fatalf("ReadAt(%d bytes at %d): %v", n, off, err)
	}
	if i := strings.IndexByte(string(b), 0); i >= 0 {
		b = b[:i]
	}
	return string(b)
}

func writeString(t *testing.T, seg *shm.Segment, off int64, s string) {
	t.Helper()
	if _, err := seg.WriteAt([]byte(s), off); err != nil {
		t.Fatalf("WriteAt(%q at %d): %v", s, off, err)
	}
}

// mustNotExist fails the test unless dir ("" is /dev/shm) has no object name.
func mustNotExist(t *testing.T, name string, opts ...shm.Option) {
	t.Helper()
	if info, err := shm.Stat(name, opts...); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Stat(%q) = %v, %v; want the object gone (fs.ErrNotExist)", name, info, err)
	}
}

var page = int64(os.Getpagesize())
