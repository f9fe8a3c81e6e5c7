package queue

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
	// ErrNotQueue is wrapped by Open's and Probe's error for an object that
	// is not a queue (no queue magic).
	ErrNotQueue = errors.New("not a queue")

	// ErrVersion is wrapped by Open's and Probe's error for a queue of
	// another layout version.
	ErrVersion = errors.New("unsupported queue layout version")

	// ErrCorrupt is wrapped by the error for a header, cursor or record that
	// breaks the layout's rules; the error says which field and where.
	ErrCorrupt = errors.New("queue is corrupt")

	// ErrPeerDead is wrapped by the error of a Receive that waits on a single
	// producer that died, or of a Send that waits for space while the
	// consumer is dead.
	ErrPeerDead = errors.New("peer process died")

	// ErrBusy is wrapped by the error of the first Send (or Receive) of a
	// handle when another live handle already is the queue's single producer
	// (or its consumer; on a queue with competing consumers, when live
	// handles hold all its consumer slots).
	ErrBusy = errors.New("another live process holds this role")

	// ErrTooLarge is wrapped by the error for a message longer than the
	// queue's maximum message size.
	ErrTooLarge = errors.New("message too large")

	// ErrAborted is wrapped by the error of a Receive on a queue whose
	// producer ended the stream with Abort, once every message committed
	// before the Abort was received: the stream was cut short, where
	// io.EOF says it is complete.
	ErrAborted = errors.New("the sender aborted the stream")

	// ErrFull is returned, unwrapped, by TrySend when there is no room.
	ErrFull = errors.New("queue is full")

	// ErrEmpty is returned, unwrapped, by TryReceive when there is no message.
	ErrEmpty = errors.New("queue is empty")
)

// Queue is a handle on a queue segment. A handle becomes the queue's
// producer with its first Send (or Reserve, or BecomeProducer) and its
// consumer with its first Receive (or Peek); it may be both. A handle is
// not safe for concurrent use by several goroutines: give each goroutine
// its own handle (Open again).
type Queue struct {
	name string // as the caller gave it, for errors; Name trims the slashes
	seg  *shm.Segment
	cfg  config
	geometry
	mask  uint64
	ring  []byte
	words []atomic.Uint64 // the ring as 8-byte words: record headers are words[off/8]
	// race is the object's key for the race detector (race builds only):
	// each commit, close and head publication is a release on it, and each
	// message, end of file and room seen an acquire, as with a channel.
	race  *byte
	light bool // commits and head stores may be release-only (see wait.go)
	// watch catches the mapping's faults where the platform allows it
	// (fault.go); unguarded says the sending and receiving calls skip
	// SetPanicOnFault: the watch catches their faults, or NoFaultGuard.
	watch     fault.Watch
	unguarded bool
	// tailEvery is how many bytes a single producer sends between
	// publications of its tail (which the consumer does not need).
	tailEvery uint64
	// glances is how many times a fast consumer that found no message
	// looks at the header word at its head before it goes the long way
	// to a wait (see glance), and lateGlances how many after a late
	// glance; both are 0 for a handle that does not spin.
	glances     int
	lateGlances int
	// wrapZone is how near the ring's end a fast consumer's head is when
	// the next record may wrap (the largest record, at most wrapZoneMax);
	// a glance there watches the ring's first line too (see glance).
	wrapZone uint64
	// yielded is when a spinning wait of this handle last yielded the CPU
	// (see spinYield).
	yielded time.Time

	fd  int    // the object's descriptor, whose open file description holds the roles' locks
	pid int32  // this process's pid, for claim words
	ns  uint64 // this process's PID namespace (live.Namespace), for claim words

	tail, head         *atomic.Uint64
	consWait, prodWait *atomic.Uint32
	closed, lock       *atomic.Uint32
	consumer           slot
	producers          []slot
	// Competing consumers (consumers.go); nil without them.
	take        *atomic.Uint64
	consumeLock *atomic.Uint32
	cslots      []cslot
	state       handleState
	p           producer
	c           consumer
}

// slot is a role in the header: its claim word and namespace word, and
// the offset of its role byte, whose lock says whether the role is held.
type slot struct {
	claim, ns *atomic.Uint64
	off       int64
}

