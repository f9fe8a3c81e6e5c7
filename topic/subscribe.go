package topic

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"time"

	"github.com/shmkit/shm"
	"github.com/shmkit/shm/internal/live"
	"github.com/shmkit/shm/internal/mem"
	"github.com/shmkit/shm/internal/racehint"
	"github.com/shmkit/shm/internal/slip"
)

type subscriber struct {
	active  bool
	slot    int
	gen     uint32
	pos     uint64 // the next record to read
	seq     uint64 // the sequence of the next message
	peeked  bool
	peekOff uint64 // ring offset of the peeked payload
	peekLen int
	peekAdv uint64 // ring bytes from pos to the peeked record's end
	held    error  // a lag that ended a batch, for the next call
	waited  uint64 // seq when the last wait for data began (see waitData)
	// cutShort counts the hold-backs that a waiting publisher ended (see
	// holdBack), for tests.
	cutShort int
}

// Subscribe makes the handle a subscriber now: it takes an entry of the
// subscriber table and chooses where it starts: with the topic's first
// message while the ring still holds it (see the package doc, Joining),
// else at the next message published, or with up to History messages the
// ring still holds. Every
// message published after Subscribe returns reaches this subscriber (on a
// lossless topic; on an overwrite topic, or a *LaggedError counts it).
// The first Receive or Peek subscribes a handle that has not. It fails
// with ErrBusy when every entry is held by a live subscriber.
func (t *Topic) Subscribe() (err error) {
	defer t.catch(debug.SetPanicOnFault(true), opSubscribe, &err)
	if t.state != stateOpen {
		return wrapErr(opSubscribe, t.name, t.stateErr())
	}
	return wrapErr(opSubscribe, t.name, t.truncated(t.join(nil)))
}

// SubscribeFrom makes the handle a subscriber that starts with message
// number seq (see Sequence), when the ring still holds it, instead of
// where Subscribe starts: a subscriber that kept the number of the last
// message it handled picks up after it in a new handle or process. When
// the publisher has already written over message seq, the subscriber
// starts with the oldest message kept and SubscribeFrom returns an error
// wrapping a *LaggedError whose Missed says exactly how many messages
// from seq on are gone; the handle is a subscriber all the same. A seq
// past the next message to be published fails with an error wrapping
// shm.ErrInvalid, and the handle is not a subscriber. A handle that is
// already a subscriber fails with shm.ErrInvalid too.
func (t *Topic) SubscribeFrom(seq uint64) (err error) {
	defer t.catch(debug.SetPanicOnFault(true), opSubscribe, &err)
	if t.state != stateOpen {
		return wrapErr(opSubscribe, t.name, t.stateErr())
	}
	if t.s.active {
		return wrapErr(opSubscribe, t.name, fmt.Errorf("%w: the handle is already a subscriber, at message %d", shm.ErrInvalid, t.s.seq))
	}
	return wrapErr(opSubscribe, t.name, t.truncated(t.join(&seq)))
}

// Sequence returns the number of the next message this subscriber
// receives. Messages are numbered from 0 in the order they are published,
// for as long as the topic lives (a new publisher goes on from the last
// number); after a Receive that returned a message, that message is number
// Sequence()-1, and a message held by Peek is number Sequence(). With
// ID it names a message in every process. It is 0 for a handle that is
// not a subscriber.
func (t *Topic) Sequence() uint64 {
	if !t.s.active {
		return 0
	}
	return t.s.seq
}

