package topic

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"runtime/debug"
	"time"

	"github.com/shmkit/shm/internal/live"
	"github.com/shmkit/shm/internal/mem"
	"github.com/shmkit/shm/internal/racehint"
)

// noLimit is the publisher's minimum position when no subscriber is active.
const noLimit = ^uint64(0)

var errPendingReserve = errors.New("a Reserve is waiting for its Commit")

type publisher struct {
	active    bool
	tail      uint64     // where the end marker is
	seq       uint64     // the next message's sequence
	oldest    uint64     // the first intact record, as last stored
	oldestSeq uint64     // its sequence
	minPos    uint64     // the lowest active subscriber position last seen
	joinGen   uint32     // join gen when the table was last looked at
	since     time.Time  // when this handle became the publisher
	marks     boundaries // where its records begin (lossless topics)

	resv    bool   // a Reserve awaits its Commit
	resvLen int    // its payload size
	pending commit // the store that commits it (or the batch's first record)
	defer1  bool   // a batch holds back pending
}

// commit is the store that commits a record: its second word.
type commit struct {
	off  uint64 // ring offset of the record (or of the wrap record before it)
	word uint64
	pos  uint64 // its position
}

// Publish copies msg into the topic as one message. On a lossless topic it
// waits, until ctx is done, while the slowest live subscriber holds back
// the room it needs, or while the topic's first message is kept for the
// start grace (see StartGrace); on an overwrite topic it never waits. A message of 0
// bytes is fine; one longer than MaxMessage fails with ErrTooLarge at once.
func (t *Topic) Publish(ctx context.Context, msg []byte) error {
	if ctx == nil {
		return wrapErr(opPublish, t.name, errNilContext)
	}
	if !t.unguarded {
		return t.publishGuarded(ctx, msg, true)
	}
	return t.publishMsg(ctx, msg, true)
}

// publishGuarded is Publish (TryPublish without block) under the fault
// guard (fault.go).
func (t *Topic) publishGuarded(ctx context.Context, msg []byte, block bool) (err error) {
	old, finished := debug.SetPanicOnFault(true), false
	defer func() {
		debug.SetPanicOnFault(old)
		if !finished {
			t.caught(recover(), opPublish, &err)
		}
	}()
	err = t.publishMsg(ctx, msg, block)
	finished = true
	return err
}

// publishMsg is Publish (TryPublish without block) without the fault
// guard. It publishes msg itself when nothing stands in its way (see
// placeFast), writing what prepare and flush would, in the same order:
// oldest first, then the end marker, the sequence and the payload, the
// commit with a release store, tail, and a wake-up only when a subscriber
// sleeps. Publish and TryPublish call it from a frame with no deferred
// call, and its slow path is a call in tail position: stores behind the
// ring's wait in the store buffer, spilled registers and return addresses
// included (see package queue's sendOne).
func (t *Topic) publishMsg(ctx context.Context, msg []byte, block bool) error {
	// No batch record is held back here: every call that holds one back
	// flushes it before it returns.
	o, ok := t.placeFast(len(msg))
	if !ok {
		return t.publishSlow(ctx, msg, block)
	}
	mem.Copy(t.ring[o+recordHeader:], msg)
	racehint.Release(t.race)
	t.publish(&t.words[(o+8)>>3], lenKind(uint32(len(msg)), kindData))
	t.publish(t.tail, t.p.tail)
	t.wakeSubscribers()
	if t.watch.Hit() {
		return t.hitErr(opPublish)
	}
	return nil
}

// publishSlow is publishMsg's path when placeFast declined. A watched
// fault ends it with struck.
func (t *Topic) publishSlow(ctx context.Context, msg []byte, block bool) (err error) {
	if err = t.publishOne(ctx, msg, block); err != nil {
		err = t.pubErr(err)
	}
	t.struck(opPublish, &err)
	return err
}

