//go:build linux

package sem

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/shmkit/shm"
	"github.com/shmkit/shm/internal/shmtest"
)

// segment creates a segment of size bytes that is removed when the test
// ends.
func segment(t testing.TB, size int64) *shm.Segment {
	t.Helper()
	seg, err := shm.Create(shmtest.Name(t, ""), size)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { seg.Close() })
	return seg
}

func newSem(t testing.TB, value uint32) *Semaphore {
	t.Helper()
	s, err := Init(segment(t, 4096), 0, value)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func value(t testing.TB, s *Semaphore) int {
	t.Helper()
	v, err := s.Value()
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func waiters(t testing.TB, s *Semaphore) int {
	t.Helper()
	n, err := s.Waiters()
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// waitFor polls cond until it holds, failing the test after 10 seconds.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
	}
}

func TestPostTryWaitValue(t *testing.T) {
	s := newSem(t, 2)
	if v := value(t, s); v != 2 {
		t.Fatalf("Value = %d after Init(2)", v)
	}
	for i, want := range []bool{true, true, false, false} {
		ok, err := s.TryWait()
		if err != nil || ok != want {
			t.Fatalf("TryWait #%d = %v, %v; want %v", i, ok, err, want)
		}
	}
	for range 3 {
		if err := s.Post(); err != nil {
			t.Fatal(err)
		}
	}
	if v := value(t, s); v != 3 {
		t.Fatalf("Value = %d after 3 posts", v)
	}
	if err := s.Wait(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := s.WaitTimeout(0); err != nil {
		t.Fatal(err)
	}
	if v := value(t, s); v != 1 {
		t.Fatalf("Value = %d, want 1", v)
	}
}

func TestOverflow(t *testing.T) {
	s := newSem(t, ValueMax-1)
	if err := s.Post(); err != nil {
		t.Fatalf("Post to ValueMax: %v", err)
	}
	err := s.Post()
	if !errors.Is(err, ErrOverflow) {
		t.Fatalf("Post past ValueMax = %v, want ErrOverflow", err)
	}
	var e *shm.Error
	if !errors.As(err, &e) || e.Op != "sem post" {
		t.Errorf("error %v is not a *shm.Error for op sem post", err)
	}
	if v := value(t, s); v != ValueMax {
		t.Errorf("Value = %d after a refused Post, want %d", v, ValueMax)
	}
	if _, err := Init(segment(t, 4096), 0, ValueMax+1); !errors.Is(err, fs.ErrInvalid) {
		t.Errorf("Init(ValueMax+1) = %v, want ErrInvalid", err)
	}
}

func TestWaitTimeout(t *testing.T) {
	s := newSem(t, 0)
	start := time.Now()
	err := s.WaitTimeout(20 * time.Millisecond)
	if !errors.Is(err, ErrTimeout) {
		t.Fatalf("WaitTimeout on 0 = %v, want ErrTimeout", err)
	}
	if time.Since(start) < 20*time.Millisecond {
		t.Errorf("WaitTimeout returned after %v, before its 20ms", time.Since(start))
	}
	if n := waiters(t, s); n != 0 {
		t.Errorf("waiter count %d after a timeout, want 0", n)
	}
	if err := s.WaitTimeout(-time.Second); !errors.Is(err, ErrTimeout) {
		t.Errorf("WaitTimeout(-1s) = %v, want ErrTimeout", err)
	}
}

func TestWaitCancel(t *testing.T) {
	for _, tc := range []struct {
		name string
		ctx  func() (context.Context, context.CancelFunc)
		stop bool // cancel once the wait sleeps; else the deadline ends it
		want error
	}{
		{"cancel", func() (context.Context, context.CancelFunc) { return context.WithCancel(context.Background()) }, true, context.Canceled},
		{"deadline", func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(context.Background(), 300*time.Millisecond)
		}, false, context.DeadlineExceeded},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newSem(t, 0)
			ctx, cancel := tc.ctx()
			defer cancel()
			done := make(chan error, 1)
			go func() { done <- s.Wait(ctx) }()
			waitFor(t, "the wait registered", func() bool { return waiters(t, s) == 1 })
			if tc.stop {
				cancel()
			}
			select {
			case err := <-done:
				if !errors.Is(err, tc.want) {
					t.Fatalf("Wait = %v, want %v", err, tc.want)
				}
			case <-time.After(time.Second):
				t.Fatal("Wait did not return within one second of the cancellation")
			}
			if n := waiters(t, s); n != 0 {
				t.Errorf("waiter count %d after a cancelled wait, want 0", n)
			}
			if v := value(t, s); v != 0 {
				t.Errorf("value %d, want 0", v)
			}
		})
	}
}

