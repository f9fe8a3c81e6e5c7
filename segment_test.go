//go:build linux

package shm_test

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/shmkit/shm"
	"github.com/shmkit/shm/internal/shmtest"
	"golang.org/x/sys/unix"
)

func TestCreateOpenShare(t *testing.T) {
	name := shmtest.Name(t, "")
	a := create(t, name, 3*page)
	if a.Name() != name || a.Path() != filepath.Join(shm.DefaultDir, name) || a.Size() != 3*page {
		t.Fatalf("Create gave Name %q Path %q Size %d", a.Name(), a.Path(), a.Size())
	}
	if a.Fd() < 0 {
		t.Fatalf("Fd = %d", a.Fd())
	}
	// A new object reads as zeros.
	if !bytes.Equal(a.Bytes(), make([]byte, 3*page)) {
		t.Fatal("a new segment is not all zeros")
	}
	// Both spellings of the name open the same object, and each mapping
	// sees the other's writes, through WriteAt and through Bytes.
	b := open(t, "/"+name)
	if b.Name() != name {
		t.Errorf("Open(%q).Name() = %q, want %q", "/"+name, b.Name(), name)
	}
	writeString(t, a, page-2, "across a page")
	if got := readString(t, b, page-2, 32); got != "across a page" {
		t.Errorf("other mapping read %q", got)
	}
	copy(b.Bytes()[2*page:], "direct")
	if got := readString(t, a, 2*page, 16); got != "direct" {
		t.Errorf("write through Bytes read back as %q", got)
	}
}

func TestOpenOrCreate(t *testing.T) {
	name := shmtest.Name(t, "")
	seg, created, err := shm.OpenOrCreate(name, 4096)
	if err != nil || !created {
		t.Fatalf("first OpenOrCreate = %v, %v; want created", created, err)
	}
	writeString(t, seg, 0, "first")
	seg.Close()

	// The size is for creating only: an existing object keeps its own.
	seg, created, err = shm.OpenOrCreate("/"+name, 99*page)
	if err != nil || created {
		t.Fatalf("second OpenOrCreate = %v, %v; want opened", created, err)
	}
	defer seg.Close()
	if seg.Size() != 4096 {
		t.Errorf("opened segment has %d bytes, want 4096", seg.Size())
	}
	if got := readString(t, seg, 0, 16); got != "first" {
		t.Errorf("opened segment holds %q", got)
	}
}

// TestOpenOrCreateRace runs OpenOrCreate on one name from several goroutines,
// in rounds: exactly one creates, and every other finds the object whole
// (never the creator's object before it has its size).
func TestOpenOrCreateRace(t *testing.T) {
	const (
		rounds = 10
		n      = 4
		size   = 8 << 20 // reserving this takes a while: a wide window for the race
	)
	for round := range rounds {
		name := shmtest.Name(t, "")
		var wg sync.WaitGroup
		segs := make([]*shm.Segment, n)
		created := make([]bool, n)
		errs := make([]error, n)
		for i := range n {
			wg.Go(func() { segs[i], created[i], errs[i] = shm.OpenOrCreate(name, size) })
		}
		wg.Wait()
		count := 0
		for i := range n {
			if errs[i] != nil {
				t.Fatalf("round %d: OpenOrCreate %d: %v", round, i, errs[i])
			}
			defer segs[i].Close()
			if segs[i].Size() != size {
				t.Errorf("round %d: segment %d (created %v) has %d bytes, want %d", round, i, created[i], segs[i].Size(), size)
			}
			if created[i] {
				count++
				writeString(t, segs[i], size-8, "creator")
			}
		}
		if count != 1 {
			t.Fatalf("round %d: %d callers created the object, want 1", round, count)
		}
		if t.Failed() {
			return
		}
		for i := range n {
			if got := readString(t, segs[i], size-8, 8); got != "creator" {
				t.Errorf("round %d: segment %d reads %q", round, i, got)
			}
		}
		if err := shm.Unlink(name); err != nil {
			t.Fatal(err)
		}
		for _, seg := range segs {
			seg.Close() // and the deferred Close is a no-op
		}
	}
}

