package queue

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"runtime/debug"

	"github.com/shmkit/shm/internal/mem"
	"github.com/shmkit/shm/internal/racehint"
)

var errPendingReserve = errors.New("a Reserve is waiting for its Commit")

// Send copies msg into the queue as one message, waiting for room as the
// wait strategy says, until ctx is done. A message of 0 bytes is fine; one
// longer than MaxMessage fails with ErrTooLarge at once. Send fails with
// ErrPeerDead when it has to wait for room while the consumer is dead, and
// with shm.ErrFault when another process truncated the queue's object (see
// the package's caveats). A consumer that closed is not dead: its queue
// may get another consumer, so a Send waiting for room keeps waiting until
// one comes or ctx ends.
func (q *Queue) Send(ctx context.Context, msg []byte) error {
	if ctx == nil {
		return wrapErr(opSend, q.name, errNilContext)
	}
	if !q.unguarded {
		return q.sendGuarded(ctx, msg, true)
	}
	return q.sendOne(ctx, msg, true)
}

// TrySend is Send without waiting: when there is no room it returns
// ErrFull (unwrapped).
func (q *Queue) TrySend(msg []byte) error {
	if !q.unguarded {
		return q.sendGuarded(context.Background(), msg, false)
	}
	return q.sendOne(context.Background(), msg, false)
}

// sendGuarded is Send and TrySend under the fault guard (fault.go).
func (q *Queue) sendGuarded(ctx context.Context, msg []byte, block bool) (err error) {
	old, finished := debug.SetPanicOnFault(true), false
	defer func() {
		debug.SetPanicOnFault(old)
		if !finished {
			q.caught(recover(), opSend, &err)
		}
	}()
	err = q.sendOne(ctx, msg, block)
	finished = true
	return err
}

// sendOne is Send and TrySend without the fault guard. It writes the
// common case itself, a single producer's message that fits at the tail
// without waiting or wrapping, with no call but the copy and the commit
// store, for a reason: the ring lines it writes are usually in the
// consumer's cache, so the stores wait in the store buffer, and so would
// every store after them, the return addresses and spilled registers of
// further calls included. Anything else goes to sendSlow, a call in tail
// position, so that ctx is not live across the copy. Written
// this way, a 64 B message between processes takes 15–18 ns instead of
// 33–41 when the two CPUs share a cache (docs/BENCHMARKS-LOG.md, "Send's
// common case"); when they do not, a producer that reached this through
// one more call, from a frame set up for a deferred closure, took 51 ns
// a message where 39 would do ("Fewer stores on the per-message paths").
func (q *Queue) sendOne(ctx context.Context, msg []byte, block bool) error {
	if q.state != stateOpen || q.multi || !q.p.active || q.p.resv || q.p.batching {
		return q.sendSlow(ctx, msg, block)
	}
	t := q.p.tail
	off, rec, ok := q.room(t, len(msg))
	if !ok {
		return q.sendSlow(ctx, msg, block)
	}
	mem.PrefetchWrite(q.linesAhead(len(msg), off, rec))
	end := t + rec
	q.putHeader(end&q.mask, 0, 0)
	mem.Copy(q.ring[off+recordHeader:], msg)
	q.p.tail = end
	racehint.Release(q.race)
	q.publish(&q.words[off>>3], uint64(len(msg))|q.p.data)
	q.committed()
	if q.watch.Hit() {
		return q.hitErr(opSend)
	}
	return nil
}

// Messages of prefetchMin bytes up to mem.RepMovsbMin have the first
// prefetchLen bytes of their record's lines after the header's taken for
// writing before Send copies them in, or Reserve hands them out to be
// written (mem.PrefetchWrite). A round trip through a large ring writes
// each message into lines last touched a ring ago, which the store buffer
// then takes one after another; asked for first, they come together.
// Measured on an AMD EPYC VM (family 26) in one pair of processes
// alternating with and without, 4 MiB rings, near: 1 KiB round trips took
// 229 ns against 275, 4 KiB ones 483 against 547.
//
// Streams of 512 B and 1 KiB are faster without it: the producer writes
// line after line, which the CPU's own prefetcher follows, and the
// instructions cost a stream whose consumer sets the pace 4-6% (1 KiB:
// 19.1 ns a message against 18.3, 512 B 13.4 against 12.7; 4 KiB about
// even, 58.3 against 58.9). So a producer that found the consumer behind
// the tail the last time its view of the ring was full (about once a
// ring's worth of messages) leaves it out until such a look finds the
// consumer caught up. A round trip's producer, whose consumer has taken
// everything by then, keeps it; so does the producer of a stream whose
// consumer keeps up, which cannot tell itself from one. SendBatch, made
// for streams, never prefetches.
//
// Messages of 256 B gained nothing in round trips and lost an eighth of a
// stream's rate; the whole record rather than its first KiB cost 4 KiB
// streams a sixth; from RepMovsbMin on, where Copy is a string move, round
// trips lost 1.5%. The header's own line is left out: a consumer waiting
// for the message polls it, and taking it early makes it cross between
// the CPUs once more (8 KiB rings, 1 KiB round trips: 295 ns with it, 288
// without any prefetch, 288 leaving it out).
const (
	prefetchMin = 512
	prefetchLen = 1024
	cacheLine   = 64 // bytes, on the CPUs these choices were measured on
)