// join takes a table entry: locks its role byte, sets it active at
// position 0 (which holds a lossless publisher back until the start is
// chosen), adds one to join gen, and only then reads oldest and tail to
// choose the start (see layout.go for why that order loses nothing). With
// from it starts at that message number when the ring holds it (see
// SubscribeFrom).
func (t *Topic) join(from *uint64) error {
	if t.s.active {
		return nil
	}
	slot := -1
	for i := range t.table {
		err := live.Hold(t.fd, t.table[i].role)
		if errors.Is(err, live.ErrHeld) {
			continue
		}
		if err != nil {
			return err
		}
		slot = i
		break
	}
	if slot < 0 {
		return fmt.Errorf("%w: all %d subscriber entries are held by live processes", ErrBusy, len(t.table))
	}
	e := t.table[slot]
	gen := (e.state.Load()>>1 + 1) & (1<<31 - 1)
	e.pos.Store(0)
	e.seq.Store(0)
	e.pid.Store(uint32(os.Getpid()))
	e.state.Store(gen<<1 | 1)
	t.joinGen.Add(1)
	// The publisher stores oldest with a release store and then loads join
	// gen: Heavy gives that pair its store-load order (see wait.go). When
	// membarrier is refused here, a pause gives the publisher's store
	// buffer time to drain instead: the fallback wait.go uses for sleeps.
	if mem.Heavy() != nil {
		time.Sleep(heavyFallback)
	}
	start, seq, missed, err := t.chooseStart(from)
	if err != nil {
		e.state.CompareAndSwap(gen<<1|1, gen<<1)
		live.Release(t.fd, e.role)
		return err
	}
	e.seq.Store(seq)
	t.publish(e.pos, start)
	t.s = subscriber{active: true, slot: slot, gen: gen, pos: start, seq: seq, waited: seq}
	t.wakePublisher() // it may wait for this entry's position
	if missed > 0 {
		return &LaggedError{Missed: missed}
	}
	return nil
}

// chooseStart reads oldest and tail and returns where a joiner starts, with
// the sequence of the message there: at position 0 while oldest is there
// (the topic's first message is kept), else at tail, or History messages
// before it when the ring holds them; with from, at message *from, or at oldest
// when the ring no longer holds it, with the number of messages missed
// from *from on. On an overwrite topic the publisher may pass the chosen
// record while it is chosen: then it tries again.
func (t *Topic) chooseStart(from *uint64) (start, seq, missed uint64, err error) {
	for range 1000 {
		oldest := t.oldest.Load()
		tail := t.tail.Load()
		if err := t.checkCursors(tail, oldest); err != nil {
			if t.overwrite && t.oldest.Load() != oldest {
				// An overwrite publisher that never waits went more than
				// the ring on between the two loads: look again.
				continue
			}
			return 0, 0, 0, err
		}
		tailSeq := t.words[(tail&t.mask)>>3].Load()
		start, seq, missed, err = tail, tailSeq, 0, nil
		switch {
		case from != nil && *from > tailSeq:
			return 0, 0, 0, fmt.Errorf("%w: message %d is not published yet: the next is %d", shm.ErrInvalid, *from, tailSeq)
		case from != nil && oldest < tail:
			start, seq, missed, err = t.walkTo(oldest, tail, tailSeq, func(oldestSeq uint64) uint64 {
				return *from - min(*from, oldestSeq)
			})
			if *from < seq {
				missed = seq - *from
			}
		case from != nil:
			if *from < tailSeq {
				missed = tailSeq - *from
			}
		case oldest == 0:
			// The topic's first message is still kept (the first record
			// is at position 0 and carries sequence 0): start with it.
			start, seq = 0, 0
		case t.history > 0 && oldest < tail:
			start, seq, _, err = t.walkTo(oldest, tail, tailSeq, func(oldestSeq uint64) uint64 {
				kept := tailSeq - oldestSeq
				return kept - min(kept, uint64(t.history))
			})
		}
		if t.overwrite && t.oldest.Load() != oldest && (err != nil || t.oldest.Load() > start) {
			continue // overtaken while choosing
		}
		return start, seq, missed, err
	}
	return 0, 0, 0, fmt.Errorf("%w: cursor oldest at header offset %d passed each of 1000 starts chosen behind it", ErrCorrupt, offOldest)
}

// walkTo walks from oldest towards tail past as many messages as skip
// says (given the oldest record's sequence) and returns the position and
// sequence there.
func (t *Topic) walkTo(oldest, tail, tailSeq uint64, skip func(oldestSeq uint64) uint64) (pos, seq, _ uint64, err error) {
	pos, seq = oldest, t.words[(oldest&t.mask)>>3].Load()
	if tailSeq < seq || tailSeq-seq > (tail-oldest)/recordHeader {
		return 0, 0, 0, t.corruptRecord(tail, "sequence", tailSeq, fmt.Sprintf("from %d (the oldest's) to %d more", seq, (tail-oldest)/recordHeader))
	}
	first, n := seq, skip(seq)
	for seq-first < n {
		next, nextSeq, _, err := t.recordAt(pos, seq)
		if err == errAtEnd || err == nil && next > tail {
			err = t.corruptRecord(pos, "kind", uint64(kindEnd), "a committed record below tail")
		}
		if err != nil {
			return 0, 0, 0, err
		}
		pos, seq = next, nextSeq
	}
	return pos, seq, 0, nil
}

