//go:build linux

package lock_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shmkit/shm"
	"github.com/shmkit/shm/internal/live"
	"github.com/shmkit/shm/internal/mem"
	"github.com/shmkit/shm/lock"
	"golang.org/x/sys/unix"
)

// The lock word layout, restated from mutex.go's diagram so that the tests
// check the documented layout rather than the code's constants.
const (
	wUnlocked       = 0
	wLocked         = 1
	wContended      = 2
	wNotRecoverable = 3
	wInconsistent   = 1 << 2
	tokenShift      = 6
)

// ownerBits is an owner token's place in the lock word.
func ownerBits(token uint64) uint64 { return token << tokenShift }

func lockWord(t testing.TB, seg *shm.Segment) *atomic.Uint64 {
	t.Helper()
	w, err := mem.Uint64(seg.Bytes(), offMutex)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// openAgain opens seg's file once more, as another process would: another
// open file description, closed when the test ends.
func openAgain(t testing.TB, seg *shm.Segment) int {
	t.Helper()
	fd, err := unix.Open(seg.Path(), unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	return fd
}

// self returns the owner token of the Mutex m on seg (whose word is w),
// checking that it is held on seg's file as another open of the file sees
// it: m must be free.
func self(t testing.TB, seg *shm.Segment, m *lock.Mutex, w *atomic.Uint64) uint64 {
	t.Helper()
	if err := m.Lock(context.Background()); err != nil {
		t.Fatal(err)
	}
	tok := w.Load() >> tokenShift
	if err := m.Unlock(); err != nil {
		t.Fatal(err)
	}
	if held, err := live.TokenHeld(openAgain(t, seg), tok); err != nil || !held {
		t.Fatalf("owner token %#x: held %v, %v; want held on the segment's file", tok, held, err)
	}
	return tok
}

// otherToken returns a token held on seg's file by another open file
// description, as by another live process, for as long as the test runs.
func otherToken(t testing.TB, seg *shm.Segment) uint64 {
	t.Helper()
	tok, err := live.HoldToken(openAgain(t, seg))
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// deadToken returns a token that an owner held on seg's file and lost with
// its descriptor, as a process that died does.
func deadToken(t testing.TB, seg *shm.Segment) uint64 {
	t.Helper()
	fd, err := unix.Open(seg.Path(), unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := live.HoldToken(fd)
	unix.Close(fd)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestMutexBasic(t *testing.T) {
	seg, _ := newSeg(t)
	m := newMutex(t, seg)
	w := lockWord(t, seg)
	me := self(t, seg, m, w)
	ctx := context.Background()

	if err := m.Lock(ctx); err != nil {
		t.Fatal(err)
	}
	if got, want := w.Load(), ownerBits(me)|wLocked; got != want {
		t.Fatalf("locked word = %#x, want %#x (owner %+v)", got, want, me)
	}
	if ok, err := m.TryLock(); ok || err != nil {
		t.Fatalf("TryLock on a held mutex = %v, %v", ok, err)
	}
	if err := m.MarkConsistent(); err != nil {
		t.Fatalf("MarkConsistent on a consistent held mutex: %v", err)
	}
	if err := m.Unlock(); err != nil {
		t.Fatal(err)
	}
	if w.Load() != wUnlocked {
		t.Fatalf("unlocked word = %#x", w.Load())
	}
	if err := m.Unlock(); !errors.Is(err, lock.ErrNotLocked) {
		t.Fatalf("Unlock of an unlocked mutex = %v, want ErrNotLocked", err)
	}
	if err := m.MarkConsistent(); !errors.Is(err, lock.ErrNotLocked) {
		t.Fatalf("MarkConsistent of an unlocked mutex = %v, want ErrNotLocked", err)
	}
	if ok, err := m.TryLock(); !ok || err != nil {
		t.Fatalf("TryLock on a free mutex = %v, %v", ok, err)
	}
	if err := m.Unlock(); err != nil {
		t.Fatal(err)
	}
}

func TestMutexErrorText(t *testing.T) {
	seg, name := newSeg(t)
	m := newMutex(t, seg)
	lockWord(t, seg).Store(wNotRecoverable)
	err := m.Lock(context.Background())
	var se *shm.Error
	if !errors.As(err, &se) || !errors.Is(err, lock.ErrNotRecoverable) {
		t.Fatalf("Lock = %#v, want *shm.Error wrapping ErrNotRecoverable", err)
	}
	if want := "shm mutex lock " + name + "+0: mutex is not recoverable"; err.Error() != want {
		t.Fatalf("error text %q, want %q", err.Error(), want)
	}
}

func TestMutexInRefuses(t *testing.T) {
	seg, _ := newSeg(t)
	b := seg.Bytes()
	tests := []struct {
		name string
		b    []byte
	}{
		{"short", b[:lock.MutexSize-1]},
		{"misaligned", b[4:]},
		{"nil", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := lock.MutexIn(tc.b, lock.File(seg.Fd())); !errors.Is(err, shm.ErrInvalid) {
				t.Fatalf("MutexIn = %v, want ErrInvalid", err)
			}
		})
	}
	// Without the file, an owner could not be told alive: refused.
	_, err := lock.MutexIn(b[offMutex:])
	if !errors.Is(err, shm.ErrInvalid) || !strings.Contains(err.Error(), "option File") {
		t.Errorf("MutexIn without File = %v, want ErrInvalid naming option File", err)
	}
	m, err := lock.MutexIn(b[offMutex:], lock.File(seg.Fd()))
	if err != nil {
		t.Fatalf("MutexIn with File: %v", err)
	}
	self(t, seg, m, lockWord(t, seg))
	if _, err := lock.MutexAt(seg, 3); !errors.Is(err, shm.ErrInvalid) || !strings.Contains(err.Error(), "a multiple of 8 (MutexAlign)") {
		t.Errorf("MutexAt(3) = %v, want ErrInvalid saying the offset must be a multiple of 8", err)
	}
	for _, off := range []int{-1, segSize + 1, segSize - 8} {
		if _, err := lock.MutexAt(seg, off); !errors.Is(err, shm.ErrInvalid) {
			t.Errorf("MutexAt(%d) = %v, want ErrInvalid", off, err)
		}
	}
}

// TestMutexStates plants lock words and checks what TryLock, Unlock and
// MarkConsistent make of them.
func TestMutexStates(t *testing.T) {
	seg, _ := newSeg(t)
	m := newMutex(t, seg)
	w := lockWord(t, seg)
	me := self(t, seg, m, w)
	dead := deadToken(t, seg)
	other := otherToken(t, seg)
	tests := []struct {
		name      string
		word      uint64
		tryOK     bool
		tryErr    error
		after     uint64 // word after TryLock
		unlockErr error  // Unlock on the planted word (fresh)
	}{
		{"unlocked", 0, true, nil, ownerBits(me) | wLocked, lock.ErrNotLocked},
		{"not recoverable", wNotRecoverable, false, lock.ErrNotRecoverable, wNotRecoverable, lock.ErrNotRecoverable},
		{"held by me", ownerBits(me) | wLocked, false, nil, ownerBits(me) | wLocked, nil},
		{"held by a live other owner", ownerBits(other) | wContended, false, nil, ownerBits(other) | wContended, lock.ErrNotOwner},
		{"dead owner", ownerBits(dead) | wLocked, true, lock.ErrOwnerDead, ownerBits(me) | wLocked | wInconsistent, lock.ErrNotOwner},
		{"dead owner, sleepers", ownerBits(dead) | wContended, true, lock.ErrOwnerDead, ownerBits(me) | wContended | wInconsistent, lock.ErrNotOwner},
		{"dead inconsistent owner", ownerBits(dead) | wLocked | wInconsistent, true, lock.ErrOwnerDead, ownerBits(me) | wLocked | wInconsistent, lock.ErrNotOwner},
		{"token never held", ownerBits(1<<58-1) | wLocked, true, lock.ErrOwnerDead, ownerBits(me) | wLocked | wInconsistent, lock.ErrNotOwner},
		{"locked, token 0", wLocked, false, lock.ErrCorrupt, wLocked, lock.ErrCorrupt},
		{"unlocked state with owner", ownerBits(me), false, lock.ErrCorrupt, ownerBits(me), lock.ErrCorrupt},
		{"state 3 with owner", ownerBits(me) | 3, false, lock.ErrCorrupt, ownerBits(me) | 3, lock.ErrCorrupt},
		{"reserved bit 3", ownerBits(me) | wLocked | 8, false, lock.ErrCorrupt, ownerBits(me) | wLocked | 8, lock.ErrCorrupt},
		{"reserved bit 4", ownerBits(me) | wLocked | 16, false, lock.ErrCorrupt, ownerBits(me) | wLocked | 16, lock.ErrCorrupt},
		{"reserved bit 5", ownerBits(me) | wContended | 32, false, lock.ErrCorrupt, ownerBits(me) | wContended | 32, lock.ErrCorrupt},
		{"all ones", ^uint64(0), false, lock.ErrCorrupt, ^uint64(0), lock.ErrCorrupt},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w.Store(tc.word)
			ok, err := m.TryLock()
			if ok != tc.tryOK || !errIs(err, tc.tryErr) {
				t.Errorf("TryLock = %v, %v; want %v, %v", ok, err, tc.tryOK, tc.tryErr)
			}
			if got := w.Load(); got != tc.after {
				t.Errorf("word after TryLock = %#x, want %#x", got, tc.after)
			}
			w.Store(tc.word)
			if err := m.Unlock(); !errIs(err, tc.unlockErr) {
				t.Errorf("Unlock = %v, want %v", err, tc.unlockErr)
			}
			// Lock must end within its context on every planted word, and
			// take over from a dead owner within the bound.
			w.Store(tc.word)
			timeout := ownerDeadBound
			if !tc.tryOK && tc.tryErr == nil {
				timeout = 20 * time.Millisecond // a live holder keeps it
			}
			ctx, cancel := context.WithTimeout(context.Background(), timeout)
			defer cancel()
			start := time.Now()
			err = m.Lock(ctx)
			if d := time.Since(start); d > timeout+time.Second {
				t.Errorf("Lock took %v", d)
			}
			switch {
			case tc.tryOK && !errIs(err, tc.tryErr):
				t.Errorf("Lock = %v, want %v", err, tc.tryErr)
			case !tc.tryOK && tc.tryErr != nil && !errIs(err, tc.tryErr):
				t.Errorf("Lock = %v, want %v", err, tc.tryErr)
			case !tc.tryOK && tc.tryErr == nil && !errors.Is(err, context.DeadlineExceeded):
				t.Errorf("Lock = %v, want context.DeadlineExceeded", err)
			}
			m.Reset()
		})
	}
}

func errIs(err, target error) bool {
	if target == nil {
		return err == nil
	}
	return errors.Is(err, target)
}

// TestOwnerDeadRepair walks the recovery path in one process: a planted dead
// owner, ErrOwnerDead, MarkConsistent, and a normal mutex again.
func TestOwnerDeadRepair(t *testing.T) {
	seg, _ := newSeg(t)
	m := newMutex(t, seg)
	w := lockWord(t, seg)
	w.Store(ownerBits(deadToken(t, seg)) | wLocked)
	if err := m.Lock(context.Background()); !errors.Is(err, lock.ErrOwnerDead) {
		t.Fatalf("Lock = %v, want ErrOwnerDead", err)
	}
	if w.Load()&wInconsistent == 0 {
		t.Fatalf("word %#x lacks the inconsistent flag", w.Load())
	}
	if err := m.MarkConsistent(); err != nil {
		t.Fatal(err)
	}
	if w.Load()&wInconsistent != 0 {
		t.Fatalf("word %#x keeps the inconsistent flag", w.Load())
	}
	if err := m.Unlock(); err != nil {
		t.Fatal(err)
	}
	if err := m.Lock(context.Background()); err != nil {
		t.Fatalf("Lock after repair = %v", err)
	}
	if err := m.Unlock(); err != nil {
		t.Fatal(err)
	}
}

// TestLockContext checks that Lock gives up promptly when its context ends,
// whether the holder is this process or another goroutine's Lock.
func TestLockContext(t *testing.T) {
	seg, _ := newSeg(t)
	m := newMutex(t, seg)
	if err := m.Lock(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Run("cancel", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		errc := make(chan error, 1)
		go func() { errc <- m.Lock(ctx) }()
		time.Sleep(50 * time.Millisecond)
		start := time.Now()
		cancel()
		select {
		case err := <-errc:
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("Lock = %v, want context.Canceled", err)
			}
			t.Logf("returned %v after cancel", time.Since(start))
		case <-time.After(time.Second):
			t.Fatal("Lock did not return within 1s of cancel")
		}
	})
	t.Run("deadline", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
		defer cancel()
		if err := m.Lock(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Lock = %v, want DeadlineExceeded", err)
		}
	})
	t.Run("already cancelled, free mutex", func(t *testing.T) {
		if err := m.Unlock(); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		// Lock takes a free mutex whatever the context says.
		if err := m.Lock(ctx); err != nil {
			t.Fatalf("Lock(cancelled) on a free mutex = %v", err)
		}
	})
	if err := m.Unlock(); err != nil {
		t.Fatal(err)
	}
}