// linesAhead is the part of the n-byte message's record at ring offset
// off, rec bytes long, that Send and Reserve take for writing first: the
// first prefetchLen bytes after the header's line, or nothing for a
// message below prefetchMin or from mem.RepMovsbMin on, or while the
// consumer was behind at the last look at head.
func (q *Queue) linesAhead(n int, off, rec uint64) []byte {
	if q.p.behind || n < prefetchMin || n >= mem.RepMovsbMin {
		return nil
	}
	first := off&^(cacheLine-1) + cacheLine
	return q.ring[first:min(off+rec, first+prefetchLen)]
}

// sendSlow is sendOne's path for everything but its common case. A watched
// fault ends it with struck.
func (q *Queue) sendSlow(ctx context.Context, msg []byte, block bool) (err error) {
	if err = q.send(ctx, msg, block, false); err != nil {
		err = q.sendErr(err)
	}
	q.struck(opSend, &err)
	return err
}

// SendBatch sends msgs in order as separate messages and makes them visible
// to the consumer together: a single producer publishes its write cursor
// once per batch (and whenever it has to wait for room) instead of once per
// message; on a multi-producer queue a producer takes the reserve lock once
// per run of messages that fit (up to 64) instead of once per message. On an
// error, the messages before the failing one were sent.
func (q *Queue) SendBatch(ctx context.Context, msgs [][]byte) (err error) {
	if ctx == nil {
		return wrapErr(opSend, q.name, errNilContext)
	}
	if q.unguarded {
		err = q.sendBatch(ctx, msgs)
		q.struck(opSend, &err)
		return err
	}
	old, finished := debug.SetPanicOnFault(true), false
	defer func() {
		debug.SetPanicOnFault(old)
		if !finished {
			q.caught(recover(), opSend, &err)
		}
	}()
	err = q.sendBatch(ctx, msgs)
	finished = true
	return err
}

// sendBatch is SendBatch without the fault guard.
func (q *Queue) sendBatch(ctx context.Context, msgs [][]byte) error {
	for len(msgs) > 0 {
		if err := q.send(ctx, msgs[0], true, true); err != nil {
			q.flushBatch()
			return q.sendErr(err)
		}
		msgs = msgs[1+q.appendBatch(msgs[1:]):]
	}
	q.flushBatch()
	return nil
}

// appendBatch is SendBatch's fast path, after a send of the batch's first
// message checked the handle: it writes the leading messages of msgs that
// fit in the ring without waiting or wrapping and returns how many it
// wrote. A single producer writes them with plain stores and, unlike send,
// writes the end marker once, after the last of them; flushBatch publishes
// them all. Multiple producers go through mpscAppend.
func (q *Queue) appendBatch(msgs [][]byte) int {
	if q.multi {
		return q.mpscAppend(msgs)
	}
	if !q.p.batching {
		return 0
	}
	t := q.p.tail
	i := 0
	for ; i < len(msgs); i++ {
		m := msgs[i]
		off, rec, ok := q.room(t, len(m))
		if !ok {
			break
		}
		// Header first: fewer values live across the copy's call.
		binary.LittleEndian.PutUint64(q.ring[off:off+8], uint64(len(m))|q.p.data)
		mem.Copy(q.ring[off+recordHeader:], m)
		t += rec
	}
	if i > 0 {
		q.putHeader(t&q.mask, 0, 0)
		q.p.tail = t
	}
	return i
}

