package queue

import (
	"context"
	"fmt"
	"runtime"
	"sync/atomic"
	"time"

	"github.com/shmkit/shm/internal/futex"
	"github.com/shmkit/shm/internal/mem"
	"github.com/shmkit/shm/internal/slip"
)

// Waiting, and why no wake-up is lost.
//
// Two futex words advertise sleepers. consWait is 1 while the consumer
// sleeps (or is about to); prodWait is prodWantHead while a producer spins
// for space and prodSleeping while one sleeps. Only the waiting side sets a
// word. The other side clears it (with Swap), and makes the wake syscall
// only when the word said someone sleeps; a consumer that woke before it
// was cleared clears its own (stopWaiting). Neither writes a word that is
// already clear: both words share a line with cursors, and a store on
// every message would move that line between the CPUs every time.
//
// A waiter runs:
//
//	word.Store(sleeping)        // 1. advertise
//	if ready() { return }       // 2. re-check the condition
//	futex_wait(word, sleeping)  // 3. sleeps only if word still == sleeping
//
// and the other side, after making the condition true:
//
//	publish(cond)               // a. a record's header or state, tail, head
//	if word.Load() != 0 {       // b. look for a sleeper
//	    word.Swap(0); futex_wake(word)
//	}
//
// The waiter's steps are sequentially consistent atomics (Go's sync/atomic)
// and step 2 comes after a heavy barrier (below). Step a is the hot one: a
// commit or a head store on every message. As a sequentially consistent
// store (an XCHG on amd64) it would stall the sender until its store buffer
// drained, the cache-line transfer to the other CPU included; so when this
// process could register for the asymmetric barrier (mem.Asymmetric), a is
// a release store (mem.StoreRelease64, a plain MOVQ on amd64) and b a plain
// load. A release store keeps the payload's writes before the header, which
// is all the reader of a record needs; what it gives up is the store-load
// order between a and b: b may be performed while a still waits in the
// store buffer. The waiter restores it with mem.Heavy between 1 and 2,
// which makes every running thread of every registered process execute a
// full barrier:
//
//	word.Store(sleeping)        // 1.
//	mem.Heavy()                 //    membarrier(MEMBARRIER_CMD_GLOBAL_EXPEDITED)
//	if ready() { return }       // 2.
//
// The barrier falls, on the waker's CPU, somewhere inside the Heavy call.
// If the waker's b comes after it, b sees the word set (1 was visible
// before the call) and the waker wakes the waiter; if b comes before it,
// then a, which precedes b, was visible by the time Heavy returned, and 2
// sees the condition. So, as with two full barriers, either the waker sees
// the sleeper or the sleeper sees the condition (Dekker's pattern). The
// cost moves to the side that is about to sleep, once per sleep: a waiter
// that wakes looks at the condition before it advertises again. Heavy
// interrupts the other CPU when it runs a registered process and waits for
// it, which on one VM took tens of microseconds (docs/BENCHMARKS-LOG.md), as
// long as the futex hand-off itself. A process that could not register
// keeps sequentially consistent stores at a (and needs nothing from its
// peer's Heavy). A waiter whose Heavy call fails (membarrier blocked by a
// seccomp filter while its peer's process was allowed to register) cannot
// rule the race out, and sleeps in slices of heavyFallback instead, so a
// lost wake-up costs it at most that long.
//
// The consumer publishes head lazily: when it has caught up with the tail it
// last saw, after a quarter of the ring, on request, or after each message
// it took right after a wait (move). A producer
// that finds the ring full, and still finds it full after askDelay more
// looks at head (a few microseconds, in which the consumer frees room it
// does not publish yet), sets prodWait to prodWantHead, and the consumer,
// which looks at prodWait on every Receive and while it waits, publishes its
// head at once when it sees a non-zero value. The consumer also publishes
// before it sleeps, so a sleeping consumer never hides free space.
//
// With competing consumers (consumers.go) several consumers may sleep on
// consWait at once. Each runs the waiter's steps above on its own, and a
// producer's wake is FUTEX_WAKE of every waiter, so each of them is either
// woken or sees the condition; and no consumer clears the word after its
// wait (stopWaiting is for the single consumer), since that store could
// erase another sleeper's step 1 before the producer's b.
//
// Sleeps last at most peerCheck (100 ms): between them the waiter checks
// that its peer is alive, so a dead peer is reported within well under a
// second, and a context's cancellation is seen.
//
// Peers, and why their liveness is a lock.
//
// A peer is alive while it holds its role's open file description lock
// (the role byte of its slot; see "Roles" in layout.go and package
// internal/live). The waits here (a consumer on an empty ring or on a
// pending record, a producer on a full ring or the reserve lock) ask the
// kernel with F_OFD_GETLK once per peerCheck, never per message. The lock
// is the one fact about a peer that holds in every PID namespace: a pid
// read from shared memory names another process, or none, in a container
// that shares /dev/shm with its own PID namespace, and /proc/PID there
// tells nothing about the peer; the lock belongs to the object's inode, and
// the kernel drops it when its holder dies, however it dies. So a peer
// that lives is never declared dead (its lock stays while its descriptor
// is open), one that died is seen dead at the next check, and a reused pid
// plays no part. Taking a role is arbitrated by the same lock: of two
// claimants, in any namespaces, the kernel lets one have it. The claim
// word's generation still tells one owner of a slot from the next, for
// records and the reserve lock a dead owner left behind.