// TestMutexGoroutines checks mutual exclusion and wake-ups between goroutines
// of one process, which share the owner identity.
func TestMutexGoroutines(t *testing.T) {
	seg, _ := newSeg(t)
	m := newMutex(t, seg)
	const G, N = 8, 2000
	counter := 0
	var wg sync.WaitGroup
	for range G {
		wg.Go(func() {
			for range N {
				if err := m.Lock(context.Background()); err != nil {
					t.Error(err)
					return
				}
				counter++
				if err := m.Unlock(); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if counter != G*N {
		t.Fatalf("counter = %d, want %d", counter, G*N)
	}
}

func TestNotRecoverableInProcess(t *testing.T) {
	seg, _ := newSeg(t)
	m := newMutex(t, seg)
	w := lockWord(t, seg)
	w.Store(ownerBits(deadToken(t, seg)) | wLocked)
	if err := m.Lock(context.Background()); !errors.Is(err, lock.ErrOwnerDead) {
		t.Fatalf("Lock = %v, want ErrOwnerDead", err)
	}
	if err := m.Unlock(); !errors.Is(err, lock.ErrNotRecoverable) {
		t.Fatalf("Unlock without MarkConsistent = %v, want ErrNotRecoverable", err)
	}
	if err := m.Lock(context.Background()); !errors.Is(err, lock.ErrNotRecoverable) {
		t.Fatalf("Lock = %v, want ErrNotRecoverable", err)
	}
	if ok, err := m.TryLock(); ok || !errors.Is(err, lock.ErrNotRecoverable) {
		t.Fatalf("TryLock = %v, %v, want ErrNotRecoverable", ok, err)
	}
	if err := m.MarkConsistent(); !errors.Is(err, lock.ErrNotRecoverable) {
		t.Fatalf("MarkConsistent = %v, want ErrNotRecoverable", err)
	}
	m.Reset()
	if err := m.Lock(context.Background()); err != nil {
		t.Fatalf("Lock after Reset = %v", err)
	}
	if err := m.Unlock(); err != nil {
		t.Fatal(err)
	}
}

// TestNoAllocs: the uncontended paths allocate nothing.
func TestNoAllocs(t *testing.T) {
	seg, _ := newSeg(t)
	m := newMutex(t, seg)
	ctx := context.Background()
	if n := testing.AllocsPerRun(1000, func() {
		m.Lock(ctx)
		m.Unlock()
	}); n != 0 {
		t.Errorf("Lock+Unlock: %v allocations", n)
	}
	if n := testing.AllocsPerRun(1000, func() {
		if ok, _ := m.TryLock(); ok {
			m.Unlock()
		}
	}); n != 0 {
		t.Errorf("TryLock+Unlock: %v allocations", n)
	}
	v, err := lock.ValueIn[snap](seg.Bytes()[offValue:])
	if err != nil {
		t.Fatal(err)
	}
	if n := testing.AllocsPerRun(1000, func() {
		v.Store(snap{Seq: 1})
		v.Load()
	}); n != 0 {
		t.Errorf("Store+Load: %v allocations", n)
	}
}