// Receive waits for the next message and returns it appended to buf[:0]
// (so a buf with enough capacity means no allocation). After the
// publisher closed the topic and every message was received, it returns
// io.EOF (unwrapped); after its Abort, an error wrapping ErrAborted. On an overwrite topic it returns an error wrapping a
// *LaggedError when the publisher wrote over messages this subscriber had
// not read; the next call returns the oldest message still kept. It fails
// with ErrPeerDead when it waits on a topic whose publisher died without
// closing it, with ErrCorrupt when the ring breaks the layout's rules, and
// with shm.ErrFault when another process truncated the topic's object.
func (t *Topic) Receive(ctx context.Context, buf []byte) ([]byte, error) {
	if ctx == nil {
		return buf[:0], wrapErr(opReceive, t.name, errNilContext)
	}
	if !t.unguarded {
		return t.receiveGuarded(ctx, buf, true)
	}
	if off, n, adv, ok := t.dataAt(); ok && !t.overwrite {
		r := mem.Append(buf[:0], t.ring[off:off+n])
		t.consume(adv)
		if !t.watch.Hit() {
			return r, nil
		}
		return buf[:0], t.hitErr(opReceive)
	}
	return t.receiveWatched(ctx, buf, true)
}

// receiveGuarded is Receive (TryReceive without block) under the fault
// guard (fault.go).
func (t *Topic) receiveGuarded(ctx context.Context, buf []byte, block bool) (r []byte, err error) {
	old, finished := debug.SetPanicOnFault(true), false
	defer func() {
		debug.SetPanicOnFault(old)
		if !finished {
			t.caught(recover(), opReceive, &err)
		}
	}()
	r, err = t.receiveMsg(ctx, buf, block)
	finished = true
	return r, err
}

// receiveWatched is receiveMsg on an unguarded handle: a watched fault
// ends it with struck.
func (t *Topic) receiveWatched(ctx context.Context, buf []byte, block bool) ([]byte, error) {
	r, err := t.receiveMsg(ctx, buf, block)
	if t.struck(opReceive, &err) {
		return buf[:0], err
	}
	return r, err
}

// receiveMsg is Receive (TryReceive without block) without the fault
// guard.
func (t *Topic) receiveMsg(ctx context.Context, buf []byte, block bool) ([]byte, error) {
	buf, err := t.receive(ctx, buf, block)
	if err != nil {
		return buf, t.recvErr(err)
	}
	return buf, nil
}

// TryReceive is Receive without waiting: it returns ErrEmpty (unwrapped)
// when no message is ready.
func (t *Topic) TryReceive(buf []byte) ([]byte, error) {
	if !t.unguarded {
		return t.receiveGuarded(context.Background(), buf, false)
	}
	return t.receiveWatched(context.Background(), buf, false)
}

// ReceiveBatch receives several messages in one call: it waits like
// Receive for the first, then takes the messages that are ready behind it
// without waiting, until msgs is full, and appends each to msgs[i][:0]. It
// returns how many it received; msgs[:n] hold them whatever the error. An
// error that ends a batch after its first message (io.EOF, a lag, the
// errors of Receive) is held back for the next call, which returns it with
// n == 0.
func (t *Topic) ReceiveBatch(ctx context.Context, msgs [][]byte) (n int, err error) {
	if ctx == nil {
		return 0, wrapErr(opReceive, t.name, errNilContext)
	}
	if len(msgs) == 0 {
		return 0, nil
	}
	if t.unguarded {
		n, err = t.receiveBatch(ctx, msgs)
		t.struck(opReceive, &err)
		return n, err
	}
	old, finished := debug.SetPanicOnFault(true), false
	defer func() {
		debug.SetPanicOnFault(old)
		if !finished {
			t.caught(recover(), opReceive, &err)
		}
	}()
	n, err = t.receiveBatch(ctx, msgs)
	finished = true
	return n, err
}