// BecomeProducer makes the handle the queue's producer now, as its first
// Send would: a producer that may have nothing to send calls it first, so
// that its Close still closes the queue and the consumer gets io.EOF
// instead of waiting for a message that never comes (the Close of a handle
// that never became the producer leaves the queue as it is). It fails with
// ErrBusy while another live process is the single producer (or, for a
// multi-producer queue, holds every slot); on a producer it does nothing.
func (q *Queue) BecomeProducer() (err error) {
	defer q.catch(debug.SetPanicOnFault(true), opSend, &err)
	if q.state != stateOpen {
		return wrapErr(opSend, q.name, q.stateErr())
	}
	return q.sendErr(q.claimProducer())
}

func (q *Queue) sendErr(err error) error {

	if err == ErrFull {
		return err
	}
	return wrapErr(opSend, q.name, q.truncated(err))
}

func (q *Queue) sendable(n int) error {
	switch {
	case q.state != stateOpen:
		return q.stateErr()
	case q.p.resv:
		return errPendingReserve
	case n > q.maxMsg:
		return fmt.Errorf("%w: %d bytes, the queue's maximum is %d", ErrTooLarge, n, q.maxMsg)
	}
	return q.claimProducer()
}

// room says where a record with an n-byte payload goes at the single
// producer's tail t when it fits there without waiting for the consumer
// (with the end marker after it) and without wrapping: its ring offset
// and size, and ok.
func (q *Queue) room(t uint64, n int) (off, rec uint64, ok bool) {
	off, rec = t&q.mask, recSize(n)
	return off, rec, n <= q.maxMsg && off+rec <= q.capacity && t+rec+recordHeader-q.p.head <= q.capacity
}

// send sends msg; with batch, a single producer defers the commit of the
// first message of a batch until flushBatch, and writes the later headers
// with plain stores, so that one release store publishes the whole batch.
func (q *Queue) send(ctx context.Context, msg []byte, block, batch bool) error {
	if err := q.sendable(len(msg)); err != nil {
		return err
	}
	if q.multi {
		off, err := q.mpscReserve(ctx, len(msg), block)
		if err != nil {
			return err
		}
		mem.Copy(q.ring[off+recordHeader:], msg)
		q.commitAt(off, len(msg))
		return nil
	}
	c, off, end, err := q.spscReserve(ctx, len(msg), block)
	if err != nil {
		return err
	}
	mem.Copy(q.ring[off+recordHeader:], msg)
	q.p.tail = end
	q.spscCommit(c, batch)
	return nil
}

// Reserve makes room for an n-byte message and returns it, to be written in
// place and then sent with Commit. The slice lives in the shared ring: it
// is valid until Commit (or Close, which abandons the message). Only one
// reservation per handle may be open.
func (q *Queue) Reserve(ctx context.Context, n int) ([]byte, error) {
	if ctx == nil {
		return nil, wrapErr(opSend, q.name, errNilContext)
	}
	if !q.unguarded {
		return q.reserveGuarded(ctx, n)
	}
	if r, ok := q.reserveFast(n); ok {
		if !q.watch.Hit() {
			return r, nil
		}
		return nil, q.hitErr(opSend)
	}
	r, err := q.reserve(ctx, n)
	if q.struck(opSend, &err) {
		return nil, err
	}
	return r, err
}

// reserveGuarded is Reserve under the fault guard (fault.go).
func (q *Queue) reserveGuarded(ctx context.Context, n int) (r []byte, err error) {
	old, finished := debug.SetPanicOnFault(true), false
	defer func() {
		debug.SetPanicOnFault(old)
		if !finished {
			q.caught(recover(), opSend, &err)
		}
	}()
	if r, ok := q.reserveFast(n); ok {
		finished = true
		return r, nil
	}
	r, err = q.reserve(ctx, n)
	finished = true
	return r, err
}

// reserveFast is Reserve's path for the common case, as sendOne's is
// Send's: a single producer's n-byte record that fits at the tail without
// waiting or wrapping. It writes the end marker after the record and notes
// the reservation as spscReserve and reserve do, or reports false, having
// done nothing, for anything else (reserve handles it).
func (q *Queue) reserveFast(n int) ([]byte, bool) {
	if n < 0 || q.state != stateOpen || q.multi || !q.p.active || q.p.resv || q.p.batching {
		return nil, false
	}
	t := q.p.tail
	off, rec, ok := q.room(t, n)
	if !ok {
		return nil, false
	}
	mem.PrefetchWrite(q.linesAhead(n, off, rec)) // the caller's stores come next
	end := t + rec
	q.putHeader(end&q.mask, 0, 0)
	q.p.resvCommit = hdrWrite{off, uint64(uint32(n)) | q.p.data}
	q.p.resv, q.p.resvPos, q.p.resvLen, q.p.resvEnd = true, off, n, end
	p := off + recordHeader
	return q.ring[p : p+uint64(n) : p+uint64(n)], true
}