// BecomePublisher makes the handle the topic's publisher now, as its first
// Publish would: a publisher that may have nothing to publish calls it
// first, so that its Close still closes the topic and every subscriber gets
// io.EOF instead of waiting for a message that never comes (the Close of a
// handle that never became the publisher leaves the topic as it is). It
// fails with ErrBusy while another live process publishes; on the
// publisher it does nothing.
func (t *Topic) BecomePublisher() (err error) {
	if !t.cfg.noGuard {
		defer t.catch(debug.SetPanicOnFault(true), opPublish, &err)
	}
	if t.state != stateOpen {
		return wrapErr(opPublish, t.name, t.stateErr())
	}
	if err := t.claimPublisher(); err != nil {
		return t.pubErr(err)
	}
	return nil
}

// TryPublish is Publish without waiting: on a lossless topic whose slowest
// subscriber holds back the room it needs, or whose first message the
// publisher still keeps for its start grace (see StartGrace), it returns
// ErrFull (unwrapped).
func (t *Topic) TryPublish(msg []byte) error {
	if !t.unguarded {
		return t.publishGuarded(context.Background(), msg, false)
	}
	return t.publishMsg(context.Background(), msg, false)
}

// PublishBatch publishes msgs in order as separate messages and makes them
// visible together: one release store commits the batch, one store of the
// tail and at most one wake-up follow it. On an error, the messages before
// the failing one were published.
func (t *Topic) PublishBatch(ctx context.Context, msgs [][]byte) (err error) {
	if ctx == nil {
		return wrapErr(opPublish, t.name, errNilContext)
	}
	if t.unguarded {
		err = t.publishBatch(ctx, msgs)
		t.struck(opPublish, &err)
		return err
	}
	old, finished := debug.SetPanicOnFault(true), false
	defer func() {
		debug.SetPanicOnFault(old)
		if !finished {
			t.caught(recover(), opPublish, &err)
		}
	}()
	err = t.publishBatch(ctx, msgs)
	finished = true
	return err
}

// publishBatch is PublishBatch without the fault guard.
func (t *Topic) publishBatch(ctx context.Context, msgs [][]byte) error {
	for _, m := range msgs {
		var c commit
		if o, ok := t.placeFast(len(m)); ok {
			mem.Copy(t.ring[o+recordHeader:], m)
			c = commit{off: o, word: lenKind(uint32(len(m)), kindData), pos: t.p.tail - recSize(len(m))}
		} else {
			if err := t.publishable(len(m)); err != nil {
				t.flush()
				return t.pubErr(err)
			}
			var off uint64
			var err error
			if c, off, err = t.prepare(ctx, len(m), true); err != nil {
				t.flush()
				return t.pubErr(err)
			}
			mem.Copy(t.ring[off:], m)
		}
		if !t.p.defer1 {
			// The batch's first record (or the first after a flush in
			// the middle): its commit goes last.
			t.p.pending, t.p.defer1 = c, true
		} else {
			binary.LittleEndian.PutUint64(t.ring[c.off+8:], c.word)
		}
	}
	t.flush()
	return nil
}

// Reserve makes room for an n-byte message and returns it, to be written
// in place and then published with Commit. The slice lives in the shared
// ring: it is valid until Commit (or Close, which abandons the message).
// Only one reservation per handle may be open.
func (t *Topic) Reserve(ctx context.Context, n int) (_ []byte, err error) {
	if ctx == nil {
		return nil, wrapErr(opPublish, t.name, errNilContext)
	}
	if t.unguarded {
		var b []byte
		b, err = t.reserve(ctx, n)
		if t.struck(opPublish, &err) {
			return nil, err
		}
		return b, err
	}
	old, finished := debug.SetPanicOnFault(true), false
	defer func() {
		debug.SetPanicOnFault(old)
		if !finished {
			t.caught(recover(), opPublish, &err)
		}
	}()
	if o, ok := t.placeFast(n); ok {
		t.p.resv, t.p.resvLen = true, n
		t.p.pending = commit{off: o, word: lenKind(uint32(n), kindData), pos: t.p.tail - recSize(n)}
		finished = true
		return t.ring[o+recordHeader : o+recordHeader+uint64(n) : o+recordHeader+uint64(n)], nil
	}
	b, err := t.reserve(ctx, n)
	finished = true
	return b, err
}

