package queue

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime/debug"
	"sync/atomic"
	"time"

	"github.com/shmkit/shm/internal/mem"
	"github.com/shmkit/shm/internal/racehint"
	"github.com/shmkit/shm/internal/slip"
)

// errSkip tells next that the owner of a pending record is gone.
var errSkip = errors.New("pending record abandoned")

// Receive waits for the next message and returns it appended to buf[:0]
// (so a buf with enough capacity means no allocation). After the producer
// closed the queue and every committed message was received, it returns
// io.EOF (unwrapped); after the producer aborted the stream (Abort) and
// every message committed before was received, an error wrapping
// ErrAborted. It fails with ErrPeerDead when it waits on an empty
// queue whose producers all died, with ErrCorrupt when the ring breaks
// the layout's rules, and with shm.ErrFault when another process truncated
// the queue's object. It looks at ctx before it takes a message: once ctx
// is done, Receive returns ctx's error (wrapped) even when messages are
// waiting, so a consumer told to stop stops while a busy producer keeps
// the queue full. ReceiveBatch and Peek do the same; TryReceive, which has
// no context, does not.
func (q *Queue) Receive(ctx context.Context, buf []byte) ([]byte, error) {
	if ctx == nil {
		return buf[:0], wrapErr(opReceive, q.name, errNilContext)
	}
	if !q.unguarded {
		return q.receiveGuarded(ctx, buf)
	}
	// ctx.Err, not a select on ctx.Done: Err is nil exactly while Done is
	// open, and for the standard library's contexts it is one atomic load,
	// where the select costs about 4 ns more per message.
	if q.fastConsumer() && ctx.Err() == nil {
		// The message a glance finds is taken here too, without the calls
		// of receiveNext and glancedAt, whose cost a round trip pays.
		h := q.c.head
		off, n, rec, ok := q.dataAt(h)
		if !ok && q.glance() {
			if off, n, rec, ok = q.dataAt(h); !ok {
				off, n, rec, ok = q.glancedAt(h)
			}
		}
		if ok {
			r := mem.Append(buf[:0], q.ring[off:off+n])
			if q.took(rec) {
				q.publishHead()
			}
			if !q.watch.Hit() {
				return r, nil
			}
			return buf[:0], q.hitErr(opReceive)
		}
		// The glance saw nothing, or a record for next: the long way.
		r, err := q.receiveLong(ctx, buf, true)
		return q.receiveWatched(buf, r, err)
	}
	r, err := q.receive(ctx, buf)
	return q.receiveWatched(buf, r, err)
}

// receiveWatched ends the slow path of Receive and TryReceive into buf on
// an unguarded handle: a watched fault makes the error, and no message.
func (q *Queue) receiveWatched(buf, r []byte, err error) ([]byte, error) {
	if q.struck(opReceive, &err) {
		return buf[:0], err
	}
	return r, err
}

// receiveGuarded is Receive under the fault guard (fault.go).
func (q *Queue) receiveGuarded(ctx context.Context, buf []byte) (r []byte, err error) {
	old, finished := debug.SetPanicOnFault(true), false
	defer func() {
		debug.SetPanicOnFault(old)
		if !finished {
			q.caught(recover(), opReceive, &err)
		}
	}()
	r, err = q.receive(ctx, buf)
	finished = true
	return r, err
}

// receive is Receive without the fault guard.
func (q *Queue) receive(ctx context.Context, buf []byte) (_ []byte, err error) {
	if err := ctx.Err(); err != nil {
		return buf[:0], wrapErr(opReceive, q.name, err)
	}
	if q.fastConsumer() {
		if off, n, rec, ok := q.dataAt(q.c.head); ok {
			buf = mem.Append(buf[:0], q.ring[off:off+n])
			if q.took(rec) {
				q.publishHead()
			}
			return buf, nil
		}
	}
	return q.receiveNext(ctx, buf, true)
}

// receiveNext is Receive's and TryReceive's path when the fast one found
// no message (or does not apply): through next, waiting if block.
func (q *Queue) receiveNext(ctx context.Context, buf []byte, block bool) (_ []byte, err error) {
	if block && q.fastConsumer() && q.glance() {
		if off, n, rec, ok := q.glancedAt(q.c.head); ok {
			buf = mem.Append(buf[:0], q.ring[off:off+n])
			if q.took(rec) {
				q.publishHead()
			}
			return buf, nil
		}
	}
	return q.receiveLong(ctx, buf, block)
}