// reserve is Reserve without the fault guard.
func (q *Queue) reserve(ctx context.Context, n int) (_ []byte, err error) {
	if n < 0 {
		return nil, q.sendErr(fmt.Errorf("%w: negative size %d", ErrTooLarge, n))
	}
	if err := q.sendable(n); err != nil {
		return nil, q.sendErr(err)
	}
	var off uint64
	if q.multi {
		off, err = q.mpscReserve(ctx, n, true)
	} else {
		q.p.resvCommit, off, q.p.resvEnd, err = q.spscReserve(ctx, n, true)
	}
	if err != nil {
		return nil, q.sendErr(err)
	}
	q.p.resv, q.p.resvPos, q.p.resvLen = true, off, n
	p := off + recordHeader
	return q.ring[p : p+uint64(n) : p+uint64(n)], nil
}

// Commit sends the message that the last Reserve made room for.
func (q *Queue) Commit() error {
	if !q.unguarded {
		return q.commitGuarded()
	}
	if q.state == stateOpen && q.p.resv && !q.multi {
		q.commitSPSC()
		if !q.watch.Hit() {
			return nil
		}
		return q.hitErr(opCommit)
	}
	err := q.commit()
	q.struck(opCommit, &err)
	return err
}

// commitGuarded is Commit under the fault guard (fault.go).
func (q *Queue) commitGuarded() (err error) {
	old, finished := debug.SetPanicOnFault(true), false
	defer func() {
		debug.SetPanicOnFault(old)
		if !finished {
			q.caught(recover(), opCommit, &err)
		}
	}()
	err = q.commit()
	finished = true
	return err
}

// commit is Commit without the fault guard.
func (q *Queue) commit() error {
	if q.state != stateOpen {
		return wrapErr(opCommit, q.name, q.stateErr())
	}
	if !q.p.resv {
		return wrapErr(opCommit, q.name, errors.New("no Reserve to commit"))
	}
	if q.multi {
		q.p.resv = false
		q.commitAt(q.p.resvPos, q.p.resvLen)
		return nil
	}
	q.commitSPSC()
	return nil
}

// commitSPSC commits a single producer's open reservation.
func (q *Queue) commitSPSC() {
	q.p.resv = false
	q.p.tail = q.p.resvEnd
	q.spscCommit(q.p.resvCommit, false)
}

// putHeader writes a record header with plain stores; the release store that
// publishes the record (a single producer's commit of an earlier header,
// or the tail store of a multi-producer reservation) orders them.
func (q *Queue) putHeader(off uint64, n uint32, st uint32) {
	binary.LittleEndian.PutUint64(q.ring[off:off+8], uint64(n)|uint64(st)<<32)
}

// hdrWrite is a header store that commits a single producer's record.
type hdrWrite struct {
	off uint64 // ring offset
	hdr uint64 // the header word
}

// spscReserve finds room for an n-byte record at the single producer's
// tail, waiting if block. It writes the end marker (a zero word) where the
// next record will go and, when the record would cross the ring's end, the
// record's header at offset 0 behind a wrap record. It returns the header
// store that commits the record (the wrap record's, when there is one), the
// record's ring offset and the tail after it.
//
// The single-producer ring always ends in a zero word: the consumer reads
// the word at its head, and a zero there means "nothing yet". A record is
// written behind that zero (payload, then the end marker after it) and
// becomes visible when its header replaces the zero, in one release store.
// So the consumer never reads the tail cursor, and a producer that dies
// mid-write leaves the zero in place.
func (q *Queue) spscReserve(ctx context.Context, n int, block bool) (c hdrWrite, off, end uint64, err error) {
	rec := recSize(n)
	t := q.p.tail
	off = t & q.mask
	need := rec
	if off+rec > q.capacity {
		need += q.capacity - off
	}
	// The end marker after the record needs a free word too.
	if t+need+recordHeader-q.p.head > q.capacity {
		if err := q.spscWaitSpace(ctx, t+need+recordHeader, block); err != nil {
			return c, 0, 0, err
		}
	}
	end = t + need
	q.putHeader(end&q.mask, 0, 0)
	c = hdrWrite{off, uint64(uint32(n)) | q.p.data}
	if need > rec {
		q.putHeader(0, uint32(n), recordState(kindData, q.p.slot, q.p.gen))
		c.hdr = uint64(uint32(q.capacity-off-recordHeader)) | uint64(recordState(kindWrap, q.p.slot, q.p.gen))<<32
		off = 0
	}
	return c, off, end, nil
}