// reserve is Reserve without the fault guard.
func (t *Topic) reserve(ctx context.Context, n int) ([]byte, error) {
	if n < 0 {
		return nil, t.pubErr(fmt.Errorf("%w: negative size %d", ErrTooLarge, n))
	}
	if err := t.publishable(n); err != nil {
		return nil, t.pubErr(err)
	}
	c, off, err := t.prepare(ctx, n, true)
	if err != nil {
		return nil, t.pubErr(err)
	}
	t.p.resv, t.p.resvLen, t.p.pending = true, n, c
	return t.ring[off : off+uint64(n) : off+uint64(n)], nil
}

// Commit publishes the message that the last Reserve made room for.
func (t *Topic) Commit() (err error) {
	if t.unguarded {
		err = t.commitReserved()
		t.struck(opCommit, &err)
		return err
	}
	old, finished := debug.SetPanicOnFault(true), false
	defer func() {
		debug.SetPanicOnFault(old)
		if !finished {
			t.caught(recover(), opCommit, &err)
		}
	}()
	if t.state == stateOpen && t.p.resv {
		t.p.resv, t.p.defer1 = false, true
		t.flush()
		finished = true
		return nil
	}
	err = t.commitReserved()
	finished = true
	return err
}

// commitReserved is Commit without the fault guard.
func (t *Topic) commitReserved() error {
	if t.state != stateOpen {
		return wrapErr(opCommit, t.name, t.stateErr())
	}
	if !t.p.resv {
		return wrapErr(opCommit, t.name, errors.New("no Reserve to commit"))
	}
	t.p.resv, t.p.defer1 = false, true
	t.flush()
	return nil
}

func (t *Topic) pubErr(err error) error {
	if err == ErrFull {
		return err
	}
	return wrapErr(opPublish, t.name, t.truncated(err))
}

// publishable checks that the handle may publish an n-byte message now,
// and makes it the publisher if it is not yet.
func (t *Topic) publishable(n int) error {
	if t.state == stateOpen && t.p.active && !t.p.resv && n <= t.maxMsg {
		return nil
	}
	switch {
	case t.state != stateOpen:
		return t.stateErr()
	case t.p.resv:
		return errPendingReserve
	case n > t.maxMsg:
		return fmt.Errorf("%w: %d bytes, the topic's maximum is %d", ErrTooLarge, n, t.maxMsg)
	}
	return t.claimPublisher()
}

func (t *Topic) publishOne(ctx context.Context, msg []byte, block bool) error {
	if err := t.publishable(len(msg)); err != nil {
		return err
	}
	c, off, err := t.prepare(ctx, len(msg), block)
	if err != nil {
		return err
	}
	mem.Copy(t.ring[off:], msg)
	t.p.pending, t.p.defer1 = c, true
	t.flush()
	return nil
}

// placeFast is prepare's common case, and reports whether it was: the
// handle is the publisher with no reservation open, an n-byte message is
// within the maximum, its record fits before the ring's end (no wrap
// record), and the room it needs is free or passOldest frees it (and
// does not take the record a batch holds back).
// It writes the end marker after the record and the record's sequence,
// moves the local tail and sequence on, and returns the record's ring
// offset; the payload and the commit are the caller's.
func (t *Topic) placeFast(n int) (uint64, bool) {
	if t.state != stateOpen || !t.p.active || t.p.resv || n < 0 || n > t.maxMsg {
		return 0, false
	}
	tail := t.p.tail
	o := tail & t.mask
	rec := recSize(n)
	end := tail + rec
	if o+rec > t.capacity {
		return 0, false
	}
	if need := end + recordHeader; need > t.capacity && need-t.capacity > t.p.oldest {
		if t.p.defer1 && need-t.capacity > t.p.pending.pos || !t.passOldest(need-t.capacity) {
			return 0, false
		}
	}
	le := binary.LittleEndian
	seq := t.p.seq
	eo := end & t.mask
	le.PutUint64(t.ring[eo:], seq+1) // the new end marker
	le.PutUint64(t.ring[eo+8:], 0)
	le.PutUint64(t.ring[o:], seq)
	t.p.marks.note(tail, seq)
	t.p.tail = end
	t.p.seq++
	return o, true
}