type producer struct {
	active  bool
	slot    int
	gen     uint32
	data    uint64 // a committed data record's state word, shifted into a header's high half
	tail    uint64 // SPSC: the local write cursor
	pub     uint64 // SPSC: the last published tail
	head    uint64 // the last head seen
	behind  bool   // SPSC: the consumer was behind at that look (see linesAhead)
	resv    bool   // a Reserve awaits its Commit
	resvPos uint64 // ring offset of the reserved record
	resvLen int
	resvEnd uint64 // SPSC: the tail after the reserved record

	resvCommit hdrWrite // SPSC: the store that commits the reservation
	batching   bool     // SPSC: a SendBatch deferred batchFirst
	batchFirst hdrWrite
}

type consumer struct {
	active   bool
	gen      uint32
	head     uint64 // the local read cursor
	lastRec  uint64 // how far head last moved for a message, a wrap included (see glance)
	pub      uint64 // the last published head
	hold     bool   // Hold: publish released, not head (position.go)
	released uint64 // Hold: the cursor through which messages are released
	tail     uint64 // the last tail seen
	every    uint64 // publish head after this many bytes
	peeked   bool
	peekOff  uint64 // ring offset of the peeked payload
	peekLen  int
	peekN    uint64        // ring bytes from head to the peeked message's end
	takes    uint64        // advances of head so far
	waited   uint64        // takes when the last wait for data began (see holdBack)
	heldBack time.Duration // hold-back time allowed so far (see holdBack), for tests
	cutShort int           // hold-backs a producer's request for head ended, for tests
	late     bool          // the last glance was late (see lateLooks)

	// Competing consumers (consumers.go).
	slot     int    // this handle's consumer slot
	inFlight bool   // the slot holds a message: peeked, or received and held
	flight   taken  // that message
	sweep    bool   // look for dead consumers' messages at the next take
	deliv    uint32 // deliveries of the message last taken
}

// Create makes a new queue segment with a ring of capacity bytes (a power
// of two from MinCapacity to MaxCapacity; 0 means RecommendedCapacity for
// the MaxMessage option) and opens it. It fails like shm.Create when the
// name is taken or there is no room.
func Create(name string, capacity int64, opts ...Option) (*Queue, error) {
	c := newConfig(opts)
	if capacity == 0 {
		capacity = RecommendedCapacity(c.maxMsg)
	}
	q, err := create(name, capacity, &c)
	if err != nil {
		return nil, wrapErr("queue create", name, err)
	}
	return q, nil
}

// Validate reports whether Create would accept capacity and opts, without
// creating anything: an error wrapping shm.ErrInvalid that names the rule
// broken (a capacity that is not a power of two in range, a maximum
// message too large for the capacity, an option's bad value), or nil. A
// program that takes these from its user (a command's flags) calls it to
// report a usage error before it touches the file system.
func Validate(capacity int64, opts ...Option) error {
	c := newConfig(opts)
	_, err := c.validate(capacity)
	return err
}

// validate checks capacity and c for create and returns the largest
// message the queue will take.
func (c *config) validate(capacity int64) (uint64, error) {
	if c.err != nil {
		return 0, c.err
	}
	if capacity < MinCapacity || capacity > MaxCapacity || !isPow2(uint64(capacity)) {
		return 0, fmt.Errorf("%w: capacity %d is not a power of two from %d to %d", shm.ErrInvalid, capacity, MinCapacity, int64(MaxCapacity))
	}
	limit := maxMessageFor(uint64(capacity))
	mm := uint64(c.maxMsg)
	if c.maxMsg == 0 {
		mm = limit
	}
	if c.maxMsg < 0 || mm > limit {
		return 0, fmt.Errorf("%w: max message %d is not in [0, %d] for capacity %d", shm.ErrInvalid, c.maxMsg, limit, capacity)
	}
	return mm, nil
}