// receiveLong is receiveNext after the glance: through next (or, with
// competing consumers, competeReceive), waiting if block.
func (q *Queue) receiveLong(ctx context.Context, buf []byte, block bool) (_ []byte, err error) {
	if q.cslots != nil {
		buf, err = q.competeReceive(ctx, buf, block)
		return buf, q.recvErr(err)
	}
	off, n, adv, err := q.next(ctx, block)
	if err != nil {
		return buf[:0], q.recvErr(err)
	}
	buf = mem.Append(buf[:0], q.ring[off:off+uint64(n)])
	q.consume(adv)
	return buf, nil
}

// TryReceive is Receive without waiting: it returns ErrEmpty (unwrapped)
// when no message is ready.
func (q *Queue) TryReceive(buf []byte) ([]byte, error) {
	if !q.unguarded {
		return q.tryReceiveGuarded(buf)
	}
	if q.fastConsumer() {
		if off, n, rec, ok := q.dataAt(q.c.head); ok {
			r := mem.Append(buf[:0], q.ring[off:off+n])
			if q.took(rec) {
				q.publishHead()
			}
			if !q.watch.Hit() {
				return r, nil
			}
			return buf[:0], q.hitErr(opReceive)
		}
	}
	r, err := q.receiveNext(context.Background(), buf, false)
	return q.receiveWatched(buf, r, err)
}

// tryReceiveGuarded is TryReceive under the fault guard (fault.go).
func (q *Queue) tryReceiveGuarded(buf []byte) (r []byte, err error) {
	old, finished := debug.SetPanicOnFault(true), false
	defer func() {
		debug.SetPanicOnFault(old)
		if !finished {
			q.caught(recover(), opReceive, &err)
		}
	}()
	r, err = q.tryReceive(buf)
	finished = true
	return r, err
}

// tryReceive is TryReceive without the fault guard.
func (q *Queue) tryReceive(buf []byte) (_ []byte, err error) {
	if q.fastConsumer() {
		if off, n, rec, ok := q.dataAt(q.c.head); ok {
			buf = mem.Append(buf[:0], q.ring[off:off+n])
			if q.took(rec) {
				q.publishHead()
			}
			return buf, nil
		}
	}
	return q.receiveNext(context.Background(), buf, false)
}

// ReceiveBatch receives several messages in one call: it waits like
// Receive for the first, then takes the messages that are ready behind it
// without waiting, until msgs is full, and appends each to msgs[i][:0]
// (buffers with enough capacity mean no allocation). It returns how many it
// received; msgs[:n] hold them whatever the error, and an empty msgs
// returns 0 at once. The consumer publishes its progress once per batch
// instead of once per message.
//
// An error that ends a batch after its first message is held back for the
// next call, which returns it with n == 0: io.EOF (unwrapped) after the
// last message of a closed queue, the errors of Receive otherwise. A memory
// fault is the exception: it breaks the handle at once and is returned
// with the messages received before it where the SIGBUS handler watches
// the queue (see the package's caveats), and with n == 0 elsewhere.
func (q *Queue) ReceiveBatch(ctx context.Context, msgs [][]byte) (n int, err error) {
	if ctx == nil {
		return 0, wrapErr(opReceive, q.name, errNilContext)
	}
	if len(msgs) == 0 {
		return 0, nil
	}
	if q.unguarded {
		n, err = q.receiveBatch(ctx, msgs)
		q.struck(opReceive, &err)
		return n, err
	}
	old, finished := debug.SetPanicOnFault(true), false
	defer func() {
		debug.SetPanicOnFault(old)
		if !finished {
			q.caught(recover(), opReceive, &err)
		}
	}()
	n, err = q.receiveBatch(ctx, msgs)
	finished = true
	return n, err
}

