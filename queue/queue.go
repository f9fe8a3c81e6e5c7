package queue

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/shmkit/shm"
	"github.com/shmkit/shm/internal/fault"
	"github.com/shmkit/shm/internal/futex"
	"github.com/shmkit/shm/internal/mem"
	"github.com/shmkit/shm/internal/proc"
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
	// (or its consumer).
	ErrBusy = errors.New("another live process holds this role")

	// ErrTooLarge is wrapped by the error for a message longer than the
	// queue's maximum message size.
	ErrTooLarge = errors.New("message too large")

	// ErrClosed is wrapped by the error of every method called after Close.
	ErrClosed = errors.New("queue handle is closed")

	// ErrFull is returned, unwrapped, by TrySend when there is no room.
	ErrFull = errors.New("queue is full")

	// ErrEmpty is returned, unwrapped, by TryReceive when there is no message.
	ErrEmpty = errors.New("queue is empty")
)

// Queue is a handle on a queue segment. A handle becomes the queue's
// producer with its first Send (or Reserve) and its consumer with its first
// Receive (or Peek); it may be both. A handle is not safe for concurrent use
// by several goroutines: give each goroutine its own handle (Open again).
type Queue struct {
	name string
	seg  *shm.Segment
	cfg  config
	geometry
	mask  uint64
	ring  []byte
	words []atomic.Uint64 // the ring as 8-byte words: record headers are words[off/8]
	race  *byte           // race detector key (race builds only; see race.go)
	light bool            // commits and head stores may be release-only (see wait.go)
	// tailEvery is how many bytes a single producer sends between
	// publications of its tail (which the consumer does not need).
	tailEvery uint64
	self      proc.Identity

	tail, head         *atomic.Uint64
	consWait, prodWait *atomic.Uint32
	closed, lock       *atomic.Uint32
	consumer           slot
	producers          []slot
	state              handleState
	p                  producer
	c                  consumer
}

// slot is a claim word and a start-time word in the header.
type slot struct {
	claim, start *atomic.Uint64
}

type producer struct {
	active  bool
	slot    int
	gen     uint32
	tail    uint64 // SPSC: the local write cursor
	pub     uint64 // SPSC: the last published tail
	head    uint64 // the last head seen
	resv    bool   // a Reserve awaits its Commit
	resvPos uint64 // ring offset of the reserved record
	resvLen int
	resvEnd uint64 // SPSC: the tail after the reserved record

	resvCommit hdrWrite // SPSC: the store that commits the reservation
	batching   bool     // SPSC: a SendBatch deferred batchFirst
	batchFirst hdrWrite
}