// flush commits the held-back record, if any, with a release store (all
// the plain stores before it, later records of a batch included, are
// visible first), publishes tail and wakes the sleeping subscribers.
func (t *Topic) flush() {
	if !t.p.defer1 {
		return
	}
	t.p.defer1 = false
	racehint.Release(t.race)
	t.publish(&t.words[(t.p.pending.off+8)>>3], t.p.pending.word)
	t.publish(t.tail, t.p.tail)
	t.wakeSubscribers()
}

// prepare makes room for a record with an n-byte payload at the
// publisher's tail, waiting if block (lossless topics only), and writes
// everything of it but the payload and the commit: the end marker after
// it, and the headers that the commit does not store (the record's
// sequence; behind a wrap record, the record itself). It moves the local
// tail past the record and returns the commit store and the payload's
// ring offset.
func (t *Topic) prepare(ctx context.Context, n int, block bool) (commit, uint64, error) {
	tail := t.p.tail
	o := tail & t.mask
	rec := recSize(n)
	pad := uint64(0)
	if o+rec > t.capacity {
		pad = t.capacity - o
	}
	end := tail + pad + rec
	if need := end + recordHeader; need > t.capacity && need-t.capacity > t.p.oldest {
		if t.p.defer1 && need-t.capacity > t.p.pending.pos {
			// A batch larger than the ring: what it held back is about
			// to be written over, so it goes out now.
			t.flush()
		}
		if err := t.makeRoom(ctx, need-t.capacity, block); err != nil {
			return commit{}, 0, err
		}
	}
	le := binary.LittleEndian
	seq := t.p.seq
	eo := end & t.mask
	le.PutUint64(t.ring[eo:], seq+1) // the new end marker
	le.PutUint64(t.ring[eo+8:], 0)
	var c commit
	ro := o
	if pad > 0 {
		// A wrap record at o, committed last, covers the rest of the
		// ring; the record goes at offset 0.
		le.PutUint64(t.ring[o:], seq)
		ro = 0
		le.PutUint64(t.ring[0:], seq)
		le.PutUint64(t.ring[8:], lenKind(uint32(n), kindData))
		c = commit{off: o, word: lenKind(uint32(pad-recordHeader), kindWrap), pos: tail}
	} else {
		le.PutUint64(t.ring[o:], seq)
		c = commit{off: o, word: lenKind(uint32(n), kindData), pos: tail}
	}
	t.p.marks.note(tail, seq)
	t.p.tail = end
	t.p.seq++
	return c, ro + recordHeader, nil
}

// makeRoom moves oldest to the first record boundary at or after need
// (positions below it are about to be written over). On a lossless topic
// it first waits until no active subscriber reads below that boundary. It
// stores the new oldest before it looks at join gen: a subscriber that
// joined since the table was last looked at is either seen now (and waited
// for) or saw the new oldest and starts after it (see layout.go).
func (t *Topic) makeRoom(ctx context.Context, need uint64, block bool) error {
	if t.passOldest(need) {
		return nil
	}
	if !t.overwrite && t.p.oldest == 0 {
		if err := t.keepFirst(ctx, block); err != nil {
			return err
		}
	}
	from, fromSeq := t.p.oldest, t.p.oldestSeq
	if m, ok := t.p.marks.lastBefore(need); ok && m.pos > from {
		from, fromSeq = m.pos, m.seq
	}
	pos, seq, err := t.walkFrom(from, fromSeq, need)
	if err != nil {
		return err
	}
	if !t.overwrite && pos > t.p.minPos {
		if err := t.waitRoom(ctx, pos, block); err != nil {
			return err
		}
	}
	if t.overwrite {
		// A full barrier: no payload store below may become visible
		// before a reader can see that its record is gone.
		t.oldest.Swap(pos)
	} else {
		t.publish(t.oldest, pos)
	}
	if g := t.joinGen.Load(); g != t.p.joinGen {
		t.p.joinGen = g
		if t.p.minPos, err = t.minPosition(); err != nil {
			return err
		}
		if !t.overwrite && pos > t.p.minPos {
			if err := t.waitRoom(ctx, pos, block); err != nil {
				// Nothing was written over: the next call walks from
				// the old oldest again and waits for the joiner then.
				return err
			}
		}
	}
	t.p.oldest, t.p.oldestSeq = pos, seq
	t.p.marks.drop(pos)
	return nil
}