func create(name string, capacity int64, c *config) (*Queue, error) {
	mm, err := c.validate(capacity)
	if err != nil {
		return nil, err
	}
	// The header is written before the segment gets its name (shm.Initialize),
	// so that a creator killed half-way leaves no queue without a header.
	header := func(b []byte) error {
		le := binary.LittleEndian
		le.PutUint32(b[offVersion:], layoutVersion)
		slots := 1
		if c.multi {
			le.PutUint32(b[offFlags:], flagMultiProducer)
			slots = maxSlots
		}
		if c.cons > 1 {
			le.PutUint32(b[offFlags:], le.Uint32(b[offFlags:])|flagConsumers)
			le.PutUint32(b[offConsN:], uint32(c.cons))
		}
		le.PutUint64(b[offCapacity:], uint64(capacity))
		le.PutUint32(b[offMaxMsg:], uint32(mm))
		le.PutUint32(b[offSlots:], uint32(slots))
		if _, err := rand.Read(b[offID : offID+idSize]); err != nil {
			return err
		}
		// The magic goes last, atomically: an Open that sees it sees the rest.
		mem.MustUint64(b, offMagic).Store(magic)
		return nil
	}
	seg, err := shm.Create(name, headerSize+capacity, append(c.shmOptions(), shm.Initialize(header))...)
	if err != nil {
		return nil, unwrapShm(err)
	}
	q, err := attach(name, seg, c)
	if err != nil {
		seg.Close()
		shm.Unlink(name, shm.Dir(c.dir))
		return nil, err
	}
	return q, nil
}

// Open opens an existing queue. It fails with an error wrapping ErrNotQueue
// for an object that is not a queue and ErrVersion for a queue of another
// layout version.
func Open(name string, opts ...Option) (*Queue, error) {
	c := newConfig(opts)
	if c.err != nil {
		return nil, wrapErr("queue open", name, c.err)
	}
	seg, err := shm.Open(name, shm.Dir(c.dir))
	if err != nil {
		return nil, wrapErr("queue open", name, unwrapShm(err))
	}
	q, err := attach(name, seg, &c)
	if err != nil {
		seg.Close()
		return nil, wrapErr("queue open", name, err)
	}
	return q, nil
}

// Unlink removes the queue's name; handles that have it open keep working.
func Unlink(name string, opts ...Option) error {
	c := newConfig(opts)
	if err := shm.Unlink(name, shm.Dir(c.dir)); err != nil {
		return wrapErr("queue unlink", name, unwrapShm(err))
	}
	return nil
}

func attach(name string, seg *shm.Segment, c *config) (q *Queue, err error) {
	// Reading the header may fault if another process shrank the object
	// since it was mapped.
	if fault.Catch(func() { q, err = attachMapped(name, seg, c) }) {
		return nil, shm.ErrFault
	}
	if err != nil {
		return nil, err
	}
	q.unguarded = c.noGuard || (watchFaults && q.watch.Start(seg.Bytes()))
	return q, nil
}

func attachMapped(name string, seg *shm.Segment, c *config) (*Queue, error) {
	b := seg.Bytes()
	if len(b) < headerSize {
		return nil, fmt.Errorf("%w: %d bytes, too small for a queue header", ErrNotQueue, len(b))
	}
	g, err := parseHeader(b, int64(len(b)))
	if err != nil {
		return nil, err
	}
	q := &Queue{
		name:     name,
		seg:      seg,
		cfg:      *c,
		geometry: g,
		mask:     g.capacity - 1,
		ring:     b[headerSize : headerSize+g.capacity : headerSize+g.capacity],
		fd:       seg.Fd(),
		pid:      int32(os.Getpid()),
		ns:       live.Namespace(),
		tail:     mem.MustUint64(b, offTail),
		head:     mem.MustUint64(b, offHead),
		consWait: mem.MustUint32(b, offConsWait),
		prodWait: mem.MustUint32(b, offProdWait),
		closed:   mem.MustUint32(b, offClosed),
		lock:     mem.MustUint32(b, offLock),
		consumer: slotAt(b, offConsumer),
		race:     racehint.ObjectKey(seg.Fd()),
		light:    mem.Asymmetric(),
	}
	if q.words, err = mem.Uint64s(q.ring, 0, len(q.ring)/8); err != nil {
		return nil, err
	}
	for i := range g.slots {
		q.producers = append(q.producers, slotAt(b, offProducers+i*slotSize))
	}
	if g.cons > 0 {
		q.take = mem.MustUint64(b, offTake)
		q.consumeLock = mem.MustUint32(b, offConsumeLock)
		for i := range g.cons {
			q.cslots = append(q.cslots, cslotAt(b, offConsSlots+i*consSlotSize))
		}
	}
	q.c.every = max(g.capacity/4, recordHeader)
	if c.strategy == Spin || c.strategy == SpinThenSleep && c.spin > 0 {
		q.glances, q.lateGlances = glanceLooks, glanceLooks
	}
	if c.strategy == Spin || c.strategy == SpinThenSleep && c.spin >= lateSpin {
		q.lateGlances = lateLooks
	}
	q.tailEvery = max(g.capacity/16, recordHeader)
	q.wrapZone = min(recSize(g.maxMsg), wrapZoneMax)
	return q, nil
}