// receiveBatch is ReceiveBatch without the fault guard.
func (q *Queue) receiveBatch(ctx context.Context, msgs [][]byte) (n int, err error) {
	if err := ctx.Err(); err != nil {
		return 0, wrapErr(opReceive, q.name, err)
	}
	if q.cslots != nil {
		return q.competeBatch(ctx, msgs)
	}
	for n < len(msgs) {
		if q.fastConsumer() {
			k := q.takeReady(msgs[n:])
			if k == 0 && n == 0 && q.glance() {
				k = q.takeReady(msgs)
			}
			n += k
			if n == len(msgs) || q.watch.Hit() {
				break
			}
		}
		// Only the batch's first message is waited for.
		off, size, adv, err := q.next(ctx, n == 0)
		if err != nil {
			if n > 0 {
				break
			}
			return 0, q.recvErr(err)
		}
		msgs[n] = mem.Append(msgs[n][:0], q.ring[off:off+uint64(size)])
		if q.watch.Hit() {
			break // msgs[n] may hold zeros (fault.go); n are whole
		}
		n++
		q.c.peeked = false
		// Caught up or not is asked once, after the batch.
		q.c.head += adv
		if q.publishDue() {
			q.publishHead()
		}
	}
	q.c.takes += uint64(n)
	q.move(0)
	return n, nil
}

// takeReady is ReceiveBatch's loop for a fast consumer (see dataAt): it
// takes the committed messages at head, one into each of msgs, until msgs
// is full or dataAt finds something else, and returns how many it took.
// Like ReceiveBatch it publishes head only when that is due whether or not
// the consumer caught up; the caller asks about catching up once, after
// the batch.
func (q *Queue) takeReady(msgs [][]byte) int {
	for i := range msgs {
		off, n, rec, ok := q.dataAt(q.c.head)
		if !ok {
			return i
		}
		if uint64(cap(msgs[i])) >= n {
			// Only the length changes: no slice pointer stored.
			msgs[i] = msgs[i][:n]
			mem.Copy(msgs[i], q.ring[off:off+n])
		} else {
			msgs[i] = mem.Append(msgs[i][:0], q.ring[off:off+n])
		}
		if q.watch.Hit() {
			return i // msgs[i] may hold zeros (fault.go); i are whole
		}
		q.c.head += rec
		if q.publishDue() {
			q.publishHead()
		}
	}
	return len(msgs)
}

// Peek waits for the next message like Receive and returns it in place, in
// the shared ring, without copying. The slice is valid until Release, which
// consumes the message; Peek again before Release returns the same message.
// Caveat: a misbehaving producer can write the ring while you read it.
func (q *Queue) Peek(ctx context.Context) ([]byte, error) {
	if ctx == nil {
		return nil, wrapErr(opReceive, q.name, errNilContext)
	}
	if !q.unguarded {
		return q.peekGuarded(ctx)
	}
	if q.fastConsumer() && ctx.Err() == nil {
		if off, n, rec, ok := q.dataAt(q.c.head); ok {
			if q.watch.Hit() {
				return nil, q.hitErr(opReceive)
			}
			q.c.peeked, q.c.peekOff, q.c.peekLen, q.c.peekN = true, off, int(n), rec
			return q.ring[off : off+n : off+n], nil
		}
		// The checks above hold: go straight to the wait.
		return q.peekWatched(q.peekNext(ctx))
	}
	return q.peekWatched(q.peek(ctx))
}

// peekWatched ends Peek's slow path on an unguarded handle: a watched
// fault makes the error, and no message.
func (q *Queue) peekWatched(r []byte, err error) ([]byte, error) {
	if q.struck(opReceive, &err) {
		return nil, err
	}
	return r, err
}

// peekGuarded is Peek under the fault guard (fault.go).
func (q *Queue) peekGuarded(ctx context.Context) (r []byte, err error) {
	old, finished := debug.SetPanicOnFault(true), false
	defer func() {
		debug.SetPanicOnFault(old)
		if !finished {
			q.caught(recover(), opReceive, &err)
		}
	}()
	r, err = q.peek(ctx)
	finished = true
	return r, err
}

// peek is Peek without the fault guard.
func (q *Queue) peek(ctx context.Context) (_ []byte, err error) {
	if err := ctx.Err(); err != nil {
		return nil, wrapErr(opReceive, q.name, err)
	}
	if q.fastConsumer() {
		if off, n, rec, ok := q.dataAt(q.c.head); ok {
			q.c.peeked, q.c.peekOff, q.c.peekLen, q.c.peekN = true, off, int(n), rec
			return q.ring[off : off+n : off+n], nil
		}
	}
	return q.peekNext(ctx)
}

