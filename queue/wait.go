package queue

import (
	"context"
	"fmt"
	"runtime"
	"sync/atomic"
	"time"

	"github.com/shmkit/shm/internal/futex"
)

// Waiting, and why no wake-up is lost.
//
// Two futex words advertise sleepers. consWait is 1 while the consumer
// sleeps (or is about to); prodWait is prodWantHead while a producer spins
// for space and prodSleeping while one sleeps. Only the waiting side sets a
// word; only the other side clears it (with Swap), and it makes the wake
// syscall only when the word said someone sleeps.
//
// A waiter runs:
//
//	word.Store(sleeping)        // 1. advertise
//	if ready() { return }       // 2. re-check the condition
//	futex_wait(word, sleeping)  // 3. sleeps only if word still == sleeping
//
// and the other side, after making the condition true:
//
//	cond.Store(...)             // a. publish (tail, head, or a record's state)
//	if word.Load() != 0 {       // b. look for a sleeper
//	    word.Swap(0); futex_wake(word)
//	}
//
// All four are sequentially consistent atomics (Go's sync/atomic), so in
// their single total order either 1 comes before b, and the waker sees the
// sleeper and wakes it (futex_wait returns at once if the Swap came before
// it, because the word no longer holds the sleeping value), or b comes
// before 1, and then a came before 2, so the re-check sees the condition
// and the waiter does not sleep. This is Dekker's pattern; it needs the
// store-load order that a plain store would not give on x86.
//
// The consumer publishes head lazily: when it has caught up with the tail it
// last saw, after a quarter of the ring, or on request. A producer
// that finds the ring full sets prodWait to prodWantHead, and the consumer,
// which looks at prodWait on every Receive and while it waits, publishes its
// head at once when it sees a non-zero value. The consumer also publishes
// before it sleeps, so a sleeping consumer never hides free space.
//
// Sleeps last at most peerCheck (100 ms): between them the waiter checks
// that its peer is alive (pid and start time), so a dead peer is reported
// within well under a second, and a context's cancellation is seen.

// await waits by the handle's strategy until ready reports true or an
// error. word and sleepVal are the futex word this side advertises its
// sleep in; peer reports a dead peer, and is called about every peerCheck.
// A peer error is returned only if ready still says no afterwards.
//
// With eager, the first peer check comes as soon as spinning ends rather
// than after peerCheck: for a wait that is likely to be on a dead peer.
func (q *Queue) await(ctx context.Context, word *atomic.Uint32, sleepVal uint32, ready func() (bool, error), peer func() error, eager bool) error {
	// The clock is read only every 64 spins: a hand-off that comes within
	// the first spins costs no clock read at all.
	var start, lastPeer time.Time
	checkPeer := func(now time.Time) error {
		if start.IsZero() {
			start, lastPeer = now, now
			if eager {
				lastPeer = now.Add(-peerCheck)
			}
		}
		if now.Sub(lastPeer) < peerCheck {
			return nil
		}
		lastPeer = now
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := peer(); err != nil {
			if ok, rerr := ready(); ok || rerr != nil {
				return rerr
			}
			return err
		}
		return nil
	}
	if q.cfg.strategy != Block {
		for i := 1; ; i++ {
			if ok, err := ready(); ok || err != nil {
				return err
			}
			if i%64 != 0 {
				continue
			}
			now := time.Now()
			if err := checkPeer(now); err != nil {
				return err
			}
			if q.cfg.strategy == SpinThenSleep && now.Sub(start) >= q.cfg.spin {
				break
			}
			if i%(64*64) == 0 {
				// A pure spinner on a busy machine lets others run now and then.
				runtime.Gosched()
			}
		}
	}
	for {
		word.Store(sleepVal)
		if ok, err := ready(); ok || err != nil {
			return err
		}
		var err error
		if ctx.Done() == nil {
			futex.WaitTimeout(word, sleepVal, peerCheck)
		} else {
			err = futex.Wait(ctx, word, sleepVal) // sleeps at most 100 ms too
		}
		if err != nil {
			return err
		}
		if err := checkPeer(time.Now()); err != nil {
			return err
		}
	}
}

// consumerDead reports ErrPeerDead when the consumer's process died.
func (q *Queue) consumerDead() error {
	w := q.consumer.claim.Load()
	if claimPID(w) != 0 && !slotAlive(q.consumer, w) {
		return fmt.Errorf("%w: consumer pid %d", ErrPeerDead, claimPID(w))
	}
	return nil
}

// producersDead reports ErrPeerDead when producers held slots and all of
// them died (a queue that never had a producer is waited on).
func (q *Queue) producersDead() error {
	dead := int32(0)
	for _, s := range q.producers {
		w := s.claim.Load()
		if claimPID(w) == 0 {
			continue
		}
		if slotAlive(s, w) {
			return nil
		}
		dead = claimPID(w)
	}
	if dead != 0 {
		return fmt.Errorf("%w: producer pid %d", ErrPeerDead, dead)
	}
	return nil
}

// ownerGone reports whether the producer that wrote record state st can no
// longer commit it: its slot was released or taken by another generation,
// or its process died.
func (q *Queue) ownerGone(st uint32) bool {
	s := q.producers[stateSlot(st)]
	w := s.claim.Load()
	if claimPID(w) == 0 || claimGen(w)&genMask != stateGen(st) {
		return true
	}
	return !slotAlive(s, w)
}

// lockHolderGone reports whether the reserve lock value v names a producer
// that can no longer release it.
func (q *Queue) lockHolderGone(v uint32) bool {
	i := lockSlot(v)
	if i < 0 || i >= len(q.producers) {
		return true // garbage in the lock word: nobody can release it
	}
	s := q.producers[i]
	w := s.claim.Load()
	if claimPID(w) == 0 || claimGen(w)&0xffffff != lockGen(v) {
		return true
	}
	return !slotAlive(s, w)
}

// lockReserve takes the multi-producer reserve lock. It is held only to
// check space, write one or two record headers and move tail: a few dozen
// nanoseconds, so waiting spins and yields. A holder that died is found by
// its slot and generation, and its lock taken over; what it did under the
// lock is either complete (tail moved) or invisible (tail not moved).
//
// Without block it gives up with ErrFull after a while, so that TrySend
// never spins for ever on a lock word a misbehaving peer left set.
func (q *Queue) lockReserve(ctx context.Context, block bool) error {
	me := lockValue(q.p.slot, q.p.gen)
	for i := 1; ; i++ {
		if q.lock.Load() == 0 && q.lock.CompareAndSwap(0, me) {
			return nil
		}
		if i < 64 {
			continue
		}
		if !block && i > 1<<14 {
			return ErrFull
		}
		if i%16 == 0 {
			yield()
		}
		if i%1024 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
			if v := q.lock.Load(); v != 0 && q.lockHolderGone(v) && q.lock.CompareAndSwap(v, me) {
				return nil
			}
		}
	}
}
