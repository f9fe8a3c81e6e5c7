package queue

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/shmkit/shm/internal/mem"
	"github.com/shmkit/shm/internal/racehint"
)

// Competing consumers: several consumers take messages from one ring.
//
// A queue created with Consumers(n), n ≥ 2, has a consumer table of n
// slots (line 22 on, see layout.go) instead of the single consumer's claim,
// a take cursor and a consume lock. Each slot is a role like a producer
// slot: its role byte's lock says whether its consumer lives, its claim
// word who it is. Its two other words say what it has in flight:
//
//	in flight   0, or p|1: the message whose record starts at position p
//	            was taken by this slot and is not finished (peeked and not
//	            released, or received and held); p is a multiple of 8
//	deliveries  how many times that message has been taken: 1, and one
//	            more for each consumer that died (or closed) with it in
//	            flight
//
// The cursors:
//
//	head ≤ min(in flight) ≤ take ≤ tail
//	  │                      │
//	  │                      └─ the next record to take: every message
//	  │                         before it was taken by some consumer
//	  └─ what producers may overwrite: the smallest position still in use,
//	     take or a message in flight (of a live or a dead slot)
//
// Everything below is done under the consume lock (lockValue(slot, gen) of
// the holder, taken over from a holder that died, as the reserve lock is),
// so a consumer's steps are never interleaved with another's; a holder
// that dies leaves them half-done, and the next holder finishes or undoes
// them as the table says. A message at position p in the ring moves:
//
//	ready (p = take)
//	  ├─ Receive: copy the payload, take = end              → consumed
//	  └─ Peek, or Receive with Hold:
//	       deliveries = 1, in flight = p|1, take = end       → in flight
//	in flight at slot s
//	  ├─ Release, ReleaseThrough: in flight = 0, publish     → consumed
//	  └─ s's consumer dies or closes (its role byte unlocked), and a
//	     consumer c that looks for orphans (when it claims a slot, and
//	     every 100 ms while it waits for a message) finds it:
//	       c.deliveries = max over the orphans at p + 1,
//	       c.in flight = p|1, then each orphan slot at p = 0 → in flight at c
//
// A holder that died half-way leaves one of these, which the next holder
// reads as shown:
//
//	in flight = p|1 with p = take     taken half-way: the slot is an orphan
//	                                  whose message never left the ring;
//	                                  the orphan's word is cleared, and the
//	                                  message is taken as ready
//	a message at p in two slots       a move half-done: both slots are
//	                                  orphans (the mover died with the lock),
//	                                  and the next move takes both at once
//
// Head is recomputed (take, then every slot's in flight) and published
// under the lock, by a consumer that moved take when it has caught up, a
// quarter of the ring went by or a producer waits for room, and by every
// release; it only grows. So no producer writes over a message in flight,
// and a message leaves the ring only once some consumer finished it.
//
// Guarantees, stated for the documentation: Receive without Hold takes
// and copies a message in one step under the lock, so a message received
// that way is delivered exactly once (a consumer that dies before the step
// is complete never took it). A message taken by Peek or under Hold is
// delivered at least once: again, to another consumer, after each consumer
// that had it in flight died or closed without releasing it; with at most
// one such death, at most once more. Deliveries says how many times the
// message just taken has been. Order holds per consumer (each takes new
// messages in ring order; a redelivered one comes before its next new
// one), not across consumers.
//
// Waking: every consumer that waits advertises in the same futex word
// (consWait) and a producer's commit wakes all of them (FUTEX_WAKE of
// every waiter); the argument of wait.go holds for each waiter on its own.
// A consumer never clears the word after it waits (a single consumer
// does): with several, that store would erase another's advertisement,
// and the producer would not wake it. The cost is one extra wake call by
// a producer after each sleep.

// cslot is a consumer slot of the table: its role and its in-flight words.
type cslot struct {
	slot
	inFlight, deliv *atomic.Uint64
}

func cslotAt(b []byte, off int) cslot {
	return cslot{
		slot:     slotAt(b, off),
		inFlight: mem.MustUint64(b, off+consOffInFlight),
		deliv:    mem.MustUint64(b, off+consOffDeliv),
	}
}

// inFlightBit marks a non-empty in-flight word (a position is a multiple of 8).
const inFlightBit = 1

// maxDeliveries bounds a deliveries word a consumer accepts.
const maxDeliveries = 1 << 31

