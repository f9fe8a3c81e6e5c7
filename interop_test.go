//go:build linux

package shm_test

import (
	"errors"
	"fmt"
	"io/fs"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/shmkit/shm"
	"github.com/shmkit/shm/internal/shmtest"
	"golang.org/x/sys/unix"
)

// cPeer is our own C program on POSIX shared memory, the way C programs
// use it: shm_open, ftruncate, mmap, shm_unlink. Names are passed with their
// leading slash, as C programs write them. It prints one line per command
// and exits 0, or prints the failing call and errno and exits 1.
const cPeer = `
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static int fail(const char *what) {
	printf("%s: %s\n", what, strerror(errno));
	return 1;
}

int main(int argc, char **argv) {
	if (argc < 3) {
		fprintf(stderr, "usage: peer create|read|write|truncate|unlink|stat /NAME ...\n");
		return 2;
	}
	const char *cmd = argv[1], *name = argv[2];
	if (!strcmp(cmd, "unlink")) {
		if (shm_unlink(name) < 0) return fail("shm_unlink");
		printf("unlinked\n");
		return 0;
	}
	if (!strcmp(cmd, "create") && argc == 5) { /* create /NAME SIZE TEXT */
		int fd = shm_open(name, O_RDWR | O_CREAT | O_EXCL, 0600);
		if (fd < 0) return fail("shm_open");
		off_t size = atoll(argv[3]);
		if (ftruncate(fd, size) < 0) return fail("ftruncate");
		char *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		if (p == MAP_FAILED) return fail("mmap");
		strcpy(p, argv[4]);
		munmap(p, size);
		close(fd);
		printf("created\n");
		return 0;
	}
	if (!strcmp(cmd, "read") && argc == 4) { /* read /NAME OFFSET: size and the string there */
		int fd = shm_open(name, O_RDONLY, 0);
		if (fd < 0) return fail("shm_open");
		struct stat st;
		if (fstat(fd, &st) < 0) return fail("fstat");
		off_t off = atoll(argv[3]);
		char *p = mmap(NULL, st.st_size, PROT_READ, MAP_SHARED, fd, 0);
		if (p == MAP_FAILED) return fail("mmap");
		printf("size=%lld text=%.*s\n", (long long)st.st_size, (int)strnlen(p + off, st.st_size - off), p + off);
		munmap(p, st.st_size);
		close(fd);
		return 0;
	}
	if (!strcmp(cmd, "write") && argc == 5) { /* write /NAME OFFSET TEXT (with its NUL) */
		int fd = shm_open(name, O_RDWR, 0);
		if (fd < 0) return fail("shm_open");
		struct stat st;
		if (fstat(fd, &st) < 0) return fail("fstat");
		char *p = mmap(NULL, st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		if (p == MAP_FAILED) return fail("mmap");
		memcpy(p + atoll(argv[3]), argv[4], strlen(argv[4]) + 1);
		munmap(p, st.st_size);
		close(fd);
		printf("written\n");
		return 0;
	}
	if (!strcmp(cmd, "truncate") && argc == 4) { /* truncate /NAME SIZE */
		int fd = shm_open(name, O_RDWR, 0);
		if (fd < 0) return fail("shm_open");
		if (ftruncate(fd, atoll(argv[3])) < 0) return fail("ftruncate");
		close(fd);
		printf("truncated\n");
		return 0;
	}
	if (!strcmp(cmd, "stat")) { /* stat /NAME: size and mode */
		int fd = shm_open(name, O_RDONLY, 0);
		if (fd < 0) return fail("shm_open");
		struct stat st;
		if (fstat(fd, &st) < 0) return fail("fstat");
		printf("size=%lld mode=%04o\n", (long long)st.st_size, st.st_mode & 07777);
		close(fd);
		return 0;
	}
	fprintf(stderr, "bad command %s\n", cmd);
	return 2;
}
`

// runC runs the C peer with args and fails the test unless it prints want
// and exits 0.
func runC(t *testing.T, bin string, want string, args ...string) {
	t.Helper()
	out, code := runPeer(t, exec.Command(bin, args...))
	if code != 0 || out != want {
		t.Fatalf("peer %s: exit %d, %q; want %q", strings.Join(args, " "), code, out, want)
	}
}