// passOldest is makeRoom's common case, and reports whether it was: a
// record boundary at or after need is one the publisher noted as it wrote
// (lossless topics, see boundaries), or one it finds among the data records
// from oldest on, each checked as walkFrom checks it (passRecords); on a
// lossless topic no active subscriber read below that boundary when the
// table was last looked at, and the message at position 0 is not kept for
// the start grace. It moves oldest there and then looks at join gen: when
// a subscriber joined since, it leaves the publisher's own oldest as it was
// and reports false, and makeRoom, which walks from there again, looks at
// the table (see layout.go: the store of oldest comes first either way).
//
// A lossless publisher moves oldest past records that every subscriber had
// read when the table was last looked at up to passAhead bytes (and a
// record) beyond need: those records are not written over yet, but no
// subscriber will read them again, so the only one to miss them is a
// joiner's history. The publisher then moves oldest once per run of small
// messages instead of with each one. An overwrite publisher moves oldest
// no further than it must: a subscriber it passes loses the messages in
// between.
func (t *Topic) passOldest(need uint64) bool {
	pos, seq := t.p.oldest, t.p.oldestSeq
	if pos >= t.p.tail || pos == 0 && !t.overwrite {
		return false
	}
	if m, ok := t.p.marks.atOrAfter(need); ok && m.pos <= t.p.minPos && (!t.p.defer1 || m.pos <= t.p.pending.pos) {
		pos, seq = m.pos, m.seq
	} else if pos, seq = t.passRecords(pos, seq, need); pos < need {
		return false
	}
	if t.overwrite {
		// A full barrier, as in makeRoom.
		t.oldest.Swap(pos)
	} else {
		t.publish(t.oldest, pos)
	}
	if t.joinGen.Load() != t.p.joinGen {
		return false
	}
	t.p.oldest, t.p.oldestSeq = pos, seq
	t.p.marks.drop(pos)
	return true
}

// passRecords walks the data records from pos (sequence seq) to the first
// boundary at or after need, on a lossless topic up to passAhead further,
// and returns where it stopped: before a record that is not a data record,
// breaks a check, or (lossless) was not read by every subscriber.
func (t *Topic) passRecords(pos, seq, need uint64) (uint64, uint64) {
	limit := need
	if !t.overwrite {
		limit += t.passAhead
	}
	for pos < limit {
		o := pos & t.mask
		s := t.words[o>>3].Load()
		w := t.words[o>>3+1].Load()
		n := uint64(uint32(w))
		rec := (n + recordHeader + 15) &^ 15
		next := pos + rec
		if s != seq || uint32(w>>32) != kindData || n > uint64(t.maxMsg) || o+rec > t.capacity || next > t.p.tail || !t.overwrite && next > t.p.minPos {
			break
		}
		pos, seq = next, seq+1
	}
	return pos, seq
}

// passAheadFor is how far beyond what it must a lossless publisher moves
// oldest past records every subscriber has read (see passOldest): a 64th
// of the ring, at most 4 KiB, in whole records; 0 for rings under 1 KiB.
func passAheadFor(capacity uint64) uint64 {
	return min(capacity/64, 4<<10) &^ (recordHeader - 1)
}

// keepFirst waits, before a lossless publisher first moves oldest past
// position 0 (the topic's first message), until StartGrace has passed
// since the handle became the publisher, so that subscribers started
// together with it still find message 0 when they join (see chooseStart).
// Without block it returns ErrFull while the grace lasts.
func (t *Topic) keepFirst(ctx context.Context, block bool) error {
	left := t.cfg.grace - time.Since(t.p.since)
	if left <= 0 {
		return nil
	}
	if !block {
		return ErrFull
	}
	// Subscribers see everything published while we wait.
	t.flush()
	timer := time.NewTimer(left)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-timer.C:
		return nil
	}
}

// StartGraceLeft says how much longer the handle, as the publisher of a
// lossless topic, keeps the topic's first message for its start grace (see
// StartGrace): while it is above 0, a publish that needs that message's
// room waits (TryPublish returns ErrFull) for the grace, not for a
// subscriber. It is 0 when the handle is not the publisher, the topic is
// an overwrite topic, the grace is over, or message 0 was written over.
func (t *Topic) StartGraceLeft() time.Duration {
	if t.overwrite || !t.p.active || t.p.oldest != 0 {
		return 0
	}
	return max(t.cfg.grace-time.Since(t.p.since), 0)
}