// taken is a message a consumer took.
type taken struct {
	pos, end uint64 // the record's position and the cursor past it
	off      uint64 // the payload's ring offset
	n        int    // payload bytes
	deliv    uint32 // deliveries, this one included
	again    bool   // redelivered: it is in this consumer's slot already
}

var (
	// errRetake ends a wait that found an orphaned message to take.
	errRetake = errors.New("a dead consumer's message is to be taken")

	errHolding = errors.New("this consumer holds a message: release it (ReleaseThrough) before it takes another; a consumer of a queue with competing consumers holds one message at a time")
)

// IsCompeting reports whether the queue was created with Consumers(n),
// n ≥ 2: several consumers share its messages.
func (q *Queue) IsCompeting() bool { return q.cslots != nil }

// MaxConsumers returns how many consumers the queue can have at once: 1,
// or n for a queue created with Consumers(n).
func (q *Queue) MaxConsumers() int { return max(len(q.cslots), 1) }

// Deliveries returns how many times the message this handle last received
// or peeked has been taken by a consumer of a queue with competing
// consumers: 1, or more when consumers that had taken it died or closed
// before releasing it (see "Competing consumers" in the package
// documentation). On other queues, and before the first message, it
// returns 0.
func (q *Queue) Deliveries() int { return int(q.c.deliv) }

func (q *Queue) corruptSlot(i int, field string, off int, val uint64, want string) error {
	return fmt.Errorf("%w: consumer slot %d: %s at header offset %d is %d, want %s", ErrCorrupt, i, field, offConsSlots+i*consSlotSize+off, val, want)
}

// claimCompeting makes the handle one of the consumers on first use: it
// takes the first free slot of the table.
func (q *Queue) claimCompeting() error {
	if q.c.active {
		return nil
	}
	for i, s := range q.cslots {
		gen, err := q.claim(s.slot)
		if errors.Is(err, errors.ErrUnsupported) {
			return err
		}
		if err != nil {
			continue
		}
		// The slot may hold a message its last owner left in flight: the
		// first take looks for orphans.
		q.c = consumer{active: true, gen: gen, slot: i, every: q.c.every, hold: q.c.hold, sweep: true}
		return nil
	}
	return fmt.Errorf("%w: all %d consumer slots are held by live processes", ErrBusy, len(q.cslots))
}

// lockPatience bounds how long lockConsume waits for a live holder: a
// holder keeps the lock for a few loads and stores, or the copy of one
// message, so a lock held longer was written by a misbehaving peer.
const lockPatience = 5 * time.Second

// lockConsume takes the consume lock, as lockReserve takes the reserve
// lock: spinning and yielding, and taking it over from a holder that died.
// It gives up when ctx ends, or after lockPatience.
func (q *Queue) lockConsume(ctx context.Context) error {
	me := lockValue(q.c.slot, q.c.gen)
	var since time.Time
	for i := 1; ; i++ {
		if q.consumeLock.Load() == 0 && q.consumeLock.CompareAndSwap(0, me) {
			return nil
		}
		if i < 64 {
			continue
		}
		if i%16 == 0 {
			yield()
		}
		if i%1024 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
			if v := q.consumeLock.Load(); v != 0 && q.consumeHolderGone(v) && q.consumeLock.CompareAndSwap(v, me) {
				return nil
			}
			if now := time.Now(); since.IsZero() {
				since = now
			} else if now.Sub(since) > lockPatience {
				return fmt.Errorf("%w: the consume lock at header offset %d stayed taken (value %#x) for more than %v", ErrCorrupt, offConsumeLock, q.consumeLock.Load(), lockPatience)
			}
		}
	}
}

// consumeHolderGone reports whether the consume lock's value v names a
// consumer that can no longer release it (or names this handle, which
// knows it does not hold it: a value someone else wrote).
func (q *Queue) consumeHolderGone(v uint32) bool {
	i := lockSlot(v)
	if i < 0 || i >= len(q.cslots) || v == lockValue(q.c.slot, q.c.gen) {
		return true
	}
	s := q.cslots[i].slot
	w := s.claim.Load()
	if claimPID(w) == 0 || claimGen(w)&0xffffff != lockGen(v) {
		return true
	}
	return !q.alive(s)
}

func (q *Queue) unlockConsume() {
	if q.light {
		mem.StoreRelease32(q.consumeLock, 0)
		return
	}
	q.consumeLock.Store(0)
}