// peekNext is Peek's path when the fast one found no message (or does not
// apply): through next, waiting.
func (q *Queue) peekNext(ctx context.Context) (_ []byte, err error) {
	if q.fastConsumer() && q.glance() {
		if off, n, rec, ok := q.glancedAt(q.c.head); ok {
			q.c.peeked, q.c.peekOff, q.c.peekLen, q.c.peekN = true, off, int(n), rec
			return q.ring[off : off+n : off+n], nil
		}
	}
	if q.cslots != nil {
		b, err := q.competePeek(ctx)
		return b, q.recvErr(err)
	}
	off, n, adv, err := q.next(ctx, true)
	if err != nil {
		return nil, q.recvErr(err)
	}
	q.c.peeked, q.c.peekOff, q.c.peekLen, q.c.peekN = true, off, n, adv
	return q.ring[off : off+uint64(n) : off+uint64(n)], nil
}

// Release consumes the message that Peek returned; the slice from Peek
// must not be used afterwards.
func (q *Queue) Release() error {
	if !q.unguarded {
		return q.releaseGuarded()
	}
	if q.state == stateOpen && q.c.peeked && q.cslots == nil {
		q.consume(q.c.peekN)
		if !q.watch.Hit() {
			return nil
		}
		return q.hitErr(opRelease)
	}
	err := q.release()
	q.struck(opRelease, &err)
	return err
}

// releaseGuarded is Release under the fault guard (fault.go).
func (q *Queue) releaseGuarded() (err error) {
	old, finished := debug.SetPanicOnFault(true), false
	defer func() {
		debug.SetPanicOnFault(old)
		if !finished {
			q.caught(recover(), opRelease, &err)
		}
	}()
	err = q.release()
	finished = true
	return err
}

// release is Release without the fault guard.
func (q *Queue) release() error {
	if q.state != stateOpen {
		return wrapErr(opRelease, q.name, q.stateErr())
	}
	if !q.c.peeked {
		return wrapErr(opRelease, q.name, errors.New("no Peek to release"))
	}
	if q.cslots != nil {
		return wrapErr(opRelease, q.name, q.competeRelease(context.Background(), true))
	}
	q.consume(q.c.peekN)
	return nil
}

// fastConsumer reports whether the handle is a single consumer of a
// single producer's queue with nothing peeked: then a committed message at
// head can be taken through dataAt, without next.
func (q *Queue) fastConsumer() bool {
	return q.state == stateOpen && q.c.active && !q.c.peeked && !q.multi && q.cslots == nil
}

// dataAt looks at the record at h, a fast consumer's head, and reports
// whether it is a committed message that next would return as it is: a
// data record of producer slot 0 whose length is at most the maximum
// message and which ends by the ring's end. It returns the payload's ring
// offset and length and the record's size. Anything else (an end marker,
// a wrap record, a corrupt header) is next's to handle, which reads the
// header again and checks it in full. The header is loaded once, and every
// field used is checked before use, as in next.
func (q *Queue) dataAt(h uint64) (off, n, rec uint64, ok bool) {
	o := h & q.mask
	hdr := q.words[o>>3].Load()
	n = uint64(uint32(hdr))
	rec = (n + recordHeader + 7) &^ 7
	// The state word's kind and slot bits: kindData, slot 0.
	ok = uint32(hdr>>(32+slotShift)) == kindData<<(kindShift-slotShift) && n <= uint64(q.maxMsg) && o+rec <= q.capacity
	if ok {
		racehint.Acquire(q.race)
	}
	return o + recordHeader, n, rec, ok
}

// glancedAt is dataAt for the record a glance found, which may also be a
// wrap record with the message behind it at the ring's start (near the
// end, glance watches that line too): then it returns that message's
// payload offset and length, and the ring bytes from h to its end. It
// takes a wrap record only where next would, and fewer of them: one of
// producer slot 0 (next does not look at a wrap record's slot), reaching
// the ring's end from an offset other than 0, and followed by a message
// that dataAt takes. Anything else is next's to handle.
func (q *Queue) glancedAt(h uint64) (off, n, rec uint64, ok bool) {
	if off, n, rec, ok = q.dataAt(h); ok {
		return off, n, rec, ok
	}
	o := h & q.mask
	hdr := q.words[o>>3].Load()
	rest := q.capacity - o
	if o == 0 || uint32(hdr>>(32+slotShift)) != kindWrap<<(kindShift-slotShift) || uint64(uint32(hdr)) != rest-recordHeader {
		return 0, 0, 0, false
	}
	off, n, rec, ok = q.dataAt(h + rest)
	return off, n, rest + rec, ok
}

