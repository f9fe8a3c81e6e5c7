//go:build linux

package lock_test

import (
	"context"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/shmkit/shm/internal/mem"
	"github.com/shmkit/shm/internal/shmtest"
	"github.com/shmkit/shm/lock"
)

// ownerDeadBound is the liveness bound the package promises: after its owner
// dies, the next locker acquires the mutex within one second.
const ownerDeadBound = time.Second

// TestMutexProcesses: K processes add 1 M times each to a plain counter
// under the mutex; the total must be exactly K×M.
func TestMutexProcesses(t *testing.T) {
	const K, M = 4, 5000
	seg, name := newSeg(t)
	var cs []*child
	for range K {
		cs = append(cs, startChild(t, "count", name, strconv.Itoa(M)))
	}
	for _, c := range cs {
		if l := c.line(t, 30*time.Second); l != "ready" {
			t.Fatalf("child said %q", l)
		}
	}
	goWord, err := mem.Uint32(seg.Bytes(), offGo)
	if err != nil {
		t.Fatal(err)
	}
	goWord.Store(1)
	for i, c := range cs {
		if err := c.wait(t, 60*time.Second); err != nil {
			t.Fatalf("child %d: %v", i, err)
		}
	}
	got := binary.NativeEndian.Uint64(seg.Bytes()[offCounter:])
	t.Logf("counter %d", got)
	if got != K*M {
		t.Fatalf("counter = %d, want %d", got, K*M)
	}
	if w := lockWord(t, seg).Load(); w != 0 {
		t.Fatalf("lock word %#x after all unlocked", w)
	}
}