// receiveBatch is ReceiveBatch without the fault guard.
func (t *Topic) receiveBatch(ctx context.Context, msgs [][]byte) (n int, err error) {
	// The messages dataAt finds ready are taken with one store of the
	// position (and of the sequence) for all of them, before anything
	// else is done and before the call returns.
	prev, moved := t.s.pos, false
	block := true
	for n < len(msgs) {
		if off, ln, adv, ok := t.dataAt(); ok && !t.overwrite {
			msgs[n] = mem.Append(msgs[n][:0], t.ring[off:off+ln])
			if t.watch.Hit() {
				break // msgs[n] may hold zeros (fault.go); n are whole
			}
			if !moved {
				prev, moved = t.s.pos, true
			}
			t.s.pos += adv
			t.s.seq++
			n++
			block = false
			continue
		}
		if moved {
			t.publishPosition(prev)
			moved = false
		}
		m, err := t.receive(ctx, msgs[n], block)
		if err != nil {
			if n > 0 {
				if errors.Is(err, ErrLagged) {
					t.s.held = err
				}
				break
			}
			return 0, t.recvErr(err)
		}
		if t.watch.Hit() {
			break // m may hold zeros (fault.go); n are whole
		}
		msgs[n] = m
		n++
		block = false
	}
	if moved {
		t.publishPosition(prev)
	}
	return n, nil
}

// Peek waits for the next message like Receive and returns it in place, in
// the shared ring, without copying. The slice is valid until Release,
// which consumes the message; Peek again before Release returns the same
// message. On an overwrite topic the publisher may write over the message
// while it is held: Release then returns a *LaggedError that counts it
// among the missed, and what was read from the slice must be thrown away.
func (t *Topic) Peek(ctx context.Context) (_ []byte, err error) {
	if ctx == nil {
		return nil, wrapErr(opReceive, t.name, errNilContext)
	}
	if t.unguarded {
		var b []byte
		b, err = t.peek(ctx)
		if t.struck(opReceive, &err) {
			return nil, err
		}
		return b, err
	}
	old, finished := debug.SetPanicOnFault(true), false
	defer func() {
		debug.SetPanicOnFault(old)
		if !finished {
			t.caught(recover(), opReceive, &err)
		}
	}()
	if off, n, adv, ok := t.dataAt(); ok {
		t.s.peeked, t.s.peekOff, t.s.peekLen, t.s.peekAdv = true, off, int(n), adv
		finished = true
		return t.ring[off : off+n : off+n], nil
	}
	b, err := t.peek(ctx)
	finished = true
	return b, err
}

// peek is Peek without the fault guard.
func (t *Topic) peek(ctx context.Context) ([]byte, error) {
	off, n, adv, ok := t.dataAt()
	if !ok {
		var err error
		var ln int
		if off, ln, adv, err = t.next(ctx, true); err != nil {
			return nil, t.recvErr(err)
		}
		n = uint64(ln)
	}
	t.s.peeked, t.s.peekOff, t.s.peekLen, t.s.peekAdv = true, off, int(n), adv
	return t.ring[off : off+n : off+n], nil
}

// Release consumes the message that Peek returned; the slice from Peek
// must not be used afterwards. On an overwrite topic it returns an error
// wrapping a *LaggedError when the message was written over while it was
// held (see Peek).
func (t *Topic) Release() (err error) {
	if t.unguarded {
		err = t.release()
		t.struck(opRelease, &err)
		return err
	}
	old, finished := debug.SetPanicOnFault(true), false
	defer func() {
		debug.SetPanicOnFault(old)
		if !finished {
			t.caught(recover(), opRelease, &err)
		}
	}()
	if t.state == stateOpen && t.s.peeked && !t.overwrite {
		t.consume(t.s.peekAdv)
		finished = true
		return nil
	}
	err = t.release()
	finished = true
	return err
}

