package topic

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"time"

	"github.com/shmkit/shm"
	"github.com/shmkit/shm/internal/fault"
	"github.com/shmkit/shm/internal/futex"
	"github.com/shmkit/shm/internal/live"
	"github.com/shmkit/shm/internal/mem"
	"github.com/shmkit/shm/internal/racehint"
)

var (
	// ErrNotTopic is wrapped by Open's and Probe's error for an object that
	// is not a topic (no topic magic).
	ErrNotTopic = errors.New("not a topic")

	// ErrVersion is wrapped by Open's and Probe's error for a topic of
	// another layout version.
	ErrVersion = errors.New("unsupported topic layout version")

	// ErrCorrupt is wrapped by the error for a header, cursor, table entry
	// or record that breaks the layout's rules; the error says which field
	// and where.
	ErrCorrupt = errors.New("topic is corrupt")

	// ErrPeerDead is wrapped by the error of a Receive that waits on a
	// topic whose publisher died without closing it. A new publisher may
	// take over; the next Receive waits for it.
	ErrPeerDead = errors.New("peer process died")

	// ErrBusy is wrapped by the error of the first Publish of a handle when
	// another live handle is the topic's publisher, and of a subscriber's
	// join when every entry of the subscriber table is taken.
	ErrBusy = errors.New("another live process holds this role")

	// ErrTooLarge is wrapped by the error for a message longer than the
	// topic's maximum message size.
	ErrTooLarge = errors.New("message too large")

	// ErrLagged is matched (errors.Is) by a *LaggedError.
	ErrLagged = errors.New("subscriber fell behind")

	// ErrFull is returned, unwrapped, by TryPublish on a lossless topic when
	// a subscriber holds back the room the message needs.
	ErrFull = errors.New("topic is full")

	// ErrEmpty is returned, unwrapped, by TryReceive when there is no message.
	ErrEmpty = errors.New("topic is empty")

	// ErrAborted is wrapped by the error of a receiving call on a topic
	// whose publisher ended the stream with Abort, once every message
	// published before the Abort that the ring kept for the subscriber was
	// received: the stream was cut short, where io.EOF says it is complete.
	ErrAborted = errors.New("the publisher aborted the stream")
)

// LaggedError is the error of a receiving call on an overwrite topic when
// the publisher wrote over messages this subscriber had not read: Missed
// says exactly how many. The subscriber has moved on to the oldest message
// still kept, which the next call returns.
type LaggedError struct {
	Missed uint64
}

// Error says how many messages were missed.
func (e *LaggedError) Error() string {
	return fmt.Sprintf("missed %d message%s", e.Missed, plural(e.Missed))
}

// Is makes errors.Is(err, ErrLagged) true.
func (e *LaggedError) Is(target error) bool { return target == ErrLagged }

func plural(n uint64) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// Topic is a handle on a topic segment. A handle becomes the topic's
// publisher with its first Publish (or Reserve) and a subscriber with
// Subscribe or its first Receive (or Peek); it may be both. A handle is
// not safe for concurrent use by several goroutines: give each goroutine
// its own handle (Open again).
type Topic struct {
	name string // as the caller gave it, for errors; Name trims the slashes
	seg  *shm.Segment
	fd   int
	cfg  config
	geometry
	id   ID
	mask uint64
	// passAhead is how far past need a lossless publisher may move oldest
	// (see passOldest).
	passAhead uint64
	ring      []byte
	words     []atomic.Uint64 // the ring as 8-byte words
	// race is the object's key for the race detector (race builds only):
	// each commit and close is a release on it, and each message and end
	// of file seen an acquire, as with a channel.
	race  *byte
	light bool // commits may be release-only (see wait.go)
	// watch catches the mapping's faults where the platform allows it
	// (fault.go); unguarded says the per-message calls skip
	// SetPanicOnFault: the watch catches their faults, or NoFaultGuard.
	watch     fault.Watch
	unguarded bool

	tail, oldest, want                *atomic.Uint64
	closed, subWait, pubWait, joinGen *atomic.Uint32
	pubState, pubPID                  *atomic.Uint32
	table                             []entry
	state                             handleState
	p                                 publisher
	s                                 subscriber
}

// entry is a subscriber table entry.
type entry struct {
	pos, seq   *atomic.Uint64
	state, pid *atomic.Uint32
	role       int64 // offset of the role byte
}