// TestOwnerDeath kills a child holding the mutex, 50 times in a row. Each
// time the next Lock must return ErrOwnerDead within one second of the kill,
// and MarkConsistent and Unlock must restore a working mutex. Even rounds
// reap the child before locking, odd rounds lock at once, while the child
// may still be dying.
func TestOwnerDeath(t *testing.T) {
	shmtest.SkipShort(t)
	const rounds = 50
	seg, name := newSeg(t)
	m := newMutex(t, seg)
	var worst time.Duration
	for i := range rounds {
		c := startChild(t, "hold", name, "")
		if l := c.line(t, 30*time.Second); l != "locked" {
			t.Fatalf("round %d: child said %q", i, l)
		}
		killed := time.Now()
		c.kill(t)
		if i%2 == 0 {
			c.killed(t)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err := m.Lock(ctx)
		took := time.Since(killed)
		cancel()
		if !errors.Is(err, lock.ErrOwnerDead) {
			t.Fatalf("round %d: Lock = %v, want ErrOwnerDead", i, err)
		}
		if took >= ownerDeadBound {
			t.Fatalf("round %d: Lock took %v after the kill, bound %v", i, took, ownerDeadBound)
		}
		worst = max(worst, took)
		if err := m.MarkConsistent(); err != nil {
			t.Fatalf("round %d: MarkConsistent: %v", i, err)
		}
		if err := m.Unlock(); err != nil {
			t.Fatalf("round %d: Unlock: %v", i, err)
		}
		c.killed(t)
	}
	t.Logf("%d owner deaths, slowest takeover %v after the kill", rounds, worst)
	if err := m.Lock(context.Background()); err != nil {
		t.Fatalf("Lock after the rounds = %v", err)
	}
	m.Unlock()
}

// TestOwnerDeathSleepers: lockers already asleep when the owner dies — two
// child processes and a goroutine here — wake, exactly one of them gets
// ErrOwnerDead within one second, and the others then get the mutex in turn.
func TestOwnerDeathSleepers(t *testing.T) {
	seg, name := newSeg(t)
	m := newMutex(t, seg)
	w := lockWord(t, seg)
	holder := startChild(t, "hold", name, "")
	if l := holder.line(t, 30*time.Second); l != "locked" {
		t.Fatalf("holder said %q", l)
	}
	var waiters []*child
	for range 2 {
		c := startChild(t, "wait", name, "20s")
		if l := c.line(t, 30*time.Second); l != "waiting" {
			t.Fatalf("waiter said %q", l)
		}
		waiters = append(waiters, c)
	}
	type result struct {
		who string
		err error
		at  time.Time
	}
	results := make(chan result, 3)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		err := m.Lock(ctx)
		at := time.Now()
		if errors.Is(err, lock.ErrOwnerDead) {
			m.MarkConsistent()
		}
		if err == nil || errors.Is(err, lock.ErrOwnerDead) {
			time.Sleep(5 * time.Millisecond)
			m.Unlock()
		}
		results <- result{"goroutine", err, at}
	}()
	for i, c := range waiters {
		go func() {
			l, ok := c.Next(time.Minute)
			if !ok {
				l = "exited"
			}
			var err error
			switch l {
			case "ownerdead":
				err = lock.ErrOwnerDead
			case "ok":
			default:
				err = errors.New(l)
			}
			results <- result{"child " + strconv.Itoa(i), err, time.Now()}
		}()
	}
	// Wait until someone marked the word contended, then give all three
	// time to fall asleep.
	deadline := time.Now().Add(10 * time.Second)
	for w.Load()&3 != wContended {
		if time.Now().After(deadline) {
			t.Fatalf("no waiter marked the mutex contended: word %#x", w.Load())
		}
		time.Sleep(time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond)
	killed := time.Now()
	holder.kill(t)
	dead := 0
	for range 3 {
		select {
		case r := <-results:
			switch {
			case errors.Is(r.err, lock.ErrOwnerDead):
				dead++
				took := r.at.Sub(killed)
				t.Logf("%s got ErrOwnerDead %v after the kill", r.who, took)
				if took >= ownerDeadBound {
					t.Errorf("%s got ErrOwnerDead %v after the kill, bound %v", r.who, took, ownerDeadBound)
				}
			case r.err != nil:
				t.Errorf("%s: %v", r.who, r.err)
			}
		case <-time.After(20 * time.Second):
			t.Fatal("a waiter never got the mutex")
		}
	}
	if dead != 1 {
		t.Fatalf("%d waiters got ErrOwnerDead, want exactly 1", dead)
	}
	for i, c := range waiters {
		if err := c.wait(t, 10*time.Second); err != nil {
			t.Errorf("waiter %d: %v", i, err)
		}
	}
}

// TestNotRecoverable: the locker that got ErrOwnerDead unlocks without
// MarkConsistent; the lockers asleep at that moment (a goroutine and a child
// process) and every later one get ErrNotRecoverable.
func TestNotRecoverable(t *testing.T) {
	seg, name := newSeg(t)
	m := newMutex(t, seg)
	w := lockWord(t, seg)
	holder := startChild(t, "hold", name, "")
	if l := holder.line(t, 30*time.Second); l != "locked" {
		t.Fatalf("holder said %q", l)
	}
	holder.kill(t)
	holder.killed(t)
	// TryLock takes over too, and keeps the state (locked, no sleepers), so
	// the waiters below must mark the word contended before they sleep.
	if ok, err := m.TryLock(); !ok || !errors.Is(err, lock.ErrOwnerDead) {
		t.Fatalf("TryLock = %v, %v; want true, ErrOwnerDead", ok, err)
	}
	if w.Load()&3 != wLocked {
		t.Fatalf("word %#x after TryLock's takeover", w.Load())
	}

	gerr := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		gerr <- m.Lock(ctx)
	}()
	waiter := startChild(t, "wait", name, "20s")
	if l := waiter.line(t, 30*time.Second); l != "waiting" {
		t.Fatalf("waiter said %q", l)
	}
	deadline := time.Now().Add(10 * time.Second)
	for w.Load()&3 != wContended {
		if time.Now().After(deadline) {
			t.Fatalf("no waiter marked the mutex contended: word %#x", w.Load())
		}
		time.Sleep(time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond)

	if err := m.Unlock(); !errors.Is(err, lock.ErrNotRecoverable) {
		t.Fatalf("Unlock without MarkConsistent = %v, want ErrNotRecoverable", err)
	}
	select {
	case err := <-gerr:
		if !errors.Is(err, lock.ErrNotRecoverable) {
			t.Fatalf("sleeping goroutine: Lock = %v, want ErrNotRecoverable", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("sleeping goroutine not woken")
	}
	if l := waiter.line(t, 5*time.Second); l != "notrecoverable" {
		t.Fatalf("sleeping child said %q, want notrecoverable", l)
	}
	if err := m.Lock(context.Background()); !errors.Is(err, lock.ErrNotRecoverable) {
		t.Fatalf("later Lock = %v, want ErrNotRecoverable", err)
	}
	if ok, err := m.TryLock(); ok || !errors.Is(err, lock.ErrNotRecoverable) {
		t.Fatalf("later TryLock = %v, %v", ok, err)
	}
	later := startChild(t, "wait", name, "5s")
	later.line(t, 30*time.Second) // waiting
	if l := later.line(t, 10*time.Second); l != "notrecoverable" {
		t.Fatalf("later child said %q, want notrecoverable", l)
	}
}

// TestLiveOwnerKept: a live owner keeps its mutex however long it holds it,
// also while stopped (SIGSTOP): Lock times out rather than taking over.
func TestLiveOwnerKept(t *testing.T) {
	seg, name := newSeg(t)
	m := newMutex(t, seg)
	holder := startChild(t, "hold", name, "")
	if l := holder.line(t, 30*time.Second); l != "locked" {
		t.Fatalf("holder said %q", l)
	}
	if err := holder.Cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 350*time.Millisecond)
	defer cancel()
	if err := m.Lock(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Lock = %v, want DeadlineExceeded", err)
	}
	if ok, err := m.TryLock(); ok || err != nil {
		t.Fatalf("TryLock = %v, %v; want false, nil", ok, err)
	}
	if err := m.Unlock(); !errors.Is(err, lock.ErrNotOwner) {
		t.Fatalf("Unlock of another process's mutex = %v, want ErrNotOwner", err)
	}
}

// TestKillChaos kills processes hammering the mutex at random moments,
// including in the middle of acquiring, updating or releasing. The mutex
// protects a pair of counters that are equal outside the critical section.
// After each round the next Lock succeeds within the bound, and it returns
// ErrOwnerDead whenever a victim died mid-update: a normal acquisition never
// finds the pair unequal. The hammering children check the same on every
// acquisition, which also checks mutual exclusion between them.
func TestKillChaos(t *testing.T) {
	const rounds = 20
	seg, name := newSeg(t)
	m := newMutex(t, seg)
	b := seg.Bytes()
	deaths, torn := 0, 0
	for i := range rounds {
		x := startChild(t, "hammer", name, "")
		y := startChild(t, "hammer", name, "")
		x.line(t, 30*time.Second) // started
		y.line(t, 30*time.Second)
		time.Sleep(time.Duration(rand.IntN(20000)) * time.Microsecond)
		x.kill(t)
		y.kill(t)
		x.killed(t) // a child that found the pair unequal would have exited
		y.killed(t)
		start := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err := m.Lock(ctx)
		cancel()
		if took := time.Since(start); took >= ownerDeadBound {
			t.Fatalf("round %d: Lock took %v", i, took)
		}
		switch {
		case errors.Is(err, lock.ErrOwnerDead):
			deaths++
			if !consistent(b) {
				torn++
				repair(b)
			}
			if err := m.MarkConsistent(); err != nil {
				t.Fatal(err)
			}
		case err != nil:
			t.Fatalf("round %d: Lock = %v", i, err)
		case !consistent(b):
			t.Fatalf("round %d: pair %d, %d unequal, but Lock returned no ErrOwnerDead", i, pairA(b), pairB(b))
		}
		if err := m.Unlock(); err != nil {
			t.Fatalf("round %d: Unlock = %v", i, err)
		}
	}
	t.Logf("%d of %d rounds killed an owner, %d of them mid-update; %d updates", deaths, rounds, torn, pairA(b))
}
