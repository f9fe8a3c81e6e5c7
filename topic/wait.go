package topic

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/shmkit/shm/internal/futex"
	"github.com/shmkit/shm/internal/mem"
)

// Waiting, and why no wake-up is lost.
//
// Two futex words advertise sleepers. subWait is 1 while at least one
// subscriber sleeps (or is about to): every subscriber sleeps on that one
// word, so that one publish wakes them all with one FUTEX_WAKE. pubWait is
// 1 while the publisher sleeps for room in a lossless topic. Only a
// waiting side sets a word; the other side clears it (with Swap) and makes
// the wake system call only when the word said someone sleeps. A waiter
// never clears a word itself: other subscribers may sleep on the same one,
// and a word left set costs the publisher one needless wake, never a lost
// one.
//
// A waiter runs:
//
//	word.Store(1)               // 1. advertise
//	mem.Heavy()                 //    membarrier(MEMBARRIER_CMD_GLOBAL_EXPEDITED)
//	if ready() { return }       // 2. re-check the condition
//	futex_wait(word, 1)         // 3. sleeps only if word still == 1
//
// and the other side, after making the condition true:
//
//	publish(cond)               // a. a record's commit and tail; a position
//	if word.Load() != 0 {       // b. look for a sleeper
//	    word.Swap(0); futex_wake(word, all)
//	}
//
// Step a is a release store when this process registered for the
// asymmetric barrier (mem.Asymmetric), a sequentially consistent one
// otherwise; b is a plain load. A release store does not keep b behind a:
// b may be performed while a waits in the store buffer. The waiter's Heavy
// call, between 1 and 2, makes every running thread of every registered
// process execute a full barrier. It falls, on the waker's CPU, somewhere
// inside the call: if the waker's b comes after it, b sees the word set (1
// was visible before the call) and the waker wakes the waiter; if b comes
// before it, then a, which precedes b, was visible by the time Heavy
// returned, and 2 sees the condition. So either the waker sees the sleeper
// or the sleeper sees the condition (Dekker's pattern), for every sleeper
// at once: each one's steps 1 and 2 bracket its own Heavy, and a waker
// that sees the word set wakes everyone sleeping on it. A subscriber that
// stored 1 after the waker's Swap is in its own step 2 after the waker's
// a, and sees the condition or sleeps on a word the next publish clears.
// A process that could not register keeps sequentially consistent stores
// at a. A waiter whose Heavy fails (membarrier blocked by a seccomp filter
// while its peer registered) cannot rule the race out, and sleeps in
// slices of heavyFallback instead.
//
// The publisher waits for a position, the target it stores in pub want
// before it advertises (before 1), and a subscriber wakes it only with
// the position store that takes it from below the target to at or past
// it. That is still Dekker's pattern, per subscriber: if the subscriber
// that crossed the target last did so (its a) in time for the
// publisher's step 2, the publisher sees every position at the target
// and does not sleep; otherwise that subscriber's b comes after the
// publisher's step 1, sees the word set and the target stored before
// it, and wakes the publisher. A subscriber that was past the target
// before the wait began was past it for step 2 too. A subscriber that
// leaves, and one that joins (position 0, then its start), wake the
// publisher whatever the target.
//
// Sleeps last at most peerCheck (100 ms): between them the waiter checks
// its peers (a subscriber: whether the publisher died; the publisher:
// whether a subscriber that holds it back died, whose entry it then
// frees), the object's size and the context.

// heavyFallback bounds a sleep when mem.Heavy fails (see above).
const heavyFallback = time.Millisecond

// await waits until ready reports true or an error. word is the futex word
// this side advertises its sleep in; peer is called about every peerCheck
// and may end the wait with an error, returned only if ready still says
// no afterwards. beforeSleep, when not nil, is called before each round
// of the sleep loop advertises (round 0 first) and returns how long that
// round's sleep may last at most. spin, when not nil, is what the spin
// phase looks at instead of ready, except every 64th time: a cheaper test
// that reports true when ready may (ready then decides).
func (t *Topic) await(ctx context.Context, word *atomic.Uint32, ready func() (bool, error), spin func() bool, peer func() error, beforeSleep func(round int) time.Duration) error {
	// After a watched fault ready reads zeros, which look like a reason to
	// wait: the wait ends with the fault at once (see fault.go).
	look := ready
	ready = func() (bool, error) {
		ok, err := look()
		if !ok && err == nil && t.watch.Hit() {
			err = t.checkSize()
		}
		return ok, err
	}
	var start, lastPeer time.Time
	checkPeer := func(now time.Time) error {
		if start.IsZero() {
			start, lastPeer = now, now
		}
		if now.Sub(lastPeer) < peerCheck {
			return nil
		}
		lastPeer = now
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := t.checkSize(); err != nil {
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
	if t.cfg.spin > 0 {
		for i := 1; ; i++ {
			if spin == nil || i%64 == 0 || spin() {
				if ok, err := ready(); ok || err != nil {
					return err
				}
			}
			if i%64 != 0 {
				continue
			}
			now := time.Now()
			if err := checkPeer(now); err != nil {
				return err
			}
			if now.Sub(start) >= t.cfg.spin {
				break
			}
			if i%(64*16) == 0 {
				yield()
			}
		}
	}
	for round := 0; ; round++ {
		slice := peerCheck
		if beforeSleep != nil {
			slice = beforeSleep(round)
		}
		word.Store(1)
		heavyErr := mem.Heavy()
		if ok, err := ready(); ok || err != nil {
			return err
		}
		var err error
		switch {
		case heavyErr != nil:
			futex.WaitTimeout(word, 1, heavyFallback)
			err = ctx.Err()
		case ctx.Done() == nil || slice < peerCheck:
			futex.WaitTimeout(word, 1, slice)
			err = ctx.Err()
		default:
			err = futex.Wait(ctx, word, 1) // sleeps at most 100 ms too
		}
		if err != nil {
			return err
		}
		// Woken, most likely by the other side: look before advertising
		// again, which would cost another Heavy.
		if ok, err := ready(); ok || err != nil {
			return err
		}
		if err := checkPeer(time.Now()); err != nil {
			return err
		}
	}
}