func TestInteropC(t *testing.T) {
	bin := shmtest.BuildC(t, cPeer, "-lrt")

	t.Run("C creates, Go opens", func(t *testing.T) {
		name := shmtest.Name(t, "")
		runC(t, bin, "created", "create", "/"+name, "5000", "from C")
		seg := open(t, name)
		if seg.Size() != 5000 {
			t.Errorf("Go sees %d bytes, want 5000", seg.Size())
		}
		if got := readString(t, seg, 0, 64); got != "from C" {
			t.Errorf("Go reads %q", got)
		}
		info, err := shm.Stat("/" + name)
		if err != nil || info.Size != 5000 || info.Mode != 0o600 || info.Kind != shm.KindData {
			t.Errorf("Stat = %+v, %v", info, err)
		}
		// Each sees the other's writes while both have it mapped.
		writeString(t, seg, 4000, "from Go")
		runC(t, bin, "size=5000 text=from Go", "read", "/"+name, "4000")
		runC(t, bin, "written", "write", "/"+name, "100", "C again")
		if got := readString(t, seg, 100, 64); got != "C again" {
			t.Errorf("Go reads %q after C wrote", got)
		}
		// C unlinks: the name is gone, the mapping lives on.
		runC(t, bin, "unlinked", "unlink", "/"+name)
		mustNotExist(t, name)
		if _, err := shm.Open(name); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("Open after C's unlink: %v", err)
		}
		if got := readString(t, seg, 0, 64); got != "from C" {
			t.Errorf("mapping after unlink reads %q", got)
		}
	})

	t.Run("Go creates, C opens", func(t *testing.T) {
		name := shmtest.Name(t, "")
		seg := create(t, "/"+name, 3000, shm.Mode(0o640))
		writeString(t, seg, 0, "from Go")
		runC(t, bin, "size=3000 mode=0640", "stat", "/"+name)
		runC(t, bin, "size=3000 text=from Go", "read", "/"+name, "0")
		runC(t, bin, "written", "write", "/"+name, "2990", "from C")
		if got := readString(t, seg, 2990, 10); got != "from C" {
			t.Errorf("Go reads %q after C wrote", got)
		}
		// C's exclusive create finds Go's object.
		out, code := runPeer(t, exec.Command(bin, "create", "/"+name, "10", "x"))
		if code != 1 || out != "shm_open: File exists" {
			t.Errorf("C create of Go's object: exit %d, %q", code, out)
		}
		runC(t, bin, "unlinked", "unlink", "/"+name)
		mustNotExist(t, name)
		if err := shm.Unlink(name); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("Go unlink after C's: %v", err)
		}
	})

	t.Run("Go unlinks C's", func(t *testing.T) {
		name := shmtest.Name(t, "")
		runC(t, bin, "created", "create", "/"+name, "64", "x")
		if err := shm.Unlink("/" + name); err != nil {
			t.Fatal(err)
		}
		out, code := runPeer(t, exec.Command(bin, "read", "/"+name, "0"))
		if code != 1 || out != "shm_open: No such file or directory" {
			t.Errorf("C read after Go's unlink: exit %d, %q", code, out)
		}
	})

	t.Run("Resize reserves C's sparse object", func(t *testing.T) {
		name := shmtest.Name(t, "")
		runC(t, bin, "created", "create", "/"+name, "1048576", "sparse")
		allocated := func() int64 {
			var st unix.Stat_t
			if err := unix.Stat(filepath.Join(shm.DefaultDir, name), &st); err != nil {
				t.Fatal(err)
			}
			return st.Blocks * 512
		}
		// ftruncate reserves nothing: only the page C wrote is there.
		if got := allocated(); got >= 1<<20 {
			t.Fatalf("C's object already has %d bytes allocated", got)
		}
		seg := open(t, name)
		if err := seg.Resize(1 << 20); err != nil {
			t.Fatal(err)
		}
		if got := allocated(); got < 1<<20 {
			t.Errorf("after Resize to its own size, %d bytes allocated, want %d", got, 1<<20)
		}
		if got := readString(t, seg, 0, 16); got != "sparse" {
			t.Errorf("content after Resize: %q", got)
		}
	})

	t.Run("C truncates under Go", func(t *testing.T) {
		name := shmtest.Name(t, "")
		seg := create(t, name, 4*page)
		writeString(t, seg, 3*page, "end")
		runC(t, bin, "truncated", "truncate", "/"+name, strconv.FormatInt(page, 10))
		if _, err := seg.ReadAt(make([]byte, 3), 3*page); !errors.Is(err, shm.ErrFault) {
			t.Errorf("ReadAt of a page C cut off: %v, want ErrFault", err)
		}
		if _, err := seg.WriteAt([]byte("x"), 2*page); !errors.Is(err, shm.ErrFault) {
			t.Errorf("WriteAt to a page C cut off: %v, want ErrFault", err)
		}
		// Go resizes it back and carries on.
		if err := seg.Resize(4 * page); err != nil {
			t.Fatal(err)
		}
		writeString(t, seg, 3*page, "again")
		runC(t, bin, fmt.Sprintf("size=%d text=again", 4*page), "read", "/"+name, strconv.FormatInt(3*page, 10))
	})
}

// python runs a python3 script with args and returns its stdout, failing the
// test unless it exits 0. The script gets the object name without its slash,
// as multiprocessing.shared_memory takes it.
func python(t *testing.T, script string, args ...string) string {
	t.Helper()
	py := shmtest.Need(t, "python3")
	out, code := runPeer(t, exec.Command(py, append([]string{"-c", script}, args...)...))
	if code != 0 {
		t.Fatalf("python3 exit %d: %s", code, out)
	}
	return out
}

