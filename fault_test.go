//go:build linux

package shm_test

import (
	"errors"
	"fmt"
	"runtime/debug"
	"strconv"
	"testing"

	"github.com/shmkit/shm"
	"github.com/shmkit/shm/internal/shmtest"
	"golang.org/x/sys/unix"
)

// truncateByPeer has a second process (this test binary, re-executed) cut
// the object down to size bytes with ftruncate.
func truncateByPeer(t *testing.T, name string, size int64) {
	t.Helper()
	out, code := runPeer(t, child(t, "truncate", name, strconv.FormatInt(size, 10)))
	if code != childOK || out != "truncated" {
		t.Fatalf("truncating child: exit %d, %q", code, out)
	}
}

// TestTruncatedByPeer maps a segment that another process then truncates:
// ReadAt and WriteAt return ErrFault instead of the SIGBUS killing us.
func TestTruncatedByPeer(t *testing.T) {
	name := shmtest.Name(t, "")
	seg := create(t, name, 2*page)
	writeString(t, seg, 0, "first page")
	writeString(t, seg, page, "second page")

	truncateByPeer(t, name, page)
	// What is left still reads.
	if got := readString(t, seg, 0, 16); got != "first page" {
		t.Errorf("first page reads %q", got)
	}
	fault := func(op string, off int64) string {
		return fmt.Sprintf("shm %s %s: memory fault in the mapping at offset %d: the object is now %d bytes (truncated by another process)", op, name, off, page)
	}
	for _, c := range []struct {
		what string
		call func() (int, error)
		msg  string
	}{
		{"read in the cut page", func() (int, error) { return seg.ReadAt(make([]byte, 8), page+8) }, fault("read", page+8)},
		{"read across the cut", func() (int, error) { return seg.ReadAt(make([]byte, 16), page-8) }, fault("read", page)},
		{"write in the cut page", func() (int, error) { return seg.WriteAt([]byte("x"), page) }, fault("write", page)},
	} {
		n, err := c.call()
		if n != 0 || !errors.Is(err, shm.ErrFault) || errors.Is(err, shm.ErrNoSpace) || err.Error() != c.msg {
			t.Errorf("%s: %d, %v; want 0, %q", c.what, n, err, c.msg)
		}
	}

	truncateByPeer(t, name, 0)
	if _, err := seg.ReadAt(make([]byte, 1), 0); !errors.Is(err, shm.ErrFault) {
		t.Errorf("read of an emptied object: %v, want ErrFault", err)
	}
	if _, err := seg.WriteAt([]byte("x"), 10); !errors.Is(err, shm.ErrFault) {
		t.Errorf("write to an emptied object: %v, want ErrFault", err)
	}

	// A direct access through Bytes() is a real SIGBUS: it only becomes a
	// panic (not the death of the process) under debug.SetPanicOnFault,
	// as the package documentation says.
	func() {
		defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
		defer func() {
			r := recover()
			if _, ok := r.(interface{ Addr() uintptr }); !ok {
				t.Errorf("direct read of a truncated page recovered %v, want a fault with an address", r)
			}
		}()
		sink = seg.Bytes()[page+1]
	}()

	// Grown again by the peer, the pages read (as zeros) and write again.
	p, _ := shm.Path("", name)
	if err := unix.Truncate(p, 2*page); err != nil {
		t.Fatal(err)
	}
	if got := readString(t, seg, 0, 16); got != "" {
		t.Errorf("regrown object reads %q, want zeros", got)
	}
	writeString(t, seg, page, "back")
	if err := seg.Close(); err != nil {
		t.Errorf("Close after the faults: %v", err)
	}
}