func TestPrivate(t *testing.T) {
	name := shmtest.Name(t, "")
	shared := create(t, name, 2*page)
	writeString(t, shared, 0, "shared")
	priv := open(t, name, shm.Private())
	writeString(t, priv, 0, "private")
	copy(priv.Bytes()[100:], "also private")
	if got := readString(t, priv, 0, 16); got != "private" {
		t.Errorf("private mapping reads %q, want its own write", got)
	}
	other := open(t, name)
	if got := readString(t, other, 0, 16); got != "shared" {
		t.Errorf("another mapping reads %q: a private write leaked", got)
	}
	if got := readString(t, other, 100, 16); got != "" {
		t.Errorf("another mapping reads %q at 100: a private write leaked", got)
	}
	// The copy is per page: the private mapping still sees the object's
	// pages it has not written to, and not later changes to the one it has.
	writeString(t, shared, page+8, "later")
	writeString(t, shared, 200, "later")
	if got := readString(t, priv, page+8, 16); got != "later" {
		t.Errorf("private mapping reads %q in its unwritten page, want the object's \"later\"", got)
	}
	if got := readString(t, priv, 200, 16); got != "" {
		t.Errorf("private mapping reads %q in its copied page, want its copy's zeros", got)
	}
	// Read-only and private together map a copy that cannot be written.
	ro := open(t, name, shm.Private(), shm.ReadOnly())
	if got := readString(t, ro, 0, 16); got != "shared" {
		t.Errorf("read-only private mapping reads %q", got)
	}
}

func TestWindow(t *testing.T) {
	name := shmtest.Name(t, "")
	whole := create(t, name, 4*page)
	fill := func() {
		b := whole.Bytes()
		for i := range b {
			b[i] = byte(i/int(page)) + 1 // page k holds k+1
		}
	}
	for _, c := range []struct {
		off, length, wantSize int64
		first                 byte
	}{
		{0, 0, 4 * page, 1},
		{page, page, page, 2},
		{page, 0, 3 * page, 2},
		{3 * page, 0, page, 4},
		{2 * page, 100, 100, 3},
	} {
		t.Run(fmt.Sprintf("%d+%d", c.off, c.length), func(t *testing.T) {
			fill()
			w := open(t, name, shm.Window(c.off, c.length))
			if w.Size() != c.wantSize {
				t.Fatalf("window size %d, want %d", w.Size(), c.wantSize)
			}
			for i, v := range w.Bytes() {
				if want := byte((c.off+int64(i))/page) + 1; v != want {
					t.Fatalf("window byte %d is %d, want %d", i, v, want)
				}
			}
			if c.first != w.Bytes()[0] {
				t.Fatalf("window starts with %d, want %d", w.Bytes()[0], c.first)
			}
			// A write through the window lands at its offset in the object.
			writeString(t, w, 1, "win")
			if got := string(whole.Bytes()[c.off+1 : c.off+4]); got != "win" {
				t.Errorf("object at %d holds %q, want \"win\"", c.off+1, got)
			}
		})
	}
}

// freeRange returns the address of n free bytes: it maps anonymous memory
// and unmaps it again. Something else may map there afterwards, but not
// this test.
func freeRange(t *testing.T, n int64) uintptr {
	t.Helper()
	// Take a much larger range and use its middle, away from neighbours that
	// could grow into it.
	b, err := unix.Mmap(-1, 0, int(n+64*page), unix.PROT_NONE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		t.Fatal(err)
	}
	addr := uintptr(unsafe.Pointer(&b[0])) + uintptr(32*page)
	if err := unix.Munmap(b); err != nil {
		t.Fatal(err)
	}
	return addr
}

