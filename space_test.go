//go:build linux

package shm_test

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/shmkit/shm"
	"github.com/shmkit/shm/internal/shmtest"
	"golang.org/x/sys/unix"
)

// sparse makes an object of size bytes in dir the way C's shm_open with
// ftruncate, Python and truncate(1) do: sized, with no page allocated.
func sparse(t *testing.T, dir string, size int64) string {
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

// allocated returns the bytes of the object that hold memory.
func allocated(t *testing.T, dir, name string) int64 {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Stat(filepath.Join(dir, name), &st); err != nil {
		t.Fatal(err)
	}
	return st.Blocks * 512
}

// TestPartialWriteWhenSpaceRunsOut writes to a sparse object that is larger
// than its file system: WriteAt and NewWriter reserve the pages first, so
// a write that cannot get them is ErrNoSpace with nothing written, never a
// fault halfway through; a write that fits succeeds.
func TestPartialWriteWhenSpaceRunsOut(t *testing.T) {
	dir := shmtest.Tmpfs(t, "1m")
	name := sparse(t, dir, 2<<20)
	seg := open(t, name, shm.Dir(dir))
	big := bytes.Repeat([]byte("x"), 1100000)

	n, err := seg.WriteAt(big, 0)
	if n != 0 || !errors.Is(err, shm.ErrNoSpace) || errors.Is(err, shm.ErrFault) || !strings.Contains(err.Error(), "nothing was written") {
		t.Fatalf("WriteAt of %d bytes on a 1 MiB tmpfs: %d, %v; want 0 and ErrNoSpace", len(big), n, err)
	}
	_, err = seg.NewWriter(4096, int64(len(big)))
	if !errors.Is(err, shm.ErrNoSpace) {
		t.Fatalf("NewWriter of %d bytes on a 1 MiB tmpfs: %v; want ErrNoSpace", len(big), err)
	}
	if got := allocated(t, dir, name); got != 0 {
		t.Errorf("after the refused writes the object holds %d bytes, want 0", got)
	}
	if got := shmtest.FreeBytes(t, dir); got != 1<<20 {
		t.Errorf("after the refused writes %d bytes are free, want all %d", got, 1<<20)
	}
	if !bytes.Equal(seg.Bytes()[:page], make([]byte, page)) {
		t.Error("a refused write changed the object")
	}

	// What fits is written, through either call.
	if _, err := seg.WriteAt(big[:500000], 0); err != nil {
		t.Fatalf("WriteAt of 500000 bytes: %v", err)
	}
	w, err := seg.NewWriter(1<<20, 400000)
	if err != nil {
		t.Fatalf("NewWriter of 400000 bytes: %v", err)
	}
	for off := 0; off < 400000; off += 100000 {
		if _, err := w.Write(big[off : off+100000]); err != nil {
			t.Fatalf("Write at %d: %v", off, err)
		}
	}
	if _, err := w.Write([]byte("y")); !errors.Is(err, shm.ErrInvalid) {
		t.Errorf("a Write beyond the reserved bytes: %v, want ErrInvalid", err)
	}
	b := seg.Bytes()
	if !bytes.Equal(b[:500000], big[:500000]) || !bytes.Equal(b[1<<20:1<<20+400000], big[:400000]) || b[1<<20+400000] != 0 {
		t.Error("the mapping does not show what was written")
	}
}

// TestFaultInsideObjectIsNoSpace reads a hole of a sparse object through
// the mapping when the file system is full: the page cannot be had, and the
// error says so (ErrNoSpace, inside the object) instead of blaming a
// truncation.
func TestFaultInsideObjectIsNoSpace(t *testing.T) {
	dir := shmtest.Tmpfs(t, "1m")
	name := sparse(t, dir, 2<<20)
	seg := open(t, name, shm.Dir(dir))
	create(t, shmtest.Name(t, dir), 1<<20, shm.Dir(dir)) // fills the tmpfs
	_, err := seg.ReadAt(make([]byte, 8), 5*page+8)
	var fe *shm.FaultError
	if !errors.As(err, &fe) || !errors.Is(err, shm.ErrFault) || !errors.Is(err, shm.ErrNoSpace) || fe.Truncated() {
		t.Fatalf("ReadAt of a hole on a full tmpfs: %v; want a FaultError inside the object, matching ErrNoSpace", err)
	}
	want := "shm read " + name + ": memory fault in the mapping at offset " + strconv.FormatInt(5*page+8, 10) + ", inside the object's 2097152 bytes: no memory for the page (a full file system or a memory limit): no space left on device"
	if err.Error() != want {
		t.Errorf("error %q\nwant %q", err, want)
	}
	// The same range through the descriptor reads zeros, taking nothing.
	buf := make([]byte, 8)
	if _, err := seg.NewReader(0, seg.Size()).ReadAt(buf, 5*page+8); err != nil || !bytes.Equal(buf, make([]byte, 8)) {
		t.Errorf("NewReader on the hole: %q, %v", buf, err)
	}
}

// TestReadingConsumesFileSystem reads all of a 1 GiB sparse object through
// NewReader on a 16 MiB tmpfs: the holes read as zeros, the file system's
// free space does not change, and the process's resident memory does not
// grow by the object's size.
func TestReadingConsumesFileSystem(t *testing.T) {
	dir := shmtest.Tmpfs(t, "16m")
	name := sparse(t, dir, 1<<30)
	seg := open(t, name, shm.Dir(dir), shm.ReadOnly())
	free := shmtest.FreeBytes(t, dir)
	rss := residentBytes(t)

	var total int64
	r := seg.NewReader(0, seg.Size())
	buf, zeros := make([]byte, 1<<20), make([]byte, 1<<20)
	for {
		n, err := r.Read(buf)
		if !bytes.Equal(buf[:n], zeros[:n]) {
			t.Fatalf("a hole does not read as zeros at %d", total)
		}
		total += int64(n)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("read at %d: %v", total, err)
		}
	}
	if total != 1<<30 {
		t.Errorf("read %d bytes, want %d", total, 1<<30)
	}
	if got := shmtest.FreeBytes(t, dir); got != free {
		t.Errorf("reading took %d bytes of the file system", free-got)
	}
	if grown := residentBytes(t) - rss; grown > 64<<20 {
		t.Errorf("reading 1 GiB grew the resident memory by %d bytes", grown)
	}
}