// release is Release without the fault guard.
func (t *Topic) release() error {
	if t.state != stateOpen {
		return wrapErr(opRelease, t.name, t.stateErr())
	}
	if !t.s.peeked {
		return wrapErr(opRelease, t.name, errors.New("no Peek to release"))
	}
	t.s.peeked = false
	if t.overwrite && t.oldest.Load() > t.s.pos {
		return wrapErr(opRelease, t.name, t.lag())
	}
	t.consume(t.s.peekAdv)
	return nil
}

// receive copies the next message into buf. On an overwrite topic it
// copies with atomic loads and then checks that the record was not
// written over meanwhile (the seqlock of layout.go); a torn copy is thrown
// away and the lag reported.
func (t *Topic) receive(ctx context.Context, buf []byte, block bool) ([]byte, error) {
	off, ln, adv, ok := t.dataAt()
	n := int(ln)
	if !ok {
		var err error
		if off, n, adv, err = t.next(ctx, block); err != nil {
			return buf[:0], err
		}
	}
	if !t.overwrite {
		buf = mem.Append(buf[:0], t.ring[off:off+uint64(n)])
		t.consume(adv)
		return buf, nil
	}
	buf = t.copyWords(buf, off, n)
	if t.oldest.Load() > t.s.pos {
		t.s.peeked = false
		return buf[:0], t.lag()
	}
	t.consume(adv)
	return buf, nil
}

// copyWords appends the n bytes at ring offset off to buf[:0], reading
// 8-byte words with atomic loads, so that the check that follows orders
// after every one of them. The record's padding makes whole words safe to
// read.
func (t *Topic) copyWords(buf []byte, off uint64, n int) []byte {
	words := (n + 7) / 8
	if cap(buf) < words*8 {
		buf = make([]byte, 0, words*8)
	}
	buf = buf[:words*8]
	w := t.words[off>>3 : off>>3+uint64(words)]
	for i := range w {
		binary.LittleEndian.PutUint64(buf[i*8:], w[i].Load())
	}
	return buf[:n]
}

// consume moves past the message that next returned and publishes the
// position, waking a publisher that waits for room.
func (t *Topic) consume(adv uint64) {
	t.s.peeked = false
	prev := t.s.pos
	t.s.pos += adv
	t.s.seq++
	t.publishPosition(prev)
}

// publishPosition publishes the subscriber's sequence and position, which
// moved on from prev, and wakes the publisher when it waits for a target
// in between.
func (t *Topic) publishPosition(prev uint64) {
	e := &t.table[t.s.slot]
	t.publish(e.seq, t.s.seq)
	t.publish(e.pos, t.s.pos)
	if t.pubWait.Load() != 0 {
		// Only the step past the publisher's target wakes it.
		if w := t.want.Load(); prev < w && w <= t.s.pos {
			t.wakePublisher()
		}
	}
}

// closedErr is the end of the stream that the closed word c says.
func closedErr(c uint32) error {
	switch c {
	case closedEnd:
		return io.EOF
	case closedAborted:
		return ErrAborted
	}
	return fmt.Errorf("%w: header field closed at offset %d: %d, want %d, %d or %d", ErrCorrupt, offClosed, c, closedOpen, closedEnd, closedAborted)
}

func (t *Topic) recvErr(err error) error {
	if err == nil || err == io.EOF || err == ErrEmpty {
		return err
	}
	return wrapErr(opReceive, t.name, t.truncated(err))
}

// dataAt looks at the record at the subscriber's position and reports
// whether it is a committed message that next would return as it is: a
// data record with the expected sequence, whose length is at most the
// maximum message and which ends by the ring's end. It returns the
// payload's ring offset and length and the record's size. Anything else
// (a handle that is not a plain subscriber now, an end marker, a wrap
// record, a header that breaks the rules) is next's to handle, which
// reads the header again and checks it in full. The second word is loaded
// first, as in next, and every field used is checked before use.
func (t *Topic) dataAt() (off, n, rec uint64, ok bool) {
	if t.state != stateOpen || !t.s.active || t.s.peeked || t.s.held != nil {
		return 0, 0, 0, false
	}
	o := t.s.pos & t.mask
	w := t.words[o>>3+1].Load()
	n = uint64(uint32(w))
	rec = (n + recordHeader + 15) &^ 15
	ok = uint32(w>>32) == kindData && n <= uint64(t.maxMsg) && o+rec <= t.capacity && t.words[o>>3].Load() == t.s.seq
	if ok {
		racehint.Acquire(t.race)
	}
	return o + recordHeader, n, rec, ok
}