// glanceLooks is how many times glance loads the header word: about 0.6
// µs on an AMD EPYC core, in which a producer that is sending a stream has
// its next message ready, and a peer that answers a small request at once
// has answered. lateLooks is how many a consumer that takes one message
// per glance, as a requester or a server does, loads after a late glance:
// one that found its message after half of glanceLooks, or none. That is
// about 2.5 µs there, in which a peer answers a request of a few KiB.
//
// A glance that ends too soon costs more than its own length: the long way
// lengthens the round trip, so that the peer's next glance is likelier to
// end too soon as well, and two peers can fall into taking the long way in
// turn (docs/BENCHMARKS-LOG.md). A consumer in mid-stream, which takes
// several messages per glance, keeps the short glance: when its producer
// stalls, it should go the long way soon.
const (
	glanceLooks = 1024
	lateLooks   = 4 * glanceLooks
)

// lateSpin is the least spin time that a handle which spins, then
// sleeps, needs for the longer glance: a glance should not outlast the
// spin it begins.
const lateSpin = 10 * time.Microsecond

// glance is the first part of a fast consumer's wait, for a handle that
// spins: it loads the header word at head up to q.glances times (up to
// q.lateGlances after a late one, see lateLooks) and reports whether it
// changed from the end marker. A message that comes meanwhile is then
// taken by glancedAt at once, without the long way through next, waitData
// and await, whose setup costs some hundred instructions and whose exit,
// after the word changed, about a hundred more. A header that is neither
// a message nor a wrap record with a message behind it (a skip record, a
// corrupt word) makes glancedAt fail, and next handles it. The long way,
// which comes after a glance that saw nothing, still does everything a
// wait does: it publishes head, serves a producer's request for it, sees
// a closed queue, checks the peer and the context.
//
// A glance begins a wait, and so it begins with the hold-back rule
// (holdBack, package internal/slip), unless what stopped the fast path
// was a wrap record, which is not a wait: a consumer that took two or more
// messages since its last wait is in mid-stream, right behind its
// producer, and holds back before it looks. Looking at once, it would
// poll the line that the producer is writing the next message into, take
// that message as soon as it is committed, and catch up again: a glance a
// message, each pulling lines from the producer as it writes them, which
// held 1 KiB streams at 24–58 ns a message on an AMD EPYC VM where
// holding back first gave 26–28 (a C ring: 13–16). A requester that finds
// each reply after one glance took one message since its last wait, and
// looks at once. The long way after a glance counts from the glance.
//
// Near the ring's end (wrapZone) the next record may be a wrap record,
// and the message behind it starts at the ring's first line, which the
// producer writes before it commits the wrap. A consumer that learned of
// the wrap first and then read that line would wait for two cache-line
// transfers, one after the other; so there a glance loads the ring's
// first word with every look, and the line comes over with the wrap
// record, and glancedAt takes the message behind it without going the
// long way through next. In 64 B round trips through 8 KiB rings, the one
// in 113 that wraps both rings took 200–210 ns at p50 instead of 291, and
// the p99.9 of all of them was 280–300 ns instead of 331–340. With 1 KiB
// messages, where the CPUs are far apart, the wrapping round trip's p50
// gained too but its p99 lost a fifth (docs/BENCHMARKS-LOG.md).
//
// Elsewhere, after a record of at most two lines, a glance loads the first
// word of the line after the header's with every look, for the same
// reason: a message of the same size usually reaches that line, which the
// producer writes before it commits the record in the header's line, and
// loaded while waiting it comes over with the header rather than after
// it. Round trips through 8 KiB and 4 MiB rings on an AMD EPYC VM
// (family 26) took 3-9% less time with 64 B messages (one run: 187-189
// ns instead of 206) and 4-7% less with 120 B ones. After larger records
// the glance loads the header's word alone: there the producer is still
// writing that line when the consumer takes it (and asks for it ahead,
// from 512 B), and loading it anyway cost 256 B round trips 2-9% and 1
// KiB ones up to 14%.
func (q *Queue) glance() bool {
	o := q.c.head & q.mask
	w := &q.words[o>>3]
	if slip.InStream(q.c.takes-q.c.waited) && q.capacity-o < recSize(q.maxMsg) && stateKind(uint32(w.Load()>>32)) == kindWrap {
		// A wrap record, with the message behind it: not a wait to hold
		// back in. (One that would not hold back finds it at its first look.)
		return true
	}
	looks := q.glanceLen()
	q.holdBack()
	// Two loops rather than one that loads w twice where there is no
	// other word to load: the second load was not free (64 B round trips
	// through 8 KiB rings took 10-30 ns longer at p90 and for the wrapping
	// one).
	if also := q.glanceAlso(o); also != nil {
		for i := range looks {
			also.Load()
			if w.Load() != 0 {
				q.c.late = i >= q.glances/2
				return true
			}
		}
	} else {
		for i := range looks {
			if w.Load() != 0 {
				q.c.late = i >= q.glances/2
				return true
			}
		}
	}
	q.c.late = true
	return false
}