// competePublish publishes head as the smallest position in use (see
// above) and wakes a producer that waits for room. Under the lock.
func (q *Queue) competePublish() error {
	m, h := q.take.Load(), q.head.Load()
	if m%8 != 0 || m < h || m-h > q.capacity {
		return fmt.Errorf("%w: take cursor at header offset %d is %d; it must be a multiple of 8 from head %d to head + capacity %d", ErrCorrupt, offTake, m, h, q.capacity)
	}
	for i := range q.cslots {
		w := q.cslots[i].inFlight.Load()
		if w == 0 {
			continue
		}
		if w&7 != inFlightBit {
			return q.corruptSlot(i, "in flight", consOffInFlight, w, "0 or a position with its low bit set")
		}
		m = min(m, w&^7)
	}
	if m > h {
		racehint.Release(q.race)
		q.publish(q.head, m)
	}
	q.c.pub = m
	if q.prodWait.Load() != prodIdle {
		q.wakeSleeper(q.prodWait, prodSleeping)
	}
	return nil
}

// pendingRec is a multi-producer record a consumer waits on.
type pendingRec struct {
	o   uint64 // ring offset
	st  uint32 // its state when seen
	rec uint64 // its ring bytes
}

// competeTake finds the message this consumer takes next and returns with
// the consume lock held: a dead consumer's message when one was found, else
// the record at take. It waits (without the lock) as Receive does.
func (q *Queue) competeTake(ctx context.Context, block bool) (taken, error) {
	if q.state != stateOpen {
		return taken{}, q.stateErr()
	}
	if q.c.hold && q.c.inFlight {
		return taken{}, errHolding
	}
	if err := q.claimCompeting(); err != nil {
		return taken{}, err
	}
	for {
		if err := q.lockConsume(ctx); err != nil {
			return taken{}, err
		}
		if q.c.sweep {
			q.c.sweep = false
			m, ok, err := q.redeliver()
			if ok && err == nil {
				return m, nil
			}
			if err != nil {
				q.unlockConsume()
				return taken{}, err
			}
		}
		t, m, pend, err := q.takeNext(block)
		if err == nil && pend == nil && m.end != 0 {
			return m, nil
		}
		if err == nil {
			// Nothing to take: producers see all the room there is.
			err = q.competePublish()
		}
		q.unlockConsume()
		if err != nil {
			return taken{}, err
		}
		if !block {
			if pend == nil {
				if err := q.drained(t); err != nil {
					return taken{}, err
				}
			}
			return taken{}, ErrEmpty
		}
		err = q.competeWait(ctx, t, pend)
		switch {
		case err == errSkip:
			// The pending record's producer is gone: pass it, if it is
			// still the next one.
			if err := q.lockConsume(ctx); err != nil {
				return taken{}, err
			}
			if q.take.Load() == t && uint32(q.words[pend.o>>3].Load()>>32) == pend.st {
				q.take.Store(t + pend.rec)
			}
			q.unlockConsume()
		case err == errRetake:
		case err != nil:
			return taken{}, err
		}
	}
}

// takeNext looks at the record at take, under the lock, passing wrap and
// skip records (and, without block, abandoned pending ones). It returns a
// data record as m; or take, with the pending record to wait on or neither
// when there is no record yet. Every field read is checked as next checks
// it.
func (q *Queue) takeNext(block bool) (t uint64, m taken, pend *pendingRec, err error) {
	for {
		t = q.take.Load()
		h := q.head.Load()
		if t%8 != 0 || t < h || t-h > q.capacity {
			return t, m, nil, fmt.Errorf("%w: take cursor at header offset %d is %d; it must be a multiple of 8 from head %d to head + capacity %d", ErrCorrupt, offTake, t, h, q.capacity)
		}
		o := t & q.mask
		avail := q.capacity - o
		if q.multi {
			tl := q.tail.Load()
			if tl < t || tl-h > q.capacity || tl%8 != 0 {
				return t, m, nil, fmt.Errorf("%w: tail cursor at header offset %d is %d; it must be a multiple of 8 from take %d to head %d + capacity %d", ErrCorrupt, offTail, tl, t, h, q.capacity)
			}
			if tl == t {
				return t, m, nil, nil
			}
			avail = min(avail, tl-t)
		}
		hdr := q.words[o>>3].Load()
		if hdr == 0 && !q.multi {
			return t, m, nil, nil
		}
		length, st := uint64(uint32(hdr)), uint32(hdr>>32)
		kind := stateKind(st)
		if kind == kindWrap {
			rest := q.capacity - o
			if length != rest-recordHeader || rest > avail {
				return t, m, nil, q.corruptRecord(t, "wrap length", length, fmt.Sprintf("%d to the ring's end, %d bytes available", rest-recordHeader, avail))
			}
			q.take.Store(t + rest)
			continue
		}
		rec, err := q.checkRecord(t, length, st, avail)
		if err != nil {
			return t, m, nil, err
		}
		switch kind {
		case kindData:
			racehint.Acquire(q.race)
			return t, taken{pos: t, end: t + rec, off: o + recordHeader, n: int(length), deliv: 1}, nil, nil
		case kindSkip:
			q.take.Store(t + rec)
		case kindPending:
			if block {
				return t, m, &pendingRec{o: o, st: st, rec: rec}, nil
			}
			if !q.ownerGone(st) {
				return t, m, nil, nil
			}
			q.take.Store(t + rec)
		}
	}
}