// spscCommit stores a record's header: atomically, waking a sleeping
// consumer; or, in a batch, deferred (the first record) or plainly (the
// others, ordered by the deferred store in flushBatch).
func (q *Queue) spscCommit(c hdrWrite, batch bool) {
	if !batch {
		racehint.Release(q.race)
		q.publish(&q.words[c.off>>3], c.hdr)
		q.committed()
		return
	}
	if !q.p.batching {
		q.p.batching, q.p.batchFirst = true, c
		return
	}
	binary.LittleEndian.PutUint64(q.ring[c.off:c.off+8], c.hdr)
}

// flushBatch commits the records of a batch with the store of its first
// header.
func (q *Queue) flushBatch() {
	if q.p.batching {
		q.p.batching = false
		racehint.Release(q.race)
		q.publish(&q.words[q.p.batchFirst.off>>3], q.p.batchFirst.hdr)
		q.committed()
	}
}

// committed follows a commit: it wakes a sleeping consumer, and now and
// then publishes the single producer's tail, which only Stat, Probe and the
// space check of other tools read. The checks are inlined; what they find
// to do, rarely, is not.
func (q *Queue) committed() {
	if q.consWait.Load() != 0 || q.p.tail-q.p.pub >= q.tailEvery {
		q.afterCommit()
	}
}

func (q *Queue) afterCommit() {
	q.wakeConsumer()
	if q.p.tail-q.p.pub >= q.tailEvery {
		q.publishTail()
	}
}

// loadHead reads the consumer's published head and checks it against what
// this producer knows: it never moves back and never passes the tail. It
// notes whether the consumer was behind the tail, for linesAhead.
func (q *Queue) loadHead(tail uint64) (uint64, error) {
	h := q.head.Load()
	if h < q.p.head || h > tail || h%8 != 0 {
		return 0, fmt.Errorf("%w: head cursor at header offset %d is %d; it must be a multiple of 8 between %d and the tail %d", ErrCorrupt, offHead, h, q.p.head, tail)
	}
	q.p.head = h
	q.p.behind = h != tail
	racehint.Acquire(q.race)
	return h, nil
}

func (q *Queue) spscWaitSpace(ctx context.Context, target uint64, block bool) error {
	ready := func() (bool, error) {
		h, err := q.loadHead(q.p.tail)
		return err == nil && target-h <= q.capacity, err
	}
	// Whatever waits in the ring must be visible before we wait for the
	// consumer to drain it.
	q.flushBatch()
	q.publishTail()
	if ok, err := ready(); ok || err != nil {
		return err
	}
	if !block {
		return ErrFull
	}
	// Give the consumer's lazy publications a moment before asking for its
	// head: asked at once, a consumer slower than this producer publishes
	// after every message, freeing room for one record each time, and the
	// line that holds head and prodWait crosses between the CPUs several
	// times per message. Asked a few microseconds later, it frees what it
	// consumed meanwhile.
	if q.cfg.strategy != Block {
		// A look is a load of head; ready, which checks it, is asked only
		// when it moved.
		seen := q.p.head
		for range askDelay {
			if q.head.Load() == seen {
				continue
			}
			if ok, err := ready(); ok || err != nil {
				return err
			}
			seen = q.p.head
		}
	}
	q.prodWait.CompareAndSwap(prodIdle, prodWantHead)
	return q.await(ctx, q.prodWait, prodSleeping, ready, q.consumerDead, false, q.head, q.p.head)
}

// askDelay is how many times a single producer that found the ring full
// looks at the published head before it asks the consumer to publish: a
// few microseconds (none with the Block strategy, which sleeps at once).
const askDelay = 1024