// glanceAlso is the word that a glance at ring offset o loads with every
// look besides the header's (see glance), or nil: the ring's first word
// near its end, the first word of the next line after a record of at
// most two lines.
func (q *Queue) glanceAlso(o uint64) *atomic.Uint64 {
	if q.capacity-o < q.wrapZone {
		return &q.words[0]
	}
	if next := o&^(cacheLine-1) + cacheLine; q.c.lastRec <= 2*cacheLine && next < q.capacity {
		return &q.words[next>>3]
	}
	return nil
}

// wrapZoneMax bounds wrapZone: beyond it a wrap comes before a record of
// kilobytes, whose own lines outweigh the one line a glance could save.
// (A producer wraps when a record does not fit before the ring's end, so
// below wrapZone, the largest record, the next one may wrap.)
const wrapZoneMax = 4096

// glanceLen is how many looks the next glance takes: the longer glance
// after a late one, for a consumer that took one message or none since
// (see lateLooks).
func (q *Queue) glanceLen() int {
	if q.c.late && q.c.takes-q.c.waited < 2 {
		return q.lateGlances
	}
	return q.glances
}

// consume moves head past the message that next returned, which is no
// longer peeked.
func (q *Queue) consume(adv uint64) {
	q.c.peeked = false
	q.advance(adv)
}

func (q *Queue) recvErr(err error) error {
	if err == io.EOF || err == ErrEmpty {
		return err
	}
	return wrapErr(opReceive, q.name, q.truncated(err))
}

// advance consumes a message of n ring bytes, and counts it for the
// hold-back (holdBack).
func (q *Queue) advance(n uint64) {
	q.c.takes++
	q.c.lastRec = n
	q.move(n)
}

// took is advance for a fast consumer (fastConsumer: one producer), up to
// the publication, which it reports due (see move). The per-message paths
// inline it and call publishHead only then: a consumer that is the slower
// side of a stream goes at the pace of its instructions, and a call for
// the check alone cost 1 KiB streams about 5% on an AMD EPYC VM. Its
// cost is at the inliner's budget (go build -gcflags=-m=2 says so): a
// statement more needs one taken out.
func (q *Queue) took(n uint64) bool {
	q.c.takes++
	q.c.lastRec = n
	q.c.head += n
	h := q.c.head
	return q.publishDue() || !slip.InStream(q.c.takes-q.c.waited) || q.words[(h&q.mask)>>3].Load() == 0
}

// move consumes n ring bytes, which hold no message to count (a wrap or
// skip record, or a batch counted already), and publishes head when it
// caught up with the tail it saw, when a quarter of the ring went by, or
// when a producer waits for space. Publishing when caught up means that
// an idle consumer never holds back room.
//
// A consumer that is not in mid-stream (one message or none since its
// last wait, as a requester or a server takes them) publishes without
// asking: where a record ends on a line's end, the look at the next
// header waits for the line the producer wrote the end marker to, and
// the consumer's next store (its reply) waits behind that load. A store
// to its own line costs less: 56 B round trips through 8 KiB rings took
// 175 ns instead of 189 on an AMD EPYC VM. In mid-stream the look stays,
// so that head is stored once per quarter ring while messages keep coming.
func (q *Queue) move(n uint64) {
	q.c.head += n
	if q.publishDue() || !slip.InStream(q.c.takes-q.c.waited) || q.caughtUp() {
		q.publishHead()
	}
}

// publishDue reports whether head must be published whether or not the
// consumer caught up: a quarter of the ring went by, or a producer waits
// for space.
func (q *Queue) publishDue() bool {
	return q.c.head-q.c.pub >= q.c.every || q.prodWait.Load() != prodIdle
}