func TestWaitDoneContextTakesAvailableToken(t *testing.T) {
	s := newSem(t, 1)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.Wait(ctx); err != nil {
		t.Fatalf("Wait with a token and a done context = %v, want nil", err)
	}
	if err := s.Wait(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Wait without a token and a done context = %v, want context.Canceled", err)
	}
}

func TestPostWakesWaiters(t *testing.T) {
	s := newSem(t, 0)
	const n = 4
	done := make(chan error, n)
	for range n {
		go func() { done <- s.WaitTimeout(10 * time.Second) }()
	}
	waitFor(t, "all waits registered", func() bool { return waiters(t, s) == n })
	for range n {
		if err := s.Post(); err != nil {
			t.Fatal(err)
		}
	}
	for range n {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	if v, w := value(t, s), waiters(t, s); v != 0 || w != 0 {
		t.Errorf("value %d, waiters %d after every wait took its token; want 0, 0", v, w)
	}
}

func TestCloseEndsWaits(t *testing.T) {
	name := shmtest.Name(t, "")
	s, created, err := OpenOrCreate(name, 0)
	if err != nil || !created {
		t.Fatalf("OpenOrCreate of a missing semaphore: created %v, %v; want a new one", created, err)
	}
	other, err := Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	done := make(chan error, 1)
	go func() { done <- s.Wait(context.Background()) }()
	waitFor(t, "the wait registered", func() bool { return waiters(t, other) == 1 })
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; !errors.Is(err, shm.ErrClosed) {
		t.Fatalf("Wait interrupted by Close = %v, want shm.ErrClosed", err)
	}
	if n := waiters(t, other); n != 0 {
		t.Errorf("waiter count %d after Close ended the wait", n)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close = %v", err)
	}
	if err := s.Post(); !errors.Is(err, shm.ErrClosed) {
		t.Errorf("Post after Close = %v", err)
	}
	if _, err := s.TryWait(); !errors.Is(err, shm.ErrClosed) {
		t.Errorf("TryWait after Close = %v", err)
	}
	if _, err := s.Value(); !errors.Is(err, shm.ErrClosed) {
		t.Errorf("Value after Close = %v", err)
	}
}

func TestOpen(t *testing.T) {
	name := shmtest.Name(t, "")
	if _, err := Open(name); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Open of a missing semaphore = %v, want fs.ErrNotExist", err)
	}
	a, err := Create("/"+name, 5)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if _, err := Create(name, 1); !errors.Is(err, fs.ErrExist) {
		t.Errorf("exclusive Create of an existing semaphore = %v, want fs.ErrExist", err)
	}
	b, created, err := OpenOrCreate(name, 1) // opens the existing one, value untouched
	if err != nil || created {
		t.Fatalf("OpenOrCreate of an existing semaphore: created %v, %v; want the existing one", created, err)
	}
	defer b.Close()
	if err := a.Post(); err != nil {
		t.Fatal(err)
	}
	if v := value(t, b); v != 6 {
		t.Errorf("value seen through the second handle = %d, want 6", v)
	}
	if _, _, err := OpenOrCreate(name, ValueMax+1); !errors.Is(err, fs.ErrInvalid) {
		t.Errorf("Create(ValueMax+1) = %v, want fs.ErrInvalid", err)
	}
}