func addrOf(b []byte) uintptr { return uintptr(unsafe.Pointer(unsafe.SliceData(b))) }

func TestAddrHint(t *testing.T) {
	name := shmtest.Name(t, "")
	addr := freeRange(t, 2*page)
	seg := create(t, name, 2*page, shm.AddrHint(addr))
	if got := addrOf(seg.Bytes()); got != addr {
		t.Fatalf("mapped at %#x, asked for %#x", got, addr)
	}
	writeString(t, seg, 0, "here")

	// The address is taken now: a second mapping there fails with EEXIST
	// rather than replacing the first (which MAP_FIXED would do).
	_, err := shm.Open(name, shm.AddrHint(addr))
	want := fmt.Sprintf("shm open %s: address hint %#x: %d bytes there are already mapped: file exists", name, addr, 2*page)
	if !errors.Is(err, unix.EEXIST) || err == nil || err.Error() != want {
		t.Fatalf("Open at a used address: %v\nwant %s", err, want)
	}
	if got := readString(t, seg, 0, 8); got != "here" {
		t.Fatalf("first mapping reads %q after the refused one", got)
	}
	// OpenOrCreate of a new name at the used address reports the mapping
	// failure (not a name clash) and leaves no object behind.
	other := shmtest.Name(t, "")
	s, created, err := shm.OpenOrCreate(other, page, shm.AddrHint(addr))
	want = fmt.Sprintf("shm create %s: address hint %#x: %d bytes there are already mapped: file exists", other, addr, page)
	if s != nil || created || err == nil || err.Error() != want {
		t.Fatalf("OpenOrCreate at a used address = %v, %v, %v\nwant error %s", s, created, err, want)
	}
	mustNotExist(t, other)

	// Once closed, the address is free for the next mapping.
	if err := seg.Close(); err != nil {
		t.Fatal(err)
	}
	again := open(t, name, shm.AddrHint(addr))
	if got := addrOf(again.Bytes()); got != addr {
		t.Fatalf("reopened at %#x, asked for %#x", got, addr)
	}
	if got := readString(t, again, 0, 8); got != "here" {
		t.Errorf("reopened mapping reads %q", got)
	}
	// Resize maps anew at the same address.
	if err := again.Resize(4 * page); err != nil {
		t.Fatal(err)
	}
	if got := addrOf(again.Bytes()); got != addr {
		t.Errorf("resized mapping at %#x, want %#x", got, addr)
	}
}

// minorFaults returns the minor page faults the calling thread took so far.
func minorFaults(t *testing.T) int64 {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_THREAD, &ru); err != nil {
		t.Fatal(err)
	}
	return ru.Minflt
}

// touch reads one byte of every page of b and returns the minor faults the
// thread took meanwhile.
func touch(t *testing.T, b []byte) int64 {
	before := minorFaults(t)
	var sum byte
	for i := 0; i < len(b); i += int(page) {
		sum += b[i]
	}
	after := minorFaults(t)
	runtime.KeepAlive(sum)
	return after - before
}

// TestPrefault counts the page faults of a first read of every page: without
// Prefault the kernel maps pages as they are touched (at least one fault per
// 16 pages, the default fault-around), with it they are mapped already.
func TestPrefault(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	const pages = 1024
	name := shmtest.Name(t, "")
	create(t, name, pages*page)

	lazy := touch(t, open(t, name).Bytes())
	eager := touch(t, open(t, name, shm.Prefault()).Bytes())
	t.Logf("faults touching %d pages: %d without Prefault, %d with", pages, lazy, eager)
	if lazy < pages/16 {
		// Huge pages (shmem_enabled=force) map a whole range per fault.
		t.Skipf("skipping: only %d faults without Prefault, cannot tell Prefault's effect here", lazy)
	}
	if eager > pages/64 {
		t.Errorf("%d faults with Prefault, want (almost) none", eager)
	}
}