// caughtUp reports whether nothing more is known to wait at head: the tail
// last seen, or for a single producer the end marker.
func (q *Queue) caughtUp() bool {
	if q.multi {
		return q.c.head == q.c.tail
	}
	return q.words[(q.c.head&q.mask)>>3].Load() == 0
}

// refreshTail reads the producers' tail and checks it: never behind what
// was seen, never more than capacity ahead of head, 8-byte aligned.
func (q *Queue) refreshTail() error {
	t := q.tail.Load()
	if t < q.c.tail || t-q.c.head > q.capacity || t%8 != 0 {
		return fmt.Errorf("%w: tail cursor at header offset %d is %d; it must be a multiple of 8 from %d to head %d + capacity %d", ErrCorrupt, offTail, t, q.c.tail, q.c.head, q.capacity)
	}
	q.c.tail = t
	return nil
}

// next finds the next committed message at the consumer's head, passing
// wrap and skip records (and abandoned pending ones) on the way. It returns
// the payload's ring offset and length, and how many ring bytes from head
// to the message's end consuming it takes. Every field read from the ring
// is checked against the ring's bounds, the cursors and the maximum message
// size before it is used, and is read once. Between two waits it passes at
// most a ring's worth of wrap and skip records: more can only be records
// that a hostile writer arranged in a cycle, which would otherwise keep
// the consumer spinning for ever.
func (q *Queue) next(ctx context.Context, block bool) (off uint64, n int, adv uint64, err error) {
	if q.state != stateOpen {
		return 0, 0, 0, q.stateErr()
	}
	if q.c.peeked {
		return q.c.peekOff, q.c.peekLen, q.c.peekN, nil
	}
	if !q.c.active {
		hold := q.c.hold
		if err := q.claimConsumer(); err != nil {
			return 0, 0, 0, err
		}
		q.c.hold, q.c.released = hold, q.c.head
	}
	passed := uint64(0) // wrap and skip bytes passed since the last wait
	pass := func(h, n uint64) error {
		if passed += n; passed > q.capacity {
			return q.corruptRecord(h, "run of wrap and skip records", passed, fmt.Sprintf("at most the capacity %d before a message or an end marker", q.capacity))
		}
		q.move(n)
		return nil
	}
	for {
		h := q.c.head
		o := h & q.mask
		avail := q.capacity - o // a record never crosses the ring's end
		if q.multi {
			// Records below tail are reserved; their headers say whether
			// they are committed.
			if h == q.c.tail {
				if err := q.refreshTail(); err != nil {
					return 0, 0, 0, err
				}
				if h == q.c.tail {
					if err := q.waitData(ctx, block); err != nil {
						return 0, 0, 0, err
					}
					passed = 0
					continue
				}
			}
			avail = min(avail, q.c.tail-h)
		}
		hdr := q.words[o>>3].Load()
		if hdr == 0 && !q.multi {
			// A single producer's end marker: nothing yet (see spscReserve).
			if err := q.waitData(ctx, block); err != nil {
				return 0, 0, 0, err
			}
			passed = 0
			continue
		}
		length, st := uint64(uint32(hdr)), uint32(hdr>>32)
		switch kind := stateKind(st); kind {
		case kindWrap:
			rest := q.capacity - o
			if o == 0 {
				// Every record fits at the ring's start: no producer wraps there.
				return 0, 0, 0, q.corruptRecord(h, "wrap record at ring offset", o, "a record that fits before the ring's end")
			}
			if length != rest-recordHeader || rest > avail {
				return 0, 0, 0, q.corruptRecord(h, "wrap length", length, fmt.Sprintf("%d to the ring's end, %d bytes available", rest-recordHeader, avail))
			}
			if err := pass(h, rest); err != nil {
				return 0, 0, 0, err
			}
		case kindData, kindSkip, kindPending:
			if length > uint64(q.maxMsg) {
				return 0, 0, 0, q.corruptRecord(h, "length", length, fmt.Sprintf("at most the maximum message %d", q.maxMsg))
			}
			rec := recSize(int(length))
			if o+rec > q.capacity || rec > avail {
				return 0, 0, 0, q.corruptRecord(h, "length", length, fmt.Sprintf("a record within the ring's end and the %d bytes available", avail))
			}
			if stateSlot(st) >= len(q.producers) {
				return 0, 0, 0, q.corruptRecord(h, "producer slot", uint64(stateSlot(st)), fmt.Sprintf("less than %d", len(q.producers)))
			}
			switch kind {
			case kindData:
				racehint.Acquire(q.race)
				return o + recordHeader, int(length), h + rec - q.c.head, nil
			case kindSkip:
				if err := pass(h, rec); err != nil {
					return 0, 0, 0, err
				}
			case kindPending:
				var err error
				if !block {
					err = ErrEmpty
					if q.ownerGone(st) {
						err = errSkip
					}
				} else {
					err = q.waitCommit(ctx, o, st)
				}
				if err == errSkip {
					err = pass(h, rec)
				}
				if err != nil {
					return 0, 0, 0, err
				}
			}
		default:
			return 0, 0, 0, q.corruptRecord(h, "state", uint64(st), "a known record kind")
		}
	}
}