// heavyFallback bounds a sleep when mem.Heavy fails (see above).
const heavyFallback = time.Millisecond

// spinYield is the least time between two yields (runtime.Gosched) of a
// handle's spinning waits while its peers are in other processes. A
// spinner yields so that other goroutines get the CPU, and only in a wait
// that has lasted 4,096 looks, when its peer is late anyway. When a peer
// is a goroutine of this process, it may need this very P to send what
// the wait waits for, so the wait yields at every such point. Another
// process gains nothing from the yield, and for a goroutine locked to its
// thread (runtime.LockOSThread, as latency-sensitive programs and shm
// bench lock theirs) a yield is two context switches and tens of
// microseconds, while the message it waits for may already be there;
// yielding at every such point put the queue's 1 KiB round trip at p99.9
// at up to 4.7 times raw's. Not yielding at all is no better: the runtime
// preempts a goroutine that ran 10 ms without yielding wherever it is, in
// the middle of a Send included, at the same cost, and the waiting peer
// goes to sleep (docs/BENCHMARKS-LOG.md, "Yielding while spinning").
const spinYield = 2 * time.Millisecond

// peerHere reports whether a peer of this handle is a goroutine of this
// process, as the claim words say: a consumer, for a producer's wait; a
// producer, for a consumer's. The claim words are others' writing and may
// be wrong; they decide nothing but how often a spinning wait yields.
func (q *Queue) peerHere() bool {
	here := func(s slot) bool { return claimPID(s.claim.Load()) == q.pid && s.ns.Load() == q.ns }
	if q.p.active {
		if here(q.consumer) {
			return true
		}
		for _, c := range q.cslots {
			if here(c.slot) {
				return true
			}
		}
	}
	if q.c.active {
		for _, p := range q.producers {
			if here(p) {
				return true
			}
		}
	}
	return false
}

// holdBack begins a wait for data, a glance or the long way: it holds
// back a consumer that caught up with its producer in mid-stream for
// holdBackTime, and notes the wait for the next one to count from. The
// long way after a glance counts from the glance, so it holds back only
// where no glance came first.
func (q *Queue) holdBack() {
	if slip.InStream(q.c.takes - q.c.waited) {
		q.holdBackNow()
	}
	q.c.waited = q.c.takes
}

// holdBackNow holds back for holdBackTime (slip.Wait), and stops early
// when a producer asks for head: in a small ring the producer fills the
// ring before the hold-back ends, and would wait out the rest of it (1 KiB
// messages through a 64 KiB ring took 83–86 ns each without the early
// stop, 55–70 with it). prodWait shares the consumer's line with head,
// and producers write it only when they wait.
func (q *Queue) holdBackNow() {
	d := q.holdBackTime()
	if d <= 0 {
		return
	}
	q.c.heldBack += d
	if slip.Wait(d, func() bool { return q.prodWait.Load() != prodIdle }) {
		q.c.cutShort++
	}
}

// holdBackTime is how long holdBack holds the consumer back (package
// internal/slip): slip.Max after two or more messages since its last wait,
// at most its spin time, and not at all with Block.
func (q *Queue) holdBackTime() time.Duration {
	spin := q.cfg.spin
	switch q.cfg.strategy {
	case Block:
		spin = 0
	case Spin:
		spin = slip.Max
	}
	return slip.For(q.c.takes-q.c.waited, spin)
}