func TestResize(t *testing.T) {
	name := shmtest.Name(t, "")
	seg := create(t, name, page)
	writeString(t, seg, 0, "kept")
	writeString(t, seg, page-4, "end")

	if err := seg.Resize(3 * page); err != nil {
		t.Fatal(err)
	}
	if seg.Size() != 3*page || len(seg.Bytes()) != int(3*page) {
		t.Fatalf("grown segment has %d bytes", seg.Size())
	}
	if got := readString(t, seg, 0, 8); got != "kept" {
		t.Errorf("after growing the start reads %q", got)
	}
	if got := readString(t, seg, page-4, 4); got != "end" {
		t.Errorf("after growing the old end reads %q", got)
	}
	if !bytes.Equal(seg.Bytes()[page:], make([]byte, 2*page)) {
		t.Error("grown part is not zero")
	}
	writeString(t, seg, 3*page-5, "tail")
	// The space of the grown part is reserved, like at creation.
	var st unix.Stat_t
	if err := unix.Stat(seg.Path(), &st); err != nil {
		t.Fatal(err)
	}
	if st.Size != 3*page || st.Blocks*512 < 3*page {
		t.Errorf("after growing: size %d, %d bytes allocated; want %d of both", st.Size, st.Blocks*512, 3*page)
	}
	// Another process opening now sees the new size.
	if other := open(t, name); other.Size() != 3*page {
		t.Errorf("another opener sees %d bytes", other.Size())
	}

	if err := seg.Resize(100); err != nil {
		t.Fatal(err)
	}
	if seg.Size() != 100 {
		t.Fatalf("shrunk segment has %d bytes", seg.Size())
	}
	if got := readString(t, seg, 0, 8); got != "kept" {
		t.Errorf("after shrinking the start reads %q", got)
	}
	if info, err := shm.Stat(name); err != nil || info.Size != 100 {
		t.Errorf("Stat after shrinking = %v, %v", info, err)
	}

	// A windowed segment keeps its window, and a size that would leave the
	// window outside the object is refused without changing anything.
	if err := seg.Resize(2 * page); err != nil {
		t.Fatal(err)
	}
	w := open(t, name, shm.Window(page, 0))
	if err := w.Resize(3 * page); err != nil || w.Size() != 2*page {
		t.Fatalf("windowed Resize = %v, size %d; want nil, %d", err, w.Size(), 2*page)
	}
	err := w.Resize(page)
	if !errors.Is(err, shm.ErrInvalid) || w.Size() != 2*page {
		t.Fatalf("Resize leaving the window out = %v, size %d", err, w.Size())
	}
	if info, _ := shm.Stat(name); info.Size != 3*page {
		t.Errorf("refused Resize changed the object to %d bytes", info.Size)
	}
}

// TestModeUmask checks that the mode is exactly what was asked, whatever the
// umask. The umask is process-wide: nothing else in this package runs in
// parallel with it.
func TestModeUmask(t *testing.T) {
	for _, umask := range []int{0, 0o077, 0o022} {
		for _, mode := range []fs.FileMode{0, 0o400, 0o600, 0o640, 0o666, 0o777, 0o707} {
			t.Run(fmt.Sprintf("umask %03o mode %03o", umask, mode), func(t *testing.T) {
				old := syscall.Umask(umask)
				defer syscall.Umask(old)

				name := shmtest.Name(t, "")
				create(t, name, page, shm.Mode(mode))
				other := shmtest.Name(t, "")
				seg, created, err := shm.OpenOrCreate(other, page, shm.Mode(mode))
				if err != nil || !created {
					t.Fatalf("OpenOrCreate = %v, %v", created, err)
				}
				seg.Close()
				for _, n := range []string{name, other} {
					var st unix.Stat_t
					if err := unix.Stat(filepath.Join(shm.DefaultDir, n), &st); err != nil {
						t.Fatal(err)
					}
					if got := fs.FileMode(st.Mode & 0o7777); got != mode {
						t.Errorf("%s has mode %03o, want %03o", n, got, mode)
					}
					if info, err := shm.Stat(n); err != nil || info.Mode != mode {
						t.Errorf("Stat(%s) = %v, %v; want mode %v", n, info, err, mode)
					}
				}
			})
		}
	}
	t.Run("default", func(t *testing.T) {
		old := syscall.Umask(0)
		defer syscall.Umask(old)
		name := shmtest.Name(t, "")
		create(t, name, page)
		if info, err := shm.Stat(name); err != nil || info.Mode != shm.DefaultMode || shm.DefaultMode != 0o600 {
			t.Errorf("default mode: %v, %v", info, err)
		}
	})
}