// pyPrelude attaches or creates, and prints the resource tracker's pid so the
// test can wait for it to finish: it is the tracker, not the interpreter,
// that unlinks segments at exit.
const pyPrelude = `
import os, sys
from multiprocessing import resource_tracker
from multiprocessing.shared_memory import SharedMemory

def tracker_pid():
    return resource_tracker._resource_tracker._pid or 0

def untrack(shm):
    # Python 3.11 has no track=False: without this the resource tracker
    # unlinks the segment when this interpreter exits, even one it only
    # attached to.
    resource_tracker.unregister(shm._name, "shared_memory")
`

// waitGone waits up to five seconds for process pid to end, through a
// pidfd: it becomes readable when the process exits, and names that process
// only, whatever pid the kernel hands out next.
func waitGone(t *testing.T, pid int) {
	t.Helper()
	if pid <= 0 {
		return
	}
	fd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return // already gone
	}
	defer unix.Close(fd)
	fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	for {
		n, err := unix.Poll(fds, 5000)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			t.Fatalf("poll pidfd of pid %d: %v", pid, err)
		}
		if n == 0 {
			t.Fatalf("python's resource tracker (pid %d) still runs after 5s", pid)
		}
		return
	}
}

func TestInteropPython(t *testing.T) {
	shmtest.SkipShort(t)
	shmtest.Need(t, "python3")

	t.Run("Python creates, Go opens", func(t *testing.T) {
		name := shmtest.Name(t, "")
		out := python(t, pyPrelude+`
shm = SharedMemory(name=sys.argv[1], create=True, size=5000)
shm.buf[:11] = b"from python"
untrack(shm)
print(shm.name, shm.size, tracker_pid())
shm.close()
`, name)
		var gotName string
		var size, tracker int
		if _, err := fmt.Sscan(out, &gotName, &size, &tracker); err != nil || gotName != name || size != 5000 {
			t.Fatalf("python printed %q", out)
		}
		waitGone(t, tracker)

		// Python does not round the size up to pages on Linux: the object
		// is exactly what it asked for.
		seg := open(t, name)
		if seg.Size() != 5000 {
			t.Errorf("Go sees %d bytes of python's 5000", seg.Size())
		}
		if got := readString(t, seg, 0, 64); got != "from python" {
			t.Errorf("Go reads %q", got)
		}
		if info, err := shm.Stat(name); err != nil || info.Mode != 0o600 {
			t.Errorf("Stat = %+v, %v", info, err)
		}
		writeString(t, seg, 4990, "from Go")
		// Python reads Go's reply and unlinks (which also untracks).
		out = python(t, pyPrelude+`
shm = SharedMemory(name=sys.argv[1])
print(bytes(shm.buf[4990:4997]).decode(), shm.size)
shm.close()
shm.unlink()
`, name)
		if out != "from Go 5000" {
			t.Errorf("python read %q", out)
		}
		mustNotExist(t, name)
	})

	t.Run("Go creates, Python opens", func(t *testing.T) {
		name := shmtest.Name(t, "")
		seg := create(t, "/"+name, 3000)
		writeString(t, seg, 0, "from Go")
		out := python(t, pyPrelude+`
shm = SharedMemory(name=sys.argv[1])
untrack(shm)
print(shm.name, shm.size, tracker_pid())
print(bytes(shm.buf[:7]).decode())
shm.buf[100:115] = b"python was here"
shm.close()
`, name)
		first, text, _ := strings.Cut(out, "\n")
		var gotName string
		var size, tracker int
		if _, err := fmt.Sscan(first, &gotName, &size, &tracker); err != nil || gotName != name || size != 3000 {
			t.Fatalf("python printed %q", out)
		}
		if text != "from Go" {
			t.Errorf("python read %q", text)
		}
		// Once the interpreter and its tracker are gone, Go's segment is
		// still there, with python's write.
		waitGone(t, tracker)
		if info, err := shm.Stat(name); err != nil || info.Size != 3000 {
			t.Fatalf("after python exited: %+v, %v; want the segment kept", info, err)
		}
		if got := readString(t, seg, 100, 32); got != "python was here" {
			t.Errorf("Go reads %q", got)
		}
		// Python unlinks Go's object.
		python(t, pyPrelude+`
shm = SharedMemory(name=sys.argv[1])
shm.close()
shm.unlink()
`, name)
		mustNotExist(t, name)
	})

	// The trap the package documentation warns of: a Python 3.11 process that
	// merely attaches, without unregistering, has its resource tracker
	// unlink the segment when it exits.
	t.Run("resource tracker unlinks what it attached to", func(t *testing.T) {
		name := shmtest.Name(t, "")
		create(t, name, 100)
		out := python(t, pyPrelude+`
shm = SharedMemory(name=sys.argv[1])
print(tracker_pid())
shm.close()
`, name)
		tracker, err := strconv.Atoi(out)
		if err != nil {
			t.Fatalf("python printed %q", out)
		}
		waitGone(t, tracker)
		mustNotExist(t, name)
	})
}