// next finds the next message at the subscriber's position, passing wrap
// records on the way. It returns the payload's ring offset and length, and
// how many ring bytes from the position to the record's end consuming it
// takes. Every field read from the ring is checked against the ring's
// bounds, the expected sequence and the maximum message size before it is
// used, and is read once. On an overwrite topic a field that fails its
// check while oldest has passed the position is a lap, not damage.
func (t *Topic) next(ctx context.Context, block bool) (off uint64, n int, adv uint64, err error) {
	if t.state != stateOpen {
		return 0, 0, 0, t.stateErr()
	}
	if t.s.peeked {
		return t.s.peekOff, t.s.peekLen, t.s.peekAdv, nil
	}
	if err := t.s.held; err != nil {
		t.s.held = nil
		return 0, 0, 0, err
	}
	if !t.s.active {
		if err := t.join(nil); err != nil {
			return 0, 0, 0, err
		}
	}
	for {
		c := t.s.pos
		o := c & t.mask
		w := t.words[o>>3+1].Load()
		length, kind := uint64(uint32(w)), uint32(w>>32)
		if kind == kindEnd {
			if t.overwrite && t.oldest.Load() > c {
				return 0, 0, 0, t.lag()
			}
			// The end marker carries the next message's sequence: zeros
			// where a marker should be are damage (or a truncation inside
			// the page), not an empty topic.
			if s := t.words[o>>3].Load(); s != t.s.seq {
				// On an overwrite topic the publisher may have gone
				// round since oldest was read: read it again.
				if t.overwrite && t.oldest.Load() > c {
					return 0, 0, 0, t.lag()
				}
				return 0, 0, 0, t.corruptRecord(c, "end marker's sequence", s, fmt.Sprint(t.s.seq))
			}
			if err := t.waitData(ctx, block); err != nil {
				return 0, 0, 0, err
			}
			continue
		}
		seq := t.words[o>>3].Load()
		bad := func(field string, val uint64, want string) error {
			if t.overwrite && t.oldest.Load() > c {
				return t.lag()
			}
			return t.corruptRecord(c, field, val, want)
		}
		if seq != t.s.seq {
			return 0, 0, 0, bad("sequence", seq, fmt.Sprint(t.s.seq))
		}
		switch kind {
		case kindWrap:
			// A wrap record at offset 0 would cover the whole ring: the
			// publisher never writes one, and passing it would go round
			// for ever.
			if o == 0 || length != t.capacity-o-recordHeader {
				return 0, 0, 0, bad("wrap length", length, fmt.Sprintf("%d to the ring's end, not at offset 0", t.capacity-o-recordHeader))
			}
			if t.overwrite && t.oldest.Load() > c {
				return 0, 0, 0, t.lag()
			}
			t.s.pos += t.capacity - o
		case kindData:
			rec := recSize(int(min(length, 1<<32)))
			if length > uint64(t.maxMsg) || o+rec > t.capacity {
				return 0, 0, 0, bad("length", length, fmt.Sprintf("at most the maximum message %d, within the ring", t.maxMsg))
			}
			racehint.Acquire(t.race)
			return o + recordHeader, int(length), rec, nil
		default:
			return 0, 0, 0, bad("kind", uint64(kind), "a known record kind")
		}
	}
}