// Create makes a new topic segment with a ring of capacity bytes (a power
// of two from MinCapacity to MaxCapacity) and opens it. It fails like
// shm.Create when the name is taken or there is no room.
func Create(name string, capacity int64, opts ...Option) (*Topic, error) {
	c := newConfig(opts)
	t, err := create(name, capacity, &c)
	if err != nil {
		return nil, wrapErr("topic create", name, err)
	}
	return t, nil
}

func create(name string, capacity int64, c *config) (*Topic, error) {
	mm, err := c.validate(capacity)
	if err != nil {
		return nil, err
	}
	header := func(b []byte) error {
		le := binary.LittleEndian
		le.PutUint32(b[offVersion:], layoutVersion)
		if c.overwrite {
			le.PutUint32(b[offFlags:], flagOverwr)
		}
		le.PutUint64(b[offCapacity:], uint64(capacity))
		le.PutUint32(b[offMaxMsg:], uint32(mm))
		le.PutUint32(b[offSubscribers:], uint32(c.nsubs))
		le.PutUint32(b[offHistory:], uint32(c.history))
		if _, err := rand.Read(b[offID : offID+idSize]); err != nil {
			return err
		}
		// The magic goes last, atomically: an Open that sees it sees the rest.
		mem.MustUint64(b, offMagic).Store(magic)
		return nil
	}
	seg, err := shm.Create(name, int64(headerSizeFor(c.nsubs))+capacity, append(c.shmOptions(), shm.Initialize(header))...)
	if err != nil {
		return nil, unwrapShm(err)
	}
	t, err := attach(name, seg, c)
	if err != nil {
		seg.Close()
		shm.Unlink(name, shm.Dir(c.dir))
		return nil, err
	}
	return t, nil
}

// Open opens an existing topic. It fails with an error wrapping ErrNotTopic
// for an object that is not a topic and ErrVersion for a topic of another
// layout version.
func Open(name string, opts ...Option) (*Topic, error) {
	c := newConfig(opts)
	t, err := openExisting(name, &c)
	if err != nil {
		return nil, wrapErr("topic open", name, err)
	}
	return t, nil
}

// Unlink removes the topic's name; handles that have it open keep working.
func Unlink(name string, opts ...Option) error {
	c := newConfig(opts)
	if err := shm.Unlink(name, shm.Dir(c.dir)); err != nil {
		return wrapErr("topic unlink", name, unwrapShm(err))
	}
	return nil
}

func attach(name string, seg *shm.Segment, c *config) (t *Topic, err error) {
	// Reading the header may fault if another process shrank the object
	// since it was mapped.
	if fault.Catch(func() { t, err = attachMapped(name, seg, c) }) {
		return nil, shm.ErrFault
	}
	if err != nil {
		return nil, err
	}
	t.unguarded = c.noGuard || (watchFaults && t.watch.Start(seg.Bytes()))
	return t, nil
}

func attachMapped(name string, seg *shm.Segment, c *config) (*Topic, error) {
	b := seg.Bytes()
	if len(b) < minHeader {
		return nil, fmt.Errorf("%w: %d bytes, too small for a topic header", ErrNotTopic, len(b))
	}
	g, err := parseHeader(b, int64(len(b)))
	if err != nil {
		return nil, err
	}
	end := uint64(g.header) + g.capacity
	t := &Topic{
		name:      name,
		seg:       seg,
		fd:        seg.Fd(),
		cfg:       *c,
		geometry:  g,
		id:        ID(b[offID : offID+idSize]),
		mask:      g.capacity - 1,
		passAhead: passAheadFor(g.capacity),
		ring:      b[g.header:end:end],
		tail:      mem.MustUint64(b, offTail),
		oldest:    mem.MustUint64(b, offOldest),
		want:      mem.MustUint64(b, offWant),
		closed:    mem.MustUint32(b, offClosed),
		subWait:   mem.MustUint32(b, offSubWait),
		pubWait:   mem.MustUint32(b, offPubWait),
		joinGen:   mem.MustUint32(b, offJoinGen),
		pubState:  mem.MustUint32(b, offPubState),
		pubPID:    mem.MustUint32(b, offPubPID),
		race:      racehint.ObjectKey(seg.Fd()),
		light:     mem.Asymmetric(),
	}
	if t.words, err = mem.Uint64s(t.ring, 0, len(t.ring)/8); err != nil {
		return nil, err
	}
	for i := range g.nsubs {
		t.table = append(t.table, entryAt(b, offTable+i*entrySize))
	}
	return t, nil
}