// TestPermission opens a root-only object as the unprivileged user nobody:
// root bypasses permissions, so the test runs its child as uid 65534.
func TestPermission(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("skipping: needs root to start a child as another user (uid 65534)")
	}
	name := shmtest.Name(t, "")
	create(t, name, page, shm.Mode(0o600))

	// The test binary sits in a directory only root may enter.
	bin := shmtest.ExecutableForOthers(t)

	run := func(mode string) (string, int) {
		cmd := child(t, "open", name, mode)
		cmd.Path, cmd.Args[0] = bin, bin
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		return runPeer(t, cmd)
	}
	p := filepath.Join(shm.DefaultDir, name)
	denied := "shm open " + name + ": permission denied"
	for _, c := range []struct {
		mode   fs.FileMode
		open   string // "rw" or "ro"
		code   int
		output string
	}{
		{0o600, "rw", childPermission, denied},
		{0o600, "ro", childPermission, denied},
		// A segment others may only read cannot be opened for writing...
		{0o644, "rw", childPermission, denied},
		// ...but can be read; and with the mode letting others in, the same
		// child opens it: the refusals above were the permission.
		{0o644, "ro", childOK, "opened"},
		{0o666, "rw", childOK, "opened"},
	} {
		if err := os.Chmod(p, c.mode); err != nil {
			t.Fatal(err)
		}
		if out, code := run(c.open); code != c.code || out != c.output {
			t.Errorf("nobody opening a %03o object %s: exit %d, %q; want exit %d, %q", c.mode, c.open, code, out, c.code, c.output)
		}
	}
}

// TestSymlinkRefused plants symbolic links under segment names: no call may
// follow one, and their targets stay untouched.
func TestSymlinkRefused(t *testing.T) {
	targetDir := t.TempDir()
	target := filepath.Join(targetDir, "precious")
	if err := os.WriteFile(target, []byte("precious data"), 0o644); err != nil {
		t.Fatal(err)
	}
	dangling := filepath.Join(targetDir, "not-yet")
	for _, to := range []string{target, dangling} {
		t.Run(filepath.Base(to), func(t *testing.T) {
			name := shmtest.Name(t, "")
			if err := os.Symlink(to, filepath.Join(shm.DefaultDir, name)); err != nil {
				t.Fatal(err)
			}
			loop := "shm open " + name + ": refusing to follow a symbolic link: too many levels of symbolic links"
			for _, c := range []struct {
				call string
				err  func() error
				is   error
				msg  string
			}{
				{"Open", func() error { _, err := shm.Open(name); return err }, unix.ELOOP, loop},
				{"Open read-only", func() error { _, err := shm.Open(name, shm.ReadOnly()); return err }, unix.ELOOP, loop},
				{"OpenOrCreate", func() error { _, _, err := shm.OpenOrCreate(name, page); return err }, unix.ELOOP, loop},
				{"Create", func() error { _, err := shm.Create(name, page); return err }, fs.ErrExist, "shm create " + name + ": file exists"},
			} {
				err := c.err()
				if !errors.Is(err, c.is) || err.Error() != c.msg {
					t.Errorf("%s through a symlink: %v; want %q", c.call, err, c.msg)
				}
			}
			if got, err := os.ReadFile(target); err != nil || string(got) != "precious data" {
				t.Errorf("target now holds %q, %v", got, err)
			}
			if _, err := os.Lstat(dangling); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("the dangling link's target was created: %v", err)
			}
			if info, err := os.Lstat(filepath.Join(shm.DefaultDir, name)); err != nil || info.Mode()&fs.ModeSymlink == 0 {
				t.Errorf("the link itself changed: %v, %v", info, err)
			}
		})
	}
}