// TestNewReaderTruncated reads an object that another process cut below the
// window: the read ends with an error that gives the new size, not a fault.
func TestNewReaderTruncated(t *testing.T) {
	name := shmtest.Name(t, "")
	seg := create(t, name, 4*page)
	writeString(t, seg, page, "kept")
	truncateByPeer(t, name, 2*page)
	b, err := io.ReadAll(seg.NewReader(0, seg.Size()))
	if !errors.Is(err, io.ErrUnexpectedEOF) || int64(len(b)) != 2*page || !strings.Contains(err.Error(), "the object is now 8192 bytes") {
		t.Fatalf("reading a truncated object: %d bytes, %v", len(b), err)
	}
	// A writer does not grow it back.
	w, err := seg.NewWriter(3*page, 8)
	if err == nil {
		_, err = w.Write([]byte("12345678"))
	}
	if err == nil || !strings.Contains(err.Error(), "the object is now 8192 bytes") {
		t.Errorf("writing past the cut: %v", err)
	}
	if info, err := shm.Stat(name); err != nil || info.Size != 2*page {
		t.Errorf("after the refused write the object is %v, %v", info, err)
	}
}

// residentBytes returns this process's resident memory, VmRSS.
func residentBytes(t *testing.T) int64 {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if kb, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			n, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(kb), "kB")), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return n << 10
		}
	}
	t.Fatal("no VmRSS in /proc/self/status")
	return 0
}