func entryAt(b []byte, off int) entry {
	return entry{
		pos:   mem.MustUint64(b, off+entPos),
		seq:   mem.MustUint64(b, off+entSeq),
		state: mem.MustUint32(b, off+entState),
		pid:   mem.MustUint32(b, off+entPID),
		role:  int64(off + entRole),
	}
}

func shmName(n string) string {
	for len(n) > 0 && n[0] == '/' {
		n = n[1:]
	}
	return n
}

// Name returns the topic's name without a leading slash.
func (t *Topic) Name() string { return shmName(t.name) }

// Capacity returns the ring's size in bytes.
func (t *Topic) Capacity() int64 { return int64(t.capacity) }

// MaxMessage returns the largest message the topic takes, in bytes.
func (t *Topic) MaxMessage() int { return t.maxMsg }

// MaxSubscribers returns how many subscribers the topic can have at once.
func (t *Topic) MaxSubscribers() int { return t.nsubs }

// History returns how many recent messages a joining subscriber starts
// with (at most: as many as the ring still holds).
func (t *Topic) History() int { return t.history }

// ID returns the identity that Create gave the topic: random, so that a
// topic created again under the same name has another. With a message's
// number (see Sequence) it names a message for as long as the topic lives,
// in every process.
func (t *Topic) ID() ID { return t.id }

// ID is a topic's identity: 16 random bytes written once by Create.
type ID [idSize]byte

// String returns the identity in hexadecimal.
func (id ID) String() string { return hex.EncodeToString(id[:]) }

// IsOverwrite reports whether the topic was created with Overwrite.
func (t *Topic) IsOverwrite() bool { return t.overwrite }

// Close ends the handle. A publisher's Close abandons an uncommitted
// Reserve and marks the topic closed for publishing, so that every
// subscriber receives what remains and then io.EOF. A subscriber's Close
// leaves the subscriber table: a lossless publisher no longer waits for
// it. Close is idempotent.
func (t *Topic) Close() error { return t.close(endClose) }

// Detach ends the handle like Close, but a publisher leaves the topic open
// for publishing: subscribers do not get io.EOF, and wait for the next
// publisher.
func (t *Topic) Detach() error { return t.close(endDetach) }

// Abort ends the handle like Close, but a publisher marks the stream
// aborted rather than complete: every subscriber receives what remains and
// then an error wrapping ErrAborted instead of io.EOF. It is what a
// publisher calls when it fails part-way (its input broke, a message was
// too large, a deadline passed, it was told to stop), so that subscribers
// can tell a cut-short stream from a complete one. On a handle that is not
// the publisher it is Close. A new publisher reopens an aborted topic, as
// a closed one. Abort on a publisher's handle broken by a memory fault
// still marks the topic aborted if the header page is there.
func (t *Topic) Abort() error { return t.close(endAbort) }

// How a handle ends: Detach, Close or Abort.
type ending uint8

const (
	endDetach ending = iota
	endClose
	endAbort
)

func (t *Topic) close(how ending) error {
	if t.state == stateClosed {
		return nil
	}
	op := [...]string{endDetach: opDetach, endClose: opClose, endAbort: opAbort}[how]
	var err error
	if t.state == stateOpen {
		// A watched fault lets closeRoles run on to its end, giving up the
		// roles on zero pages: the clean-up below needs them as they were,
		// as a guarded fault leaves them.
		p, s := t.p.active, t.s.active
		caught := fault.Catch(func() { t.closeRoles(how) })
		if hit := t.watch.Hit(); caught || hit {
			err = wrapErr(op, t.name, shm.ErrFault)
			if hit {
				t.p.active, t.s.active = p, s
			}
			t.broke()
		}
	}
	if t.state == stateBroken {
		if how == endAbort && t.p.active {
			// The fault left this handle's ring out of step, but
			// subscribers must still learn that the stream was cut short.
			fault.Catch(func() { t.closed.Store(closedAborted) })
		}
		t.releaseRoles()
	}
	t.state = stateClosed
	t.ring, t.words = nil, nil
	t.watch.Stop()
	// Closing the descriptor drops this handle's role locks too.
	if cerr := t.seg.Close(); err == nil && cerr != nil {
		err = cerr
	}
	return err
}

