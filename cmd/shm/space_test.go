//go:build linux

package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shmkit/shm/internal/shmtest"
	"golang.org/x/sys/unix"
)

// sparseObject makes an object of size bytes in dir as truncate -s does:
// sized, no page allocated.
func sparseObject(t *testing.T, dir string, size int64) string {
	t.Helper()
	name := shmtest.Name(t, dir)
	f, err := os.OpenFile(filepath.Join(dir, name), os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	return name
}

func blocksOf(t *testing.T, path string) int64 {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		t.Fatal(err)
	}
	return st.Blocks
}

// TestPartialWriteWhenSpaceRunsOut writes more to a sparse object than its
// tmpfs holds, from a pipe and from a file: exit 1, a message that says the
// file system is full, and nothing written.
func TestPartialWriteWhenSpaceRunsOut(t *testing.T) {
	dir := shmtest.Tmpfs(t, "1m")
	name := sparseObject(t, dir, 2<<20)
	input := strings.Repeat("x", 1100000)

	r := shmRun(t, input, "write", name, "--dir", dir)
	if r.code != 1 || !strings.Contains(r.stderr, "no space left on device") || !strings.Contains(r.stderr, "nothing was written") {
		t.Errorf("write from a pipe to a full tmpfs: exit %d, stderr %q", r.code, r.stderr)
	}
	file := filepath.Join(t.TempDir(), "input")
	if err := os.WriteFile(file, []byte(input), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var stderr bytes.Buffer
	if code := run([]string{"write", name, "--dir", dir}, f, io.Discard, &stderr); code != 1 || !strings.Contains(stderr.String(), "no space left on device") {
		t.Errorf("write from a file to a full tmpfs: exit %d, stderr %q", code, stderr.String())
	}
	if b := blocksOf(t, filepath.Join(dir, name)); b != 0 {
		t.Errorf("the refused writes left %d blocks allocated", b)
	}
	if free := shmtest.FreeBytes(t, dir); free != 1<<20 {
		t.Errorf("after the refused writes %d bytes are free, want all", free)
	}
	// What fits goes in.
	ok(t, input[:600000], "write", name, "--dir", dir, "--offset", "1M")
	got, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil || string(got[1<<20:1<<20+600000]) != input[:600000] {
		t.Errorf("the write that fits did not land: %v", err)
	}
}

// countingWriter counts what it is given and keeps nothing.
type countingWriter struct{ n, nonzero int64 }

func (w *countingWriter) Write(p []byte) (int, error) {
	w.n += int64(len(p))
	w.nonzero += int64(len(p) - bytes.Count(p, []byte{0}))
	return len(p), nil
}

// TestReadOnlyCommandsConsumeFileSystem runs cat, dump, stat and ls on a
// 1 GiB sparse object in a 16 MiB tmpfs: they print its bytes (zeros) and
// leave the file system's free space as it was.
func TestReadOnlyCommandsConsumeFileSystem(t *testing.T) {
	dir := shmtest.Tmpfs(t, "16m")
	name := sparseObject(t, dir, 1<<30)
	free := shmtest.FreeBytes(t, dir)

	var out countingWriter
	var stderr bytes.Buffer
	if code := run([]string{"cat", name, "--dir", dir}, strings.NewReader(""), &out, &stderr); code != 0 || out.n != 1<<30 || out.nonzero != 0 {
		t.Errorf("cat: exit %d, %d bytes (%d not zero), stderr %q", code, out.n, out.nonzero, stderr.String())
	}
	// dump reads 16 bytes at a time: a smaller object keeps it quick.
	small := sparseObject(t, dir, 64<<20)
	dump := ok(t, "", "dump", small, "--dir", dir)
	want := "00000000  00 00 00 00 00 00 00 00  00 00 00 00 00 00 00 00  |................|\n*\n04000000\n"
	if dump != want {
		t.Errorf("dump printed %q, want %q", dump, want)
	}
	ok(t, "", "stat", name, "--dir", dir)
	ok(t, "", "ls", "--dir", dir)
	if got := shmtest.FreeBytes(t, dir); got != free {
		t.Errorf("the read-only commands took %d bytes of the file system", free-got)
	}
	for _, n := range []string{name, small} {
		if b := blocksOf(t, filepath.Join(dir, n)); b != 0 {
			t.Errorf("%s has %d blocks after being read", n, b)
		}
	}
}

// peakRSS runs the program args with stdin from the file in and returns its
// peak resident memory in bytes. A child of this process would report at
// least this process's own peak (the kernel carries a vfork parent's peak
// across exec), so python3 starts it and reports its children's peak.
func peakRSS(t *testing.T, in string, args ...string) int64 {
	t.Helper()
	py := shmtest.Need(t, "python3")
	script := `import resource, subprocess, sys
with open(sys.argv[1], "rb") as f:
    code = subprocess.run(sys.argv[2:], stdin=f).returncode
print(code, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)`
	out, err := exec.Command(py, append([]string{"-c", script, in}, args...)...).Output()
	if err != nil {
		t.Fatalf("python3 running %q: %v", args, err)
	}
	var code, kb int64
	if _, err := fmt.Sscan(string(out), &code, &kb); err != nil || code != 0 {
		t.Fatalf("%q: exit %d, %q, %v", args, code, out, err)
	}
	return kb << 10
}

// TestWriteMemoryBounded runs the real binary to write 64 MiB from a file
// and cat it back: the peak resident memory of each stays far below the
// data's size, because they stream through a bounded buffer, and pread and
// pwrite keep the object's pages out of the process.
func TestWriteMemoryBounded(t *testing.T) {
	shmtest.SkipShort(t)
	bin := buildShm(t)
	dir := shmtest.Tmpfs(t, "160m")
	const size = 64 << 20
	name := shmtest.Name(t, dir)
	ok(t, "", "create", name, "--size", "64M", "--dir", dir)
	input := filepath.Join(dir, "input")
	pattern := bytes.Repeat([]byte("0123456789abcdef"), 1<<16)
	f, err := os.Create(input)
	if err != nil {
		t.Fatal(err)
	}
	for range size / len(pattern) {
		if _, err := f.Write(pattern); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if rss := peakRSS(t, input, bin, "write", name, "--dir", dir); rss > size/2 {
		t.Errorf("shm write of %d bytes from a file peaked at %d bytes resident", size, rss)
	}
	if rss := peakRSS(t, "/dev/null", "sh", "-c", `"$0" cat "$1" --dir "$2" | cmp -s - "$3"`, bin, name, dir, input); rss > size/2 {
		t.Errorf("shm cat of %d bytes peaked at %d bytes resident", size, rss)
	}
	// From a pipe, the input's length is unknown until its end: what is
	// beyond 16 MiB waits in a temporary file, not in memory.
	if err := os.Truncate(filepath.Join(dir, name), 0); err != nil {
		t.Fatal(err)
	}
	ok(t, "", "resize", name, "64M", "--dir", dir)
	if rss := peakRSS(t, "/dev/null", "sh", "-c", `cat "$3" | "$0" write "$1" --dir "$2" && "$0" cat "$1" --dir "$2" | cmp -s - "$3"`, bin, name, dir, input); rss > size/2 {
		t.Errorf("shm write of %d bytes from a pipe peaked at %d bytes resident", size, rss)
	}
}

// TestHexDumpFlushesBeforeError reads through a reader that fails midway:
// the lines read before the failure are printed, then the error returns.
func TestHexDumpFlushesBeforeError(t *testing.T) {
	broken := errors.New("the object is now 32 bytes")
	r := io.MultiReader(bytes.NewReader(bytes.Repeat([]byte("A"), 32)), errReader{broken})
	var out bytes.Buffer
	err := hexDump(&out, r)
	want := "00000000  41 41 41 41 41 41 41 41  41 41 41 41 41 41 41 41  |AAAAAAAAAAAAAAAA|\n*\n"
	if !errors.Is(err, broken) || out.String() != want {
		t.Errorf("hexDump = %v, printed %q; want the error after %q", err, out.String(), want)
	}
}

type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) { return 0, r.err }

// TestFailedCommandLeavesObject runs creating commands that fail: none
// leaves an object behind.
func TestFailedCommandLeavesObject(t *testing.T) {
	dir := shmtest.Tmpfs(t, "1m")
	stdinDir, err := os.Open(t.TempDir()) // reading a directory fails
	if err != nil {
		t.Fatal(err)
	}
	defer stdinDir.Close()
	for _, c := range []struct {
		what  string
		stdin io.Reader
		args  []string
	}{
		{"edit, word too long", strings.NewReader("x\n"), []string{"edit", "--size", "1"}},
		{"edit, word longer than --size", strings.NewReader(strings.Repeat("w", 5000)), []string{"edit"}},
		{"edit, unreadable stdin", stdinDir, []string{"edit"}},
		{"edit, --size 0", strings.NewReader("x"), []string{"edit", "--size", "0"}},
		{"edit, no space", strings.NewReader("x"), []string{"edit", "--size", "2M"}},
		{"create, no space", strings.NewReader(""), []string{"create", "--size", "2M"}},
		{"queue create, no space", strings.NewReader(""), []string{"queue", "create", "--capacity", "1M"}},
	} {
		name := shmtest.Name(t, dir)
		var stderr bytes.Buffer
		code := run(append(c.args, name, "--dir", dir), c.stdin, io.Discard, &stderr)
		if code != 1 || !strings.HasPrefix(stderr.String(), "shm: ") {
			t.Errorf("%s: exit %d, stderr %q; want a failure", c.what, code, stderr.String())
		}
		if _, err := os.Lstat(filepath.Join(dir, name)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s: the failed command left %s behind (%v)", c.what, name, err)
		}
	}
	if left, _ := os.ReadDir(dir); len(left) != 0 {
		t.Errorf("the failed commands left %d files", len(left))
	}
	// A full file system: sem create fails and leaves nothing either.
	filler := shmtest.Name(t, dir)
	ok(t, "", "create", filler, "--size", "1M", "--dir", dir)
	sem := shmtest.Name(t, dir)
	if r := shmRun(t, "", "sem", "create", sem, "--dir", dir); r.code != 1 {
		t.Errorf("sem create on a full tmpfs: exit %d, stderr %q", r.code, r.stderr)
	}
	if left, _ := os.ReadDir(dir); len(left) != 1 {
		t.Errorf("sem create on a full tmpfs left %d files besides the filler", len(left)-1)
	}
	ok(t, "", "rm", filler, "--dir", dir)
	// An edit that succeeds creates the object with its word.
	name := shmtest.Name(t, dir)
	ok(t, "word\n", "edit", name, "--dir", dir, "--size", "5")
	if b, err := os.ReadFile(filepath.Join(dir, name)); err != nil || string(b) != "word\x00" {
		t.Errorf("edit created %q, %v", b, err)
	}
}