// checkRecord checks a data, skip or pending record's header read at
// position pos with avail bytes readable there, and returns its ring bytes.
func (q *Queue) checkRecord(pos, length uint64, st uint32, avail uint64) (uint64, error) {
	switch stateKind(st) {
	case kindData, kindSkip, kindPending:
	default:
		return 0, q.corruptRecord(pos, "state", uint64(st), "a known record kind")
	}
	if length > uint64(q.maxMsg) {
		return 0, q.corruptRecord(pos, "length", length, fmt.Sprintf("at most the maximum message %d", q.maxMsg))
	}
	rec := recSize(int(length))
	if pos&q.mask+rec > q.capacity || rec > avail {
		return 0, q.corruptRecord(pos, "length", length, fmt.Sprintf("a record within the ring's end and the %d bytes available", avail))
	}
	if stateSlot(st) >= len(q.producers) {
		return 0, q.corruptRecord(pos, "producer slot", uint64(stateSlot(st)), fmt.Sprintf("less than %d", len(q.producers)))
	}
	return rec, nil
}

// orphan is a slot whose message in flight has no live consumer.
type orphan struct {
	slot int
	pos  uint64
}

// orphans lists the slots whose messages in flight have no consumer: a
// dead (or closed) slot's, and this handle's own slot's when it holds a
// message its last owner left. It asks the kernel about every other slot
// with a message in flight: for the slow paths only.
func (q *Queue) orphans() ([]orphan, error) {
	var out []orphan
	for i := range q.cslots {
		w := q.cslots[i].inFlight.Load()
		if w == 0 {
			continue
		}
		if w&7 != inFlightBit {
			return nil, q.corruptSlot(i, "in flight", consOffInFlight, w, "0 or a position with its low bit set")
		}
		if i == q.c.slot {
			if q.c.inFlight {
				continue
			}
		} else if q.alive(q.cslots[i].slot) {
			continue
		}
		out = append(out, orphan{i, w &^ 7})
	}
	return out, nil
}

// redeliver moves the first orphaned message (the lowest position) into
// this consumer's slot, under the lock, and returns it; ok is false when
// there is none. An orphan whose message was never taken (at or past
// take) is only cleared.
func (q *Queue) redeliver() (m taken, ok bool, err error) {
	orphans, err := q.orphans()
	if err != nil || len(orphans) == 0 {
		return m, false, err
	}
	t, h := q.take.Load(), q.head.Load()
	if t%8 != 0 || t < h || t-h > q.capacity {
		return m, false, fmt.Errorf("%w: take cursor at header offset %d is %d; it must be a multiple of 8 from head %d to head + capacity %d", ErrCorrupt, offTake, t, h, q.capacity)
	}
	var p uint64
	found, more := false, false
	for _, o := range orphans {
		switch {
		case o.pos >= t:
			q.cslots[o.slot].inFlight.Store(0)
		case o.pos < h:
			return m, false, q.corruptSlot(o.slot, "in flight", consOffInFlight, o.pos|inFlightBit, fmt.Sprintf("a position from head %d to take %d", h, t))
		case !found || o.pos < p:
			more = more || found
			p, found = o.pos, true
		default:
			more = more || o.pos != p
		}
	}
	if !found {
		return m, false, nil
	}
	o := p & q.mask
	hdr := q.words[o>>3].Load()
	length, st := uint64(uint32(hdr)), uint32(hdr>>32)
	rec, err := q.checkRecord(p, length, st, min(q.capacity-o, t-p))
	if err == nil && stateKind(st) != kindData {
		err = q.corruptRecord(p, "state", uint64(st), "a committed message, which a consumer has in flight")
	}
	if err != nil {
		return m, false, err
	}
	var d uint64
	for _, o := range orphans {
		if o.pos != p {
			continue
		}
		di := q.cslots[o.slot].deliv.Load()
		if di < 1 || di >= maxDeliveries {
			return m, false, q.corruptSlot(o.slot, "deliveries", consOffDeliv, di, fmt.Sprintf("from 1 to %d", maxDeliveries-1))
		}
		d = max(d, di)
	}
	me := q.cslots[q.c.slot]
	me.deliv.Store(d + 1)
	me.inFlight.Store(p | inFlightBit)
	for _, o := range orphans {
		if o.pos == p && o.slot != q.c.slot {
			q.cslots[o.slot].inFlight.Store(0)
		}
	}
	q.c.sweep = more
	racehint.Acquire(q.race)
	return taken{pos: p, end: p + rec, off: o + recordHeader, n: int(length), deliv: uint32(d + 1), again: true}, true, nil
}