// lag moves an overwrite subscriber that oldest has passed to oldest, and
// returns the *LaggedError that counts the messages it skipped: the
// difference between the sequence there and the one it expected. The
// record at oldest is read and then oldest again: if it moved, the record
// may be gone too, and it starts over.
func (t *Topic) lag() error {
	c := t.s.pos
	for range 1 << 16 {
		oldest := t.oldest.Load()
		if oldest <= c {
			return fmt.Errorf("%w: cursor oldest at header offset %d moved back from after position %d to %d", ErrCorrupt, offOldest, c, oldest)
		}
		tail := t.tail.Load()
		if err := t.checkCursors(tail, oldest); err != nil {
			if t.oldest.Load() != oldest {
				// The publisher, which never waits here, went more than
				// the ring on between the two loads: look again.
				continue
			}
			return err
		}
		o := oldest & t.mask
		seq := t.words[o>>3].Load()
		kind := uint32(t.words[o>>3+1].Load() >> 32)
		if t.oldest.Load() != oldest {
			continue
		}
		if kind != kindEnd && kind != kindData && kind != kindWrap {
			return t.corruptRecord(oldest, "kind", uint64(kind), "a known record kind")
		}
		if seq < t.s.seq || seq-t.s.seq > (oldest-c)/recordHeader {
			return t.corruptRecord(oldest, "sequence", seq, fmt.Sprintf("from %d to %d more (the records between)", t.s.seq, (oldest-c)/recordHeader))
		}
		missed := seq - t.s.seq
		t.s.pos, t.s.seq, t.s.peeked = oldest, seq, false
		e := &t.table[t.s.slot]
		t.publish(e.seq, seq)
		t.publish(e.pos, oldest)
		return &LaggedError{Missed: missed}
	}
	return fmt.Errorf("%w: cursor oldest at header offset %d moved on every one of %d looks at the record there", ErrCorrupt, offOldest, 1<<16)
}

// waitData waits for a record at the subscriber's position. It returns
// nil when there may be one (or an overwrite subscriber was passed),
// io.EOF when the topic is closed and everything was received (ErrAborted
// when it was aborted), ErrEmpty when not blocking.
func (t *Topic) waitData(ctx context.Context, block bool) error {
	c := t.s.pos
	w := &t.words[(c&t.mask)>>3+1]
	empty := func() bool { return uint32(w.Load()>>32) == kindEnd }
	ready := func() (bool, error) {
		if !empty() || t.overwrite && t.oldest.Load() > c {
			return true, nil
		}
		// The publisher commits before it closes: look again after closed.
		if c := t.closed.Load(); c != closedOpen && empty() {
			racehint.Acquire(t.race)
			return false, closedErr(c)
		}
		return false, nil
	}
	// Spinning, it looks at the record only: closed shares the
	// publisher's line, which every publish writes, and reading it each
	// time the subscriber catches up, or on every spin, would pull that
	// line away from the publisher each time. ready, which looks at
	// closed too, runs every 64th spin and before every sleep.
	spin := func() bool { return !empty() || t.overwrite && t.oldest.Load() > c }
	if spin() {
		return nil
	}
	if !block || t.cfg.spin <= 0 {
		if ok, err := ready(); ok || err != nil {
			return err
		}
		if !block {
			return ErrEmpty
		}
	}
	// A subscriber that caught up with the publisher in mid-stream holds
	// back before it looks (package internal/slip).
	t.holdBack(slip.For(t.s.seq-t.s.waited, t.cfg.spin))
	t.s.waited = t.s.seq
	return t.await(ctx, t.subWait, ready, spin, t.publisherDead, nil)
}

// holdBack holds back for d (slip.Wait), and stops early when a lossless
// publisher waits for this subscriber to move on (the position it waits
// for, want, is past the subscriber's): in a small ring the publisher
// fills the ring before the hold-back is out. want shares a read-mostly
// line, which the publisher writes only when it waits. A want past the
// subscriber's position, even one left from an earlier wait, is never a
// false alarm: the publisher stores want only after it flushed everything
// it published, and never past its tail, so there is a record at the
// subscriber's position to read.
func (t *Topic) holdBack(d time.Duration) {
	if slip.Wait(d, func() bool { return t.want.Load() > t.s.pos }) {
		t.s.cutShort++
	}
}

// publisherDead reports ErrPeerDead when a publisher held the role and
// died without giving it up: the role byte is no longer locked.
func (t *Topic) publisherDead() error {
	if t.p.active || t.pubState.Load() == 0 {
		return nil
	}
	held, err := live.Held(t.fd, offPubRole)
	if err != nil || held {
		return nil
	}
	if t.pubState.Load() == 0 { // it gave the role up meanwhile
		return nil
	}
	return fmt.Errorf("%w: publisher pid %d", ErrPeerDead, t.pubPID.Load())
}
