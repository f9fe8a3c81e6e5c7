//go:build linux

package lock_test

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/shmkit/shm"
	"github.com/shmkit/shm/internal/shmtest"
	"github.com/shmkit/shm/lock"
)

// needNewNS skips a test that starts children in new PID namespaces unless
// it runs as root (CLONE_NEWPID needs CAP_SYS_ADMIN).
func needNewNS(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("a new PID namespace needs root (CLONE_NEWPID); run the tests as root")
	}
}

// TestOwnerInAnotherPIDNamespace: a mutex held by a process in another PID
// namespace (where it is pid 1, a pid that means another process here) is
// kept while the owner lives, by this process and by a waiter in a third
// namespace; once the owner is SIGKILLed, the next locker gets ErrOwnerDead
// within one second: in even rounds this process, in odd rounds a waiter
// already asleep in another namespace.
func TestOwnerInAnotherPIDNamespace(t *testing.T) {
	shmtest.SkipShort(t)
	needNewNS(t)
	const rounds = 10
	seg, name := newSeg(t)
	m := newMutex(t, seg)
	var worst time.Duration
	for i := range rounds {
		holder := startChildIn(t, true, "hold", name, "")
		if l := holder.line(t, 30*time.Second); l != "locked" {
			t.Fatalf("round %d: holder said %q", i, l)
		}
		if i == 0 {
			// While it lives, nobody takes it over, in any namespace.
			ctx, cancel := context.WithTimeout(context.Background(), 350*time.Millisecond)
			err := m.Lock(ctx)
			cancel()
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("Lock while the owner lives = %v, want DeadlineExceeded", err)
			}
			if ok, err := m.TryLock(); ok || err != nil {
				t.Fatalf("TryLock while the owner lives = %v, %v; want false, nil", ok, err)
			}
			if err := m.Unlock(); !errors.Is(err, lock.ErrNotOwner) {
				t.Fatalf("Unlock of the other namespace's mutex = %v, want ErrNotOwner", err)
			}
			w := startChildIn(t, true, "wait", name, "350ms")
			if l := w.line(t, 30*time.Second); l != "waiting" {
				t.Fatalf("waiter said %q", l)
			}
			if l := w.line(t, 10*time.Second); !strings.HasPrefix(l, "error") || !strings.Contains(l, "deadline") {
				t.Fatalf("a waiter in a third namespace said %q while the owner lives, want a deadline error", l)
			}
		}
		var waiter *child
		if i%2 == 1 {
			waiter = startChildIn(t, true, "wait", name, "20s")
			if l := waiter.line(t, 30*time.Second); l != "waiting" {
				t.Fatalf("round %d: waiter said %q", i, l)
			}
			time.Sleep(50 * time.Millisecond) // let it go to sleep
		}
		holder.kill(t)
		killed := time.Now()
		var took time.Duration
		if waiter == nil {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			err := m.Lock(ctx)
			took = time.Since(killed)
			cancel()
			if !errors.Is(err, lock.ErrOwnerDead) {
				t.Fatalf("round %d: Lock = %v, want ErrOwnerDead", i, err)
			}
			if err := m.MarkConsistent(); err != nil {
				t.Fatal(err)
			}
			if err := m.Unlock(); err != nil {
				t.Fatal(err)
			}
		} else {
			l := waiter.line(t, 10*time.Second)
			took = time.Since(killed)
			if l != "ownerdead" {
				t.Fatalf("round %d: the waiter in another namespace said %q, want ownerdead", i, l)
			}
			if err := waiter.wait(t, 10*time.Second); err != nil {
				t.Fatalf("round %d: waiter: %v", i, err)
			}
		}
		if took >= ownerDeadBound {
			t.Fatalf("round %d: ErrOwnerDead %v after the kill, bound %v", i, took, ownerDeadBound)
		}
		worst = max(worst, took)
		holder.killed(t)
	}
	t.Logf("%d owners killed in other PID namespaces; slowest ErrOwnerDead %v after the kill", rounds, worst)
}

// TestMutexOwnerIsTheProcess: two Mutexes of one process on the same lock
// word, attached through two opens of the segment (two open file
// descriptions, so two tokens), are one owner: the second does not take
// the first's mutex over as dead, and may unlock it. Two attached through
// one segment share its token.
func TestMutexOwnerIsTheProcess(t *testing.T) {
	seg, name := newSeg(t)
	m1 := newMutex(t, seg)
	w := lockWord(t, seg)
	t1 := self(t, seg, m1, w)
	if again := newMutex(t, seg); self(t, seg, again, w) != t1 {
		t.Fatal("two MutexAt on one segment have different owner tokens")
	}
	seg2, err := shm.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer seg2.Close()
	m2 := newMutex(t, seg2)
	if t2 := self(t, seg2, m2, w); t2 == t1 {
		t.Fatal("two opens of the segment share an owner token")
	}
	if err := m1.Lock(context.Background()); err != nil {
		t.Fatal(err)
	}
	if ok, err := m2.TryLock(); ok || err != nil {
		t.Fatalf("TryLock through another open = %v, %v; want false, nil (a live owner: this process)", ok, err)
	}
	if err := m2.Unlock(); err != nil {
		t.Fatalf("Unlock through another open of this process = %v, want nil", err)
	}
	if w.Load() != 0 {
		t.Fatalf("word %#x after Unlock", w.Load())
	}
}

// TestMutexWithoutOFDLocks: where the kernel has no open file description
// locks (Linux before 3.15), MutexAt and MutexIn refuse with
// errors.ErrUnsupported. The seam is the package's call into
// internal/live, which fails there as live does: a real such kernel cannot
// be had in a test.
func TestMutexWithoutOFDLocks(t *testing.T) {
	seg, _ := newSeg(t)
	lock.PlayNoOFDLocks(t)
	_, err := lock.MutexAt(seg, offMutex)
	if !errors.Is(err, errors.ErrUnsupported) || !strings.Contains(err.Error(), "open file description locks") {
		t.Fatalf("MutexAt = %v, want errors.ErrUnsupported naming open file description locks", err)
	}
	if _, err := lock.MutexIn(seg.Bytes()[offMutex:], lock.File(seg.Fd())); !errors.Is(err, errors.ErrUnsupported) {
		t.Fatalf("MutexIn = %v, want errors.ErrUnsupported", err)
	}
}

// TestMutexSegmentClosedWhileHeld: closing the segment a Mutex was attached
// through, while it holds the mutex, lets its token go: for everyone,
// this process's other Mutexes included, the owner is dead, and the next
// locker gets ErrOwnerDead within the bound.
func TestMutexSegmentClosedWhileHeld(t *testing.T) {
	seg, name := newSeg(t)
	m := newMutex(t, seg)
	seg2, err := shm.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	m2 := newMutex(t, seg2)
	if err := m2.Lock(context.Background()); err != nil {
		t.Fatal(err)
	}
	if ok, err := m.TryLock(); ok || err != nil {
		t.Fatalf("TryLock while the other segment's Mutex holds it = %v, %v; want false, nil", ok, err)
	}
	if err := seg2.Close(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	start := time.Now()
	if err := m.Lock(ctx); !errors.Is(err, lock.ErrOwnerDead) {
		t.Fatalf("Lock after the holder's segment closed = %v, want ErrOwnerDead", err)
	}
	if d := time.Since(start); d >= ownerDeadBound {
		t.Fatalf("ErrOwnerDead after %v, bound %v", d, ownerDeadBound)
	}
	if err := m.MarkConsistent(); err != nil {
		t.Fatal(err)
	}
	if err := m.Unlock(); err != nil {
		t.Fatal(err)
	}
}