// closeRoles gives up the handle's roles at Close, Detach or Abort: a
// publisher marks the topic closed or aborted (or neither, for Detach) and
// wakes the subscribers, a subscriber leaves its table entry and wakes a
// waiting publisher.
func (t *Topic) closeRoles(how ending) {
	if t.p.active {
		t.p.resv = false // a reservation was never committed: it just goes
		racehint.Release(t.race)
		switch how {
		case endClose:
			t.closed.Store(closedEnd)
		case endAbort:
			t.closed.Store(closedAborted)
		}
		t.pubState.Store(0)
		live.Release(t.fd, offPubRole)
		t.p.active = false
		t.wakeSubscribers()
	}
	if t.s.active {
		t.leave()
	}
}

// releaseRoles gives up a broken handle's roles, each access guarded: the
// header page may be there when the ring is gone. It does not mark the
// topic closed: a subscriber must not take a publisher's fault for the
// end of the stream.
func (t *Topic) releaseRoles() {
	if t.p.active {
		fault.Catch(func() { t.pubState.Store(0) })
		live.Release(t.fd, offPubRole)
		t.p.active = false
	}
	if t.s.active {
		fault.Catch(t.leave)
		t.s.active = false
	}
	fault.Catch(t.wakeSubscribers)
	fault.Catch(t.wakePublisher)
}

// leave clears this handle's subscriber entry and wakes a publisher that
// may wait for it.
func (t *Topic) leave() {
	e := t.table[t.s.slot]
	e.state.CompareAndSwap(t.s.gen<<1|1, t.s.gen<<1)
	live.Release(t.fd, e.role)
	t.s.active = false
	t.wakePublisher()
}

// claimPublisher makes the handle the publisher on first use: it locks the
// publisher role, and takes over the ring from where the last publisher
// left it.
func (t *Topic) claimPublisher() error {
	if t.p.active {
		return nil
	}
	if err := live.Hold(t.fd, offPubRole); err != nil {
		if errors.Is(err, live.ErrHeld) {
			return fmt.Errorf("%w: the topic has a live publisher (pid %d)", ErrBusy, t.pubPID.Load())
		}
		return err
	}
	tail, oldest, seq, oldestSeq, err := t.findEnd()
	if err != nil {
		live.Release(t.fd, offPubRole)
		return err
	}
	t.p = publisher{tail: tail, oldest: oldest, seq: seq, oldestSeq: oldestSeq, joinGen: t.joinGen.Load(), since: time.Now()}
	if !t.overwrite {
		t.p.marks = newBoundaries(t.capacity, t.passAhead)
	}
	// A full look at the table: subscribers that joined before this
	// publisher are held to from the first message.
	if t.p.minPos, err = t.minPosition(); err != nil {
		live.Release(t.fd, offPubRole)
		return err
	}
	t.p.active = true
	t.pubPID.Store(uint32(os.Getpid()))
	t.pubState.Store(1)
	t.closed.Store(closedOpen)
	t.tail.Store(tail)
	return nil
}

// wakeSubscribers wakes every sleeping subscriber, with one system call.
func (t *Topic) wakeSubscribers() {
	if t.subWait.Load() != 0 && t.subWait.Swap(0) != 0 {
		subscriberWakes.Add(1)
		futex.WakeAll(t.subWait)
	}
}

// subscriberWakes counts wakeSubscribers' system calls in this process, so
// that a test can see how many one publish makes.
var subscriberWakes atomic.Uint64

// wakePublisher wakes the publisher if it sleeps for room.
func (t *Topic) wakePublisher() {
	if t.pubWait.Load() != 0 && t.pubWait.Swap(0) != 0 {
		futex.WakeAll(t.pubWait)
	}
}

// publish stores a word that hands data to the other side: a record's
// commit, tail, a subscriber's position. When this process is registered
// for the asymmetric barrier it is a release store; a sleeper pays for the
// store-load order instead (see wait.go).
func (t *Topic) publish(w *atomic.Uint64, v uint64) {
	if t.light {
		mem.StoreRelease64(w, v)
		return
	}
	w.Store(v)
}

func wrapErr(op, name string, err error) error {
	if err == nil {
		return nil
	}
	return &shm.Error{Op: op, Name: name, Err: err}
}

// unwrapShm takes the cause out of a *shm.Error so that the topic's own
// operation names the error.
func unwrapShm(err error) error {
	var e *shm.Error
	if errors.As(err, &e) {
		return e.Err
	}
	return err
}

// errNilContext is the cause of the error from a blocking call given a nil
// context: every blocking call takes one (context.Background() for a wait
// without limit), and a nil one is a caller's mistake to report, not to
// guess at.
var errNilContext = fmt.Errorf("%w: nil context (pass context.Background() to wait without a limit)", shm.ErrInvalid)
