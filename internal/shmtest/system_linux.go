package shmtest

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"strconv"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Tmpfs mounts a tmpfs of the given size ("1m", "64m") on a new temporary
// directory and unmounts it when the test ends, after the cleanups the test
// registers later (those of the names it takes in the directory). It skips
// the test, saying why, when it cannot mount: not root, or no permission.
func Tmpfs(t testing.TB, size string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("skipping: mounting a tmpfs needs root")
	}
	dir, err := os.MkdirTemp("", "shmtest-tmpfs")
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount("tmpfs", dir, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "size="+size+",mode=1777"); err != nil {
		os.Remove(dir)
		t.Skipf("skipping: cannot mount a tmpfs on %s: %v", dir, err)
	}
	t.Cleanup(func() {
		if err := unix.Unmount(dir, unix.MNT_DETACH); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
		os.Remove(dir)
	})
	return dir
}

// FreeBytes returns the bytes available on the file system at dir.
func FreeBytes(t testing.TB, dir string) int64 {
	t.Helper()
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	return int64(st.Bavail) * st.Bsize
}

// Stop stops the process pid with SIGSTOP and waits until it is stopped:
// kill returns before the signal takes effect, and a process on another
// CPU may run on meanwhile (on a loaded VM, for long enough to read many
// messages). It fails the test at once if the process has exited, and
// after 10 s if it has not stopped.
func Stop(t testing.TB, pid int) {
	t.Helper()
	if err := unix.Kill(pid, unix.SIGSTOP); err != nil {
		t.Fatalf("SIGSTOP pid %d: %v", pid, err)
	}
	stat := "/proc/" + strconv.Itoa(pid) + "/stat"
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Microsecond) {
		b, err := os.ReadFile(stat)
		// The state follows the command name in parentheses, which may
		// itself hold parentheses: look after the last one.
		state := byte(0)
		if i := bytes.LastIndexByte(b, ')'); err == nil && i >= 0 && i+2 < len(b) {
			state = b[i+2]
		}
		switch {
		case state == 'T' || state == 't':
			return
		case state == 'Z' || state == 'X' || errors.Is(err, fs.ErrNotExist):
			t.Fatalf("pid %d exited before SIGSTOP stopped it (%s: %q, %v)", pid, stat, b, err)
		case time.Now().After(deadline):
			t.Fatalf("pid %d not stopped 10 s after SIGSTOP (%s: %q, %v)", pid, stat, b, err)
		}
	}
}