// competeWait waits for something to take at take cursor t: a record
// there, take moving (another consumer took it), the pending record pend
// changing; or an orphaned message, which it finds with its peer checks.
// It returns io.EOF (or ErrAborted) when drained says the stream ended.
func (q *Queue) competeWait(ctx context.Context, t uint64, pend *pendingRec) error {
	ready := func() (bool, error) {
		if q.take.Load() != t {
			return true, nil
		}
		if pend != nil {
			return uint32(q.words[pend.o>>3].Load()>>32) != pend.st, nil
		}
		if !q.emptyAt(t) {
			return true, nil
		}
		return false, q.drained(t)
	}
	peer := func() error {
		if pend != nil && q.ownerGone(pend.st) {
			return errSkip
		}
		if o, err := q.orphans(); err != nil || len(o) > 0 {
			q.c.sweep = true
			if err != nil {
				return err
			}
			return errRetake
		}
		if pend != nil || q.cfg.follow {
			return nil
		}
		return q.producersDead()
	}
	return q.await(ctx, q.consWait, 1, ready, peer, pend != nil, nil, 0)
}

// emptyAt reports whether no record follows take cursor t yet.
func (q *Queue) emptyAt(t uint64) bool {
	if q.multi {
		return q.tail.Load() == t
	}
	return q.words[(t&q.mask)>>3].Load() == 0
}

// drained returns io.EOF (or ErrAborted) when the stream has ended for
// the consumers at take cursor t, which found nothing to take: the
// producers closed the queue, nothing followed t since, take is still t,
// and no consumer has a message in flight (a consumer that dies could
// leave one to take). It returns nil otherwise, and always for a handle
// that follows producers (FollowProducers).
func (q *Queue) drained(t uint64) error {
	c := q.closed.Load()
	// Producers commit before they close: look again after closed.
	if c == closedOpen || q.cfg.follow || !q.emptyAt(t) || q.take.Load() != t {
		return nil
	}
	for i := range q.cslots {
		if q.cslots[i].inFlight.Load() != 0 {
			return nil
		}
	}
	racehint.Acquire(q.race)
	return closedErr(c)
}

// keep puts a message taken under the lock in flight at this consumer.
func (q *Queue) keep(m taken) {
	if !m.again {
		s := q.cslots[q.c.slot]
		s.deliv.Store(1)
		s.inFlight.Store(m.pos | inFlightBit)
		q.take.Store(m.end)
	}
	q.c.inFlight, q.c.flight = true, m
}

// finish ends a message taken under the lock without keeping it (a
// Receive's copy is done) and publishes head when it is due.
func (q *Queue) finish(m taken) error {
	if m.again {
		q.cslots[q.c.slot].inFlight.Store(0)
	} else {
		q.take.Store(m.end)
	}
	return q.publishIfDue(m.again)
}

// publishIfDue publishes head after a take when a quarter of the ring went
// by since this consumer last did, a producer waits for room, the consumer
// caught up with the producers or force is set. Under the lock.
func (q *Queue) publishIfDue(force bool) error {
	t := q.take.Load()
	due := force || t-q.c.pub >= q.c.every || q.prodWait.Load() != prodIdle
	if !due {
		if q.multi {
			due = q.tail.Load() == t
		} else {
			due = q.words[(t&q.mask)>>3].Load() == 0
		}
	}
	if !due {
		return nil
	}
	return q.competePublish()
}