func TestModeIgnoresUmask(t *testing.T) {
	old := syscall.Umask(0o077)
	defer syscall.Umask(old)
	for _, mode := range []fs.FileMode{0o600, 0o640, 0o666} {
		name := shmtest.Name(t, "")
		s, _, err := OpenOrCreate(name, 0, Mode(mode))
		if err != nil {
			t.Fatal(err)
		}
		s.Close()
		fi, err := os.Stat(filepath.Join(shm.DefaultDir, "sem."+name))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != mode {
			t.Errorf("Mode(%v) under umask 077 made %v", mode, fi.Mode().Perm())
		}
	}
	if _, _, err := OpenOrCreate(shmtest.Name(t, ""), 0, Mode(0o4755)); !errors.Is(err, fs.ErrInvalid) {
		t.Errorf("Mode(04755) = %v, want fs.ErrInvalid", err)
	}
}

func TestNames(t *testing.T) {
	for _, tc := range []struct {
		name, file string // file "" means invalid
	}{
		{"jobs", "sem.jobs"},
		{"/jobs", "sem.jobs"},
		{"//jobs", "sem.jobs"},
		{strings.Repeat("n", 251), "sem." + strings.Repeat("n", 251)},
		{strings.Repeat("n", 252), ""},
		{"", ""},
		{"/", ""},
		{"a/b", ""},
		{"a\x00b", ""},
	} {
		f, err := FileName(tc.name)
		if tc.file == "" {
			if !errors.Is(err, shm.ErrInvalidName) {
				t.Errorf("FileName(%q) = %q, %v; want ErrInvalidName", tc.name, f, err)
			}
			if _, _, err := OpenOrCreate(tc.name, 0); !errors.Is(err, shm.ErrInvalidName) {
				t.Errorf("Open(%q) = %v; want ErrInvalidName", tc.name, err)
			}
			continue
		}
		if err != nil || f != tc.file {
			t.Errorf("FileName(%q) = %q, %v; want %q", tc.name, f, err, tc.file)
		}
	}
}