// walkFrom walks the records from pos (whose message has sequence seq) to
// the first record boundary at or after need, and returns it with its
// sequence. The records are the publisher's own, but a hostile peer may
// have changed them: each is checked.
func (t *Topic) walkFrom(pos, seq, need uint64) (uint64, uint64, error) {
	for pos < need {
		if pos >= t.p.tail {
			return 0, 0, fmt.Errorf("%w: no record boundary between oldest %d (header offset %d) and tail %d at or after %d", ErrCorrupt, t.p.oldest, offOldest, t.p.tail, need)
		}
		var err error
		if pos, seq, _, err = t.recordAt(pos, seq); err != nil {
			if err == errAtEnd {
				err = t.corruptRecord(pos, "kind", uint64(kindEnd), "a committed record below tail")
			}
			return 0, 0, err
		}
	}
	return pos, seq, nil
}

// errAtEnd is recordAt's report of the end marker.
var errAtEnd = errors.New("end marker")

// recordAt checks the record header at pos, which must carry sequence
// seq, and returns the position and sequence after it and whether it holds
// a message; errAtEnd for the end marker. Both words are read once, with
// atomic loads.
func (t *Topic) recordAt(pos, seq uint64) (next, nextSeq uint64, data bool, err error) {
	o := pos & t.mask
	s := t.words[o>>3].Load()
	w := t.words[o>>3+1].Load()
	n, kind := uint64(uint32(w)), uint32(w>>32)
	if s != seq {
		return pos, seq, false, t.corruptRecord(pos, "sequence", s, fmt.Sprint(seq))
	}
	switch kind {
	case kindData:
		rec := recSize(int(min(n, 1<<32)))
		if n > uint64(t.maxMsg) || o+rec > t.capacity {
			return pos, seq, false, t.corruptRecord(pos, "length", n, fmt.Sprintf("at most %d, within the ring", t.maxMsg))
		}
		return pos + rec, seq + 1, true, nil
	case kindWrap:
		if o == 0 || n != t.capacity-o-recordHeader {
			return pos, seq, false, t.corruptRecord(pos, "wrap length", n, fmt.Sprintf("%d to the ring's end, not at offset 0", t.capacity-o-recordHeader))
		}
		return pos + t.capacity - o, seq, false, nil
	case kindEnd:
		return pos, seq, false, errAtEnd
	}
	return pos, seq, false, t.corruptRecord(pos, "kind", uint64(kind), "a known record kind")
}

func (t *Topic) corruptRecord(pos uint64, field string, val uint64, want string) error {
	return fmt.Errorf("%w: record at position %d (ring offset %d, segment offset %d): %s %d, want %s", ErrCorrupt, pos, pos&t.mask, uint64(t.header)+pos&t.mask, field, val, want)
}

// waitRoom waits until every active subscriber's position is at or after
// pos (lossless topics), or fails with ErrFull when not block. While it
// waits it frees the entries of subscribers that died.
//
// When it has to sleep, it first sleeps for a quarter of the ring more
// than it needs (but no further than tail, which every subscriber
// reaches), for at most hysteresisSlice: the room then comes in runs, not
// one message at a time, each of which would cost a wake-up. After that
// slice it waits for pos itself, so that a subscriber that pauses after a
// few messages holds it back no longer than that. The target goes to pub
// want before the publisher advertises its sleep, and a subscriber wakes
// it only when its own position passes the target (see wait.go).
func (t *Topic) waitRoom(ctx context.Context, pos uint64, block bool) error {
	target := pos
	ready := func() (bool, error) {
		var err error
		t.p.minPos, err = t.minPosition()
		return err == nil && target <= t.p.minPos, err
	}
	if ok, err := ready(); ok || err != nil {
		return err
	}
	if !block {
		t.reclaimDead()
		if ok, err := ready(); ok || err != nil {
			return err
		}
		return ErrFull
	}
	// Subscribers see everything published while we wait.
	t.flush()
	t.want.Store(target)
	peer := func() error {
		t.reclaimDead()
		return nil
	}
	beforeSleep := func(round int) time.Duration {
		if round == 0 {
			target = max(pos, min(pos+t.capacity/4, t.p.tail))
			t.want.Store(target)
			return hysteresisSlice
		}
		if target != pos {
			target = pos
			t.want.Store(target)
		}
		return peerCheck
	}
	return t.await(ctx, t.pubWait, ready, nil, peer, beforeSleep)
}