type consumer struct {
	active  bool
	gen     uint32
	head    uint64 // the local read cursor
	pub     uint64 // the last published head
	tail    uint64 // the last tail seen
	every   uint64 // publish head after this many bytes
	peeked  bool
	peekOff uint64 // ring offset of the peeked payload
	peekLen int
	peekN   uint64 // ring bytes from head to the peeked message's end
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

func create(name string, capacity int64, c *config) (*Queue, error) {
	if capacity < MinCapacity || capacity > MaxCapacity || !isPow2(uint64(capacity)) {
		return nil, fmt.Errorf("%w: capacity %d is not a power of two from %d to %d", shm.ErrInvalid, capacity, MinCapacity, int64(MaxCapacity))
	}
	limit := maxMessageFor(uint64(capacity))
	mm := uint64(c.maxMsg)
	if c.maxMsg == 0 {
		mm = limit
	}
	if c.maxMsg < 0 || mm > limit {
		return nil, fmt.Errorf("%w: max message %d is not in [0, %d] for capacity %d", shm.ErrInvalid, c.maxMsg, limit, capacity)
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
	seg, err := shm.Open(name, shm.Dir(c.dir))
	if err != nil {
		return nil, err // already "shm open NAME: ..."
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
	return q, err
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
	self, err := proc.Self()
	if err != nil {
		return nil, err
	}
	q := &Queue{
		name:     shmName(name),
		seg:      seg,
		cfg:      *c,
		geometry: g,
		mask:     g.capacity - 1,
		ring:     b[headerSize : headerSize+g.capacity : headerSize+g.capacity],
		self:     self,
		tail:     mem.MustUint64(b, offTail),
		head:     mem.MustUint64(b, offHead),
		consWait: mem.MustUint32(b, offConsWait),
		prodWait: mem.MustUint32(b, offProdWait),
		closed:   mem.MustUint32(b, offClosed),
		lock:     mem.MustUint32(b, offLock),
		consumer: slotAt(b, offConsumer),
		race:     raceKey(seg.Fd()),
		light:    mem.Asymmetric(),
	}
	if q.words, err = mem.Uint64s(q.ring, 0, len(q.ring)/8); err != nil {
		return nil, err
	}
	for i := range g.slots {
		q.producers = append(q.producers, slotAt(b, offProducers+i*slotSize))
	}
	q.c.every = max(g.capacity/4, recordHeader)
	q.tailEvery = max(g.capacity/16, recordHeader)
	return q, nil
}

func slotAt(b []byte, off int) slot {
	return slot{claim: mem.MustUint64(b, off), start: mem.MustUint64(b, off+8)}
}

func shmName(n string) string {
	for len(n) > 0 && n[0] == '/' {
		n = n[1:]
	}
	return n
}

// Name returns the queue's name without a leading slash.
func (q *Queue) Name() string { return q.name }

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
// publishes how far it read. Close is idempotent.
func (q *Queue) Close() error { return q.close(true) }

// Detach ends the handle like Close, but a producer leaves the queue open
// for sending: the consumer does not get io.EOF, and waits for the next
// producer.
func (q *Queue) Detach() error { return q.close(false) }

func (q *Queue) close(markClosed bool) error {
	if q.state == stateClosed {
		return nil
	}
	op := opClose
	if !markClosed {
		op = opDetach
	}
	var err error
	if q.state == stateOpen {
		if fault.Catch(func() { q.closeRoles(markClosed) }) {
			err = wrapErr(op, q.name, shm.ErrFault)
			q.broke()
		}
	}
	if q.state == stateBroken {
		// A fault left the ring and this handle's cursors out of step:
		// give up the roles (header words, each access guarded) so that
		// others may take them, and publish nothing.
		q.releaseRoles()
	}
	// Every method checks state first: nothing touches the mapping after
	// this.
	q.state = stateClosed
	q.ring, q.words = nil, nil
	if cerr := q.seg.Close(); err == nil && cerr != nil {
		err = cerr
	}
	return err
}

// closeRoles gives up the handle's roles at Close: a producer publishes and
// marks the queue closed, a consumer publishes its head.
func (q *Queue) closeRoles(markClosed bool) {
	if q.p.active {
		q.closeProducer(markClosed)
	}
	if q.c.active {
		q.publishHead()
		q.consumer.claim.CompareAndSwap(claimWord(q.self.PID, q.c.gen), claimWord(0, q.c.gen))
		q.c.active = false
	}
}

// releaseRoles frees a broken handle's claims, so that other handles may
// take its roles, and wakes both sides, so that a waiting peer looks again
// (and meets the fault) now. It does not mark the queue closed: a consumer
// must not take a producer's fault for the end of the stream. Each step is
// guarded on its own: the header page may be there when the ring is gone.
func (q *Queue) releaseRoles() {
	if q.p.active {
		s := q.producers[q.p.slot]
		fault.Catch(func() { s.claim.CompareAndSwap(claimWord(q.self.PID, q.p.gen), claimWord(0, q.p.gen)) })
		q.p.active = false
	}
	if q.c.active {
		fault.Catch(func() {
			q.consumer.claim.CompareAndSwap(claimWord(q.self.PID, q.c.gen), claimWord(0, q.c.gen))
		})
		q.c.active = false
	}
	fault.Catch(q.wakeConsumer)
	fault.Catch(func() { q.wakeSleeper(q.prodWait, prodSleeping) })
}

func (q *Queue) closeProducer(markClosed bool) {
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
	s := q.producers[q.p.slot]
	s.claim.CompareAndSwap(claimWord(q.self.PID, q.p.gen), claimWord(0, q.p.gen))
	q.p.active = false
	// Closed once no other live producer remains. A producer that claims a
	// slot clears closed after its claim; re-scanning after the store means
	// that one of the two always sees the other (see claimProducer).
	racehint.Release(q.race)
	if markClosed && q.liveProducers() == 0 {
		q.closed.Store(1)
		if q.liveProducers() > 0 {
			q.closed.Store(0)
		}
	}
	q.wakeConsumer()
}

// liveProducers counts the producer slots held by live processes.
func (q *Queue) liveProducers() int {
	n := 0
	for _, s := range q.producers {
		if w := s.claim.Load(); claimPID(w) != 0 && slotAlive(s, w) {
			n++
		}
	}
	return n
}

// slotAlive reports whether the owner named by claim word w of s lives.
func slotAlive(s slot, w uint64) bool {
	pid := claimPID(w)
	if pid <= 0 {
		return false
	}
	start := s.start.Load()
	if start == 0 { // claimed a moment ago, start time not yet written
		_, err := proc.Of(int(pid))
		return err == nil
	}
	return proc.Alive(proc.Identity{PID: pid, Start: start})
}

// claim takes slot s for this process, if it is free or its owner is dead,
// and returns the new generation. ErrBusy if a live owner holds it.
func (q *Queue) claim(s slot) (uint32, error) {
	for range 100 {
		w := s.claim.Load()
		if claimPID(w) != 0 && slotAlive(s, w) {
			return 0, ErrBusy
		}
		gen := claimGen(w) + 1
		if s.claim.CompareAndSwap(w, claimWord(q.self.PID, gen)) {
			s.start.Store(q.self.Start)
			return gen, nil
		}
	}
	return 0, ErrBusy
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
		if err != nil {
			continue
		}
		q.p = producer{active: true, slot: i, gen: gen}
		if !q.multi {
			// The ring ends at the first zero word after head: an earlier
			// producer's last commit, whatever it published of its tail.
			h := q.head.Load()
			t, err := q.findEnd(h)
			if err != nil {
				s.claim.CompareAndSwap(claimWord(q.self.PID, gen), claimWord(0, gen))
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
	return fmt.Errorf("%w: the queue has a live producer (pid %d)", ErrBusy, claimPID(q.producers[0].claim.Load()))
}

// claimConsumer makes the handle the consumer on first use.
func (q *Queue) claimConsumer() error {
	if q.c.active {
		return nil
	}
	gen, err := q.claim(q.consumer)
	if err != nil {
		return fmt.Errorf("%w: the queue has a live consumer (pid %d)", ErrBusy, claimPID(q.consumer.claim.Load()))
	}
	h := q.head.Load()
	t := q.tail.Load()
	if h%8 != 0 || q.multi && (t < h || t-h > q.capacity) {
		q.consumer.claim.CompareAndSwap(claimWord(q.self.PID, gen), claimWord(0, gen))
		return q.corruptCursors(t, h)
	}
	q.c = consumer{active: true, gen: gen, head: h, pub: h, tail: h, every: q.c.every}
	return nil
}

func (q *Queue) corruptCursors(t, h uint64) error {
	return fmt.Errorf("%w: cursors tail %d (offset %d) and head %d (offset %d) differ by more than capacity %d or are misaligned", ErrCorrupt, t, offTail, h, offHead, q.capacity)
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
	if q.c.head != q.c.pub {
		q.c.pub = q.c.head
		racehint.Release(q.race)
		q.publish(q.head, q.c.head)
	}
	if q.prodWait.Load() != prodIdle {
		q.wakeSleeper(q.prodWait, prodSleeping)
	}
}

func wrapErr(op, name string, err error) error {
	if err == nil {
		return nil
	}
	return &shm.Error{Op: op, Name: shmName(name), Err: err}
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