func TestOpenRefusesBadFiles(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, b []byte) {
		if err := os.WriteFile(filepath.Join(dir, "sem."+name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	good := make([]byte, Size)
	putState(good, 1, privateShared)
	write("good", good)
	write("short", good[:16])
	private := make([]byte, Size)
	putState(private, 1, privatePrivate)
	write("private", private)
	garbage := make([]byte, Size)
	putState(garbage, 0x80000000, privateShared)
	write("garbage", garbage)
	os.Symlink(filepath.Join(dir, "sem.good"), filepath.Join(dir, "sem.link"))
	os.Mkdir(filepath.Join(dir, "sem.dir"), 0o700)
	unix.Mkfifo(filepath.Join(dir, "sem.fifo"), 0o600)

	for _, tc := range []struct {
		name string
		want error
	}{
		{"good", nil},
		{"short", ErrCorrupt},
		{"private", ErrNotShared},
		{"garbage", ErrCorrupt},
		{"link", unix.ELOOP},
		{"dir", unix.EISDIR},
		{"fifo", ErrCorrupt},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Open(tc.name, Dir(dir))
			if tc.want == nil {
				if err != nil {
					t.Fatal(err)
				}
				s.Close()
				return
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("Open = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestUnlink(t *testing.T) {
	name := shmtest.Name(t, "")
	s, _, err := OpenOrCreate(name, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := Unlink("/" + name); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(shm.DefaultDir, "sem."+name)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("file still there after Unlink: %v", err)
	}
	if err := s.Post(); err != nil {
		t.Errorf("Post on an open, unlinked semaphore: %v", err)
	}
	if err := Unlink(name); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("second Unlink = %v, want fs.ErrNotExist", err)
	}
	if _, err := Open(name); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Open after Unlink = %v, want fs.ErrNotExist", err)
	}
}

func TestInitAtOffsets(t *testing.T) {
	seg := segment(t, 4096)
	for _, tc := range []struct {
		offset int
		ok     bool
	}{
		{0, true},
		{8, true},
		{4096 - Size, true},
		{4, false},
		{-8, false},
		{4096 - Size + 8, false},
		{4096, false},
	} {
		_, err := Init(seg, tc.offset, 1)
		if (err == nil) != tc.ok || (err != nil && !errors.Is(err, fs.ErrInvalid)) {
			t.Errorf("Init at %d = %v, want ok %v", tc.offset, err, tc.ok)
		}
	}
	a, err := Init(seg, 64, 3)
	if err != nil {
		t.Fatal(err)
	}
	b, err := At(seg, 64)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Post(); err != nil {
		t.Fatal(err)
	}
	if v := value(t, b); v != 4 {
		t.Errorf("value through At = %d, want 4", v)
	}
	if _, err := At(seg, 128); !errors.Is(err, ErrNotShared) { // zero bytes: private flag 0
		t.Errorf("At on zero bytes = %v, want ErrNotShared", err)
	}
	ro, err := shm.Open(seg.Name(), shm.ReadOnly())
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	if _, err := At(ro, 64); !errors.Is(err, shm.ErrReadOnly) {
		t.Errorf("At on a read-only mapping = %v, want ErrReadOnly", err)
	}
	ro.Close()
	if _, err := Init(ro, 64, 0); !errors.Is(err, shm.ErrClosed) {
		t.Errorf("Init on a closed segment = %v, want shm.ErrClosed", err)
	}
	if b.Name() != seg.Name()+"+64" {
		t.Errorf("Name = %q", b.Name())
	}
}

func TestCorruptState(t *testing.T) {
	for _, tc := range []struct {
		name     string
		data     uint64
		private  uint32
		atErr    error
		opsWork  bool
		postErr  error
		waitsErr bool
	}{
		{"sane", 0, privateShared, nil, true, nil, false},
		{"value above max", 0x80000000, privateShared, ErrCorrupt, false, ErrCorrupt, true},
		{"value all ones", 0xffffffff, privateShared, ErrCorrupt, false, ErrCorrupt, true},
		{"absurd waiters", 0xffffffff00000000, privateShared, ErrCorrupt, true, nil, true},
		{"private garbage", 0, 0x12345678, ErrCorrupt, true, nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			seg := segment(t, 4096)
			s, err := Init(seg, 0, 0)
			if err != nil {
				t.Fatal(err)
			}
			b := make([]byte, Size)
			putState(b, tc.data, tc.private)
			if _, err := seg.WriteAt(b[:12], 0); err != nil {
				t.Fatal(err)
			}
			if _, err := At(seg, 0); !errors.Is(err, tc.atErr) || (tc.atErr == nil) != (err == nil) {
				t.Errorf("At = %v, want %v", err, tc.atErr)
			}
			if err := s.Post(); !errors.Is(err, tc.postErr) || (tc.postErr == nil) != (err == nil) {
				t.Errorf("Post = %v, want %v", err, tc.postErr)
			}
			_, err = s.TryWait()
			if tc.opsWork != (err == nil) || (err != nil && !errors.Is(err, ErrCorrupt)) {
				t.Errorf("TryWait = %v", err)
			}
			// After a Post (if it worked) a token is there; take one, then wait
			// on nothing: a corrupt state must fail fast, not sleep.
			start := time.Now()
			d := 20 * time.Millisecond
			if tc.waitsErr {
				d = 10 * time.Second
			}
			err = s.WaitTimeout(d)
			if !tc.waitsErr && !errors.Is(err, ErrTimeout) {
				t.Errorf("WaitTimeout = %v, want ErrTimeout", err)
			}
			if tc.waitsErr {
				if !errors.Is(err, ErrCorrupt) {
					t.Errorf("WaitTimeout = %v, want ErrCorrupt", err)
				}
				if time.Since(start) > 5*time.Second {
					t.Errorf("WaitTimeout on a corrupt state slept %v", time.Since(start))
				}
			}
		})
	}
}

// TestCreateRace has goroutines create, and open, the same name at once.
// Every creator without Exclusive gets the one semaphore; with Exclusive
// exactly one wins; and no opener ever sees a half-made semaphore, which
// would fail validation or show another value than the initial one. No
// temporary file is left in the directory.
func TestCreateRace(t *testing.T) {
	dir := t.TempDir()
	var want []string
	for round := range 20 {
		name := fmt.Sprintf("race-%02d", round)
		want = append(want, "sem."+name)
		exclusive := round%2 == 1
		const n = 8
		errs := make(chan error, 2*n)
		for i := range 2 * n {
			go func() {
				var s *Semaphore
				var err error
				switch {
				case i%2 == 1: // an opener that waits for the name to appear
					for {
						s, err = Open(name, Dir(dir))
						if !errors.Is(err, fs.ErrNotExist) {
							break
						}
					}
				case exclusive:
					s, err = Create(name, 5, Dir(dir))
				default:
					s, _, err = OpenOrCreate(name, 5, Dir(dir))
				}
				if err == nil {
					if v, verr := s.Value(); verr != nil || v != 5 {
						err = fmt.Errorf("value %d, %v; want 5", v, verr)
					}
					s.Close()
				}
				errs <- err
			}()
		}
		exists := 0
		for range 2 * n {
			err := <-errs
			switch {
			case err == nil:
			case exclusive && errors.Is(err, fs.ErrExist):
				exists++
			default:
				t.Fatalf("round %d: %v", round, err)
			}
		}
		if exclusive && exists != n-1 {
			t.Fatalf("round %d: %d of %d exclusive creators failed, want %d", round, exists, n, n-1)
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		got = append(got, e.Name())
	}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("directory holds %v, want %v", got, want)
	}
}

func TestStat(t *testing.T) {
	name, s := named(t, 3)
	done := make(chan error, 1)
	go func() { done <- s.WaitTimeout(10 * time.Second) }()
	go func() { done <- s.WaitTimeout(10 * time.Second) }()
	go func() { done <- s.WaitTimeout(10 * time.Second) }()
	go func() { done <- s.WaitTimeout(10 * time.Second) }()
	waitFor(t, "the fourth wait registered", func() bool { return waiters(t, s) == 1 })
	st, err := Stat("/" + name)
	if err != nil || st != (State{Value: 0, Waiters: 1}) {
		t.Errorf("Stat = %+v, %v; want value 0, 1 waiter", st, err)
	}
	s.Post()
	for range 4 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(filepath.Join(shm.DefaultDir, "sem."+name), 0o400); err != nil {
		t.Fatal(err)
	}
	if st, err := Stat(name); err != nil || st != (State{}) {
		t.Errorf("Stat of a read-only file = %+v, %v", st, err)
	}
	if _, err := Stat(shmtest.Name(t, "")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Stat of a missing semaphore = %v", err)
	}

	dir := t.TempDir()
	bad := make([]byte, Size)
	putState(bad, 0xfffffffff, privateShared)
	os.WriteFile(filepath.Join(dir, "sem.bad"), bad, 0o600)
	os.WriteFile(filepath.Join(dir, "sem.short"), bad[:8], 0o600)
	for _, n := range []string{"bad", "short"} {
		if _, err := Stat(n, Dir(dir)); !errors.Is(err, ErrCorrupt) {
			t.Errorf("Stat(%s) = %v, want ErrCorrupt", n, err)
		}
	}
}