func (q *Queue) corruptRecord(pos uint64, field string, val uint64, want string) error {
	return fmt.Errorf("%w: record at position %d (ring offset %d, segment offset %d): %s %d, want %s", ErrCorrupt, pos, pos&q.mask, headerSize+pos&q.mask, field, val, want)
}

// waitData waits for a record at the consumer's head: the tail moving past
// it (multi-producer), or the end marker there replaced by a header. It returns
// nil when there may be data, io.EOF when the queue is closed and drained
// (ErrAborted when aborted), ErrEmpty when not blocking.
func (q *Queue) waitData(ctx context.Context, block bool) error {
	h := q.c.head
	w := &q.words[(h&q.mask)>>3]
	empty := func() bool {
		if q.multi {
			return q.tail.Load() == h
		}
		return w.Load() == 0
	}
	ready := func() (bool, error) {
		if q.prodWait.Load() != prodIdle {
			q.publishHead()
		}
		if !empty() {
			return true, nil
		}
		// Producers commit before they close: look again after closed.
		if c := q.closed.Load(); c != closedOpen && !q.cfg.follow && empty() {
			racehint.Acquire(q.race)
			return false, closedErr(c)
		}
		return false, nil
	}
	if ok, err := ready(); ok || err != nil {
		return err
	}
	if !block {
		return ErrEmpty
	}
	// Producers see all the room there is while we wait.
	q.publishHead()
	peer := q.producersDead
	if q.cfg.follow {
		peer = func() error { return nil }
	}
	// The word that a producer's commit changes: the header at head, or
	// the multi-producer tail (see empty).
	watch, idle := w, uint64(0)
	if q.multi {
		watch, idle = q.tail, h
	}
	q.holdBack()
	err := q.await(ctx, q.consWait, 1, ready, peer, false, watch, idle)
	q.stopWaiting()
	return err
}

// closedErr is what a consumer that drained the queue gets for the closed
// word c (not closedOpen): io.EOF after a Close, ErrAborted after an Abort.
func closedErr(c uint32) error {
	switch c {
	case closedEnd:
		return io.EOF
	case closedAborted:
		return ErrAborted
	}
	return fmt.Errorf("%w: header field closed at offset %d: %d, want %d, %d or %d", ErrCorrupt, offClosed, c, closedOpen, closedEnd, closedAborted)
}

// waitCommit waits for the pending record at ring offset o, whose state was
// st, to change. It returns errSkip when the record's producer is gone.
func (q *Queue) waitCommit(ctx context.Context, o uint64, st uint32) error {
	w := &q.words[o>>3]
	ready := func() (bool, error) {
		if q.prodWait.Load() != prodIdle {
			q.publishHead()
		}
		return uint32(w.Load()>>32) != st, nil
	}
	peer := func() error {
		if q.ownerGone(st) {
			return errSkip
		}
		return nil
	}
	q.publishHead()
	err := q.await(ctx, q.consWait, 1, ready, peer, true, nil, 0)
	q.stopWaiting()
	return err
}

// stopWaiting clears the consumer's sleep flag after a wait, if the wait
// set it and no producer cleared it since. Most waits end while spinning,
// without setting it, and then it is not written at all: it shares the
// producers' line, and a store to it on every message would pull that
// line away from the producer, whose every commit reads the flag, and
// stall this side, a locked instruction, until the line came over.
func (q *Queue) stopWaiting() {
	if q.consWait.Load() != 0 {
		q.consWait.Store(0)
	}
}