// hysteresisSlice bounds the publisher's first sleep for room, in which it
// waits for more room than it needs (see waitRoom).
const hysteresisSlice = 10 * time.Millisecond

// minPosition is the lowest position of an active subscriber, or noLimit.
// A handle that is both publisher and subscriber counts too: it holds its
// own publishing back until it reads. A position that is not a record
// boundary or lies past the tail is damage. (One below oldest is not: a
// joiner's 0, or the start of one that a publisher which died while
// waiting for it had already passed in oldest, are held to.)
func (t *Topic) minPosition() (uint64, error) {
	m := noLimit
	for i := range t.table {
		e := &t.table[i]
		if e.state.Load()&1 == 0 {
			continue
		}
		p := e.pos.Load()
		if !t.overwrite && (p%recordHeader != 0 || p > t.p.tail) {
			return 0, fmt.Errorf("%w: subscriber entry %d's position (header offset %d) is %d; it must be a multiple of %d no further than tail %d", ErrCorrupt, i, offTable+i*entrySize+entPos, p, recordHeader, t.p.tail)
		}
		m = min(m, p)
	}
	return m, nil
}

// reclaimDead frees the entries whose subscriber died: the active bit is
// set but no live open file description holds the entry's role byte.
func (t *Topic) reclaimDead() {
	for i := range t.table {
		e := &t.table[i]
		w := e.state.Load()
		if w&1 == 0 || (t.s.active && t.s.slot == i) {
			continue
		}
		held, err := live.Held(t.fd, e.role)
		if err != nil || held {
			continue
		}
		e.state.CompareAndSwap(w, w&^1)
	}
}

// findEnd finds where a publisher that takes over goes on: the end marker
// at or after the published tail (a publisher that died between a commit
// and the tail's store left it one record behind), with the oldest record
// and the sequences. Everything is checked: the records from oldest to the
// end marker must hold together, or a reader would find garbage there.
func (t *Topic) findEnd() (tail, oldest, seq, oldestSeq uint64, err error) {
	tail, oldest = t.tail.Load(), t.oldest.Load()
	if err := t.checkCursors(tail, oldest); err != nil {
		return 0, 0, 0, 0, err
	}
	oldestSeq = t.words[(oldest&t.mask)>>3].Load()
	pos, s := oldest, oldestSeq
	for {
		if pos-oldest > t.capacity-recordHeader {
			return 0, 0, 0, 0, fmt.Errorf("%w: no end marker within %d bytes after oldest %d (header offset %d)", ErrCorrupt, t.capacity, oldest, offOldest)
		}
		next, nextSeq, _, err := t.recordAt(pos, s)
		if err == errAtEnd && pos >= tail {
			return pos, oldest, s, oldestSeq, nil
		}
		if err == errAtEnd {
			err = t.corruptRecord(pos, "kind", uint64(kindEnd), fmt.Sprintf("a committed record below tail %d (header offset %d)", tail, offTail))
		}
		if err != nil {
			return 0, 0, 0, 0, err
		}
		pos, s = next, nextSeq
	}
}

// checkCursors checks tail and oldest as read from the header.
func (t *Topic) checkCursors(tail, oldest uint64) error {
	if tail%recordHeader != 0 || oldest%recordHeader != 0 || oldest > tail || tail-oldest > t.capacity {
		return t.corruptCursors(tail, oldest)
	}
	return nil
}

func (t *Topic) corruptCursors(tail, oldest uint64) error {
	return fmt.Errorf("%w: cursors tail %d (header offset %d) and oldest %d (header offset %d) are not multiples of %d with oldest ≤ tail ≤ oldest + capacity %d", ErrCorrupt, tail, offTail, oldest, offOldest, recordHeader, t.capacity)
}