// competeReceive is Receive (and TryReceive) on a queue with competing
// consumers.
func (q *Queue) competeReceive(ctx context.Context, buf []byte, block bool) ([]byte, error) {
	if q.c.peeked {
		m := q.c.flight
		buf = mem.Append(buf[:0], q.ring[m.off:m.off+uint64(m.n)])
		return buf, q.competeRelease(ctx, true)
	}
	m, err := q.competeTake(ctx, block)
	if err != nil {
		return buf[:0], err
	}
	buf = mem.Append(buf[:0], q.ring[m.off:m.off+uint64(m.n)])
	q.c.head, q.c.deliv = m.end, m.deliv
	if q.c.hold {
		q.keep(m)
		err = q.publishIfDue(false)
	} else {
		err = q.finish(m)
	}
	q.unlockConsume()
	return buf, err
}

// competePeek is Peek on a queue with competing consumers.
func (q *Queue) competePeek(ctx context.Context) ([]byte, error) {
	if !q.c.peeked {
		m, err := q.competeTake(ctx, true)
		if err != nil {
			return nil, err
		}
		q.keep(m)
		q.c.peeked, q.c.deliv = true, m.deliv
		err = q.publishIfDue(false)
		q.unlockConsume()
		if err != nil {
			return nil, err
		}
	}
	m := q.c.flight
	return q.ring[m.off : m.off+uint64(m.n) : m.off+uint64(m.n)], nil
}

// competeRelease ends the peeked message: it is consumed, or with Hold
// stays held until ReleaseThrough (unless always).
func (q *Queue) competeRelease(ctx context.Context, fromPeek bool) error {
	if fromPeek {
		q.c.peeked = false
		q.c.head = q.c.flight.end
		if q.c.hold {
			return nil
		}
	}
	if err := q.lockConsume(ctx); err != nil {
		return err
	}
	q.cslots[q.c.slot].inFlight.Store(0)
	q.c.inFlight = false
	err := q.competePublish()
	q.unlockConsume()
	// Consumers that wait at the end of a closed queue wait for the
	// messages in flight.
	if q.closed.Load() != closedOpen {
		q.wakeConsumer()
	}
	return err
}

// competeReleaseThrough is ReleaseThrough on a queue with competing
// consumers: pos must be the position of the message held.
func (q *Queue) competeReleaseThrough(pos uint64) error {
	if !q.c.inFlight || q.c.peeked || !q.c.hold {
		if pos == q.c.head {
			return nil
		}
		return fmt.Errorf("position %d is not held: this consumer holds no message and is at %d", pos, q.c.head)
	}
	if pos != q.c.flight.end {
		return fmt.Errorf("position %d is not held: this consumer of a queue with competing consumers holds one message, at position %d", pos, q.c.flight.end)
	}
	return q.competeRelease(context.Background(), false)
}

// closeCompeting gives up the consumer slot. A message still in flight
// (peeked, or held) stays there as an orphan for another consumer.
func (q *Queue) closeCompeting() error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	var err error
	if err = q.lockConsume(ctx); err == nil {
		err = q.competePublish()
		q.unlockConsume()
	}
	q.unclaim(q.cslots[q.c.slot].slot, q.c.gen)
	q.c.active = false
	if q.c.inFlight {
		q.wakeConsumer()
	}
	return err
}

// consumersDead is consumerDead for a queue with competing consumers:
// ErrPeerDead when consumers held slots and all of them died.
func (q *Queue) consumersDead() error {
	var dead *slot
	for i := range q.cslots {
		s := q.cslots[i].slot
		if claimPID(s.claim.Load()) == 0 {
			continue
		}
		alive, err := q.held(s)
		if err != nil || alive {
			return err
		}
		dead = &q.cslots[i].slot
	}
	if dead != nil {
		return fmt.Errorf("%w: every consumer died (the last one seen: %s)", ErrPeerDead, q.claimant(*dead))
	}
	return nil
}

// competeBatch is ReceiveBatch on a queue with competing consumers: it
// takes messages one at a time, waiting only for the first; with Hold it
// takes one (a consumer holds one message at a time). An error after the
// first message ends the batch and comes again with the next call.
func (q *Queue) competeBatch(ctx context.Context, msgs [][]byte) (n int, err error) {
	block := true
	for n < len(msgs) {
		msgs[n], err = q.competeReceive(ctx, msgs[n], block)
		if err != nil {
			if n > 0 {
				return n, nil
			}
			return 0, q.recvErr(err)
		}
		if q.watch.Hit() {
			break // msgs[n] may hold zeros (fault.go); n are whole
		}
		n++
		if q.c.hold {
			break
		}
		block = false
	}
	return n, nil
}