// TestTinyTmpfs fills a 1 MiB tmpfs through the Dir option: running out of
// space is an ENOSPC from Create or Resize, never a SIGBUS later, and a
// refused call leaves nothing behind.
func TestTinyTmpfs(t *testing.T) {
	dir := shmtest.Tmpfs(t, "1m")
	in := shm.Dir(dir)
	const total = 1 << 20
	if got := shmtest.FreeBytes(t, dir); got != total {
		t.Fatalf("fresh tmpfs has %d bytes free, want %d", got, total)
	}
	names := make([]string, 4)
	for i := range names {
		names[i] = shmtest.Name(t, dir)
	}
	a, b, c, d := names[0], names[1], names[2], names[3]
	noSpace := func(op, name string, err error) {
		t.Helper()
		want := "shm " + op + " " + name + ": no space left on device"
		if !errors.Is(err, shm.ErrNoSpace) || err.Error() != want {
			t.Fatalf("%s: %v; want %q", op, err, want)
		}
	}
	onlyThere := func(want ...string) {
		t.Helper()
		infos, err := shm.List(in)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, info := range infos {
			got = append(got, info.Name)
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("the tmpfs holds %v, want %v", got, want)
		}
	}

	// More than the whole file system.
	_, err := shm.Create(a, 2*total, in)
	noSpace("create", a, err)
	onlyThere()

	segA := create(t, a, total/2, in)
	writeString(t, segA, 0, "A")
	// More than what is left but less than the file system: the kernel
	// allocates until it runs out, then gives it all back.
	_, err = shm.Create(b, total*3/4, in)
	noSpace("create", b, err)
	_, created, err := shm.OpenOrCreate(b, total*3/4, in)
	noSpace("create", b, err)
	if created {
		t.Error("OpenOrCreate without space reports created")
	}
	onlyThere(a)
	if got := shmtest.FreeBytes(t, dir); got != total/2 {
		t.Fatalf("after the refused creates %d bytes are free, want %d", got, total/2)
	}

	segB := create(t, b, total/4, in)
	writeString(t, segB, 0, "B")
	noSpace("resize", a, segA.Resize(total*3/4+page))
	if segA.Size() != total/2 || len(segA.Bytes()) != total/2 {
		t.Fatalf("after a refused Resize the segment has %d bytes", segA.Size())
	}
	if info, err := shm.Stat(a, in); err != nil || info.Size != total/2 {
		t.Fatalf("after a refused Resize the object is %v, %v", info, err)
	}
	if got := shmtest.FreeBytes(t, dir); got != total/4 {
		t.Fatalf("after the refused resize %d bytes are free, want %d", got, total/4)
	}
	// Exactly what is left works, and fills the file system.
	if err := segA.Resize(total * 3 / 4); err != nil {
		t.Fatalf("Resize to fill the tmpfs exactly: %v", err)
	}
	if got := shmtest.FreeBytes(t, dir); got != 0 {
		t.Fatalf("full tmpfs has %d bytes free", got)
	}
	_, err = shm.Create(c, 1, in)
	noSpace("create", c, err)
	onlyThere(a, b)

	// Every byte of both segments was reserved: writing all of them through
	// Bytes() (no fault handling) cannot raise SIGBUS.
	for _, seg := range []*shm.Segment{segA, segB} {
		buf := seg.Bytes()
		for i := range buf {
			buf[i] = byte(i)
		}
	}
	if v := segB.Bytes()[1000]; v != byte(1000%256) {
		t.Errorf("segment B byte 1000 reads %d", v)
	}

	// Shrinking gives the space back; one segment then fills it all.
	if err := segA.Resize(page); err != nil {
		t.Fatal(err)
	}
	if err := shm.Unlink(b, in); err != nil {
		t.Fatal(err)
	}
	segB.Close()
	segA.Close()
	if err := shm.Unlink(a, in); err != nil {
		t.Fatal(err)
	}
	segD := create(t, d, total, in)
	buf := segD.Bytes()
	for i := range buf {
		buf[i] = 0xff
	}
	onlyThere(d)
}

// sink keeps the compiler from dropping a load whose value is unused.
var sink byte