// await waits by the handle's strategy until ready reports true or an
// error. word and sleepVal are the futex word this side advertises its
// sleep in; peer reports a dead peer, and is called about every peerCheck.
// A peer error is returned only if ready still says no afterwards.
//
// With eager, the first peer check comes as soon as spinning ends rather
// than after peerCheck: for a wait that is likely to be on a dead peer.
//
// watch, when not nil, is a shared word that holds idle for as long as
// ready would say no but for its rarer reasons (a closed queue, a request
// to publish head): a spinning waiter then loads that word alone and calls
// ready only when it differs from idle, and once every 64 looks, with the
// clock read. A look is then a load and a compare, not a call of a closure
// that reads three words, and the wait notices the word's change one load
// after it becomes visible. Whatever ready reports still comes from ready,
// which checks what it reads; the watch only says when to ask it.
func (q *Queue) await(ctx context.Context, word *atomic.Uint32, sleepVal uint32, ready func() (bool, error), peer func() error, eager bool, watch *atomic.Uint64, idle uint64) error {
	// After a watched fault ready reads zeros, which look like a reason to
	// wait: the wait ends with the fault at once (see fault.go).
	look := ready
	ready = func() (bool, error) {
		ok, err := look()
		if !ok && err == nil && q.watch.Hit() {
			err = q.checkSize()
		}
		return ok, err
	}
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
		if err := q.checkSize(); err != nil {
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
		// looks is how many looks at the condition one turn of the loop
		// takes: one call of ready, and with a watch 63 loads before it.
		looks := 1
		if watch != nil {
			looks = 64
		}
		for i := looks; ; i += looks {
			for j := 1; j < looks; j++ {
				if watch.Load() != idle {
					break
				}
			}
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
			if i%(64*64) == 0 && (now.Sub(q.yielded) >= spinYield || q.peerHere()) {
				runtime.Gosched()
				q.yielded = time.Now()
			}
		}
	}
	for {
		word.Store(sleepVal)
		heavyErr := mem.Heavy()
		if ok, err := ready(); ok || err != nil {
			return err
		}
		var err error
		switch {
		case heavyErr != nil:
			futex.WaitTimeout(word, sleepVal, heavyFallback)
			err = ctx.Err()
		case ctx.Done() == nil:
			futex.WaitTimeout(word, sleepVal, peerCheck)
		default:
			err = futex.Wait(ctx, word, sleepVal) // sleeps at most 100 ms too
		}
		if err != nil {
			return err
		}
		// Woken, most likely by the other side: look before advertising
		// again, which would cost another Heavy (tens of microseconds on
		// some VMs) between the wake-up and the message.
		if ok, err := ready(); ok || err != nil {
			return err
		}
		if err := checkPeer(time.Now()); err != nil {
			return err
		}
	}
}

// consumerDead reports ErrPeerDead when the queue had a consumer and no
// live process holds the role now.
func (q *Queue) consumerDead() error {
	if q.cslots != nil {
		return q.consumersDead()
	}
	w := q.consumer.claim.Load()
	if claimPID(w) == 0 {
		return nil
	}
	alive, err := q.held(q.consumer)
	if err != nil || alive {
		return err
	}
	return fmt.Errorf("%w: consumer %s", ErrPeerDead, q.claimant(q.consumer))
}

// producersDead reports ErrPeerDead when producers held slots and all of
// them died (a queue that never had a producer is waited on).
func (q *Queue) producersDead() error {
	var dead *slot
	for i, s := range q.producers {
		if claimPID(s.claim.Load()) == 0 {
			continue
		}
		alive, err := q.held(s)
		if err != nil || alive {
			return err
		}
		dead = &q.producers[i]
	}
	if dead != nil {
		return fmt.Errorf("%w: producer %s", ErrPeerDead, q.claimant(*dead))
	}
	return nil
}

// ownerGone reports whether the producer that wrote record state st can no
// longer commit it: its slot was released or taken by another generation,
// or no live process holds the slot.
func (q *Queue) ownerGone(st uint32) bool {
	s := q.producers[stateSlot(st)]
	w := s.claim.Load()
	if claimPID(w) == 0 || claimGen(w)&genMask != stateGen(st) {
		return true
	}
	return !q.alive(s)
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
	return !q.alive(s)
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