func slotAt(b []byte, off int) slot {
	return slot{claim: mem.MustUint64(b, off), ns: mem.MustUint64(b, off+8), off: int64(off)}
}

func shmName(n string) string {
	for len(n) > 0 && n[0] == '/' {
		n = n[1:]
	}
	return n
}

// Name returns the queue's name without a leading slash.
func (q *Queue) Name() string { return shmName(q.name) }

// Capacity returns the ring's size in bytes.
func (q *Queue) Capacity() int64 { return int64(q.capacity) }

// MaxMessage returns the largest message the queue takes, in bytes.
func (q *Queue) MaxMessage() int { return q.maxMsg }

// ID returns the identity that Create gave the queue: random, so that a
// queue created again under the same name has another. With a message's
// position in the queue it names that message for good, for example as a
// deduplication key when messages leave the machine.
func (q *Queue) ID() ID { return q.id }

// ID is a queue's identity: 16 random bytes written once by Create.
type ID [idSize]byte

// String returns the identity in hexadecimal.
func (id ID) String() string { return hex.EncodeToString(id[:]) }

// IsMultiProducer reports whether the queue was created with MultiProducer.
func (q *Queue) IsMultiProducer() bool { return q.multi }

// Close ends the handle. A producer's Close publishes what it sent,
// abandons an uncommitted Reserve and marks the queue closed (for a
// multi-producer queue: when no other live producer is left), so that the
// consumer drains the queue and then gets io.EOF. A consumer's Close
// publishes how far it read (with Hold: how far it acknowledged). The
// Close of a handle that never became the producer does not close the
// queue: a producer that may send nothing calls BecomeProducer first.
// Close is idempotent.
func (q *Queue) Close() error { return q.close(endClose) }

// Detach ends the handle like Close, but a producer leaves the queue open
// for sending: the consumer does not get io.EOF, and waits for the next
// producer.
func (q *Queue) Detach() error { return q.close(endDetach) }

// Abort ends the handle like Close, but marks the stream aborted rather
// than complete: the consumer receives every message committed before the
// Abort and then an error wrapping ErrAborted instead of io.EOF. It is what
// a producer calls when it fails part-way (its input broke, a message was
// too large, a deadline passed), so that the consumer can tell a cut-short
// stream from a complete one. It marks the queue aborted whatever other
// producers there are, and a handle that has not sent yet first becomes
// the producer (so it fails with ErrBusy while another live process is the
// single producer). A new producer reopens an aborted queue, as a closed
// one. Abort on a producer's handle broken by a memory fault still marks
// the queue aborted if the header page is there.
func (q *Queue) Abort() error { return q.close(endAbort) }

// How a handle ends: Detach, Close or Abort.
type ending uint8

const (
	endDetach ending = iota
	endClose
	endAbort
)

func (q *Queue) close(how ending) error {
	if q.state == stateClosed {
		return nil
	}
	op := [...]string{endDetach: opDetach, endClose: opClose, endAbort: opAbort}[how]
	var err error
	if q.state == stateOpen {
		// A watched fault lets closeRoles run on to its end, giving up the
		// roles on zero pages: the clean-up below needs them as they were,
		// as a guarded fault leaves them.
		p, c := q.p.active, q.c.active
		caught := fault.Catch(func() { err = q.closeRoles(how) })
		if hit := q.watch.Hit(); caught || hit {
			err = wrapErr(op, q.name, shm.ErrFault)
			if hit {
				q.p.active, q.c.active = p, c
			}
			q.broke()
		} else if err != nil {
			err = wrapErr(op, q.name, err)
		}
	}
	if q.state == stateBroken {
		// A fault left the ring and this handle's cursors out of step:
		// give up the roles (header words, each access guarded) so that
		// others may take them, and publish nothing.
		if how == endAbort && q.p.active {
			fault.Catch(func() { q.closed.Store(closedAborted) })
		}
		q.releaseRoles()
	}
	// Every method checks state first: nothing touches the mapping after
	// this.
	q.state = stateClosed
	q.ring, q.words = nil, nil
	q.watch.Stop()
	if cerr := q.seg.Close(); err == nil && cerr != nil {
		err = cerr
	}
	return err
}