// TestFIFORefused plants a named pipe under a segment name: opening it must
// neither hang (waiting for a writer) nor map it.
func TestFIFORefused(t *testing.T) {
	name := shmtest.Name(t, "")
	p := filepath.Join(shm.DefaultDir, name)
	if err := unix.Mkfifo(p, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		call string
		err  func() error
		is   error
		msg  string
	}{
		{"Open", func() error { _, err := shm.Open(name); return err }, shm.ErrInvalid,
			"shm open " + name + ": invalid argument: " + p + " is not a regular file"},
		{"Open read-only", func() error { _, err := shm.Open(name, shm.ReadOnly()); return err }, shm.ErrInvalid,
			"shm open " + name + ": invalid argument: " + p + " is not a regular file"},
		{"OpenOrCreate", func() error { _, _, err := shm.OpenOrCreate(name, page); return err }, shm.ErrInvalid,
			"shm open " + name + ": invalid argument: " + p + " is not a regular file"},
		{"Create", func() error { _, err := shm.Create(name, page); return err }, fs.ErrExist,
			"shm create " + name + ": file exists"},
	} {
		done := make(chan error, 1)
		go func() { done <- c.err() }()
		select {
		case err := <-done:
			if !errors.Is(err, c.is) || err.Error() != c.msg {
				t.Errorf("%s of a FIFO: %v; want %q", c.call, err, c.msg)
			}
		case <-time.After(5 * time.Second):
			// Unblock the open so the goroutine ends, then fail.
			if f, err := os.OpenFile(p, os.O_RDWR, 0); err == nil {
				f.Close()
			}
			t.Fatalf("%s of a FIFO still blocks after 5s", c.call)
		}
	}
}

func TestStatList(t *testing.T) {
	dir := t.TempDir()
	start := time.Now().Add(-2 * time.Second)
	data := create(t, "data", 1234, shm.Dir(dir), shm.Mode(0o640))
	if data.Path() != filepath.Join(dir, "data") {
		t.Errorf("Path = %q", data.Path())
	}
	// A glibc semaphore file, a symlink, a directory and a FIFO.
	if err := os.WriteFile(filepath.Join(dir, "sem.lock"), make([]byte, 32), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/etc/hostname", filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "sub"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mkfifo(filepath.Join(dir, "pipe"), 0o644); err != nil {
		t.Fatal(err)
	}

	infos, err := shm.List(shm.Dir(dir))
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		name string
		size int64
		mode fs.FileMode
		kind shm.Kind
	}{
		{"data", 1234, 0o640, shm.KindData},
		{"link", int64(len("/etc/hostname")), fs.ModeSymlink | 0o777, shm.KindOther},
		{"pipe", 0, fs.ModeNamedPipe | 0o644, shm.KindOther},
		{"sem.lock", 32, 0o600, shm.KindSemaphore},
		{"sub", -1, fs.ModeDir | 0o700, shm.KindOther},
	}
	if len(infos) != len(want) {
		t.Fatalf("List gave %d entries, want %d: %v", len(infos), len(want), infos)
	}
	for i, w := range want {
		got := infos[i]
		if got.Name != w.name || (w.size >= 0 && got.Size != w.size) || got.Mode != w.mode || got.Kind != w.kind ||
			got.Path != filepath.Join(dir, w.name) || got.UID != uint32(os.Geteuid()) || got.GID != uint32(os.Getegid()) ||
			got.ModTime.Before(start) || got.ModTime.After(time.Now().Add(2*time.Second)) {
			t.Errorf("List entry %d = %+v; want %+v", i, got, w)
		}
		st, err := shm.Stat(w.name, shm.Dir(dir))
		if err != nil || st != got {
			t.Errorf("Stat(%q) = %+v, %v; want List's %+v", w.name, st, err, got)
		}
	}
	if s := infos[0].String(); s != "data 1234 -rw-r----- data" {
		t.Errorf("Info.String() = %q", s)
	}
	// Stat takes the name with or without its slash.
	if st, err := shm.Stat("/data", shm.Dir(dir)); err != nil || st.Name != "data" {
		t.Errorf("Stat(/data) = %+v, %v", st, err)
	}
	// The link was not followed: its target is not a semaphore nor data.
	if _, err := os.Stat("/etc/hostname"); err != nil {
		t.Logf("(the link dangles: %v)", err)
	}

	// In /dev/shm, List finds our object among whatever else is there.
	name := shmtest.Name(t, "")
	create(t, name, 3*page)
	all, err := shm.List()
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for i, info := range all {
		if i > 0 && all[i-1].Name >= info.Name {
			t.Errorf("List not sorted: %q before %q", all[i-1].Name, info.Name)
		}
		if info.Name == name {
			found = info.Size == 3*page && info.Kind == shm.KindData
		}
	}
	if !found {
		t.Errorf("List of /dev/shm lacks %s of %d bytes", name, 3*page)
	}
}