// mpscReserve reserves an n-byte record under the reserve lock and writes
// its header as pending; the caller writes the payload and commits.
func (q *Queue) mpscReserve(ctx context.Context, n int, block bool) (uint64, error) {
	rec := recSize(n)
	for {
		if err := q.lockReserve(ctx, block); err != nil {
			return 0, err
		}
		t := q.tail.Load()
		h := q.head.Load()
		racehint.Acquire(q.race)
		if !q.cursorsAgree(t, h) {
			q.lock.Store(0)
			return 0, fmt.Errorf("%w: cursors tail %d (header offset %d) and head %d (header offset %d) are misaligned or more than capacity %d apart", ErrCorrupt, t, offTail, h, offHead, q.capacity)
		}
		off := t & q.mask
		need := rec
		if off+rec > q.capacity {
			need += q.capacity - off
		}
		if t+need-h <= q.capacity {
			if need > rec {
				q.putHeader(off, uint32(q.capacity-off-recordHeader), recordState(kindWrap, q.p.slot, q.p.gen))
				off = 0
			}
			q.putHeader(off, uint32(n), recordState(kindPending, q.p.slot, q.p.gen))
			// Release stores: the headers before tail, tail before the
			// unlock (see publish). Nothing here needs a later load ordered
			// after them but the wake-up check, which mem.Heavy covers.
			q.publish(q.tail, t+need)
			q.unlock()
			return off, nil
		}
		q.lock.Store(0)
		if !block {
			return 0, ErrFull
		}
		ready := func() (bool, error) { return q.head.Load() != h, nil }
		moved := false
		for i := 0; i < askDelay && q.cfg.strategy != Block && !moved; i++ {
			moved = q.head.Load() != h // as in spscWaitSpace: ask only after a while
		}
		if moved {
			continue
		}
		q.prodWait.CompareAndSwap(prodIdle, prodWantHead)
		if err := q.await(ctx, q.prodWait, prodSleeping, ready, q.consumerDead, false, q.head, h); err != nil {
			return 0, err
		}
	}
}

// cursorsAgree reports whether a multi-producer queue's shared tail and
// head obey the layout: 8-byte aligned, head not past tail, at most
// capacity apart.
func (q *Queue) cursorsAgree(t, h uint64) bool {
	return h <= t && t-h <= q.capacity && t%8 == 0 && h%8 == 0
}

// mpscRun bounds how many records mpscAppend reserves in one hold of the
// reserve lock, and so how long the other producers wait for it.
const mpscRun = 64

// mpscAppend is appendBatch for multiple producers. In one hold of the
// reserve lock it reserves the leading messages of msgs that fit without
// waiting or wrapping (at most mpscRun), writing their headers as pending
// and moving tail once; then it writes each payload and commits the records
// in order, so that a producer that dies among them leaves committed
// records followed by pending ones, which the consumer skips. One lock
// instead of one per message: the lock's CAS is a full barrier, which waits
// for every store before it, the previous message's included. It takes the
// lock only when it is free at once, and sends nothing when the cursors
// look wrong (send, which comes next, reports that).
func (q *Queue) mpscAppend(msgs [][]byte) int {
	if len(msgs) == 0 || q.lock.Load() != 0 || !q.lock.CompareAndSwap(0, lockValue(q.p.slot, q.p.gen)) {
		return 0
	}
	t := q.tail.Load()
	h := q.head.Load()
	racehint.Acquire(q.race)
	pending := recordState(kindPending, q.p.slot, q.p.gen)
	end, n := t, 0
	if q.cursorsAgree(t, h) {
		for ; n < len(msgs) && n < mpscRun && len(msgs[n]) <= q.maxMsg; n++ {
			off, rec := end&q.mask, recSize(len(msgs[n]))
			if off+rec > q.capacity || end+rec-h > q.capacity {
				break
			}
			q.putHeader(off, uint32(len(msgs[n])), pending)
			end += rec
		}
	}
	if n == 0 {
		q.unlock()
		return 0
	}
	q.publish(q.tail, end) // release stores, as in mpscReserve
	q.unlock()
	data := recordState(kindData, q.p.slot, q.p.gen)
	for _, m := range msgs[:n] {
		off := t & q.mask
		mem.Copy(q.ring[off+recordHeader:], m)
		q.setHeader(off, len(m), data)
		t += recSize(len(m))
	}
	q.wakeConsumer()
	return n
}

// commitAt marks the pending n-byte record at ring offset off committed and
// wakes a sleeping consumer.
func (q *Queue) commitAt(off uint64, n int) {
	q.setHeader(off, n, recordState(kindData, q.p.slot, q.p.gen))
	q.wakeConsumer()
}