// closeRoles gives up the handle's roles at Close, Detach or Abort: a
// producer publishes and marks the queue closed or aborted, a consumer
// publishes its head. Abort on a handle that has not sent makes it the
// producer first; that claim's error is returned.
func (q *Queue) closeRoles(how ending) error {
	var err error
	if how == endAbort && !q.p.active {
		err = q.claimProducer()
	}
	if q.p.active {
		q.closeProducer(how)
	}
	if q.c.active && q.cslots != nil {
		err = errors.Join(err, q.closeCompeting())
	} else if q.c.active {
		q.publishHead()
		q.unclaim(q.consumer, q.c.gen)
		q.c.active = false
	}
	return err
}

// releaseRoles frees a broken handle's claims, so that other handles may
// take its roles, and wakes both sides, so that a waiting peer looks again
// (and meets the fault) now. It does not mark the queue closed: a consumer
// must not take a producer's fault for the end of the stream. Each step is
// guarded on its own: the header page may be there when the ring is gone.
func (q *Queue) releaseRoles() {
	if q.p.active {
		s := q.producers[q.p.slot]
		fault.Catch(func() { q.unclaim(s, q.p.gen) })
		q.p.active = false
	}
	if q.c.active && q.cslots != nil {
		s := q.cslots[q.c.slot].slot
		fault.Catch(func() { q.unclaim(s, q.c.gen) })
		q.c.active = false
	} else if q.c.active {
		fault.Catch(func() { q.unclaim(q.consumer, q.c.gen) })
		q.c.active = false
	}
	fault.Catch(q.wakeConsumer)
	fault.Catch(func() { q.wakeSleeper(q.prodWait, prodSleeping) })
}

func (q *Queue) closeProducer(how ending) {
	if q.p.resv && q.multi {
		// Abandon the reservation: a skip record that the consumer passes.
		// (A single producer's reservation was never published: it just
		// goes.)
		q.setHeader(q.p.resvPos, q.p.resvLen, recordState(kindSkip, q.p.slot, q.p.gen))
	}
	q.p.resv = false
	if !q.multi {
		q.flushBatch()
		q.publishTail()
	}
	q.unclaim(q.producers[q.p.slot], q.p.gen)
	q.p.active = false
	// Closed once no other live producer remains. A producer that claims a
	// slot clears closed after its claim; re-scanning after the store means
	// that one of the two always sees the other (see claimProducer). The
	// compare-and-swaps leave an abort in place. An abort marks the stream
	// whoever else is sending: it is incomplete.
	racehint.Release(q.race)
	switch {
	case how == endAbort:
		q.closed.Store(closedAborted)
	case how == endClose && q.liveProducers() == 0:
		q.closed.CompareAndSwap(closedOpen, closedEnd)
		if q.liveProducers() > 0 {
			q.closed.CompareAndSwap(closedEnd, closedOpen)
		}
	}
	q.wakeConsumer()
}

// liveProducers counts the producer slots held by live processes.
func (q *Queue) liveProducers() int {
	n := 0
	for _, s := range q.producers {
		if alive, _ := q.held(s); alive {
			n++
		}
	}
	return n
}

// held reports whether a live process holds role s: whether its role byte
// is locked by this handle or by another open file description (see
// "Roles" in layout.go). The words in the slot do not matter. It costs a
// system call unless the role is this handle's, and is only asked where a
// handle claims a role, waits or recovers, never per message.
func (q *Queue) held(s slot) (bool, error) {
	if q.holds(s) {
		return true, nil
	}
	ok, err := roleHeld(q.fd, s.off)
	if err != nil {
		return false, liveErr(err)
	}
	return ok, nil
}

// alive is held for the callers that decide a peer is dead: an error from
// the lock counts as alive, so that nothing is taken from a live peer;
// the waits, which call held, report the error.
func (q *Queue) alive(s slot) bool {
	ok, err := q.held(s)
	return ok || err != nil
}

// holds reports whether this handle plays role s. Its own lock does not
// show through its own descriptor (F_OFD_GETLK reports only other open
// file descriptions' locks), so a handle that is producer and consumer
// asks itself.
func (q *Queue) holds(s slot) bool {
	if q.c.active && q.cslots != nil && s.off == q.cslots[q.c.slot].off {
		return true
	}
	return q.c.active && s.off == offConsumer || q.p.active && s.off == q.producers[q.p.slot].off
}