// TestConcurrentClose closes a segment while other goroutines read, write and
// resize it: each call either works or returns ErrClosed. Run it with -race.
func TestConcurrentClose(t *testing.T) {
	name := shmtest.Name(t, "")
	seg := create(t, name, 4*page)
	var wg, ready sync.WaitGroup
	errs := make(chan error, 4)
	for i := range 4 {
		ready.Add(1)
		wg.Go(func() {
			// Close comes once every goroutine has made ten calls (or
			// stopped early on an error).
			signal := sync.OnceFunc(ready.Done)
			defer signal()
			buf := make([]byte, 64)
			for n := 0; ; n++ {
				if n == 10 {
					signal()
				}
				var err error
				switch i {
				case 0:
					_, err = seg.ReadAt(buf, int64(n%100))
				case 1:
					_, err = seg.WriteAt(buf, int64(n%100))
				case 2:
					err = seg.Resize(int64(n%3+2) * page)
				case 3:
					_, _ = seg.Size(), seg.Bytes()
					_, err = seg.ReadAt(buf, 0)
				}
				if err != nil {
					if !errors.Is(err, shm.ErrClosed) {
						errs <- fmt.Errorf("goroutine %d: %w", i, err)
					}
					return
				}
			}
		})
	}
	ready.Wait()
	if err := seg.Close(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if err := seg.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestSegmentNameKeepsCallerSpelling(t *testing.T) {
	name := shmtest.Name(t, "")
	seg := create(t, "///"+name, page)
	if seg.Name() != name {
		t.Errorf("Name() = %q, want %q", seg.Name(), name)
	}
	seg.Close()
	_, err := seg.ReadAt(make([]byte, 1), 0)
	if err == nil || !strings.HasPrefix(err.Error(), "shm read ///"+name+": ") {
		t.Errorf("error names the segment as %v", err)
	}
}

// TestListEmptyDir checks that Dir("") means DefaultDir for List, as for
// every other call.
func TestListEmptyDir(t *testing.T) {
	name := shmtest.Name(t, "")
	create(t, name, page)
	infos, err := shm.List(shm.Dir(""))
	if err != nil {
		t.Fatalf(`List(Dir("")): %v`, err)
	}
	for _, info := range infos {
		if info.Name == name && info.Path == filepath.Join(shm.DefaultDir, name) {
			return
		}
	}
	t.Errorf(`List(Dir("")) does not show %s in %s`, name, shm.DefaultDir)
}
