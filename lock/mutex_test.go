//go:build linux

package lock_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shmkit/shm"
	"github.com/shmkit/shm/internal/mem"
	"github.com/shmkit/shm/internal/proc"
	"github.com/shmkit/shm/lock"
)

// The lock word layout, restated from mutex.go's diagram so that the tests
// check the documented layout rather than the code's constants.
const (
	wUnlocked       = 0
	wLocked         = 1
	wContended      = 2
	wNotRecoverable = 3
	wInconsistent   = 1 << 2
)

func ownerBits(id proc.Identity) uint64 {
	return uint64(id.PID)<<4 | id.Start<<26
}

func lockWord(t testing.TB, seg *shm.Segment) *atomic.Uint64 {
	t.Helper()
	w, err := mem.Uint64(seg.Bytes(), offMutex)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func self(t testing.TB) proc.Identity {
	t.Helper()
	id, err := proc.Self()
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// deadIdentity returns the identity of a process that ran and was reaped.
func deadIdentity(t testing.TB) proc.Identity {
	t.Helper()
	cmd := exec.Command("sleep", "60")
	if err := cmd.Start(); err != nil {
		t.Skipf("cannot start sleep: %v", err)
	}
	id, err := proc.Of(cmd.Process.Pid)
	cmd.Process.Kill()
	cmd.Wait()
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func TestMutexBasic(t *testing.T) {
	seg, _ := newSeg(t)
	m := newMutex(t, seg)
	w := lockWord(t, seg)
	me := self(t)
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

func TestNewMutexRefuses(t *testing.T) {
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
			if _, err := lock.NewMutex(tc.b); !errors.Is(err, shm.ErrInvalid) {
				t.Fatalf("NewMutex = %v, want ErrInvalid", err)
			}
		})
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
	me := self(t)
	dead := deadIdentity(t)
	parent, err := proc.Of(os.Getppid())
	if err != nil {
		t.Fatal(err)
	}
	wrongStart := proc.Identity{PID: me.PID, Start: me.Start + 1}
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
		{"held by live parent", ownerBits(parent) | wContended, false, nil, ownerBits(parent) | wContended, lock.ErrNotOwner},
		{"dead owner", ownerBits(dead) | wLocked, true, lock.ErrOwnerDead, ownerBits(me) | wLocked | wInconsistent, lock.ErrNotOwner},
		{"dead owner, sleepers", ownerBits(dead) | wContended, true, lock.ErrOwnerDead, ownerBits(me) | wContended | wInconsistent, lock.ErrNotOwner},
		{"dead inconsistent owner", ownerBits(dead) | wLocked | wInconsistent, true, lock.ErrOwnerDead, ownerBits(me) | wLocked | wInconsistent, lock.ErrNotOwner},
		{"reused pid (my pid, other start)", ownerBits(wrongStart) | wLocked, true, lock.ErrOwnerDead, ownerBits(me) | wLocked | wInconsistent, lock.ErrNotOwner},
		{"absent pid", 4194303<<4 | 12345<<26 | wLocked, true, lock.ErrOwnerDead, ownerBits(me) | wLocked | wInconsistent, lock.ErrNotOwner},
		{"locked, pid 0", 12345<<26 | wLocked, false, lock.ErrCorrupt, 12345<<26 | wLocked, lock.ErrCorrupt},
		{"unlocked state with owner", ownerBits(me), false, lock.ErrCorrupt, ownerBits(me), lock.ErrCorrupt},
		{"state 3 with owner", ownerBits(me) | 3, false, lock.ErrCorrupt, ownerBits(me) | 3, lock.ErrCorrupt},
		{"reserved bit", ownerBits(me) | wLocked | 8, false, lock.ErrCorrupt, ownerBits(me) | wLocked | 8, lock.ErrCorrupt},
		{"all ones", ^uint64(0), false, lock.ErrCorrupt, ^uint64(0), lock.ErrCorrupt},
	}
	seg, _ := newSeg(t)
	m := newMutex(t, seg)
	w := lockWord(t, seg)
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
	w.Store(ownerBits(deadIdentity(t)) | wLocked)
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
	w.Store(ownerBits(deadIdentity(t)) | wLocked)
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
	v, err := lock.NewValue[snap](seg.Bytes()[offValue:])
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