// liveErr makes an error of package live the queue's: a kernel without
// open file description locks is refused with errors.ErrUnsupported.
func liveErr(err error) error {
	if errors.Is(err, live.ErrUnsupported) {
		return fmt.Errorf("%w: %w: a queue's peers are told alive by these locks, in every PID namespace", errors.ErrUnsupported, err)
	}
	return err
}

// claim takes role s for this handle and returns the new generation: it
// locks the role byte (the kernel lets one open file description have it)
// and then writes the claim. ErrBusy if a live process holds the role.
//
// A claim word that says free (pid 0) under a held lock belongs to a
// process between its claim's two steps, or between a Close's: that
// lasts microseconds, so claim looks again for a while before it calls
// the role busy.
func (q *Queue) claim(s slot) (uint32, error) {
	for i := 0; ; i++ {
		err := holdRole(q.fd, s.off)
		if err == nil {
			break
		}
		if !errors.Is(err, live.ErrHeld) {
			return 0, liveErr(err)
		}
		if claimPID(s.claim.Load()) != 0 {
			return 0, ErrBusy
		}
		if i == claimRetries {
			return 0, errLockedUnclaimed
		}
		time.Sleep(claimPause)
	}
	gen := claimGen(s.claim.Load()) + 1
	s.ns.Store(q.ns)
	s.claim.Store(claimWord(q.pid, gen))
	return gen, nil
}

// errLockedUnclaimed is claim's ErrBusy when the role's byte stayed
// locked for all of claim's retries while its claim word said free: a read
// lock that a process with read access took (see docs/SECURITY.md), or a
// claimant stopped between its claim's two steps.
var errLockedUnclaimed = fmt.Errorf("%w: role byte locked, claim word free", ErrBusy)

// holdRole and roleHeld are live.Hold and live.Held; tests replace them to
// play a kernel without open file description locks.
var (
	holdRole = live.Hold
	roleHeld = live.Held
)

// claimRetries and claimPause bound how long claim waits for a role whose
// claim word says free while its lock is held: 10 ms.
const (
	claimRetries = 100
	claimPause   = 100 * time.Microsecond
)

// unclaim gives up role s of generation gen: it clears the claim and then
// unlocks the role byte. The lock goes with the descriptor anyway (Close
// closes it); unlocking first lets a new claimant in at once.
func (q *Queue) unclaim(s slot, gen uint32) {
	s.claim.CompareAndSwap(claimWord(q.pid, gen), claimWord(0, gen))
	live.Release(q.fd, s.off)
}

// claimant describes who holds role s, for an error message: the pid in
// the claim word, and whether it is one of this PID namespace's.
func (q *Queue) claimant(s slot) string {
	return describePeer(claimPID(s.claim.Load()), s.ns.Load(), q.ns)
}

// holder names the process that holds role s for ErrBusy's message; err
// is claim's error. A role byte locked for all of claim's retries with the
// claim word free is not a claimant at work: most likely a process with
// read access holds a read lock on it, which the lock itself tells. Else
// the claim word is read again after the claim failed: by then its holder
// may have let go, and another process be taking the role.
func (q *Queue) holder(role string, s slot, err error) string {
	if errors.Is(err, errLockedUnclaimed) {
		if r, lerr := live.ReadLocked(q.fd, s.off); lerr == nil && r {
			return fmt.Sprintf("a process with read access to the queue holds a read lock on the %s role's byte (offset %d), which keeps the role from being claimed until it lets go", role, s.off)
		}
		return fmt.Sprintf("a lock is held on the %s role's byte (offset %d) by a process that wrote no claim within %v", role, s.off, claimRetries*claimPause)
	}
	if claimPID(s.claim.Load()) == 0 {
		return "another process is taking the " + role + " role at this moment"
	}
	return "the queue has a live " + role + " (" + q.claimant(s) + ")"
}

// describePeer says "pid N", adding where N is a pid when it is not one of
// this PID namespace's (or when that is not known).
func describePeer(pid int32, theirs, ours uint64) string {
	switch {
	case theirs == 0 || ours == 0:
		return fmt.Sprintf("pid %d, PID namespace unknown", pid)
	case theirs != ours:
		return fmt.Sprintf("pid %d in another PID namespace", pid)
	}
	return fmt.Sprintf("pid %d", pid)
}

// claimProducer makes the handle a producer on first use.
func (q *Queue) claimProducer() error {
	if q.p.active {
		return nil
	}
	var err error
	for i, s := range q.producers {
		var gen uint32
		gen, err = q.claim(s)
		if errors.Is(err, errors.ErrUnsupported) {
			return err
		}
		if err != nil {
			continue
		}
		q.p = producer{active: true, slot: i, gen: gen, data: uint64(recordState(kindData, i, gen)) << 32}
		if !q.multi {
			// The ring ends at the first zero word after head: an earlier
			// producer's last commit, whatever it published of its tail.
			h := q.head.Load()
			t, err := q.findEnd(h)
			if err == nil {
				err = checkCursors(h, q.tail.Load(), q.capacity, false)
			}
			if err != nil {
				q.unclaim(s, gen)
				q.p.active = false
				return err
			}
			q.p.tail, q.p.head, q.p.pub = t, h, t
			q.tail.Store(t)
		}
		q.closed.Store(0)
		return nil
	}
	if q.multi {
		return fmt.Errorf("%w: all %d producer slots are held by live processes", ErrBusy, len(q.producers))
	}
	return fmt.Errorf("%w: %s", ErrBusy, q.holder("producer", q.producers[0], err))
}

// claimConsumer makes the handle the consumer on first use.
func (q *Queue) claimConsumer() error {
	if q.c.active {
		return nil
	}
	gen, err := q.claim(q.consumer)
	if errors.Is(err, ErrBusy) {
		return fmt.Errorf("%w: %s", ErrBusy, q.holder("consumer", q.consumer, err))
	}
	if err != nil {
		return err
	}
	h := q.head.Load()
	t := q.tail.Load()
	if err := checkCursors(h, t, q.capacity, q.multi); err != nil {
		q.unclaim(q.consumer, gen)
		return err
	}
	q.c = consumer{active: true, gen: gen, head: h, pub: h, tail: h, every: q.c.every}
	return nil
}

// setHeader stores a record header at ring offset off (a multiple of 8
// inside the ring) atomically: how a multi-producer record is committed or
// abandoned.
func (q *Queue) setHeader(off uint64, n int, st uint32) {
	racehint.Release(q.race)
	q.publish(&q.words[off>>3], uint64(uint32(n))|uint64(st)<<32)
}

// publish stores a word that hands data to the other side: a record's
// header or the head cursor. When this process is registered for the
// asymmetric barrier it is a release store, which on amd64 does not wait
// for the store buffer to drain; a sleeper pays for the store-load order
// instead (see wait.go).
func (q *Queue) publish(w *atomic.Uint64, v uint64) {
	if q.light {
		mem.StoreRelease64(w, v)
		return
	}
	w.Store(v)
}

// unlock releases the reserve lock, with a release store when publish uses
// one: a spinlock's unlock needs no more.
func (q *Queue) unlock() {
	if q.light {
		mem.StoreRelease32(q.lock, 0)
		return
	}
	q.lock.Store(0)
}

// publishTail publishes the single producer's tail cursor. The consumer
// does not need it (it reads record headers; see spscReserve): it is for
// Stat, Probe and a producer that takes over.
func (q *Queue) publishTail() {
	if q.p.tail != q.p.pub {
		q.p.pub = q.p.tail
		q.tail.Store(q.p.tail)
	}
}

// wakeConsumer wakes the consumer if it sleeps (or is about to).
func (q *Queue) wakeConsumer() {
	if q.consWait.Load() != 0 {
		q.wakeSleeper(q.consWait, 1)
	}
}

// wakeSleeper clears a futex word and wakes its waiters if the word said
// sleeping.
func (q *Queue) wakeSleeper(word *atomic.Uint32, sleeping uint32) {
	if word.Swap(0) == sleeping {
		futex.WakeAll(word)
	}
}

// publishHead makes the consumer's progress visible to producers and wakes
// a producer that sleeps for space.
func (q *Queue) publishHead() {
	if h := q.publishable(); h != q.c.pub {
		q.c.pub = h
		racehint.Release(q.race)
		q.publish(q.head, h)
	}
	if q.prodWait.Load() != prodIdle {
		q.wakeSleeper(q.prodWait, prodSleeping)
	}
}

func wrapErr(op, name string, err error) error {
	if err == nil {
		return nil
	}
	return &shm.Error{Op: op, Name: name, Err: err}
}

// unwrapShm takes the cause out of a *shm.Error so that the queue's own
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
