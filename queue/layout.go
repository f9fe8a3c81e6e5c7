package queue

import (
	"encoding/binary"
	"fmt"
)

// The layout of a queue segment, described once. All integers are little
// endian; every cursor and word is naturally aligned. The header is one page
// so that the ring starts page-aligned.
//
//	offset  size  field          written by          notes
//	------  ----  -------------  ------------------  ---------------------------------
//	line 0: static, written once by Create (magic last)
//	     0     8  magic          creator             "SHMQUEUE"
//	     8     4  version        creator             layoutVersion
//	    12     4  flags          creator             flagMultiProducer, flagConsumers
//	    16     8  capacity       creator             ring bytes, a power of two
//	    24     4  max message    creator             ≤ capacity/2 - recordHeader
//	    28     4  slots          creator             producer slots: 1, or maxSlots
//	    32    16  id             creator             random; tells this queue from
//	                                                 an earlier one of the same name
//	    48     4  consumers      creator             consumer slots: 0 (one consumer,
//	                                                 at 256), or 2..MaxConsumers with
//	                                                 flagConsumers
//	line 1: the producers' line
//	    64     8  tail           producer(s)         write cursor (see below)
//	    72     4  consumer wait  consumer, producers futex word: 1 = consumer sleeps
//	    76     4  closed         producers           closedOpen, closedEnd, closedAborted
//	line 2: the consumer's line
//	   128     8  head           consumer            read cursor, published lazily
//	   136     4  producer wait  producers, consumer futex word: 0, wantHead, sleeping
//	line 3:
//	   192     4  reserve lock   producers (MPSC)    0 free, else lockValue(slot, gen)
//	line 4:
//	   256     8  consumer       consumer            claim word; its role byte (live)
//	   264     8  consumer ns    consumer            the claimant's PID namespace
//	line 5 on:
//	   320  16*n  producer slots producers           claim word + PID namespace each;
//	                                                 slot i's role byte is 320+16*i
//	line 21: competing consumers only (flagConsumers; zero otherwise)
//	  1344     8  take           consumers           next record to take, under the
//	                                                 consume lock
//	  1352     4  consume lock   consumers           0 free, else lockValue(slot, gen)
//	line 22 on: the consumer table (flagConsumers), one line per slot
//	  1408  64*n  consumer slots consumers           +0 claim word, +8 PID namespace,
//	                                                 +16 in flight, +24 deliveries;
//	                                                 slot i's role byte is 1408+64*i
//	  4096   cap  ring           producers           records, see below
//
// The closed word says how the sending side ended: closedOpen while a
// producer may still send, closedEnd after a producer's Close (the stream
// is complete: the consumer drains it and gets io.EOF), closedAborted after
// a producer's Abort (the stream was cut short: the consumer drains what
// was committed and gets ErrAborted). A producer that claims a slot sets it
// back to closedOpen. Any other value is corrupt.
//
// Cursors are byte positions that only grow (2^64 bytes never wrap in
// practice); a position's ring offset is pos & (capacity-1). The consumer
// owns head (and publishes it lazily); tail-head is the number of bytes in
// use, never more than capacity.
//
// Single producer: the ring always ends in an end marker, a zero word where
// the next record will go. The producer writes a record behind the marker
// (a new marker after it, the payload, a header at offset 0 behind a wrap
// record) and commits it by replacing the marker with the record's (or the
// wrap record's) header in one 8-byte store, a release store: the marker
// and payload stores before it are visible first (see doc.go, "Memory
// order", and wait.go for the sleep/wake hand-off that needs more than
// release order). The consumer reads the header at head: zero means
// nothing yet. It never reads tail, which the producer
// publishes only now and then, for Stat, Probe and a producer that takes
// over (which finds the end by walking from head to the marker). So the
// ring holds at most capacity-8 bytes of records.
//
// Multi-producer: tail is the reservation cursor, advanced under the
// reserve lock after the record headers are written (as pending); each
// record's header says whether it is committed, and the consumer reads only
// below tail.
//
// Bytes 52 to 63 of the static line are reserved (kept zero).
//
// With flagConsumers the queue has competing consumers (see consumers.go
// for their state machine): head is then the smallest position still in
// use, the take cursor or a message in flight at some consumer, and the
// single consumer's words at 256 stay unused. The layout version did not
// change for it, since no offset moved: a reader that predates the flag
// refuses such a queue for its unknown flag bit, and never misreads it.
//
// Roles. The consumer and each producer slot are a role, and a role's
// liveness is not written anywhere: it is an open file description lock
// (internal/live) on the role byte, the first byte of the role's slot
// (256 for the consumer, 320+16*i for producer slot i, 1408+64*i for
// consumer slot i of a queue with competing consumers), held for as long as
// the role is played. A role is live exactly while some open file
// description of the object holds that lock; the kernel drops it when its
// holder dies, and every PID namespace that shares the object sees it.
// Locks do not change the bytes: the claim words below live there as well.
//
// A claim word (uint64) is pid<<32 | generation, written by the lock's
// holder right after it took the lock: pid 0 means the role was given up;
// the generation grows by one with every claim so that a record or a
// reserve lock left by an earlier owner of the same slot is told apart from
// the current owner's. The pid is the claimant's in its own PID namespace,
// for people (stat, error messages) only: nothing decides on it. The word
// after it holds the claimant's PID namespace (the inode number of
// /proc/self/ns/pid, 0 when unknown), written before the claim word, so
// that a reader can tell a pid from its own namespace from one of another.
//
// The lock is a write lock of one byte: struct flock {l_type F_WRLCK,
// l_whence SEEK_SET, l_start the role byte's offset, l_len 1}, taken with
// fcntl(F_OFD_SETLK) on a descriptor of the object open for writing, which
// stays open while the role is played. A role is held when
// fcntl(F_OFD_GETLK) with that flock, on any descriptor of the object (a
// read-only one will do), returns l_type F_WRLCK; a read lock, which a
// reader may take, does not count. GETLK does not report the asker's own
// open file description's locks, so a handle knows its own roles itself.
//
// Taking a role (claim):
//
//	lock the role byte (F_OFD_SETLK)     fails while a live holder has it: ErrBusy
//	namespace word = own PID namespace
//	claim word     = pid<<32 | (generation in the claim word)+1
//
// Giving it up (Close): claim word = 0<<32 | gen, then unlock the role
// byte (F_UNLCK). A holder that dies in between, or anywhere, loses the
// lock with its last descriptor; the next claimant takes the role over
// whatever the words say. A claim word that says free under a held lock
// is a claimant between its steps, or a Close between its: a claim
// looks again for up to 10 ms before it says ErrBusy.
//
// A record is an 8-byte header and its payload, padded to 8 bytes:
//
//	+0  uint32 length  payload bytes (for a wrap record: bytes to the ring end - 8)
//	+4  uint32 state   kind<<28 | slot<<22 | generation&genMask
//	+8  payload...     then padding to the next multiple of 8
//
// A record never crosses the ring's end: when one does not fit, the producer
// writes a wrap record that covers the rest of the ring and puts the record
// at offset 0. Kinds: kindData (committed), kindPending (reserved by an MPSC
// producer, not yet committed), kindWrap, kindSkip (abandoned, no message).
const (
	magic         uint64 = 0x45554555514d4853 // "SHMQUEUE" read as a little-endian uint64; shm.Magic(shm.KindQueue) too
	layoutVersion uint32 = 2

	offMagic    = 0
	offVersion  = 8
	offFlags    = 12
	offCapacity = 16
	offMaxMsg   = 24
	offSlots    = 28
	offID       = 32
	idSize      = 16
	offConsN    = 48

	offTail     = 64
	offConsWait = 72
	offClosed   = 76

	offHead     = 128
	offProdWait = 136

	offLock = 192

	offConsumer  = 256
	offProducers = 320
	slotSize     = 16
	maxSlots     = 64

	offTake         = 1344
	offConsumeLock  = 1352
	offConsSlots    = 1408
	consSlotSize    = 64
	consOffInFlight = 16
	consOffDeliv    = 24

	headerSize = 4096

	flagMultiProducer uint32 = 1
	flagConsumers     uint32 = 2
	knownFlags               = flagMultiProducer | flagConsumers

	// MaxConsumers is the most consumers a queue created with Consumers
	// can have at once.
	MaxConsumers = 32

	recordHeader = 8

	// MinCapacity and MaxCapacity bound the ring size.
	MinCapacity = 64
	MaxCapacity = 1 << 40
)

// Record kinds, in the top four bits of a record's state word.
const (
	kindData    uint32 = 1
	kindPending uint32 = 2
	kindWrap    uint32 = 3
	kindSkip    uint32 = 4

	kindShift = 28
	slotShift = 22
	slotMask  = 0x3f
	genMask   = 1<<slotShift - 1
)

// Values of the closed word.
const (
	closedOpen    uint32 = 0
	closedEnd     uint32 = 1
	closedAborted uint32 = 2
)

// Values of the producer-wait word.
const (
	prodIdle     uint32 = 0
	prodWantHead uint32 = 1 // a producer spins for space: publish head now
	prodSleeping uint32 = 2 // a producer sleeps on the word: publish and wake
)

func recordState(kind uint32, slot int, gen uint32) uint32 {
	return kind<<kindShift | uint32(slot)<<slotShift | gen&genMask
}

func stateKind(st uint32) uint32 { return st >> kindShift }
func stateSlot(st uint32) int    { return int(st>>slotShift) & slotMask }
func stateGen(st uint32) uint32  { return st & genMask }

// recSize is the ring space of a record with an n-byte payload.
func recSize(n int) uint64 { return (uint64(n) + recordHeader + 7) &^ 7 }

func claimWord(pid int32, gen uint32) uint64 { return uint64(uint32(pid))<<32 | uint64(gen) }
func claimPID(w uint64) int32                { return int32(uint32(w >> 32)) }
func claimGen(w uint64) uint32               { return uint32(w) }

// lockValue is the reserve lock's value while slot's owner of generation gen
// holds it.
func lockValue(slot int, gen uint32) uint32 { return uint32(slot+1)<<24 | gen&0xffffff }
func lockSlot(v uint32) int                 { return int(v>>24) - 1 }
func lockGen(v uint32) uint32               { return v & 0xffffff }

func isPow2(n uint64) bool { return n != 0 && n&(n-1) == 0 }

// geometry is the validated static part of a header.
type geometry struct {
	capacity uint64
	maxMsg   int
	slots    int
	multi    bool
	cons     int // competing consumer slots; 0 for a single consumer
	id       ID
}

// parseHeader validates the static line of a header. size is the object's
// size (or -1 when unknown, as for Probe on a header copy).
func parseHeader(b []byte, size int64) (geometry, error) {
	if len(b) < offSlots+4 {
		return geometry{}, fmt.Errorf("%w: %d bytes, too small for a queue header", ErrNotQueue, len(b))
	}
	le := binary.LittleEndian
	if m := le.Uint64(b[offMagic:]); m != magic {
		return geometry{}, fmt.Errorf("%w: magic %#016x, want %#016x", ErrNotQueue, m, magic)
	}
	if v := le.Uint32(b[offVersion:]); v != layoutVersion {
		return geometry{}, fmt.Errorf("%w: layout version %d, this package reads %d", ErrVersion, v, layoutVersion)
	}
	g := geometry{}
	flags := le.Uint32(b[offFlags:])
	if flags&^knownFlags != 0 {
		return g, fmt.Errorf("%w: header field flags at offset %d: unknown bits %#x", ErrCorrupt, offFlags, flags&^knownFlags)
	}
	g.multi = flags&flagMultiProducer != 0
	g.capacity = le.Uint64(b[offCapacity:])
	if !isPow2(g.capacity) || g.capacity < MinCapacity || g.capacity > MaxCapacity {
		return g, fmt.Errorf("%w: header field capacity at offset %d: %d is not a power of two in [%d, %d]", ErrCorrupt, offCapacity, g.capacity, MinCapacity, uint64(MaxCapacity))
	}
	if size >= 0 && uint64(size) < headerSize+g.capacity {
		return g, fmt.Errorf("%w: the object has %d bytes, a queue of capacity %d needs %d", ErrCorrupt, size, g.capacity, headerSize+g.capacity)
	}
	mm := uint64(le.Uint32(b[offMaxMsg:]))
	if mm > maxMessageFor(g.capacity) {
		return g, fmt.Errorf("%w: header field max message at offset %d: %d is more than %d allowed by capacity %d", ErrCorrupt, offMaxMsg, mm, maxMessageFor(g.capacity), g.capacity)
	}
	g.maxMsg = int(mm)
	g.slots = int(le.Uint32(b[offSlots:]))
	want := 1
	if g.multi {
		want = maxSlots
	}
	if g.slots != want {
		return g, fmt.Errorf("%w: header field slots at offset %d: %d, want %d", ErrCorrupt, offSlots, g.slots, want)
	}
	if len(b) >= offID+idSize {
		copy(g.id[:], b[offID:offID+idSize])
	}
	if len(b) >= offConsN+4 {
		n := int(le.Uint32(b[offConsN:]))
		switch {
		case flags&flagConsumers == 0 && n != 0:
			return g, fmt.Errorf("%w: header field consumers at offset %d: %d, want 0 without competing consumers (flags %#x)", ErrCorrupt, offConsN, n, flags)
		case flags&flagConsumers != 0 && (n < 2 || n > MaxConsumers):
			return g, fmt.Errorf("%w: header field consumers at offset %d: %d, want 2 to %d", ErrCorrupt, offConsN, n, MaxConsumers)
		}
		g.cons = n
	} else if flags&flagConsumers != 0 {
		return g, fmt.Errorf("%w: %d bytes, too small for the header field consumers at offset %d", ErrCorrupt, len(b), offConsN)
	}
	return g, nil
}

// checkCursors checks a head h and a tail t read from a header, as a
// claimant (a consumer or a single producer taking over) or a tool reads
// them: both multiples of 8 and at most capacity apart. A multi-producer
// tail never lags head: head ≤ tail ≤ head + capacity. A single producer
// publishes its tail only now and then (every sixteenth of the ring, and
// when it waits or gives up the role), so its published tail may be behind
// the consumer's head, but by less than capacity: head ≤ tail + capacity.
// The comparisons come before any difference is taken, so that a cursor
// near 2^64 cannot pass by wrapping around.
func checkCursors(h, t, capacity uint64, multi bool) error {
	switch {
	case h%8 != 0 || t%8 != 0:
		return fmt.Errorf("%w: cursors head %d (header offset %d) and tail %d (header offset %d): both must be multiples of 8", ErrCorrupt, h, offHead, t, offTail)
	case h <= t && t-h > capacity:
		return fmt.Errorf("%w: cursors head %d (header offset %d) and tail %d (header offset %d): tail is more than capacity %d past head", ErrCorrupt, h, offHead, t, offTail, capacity)
	case h > t && multi:
		return fmt.Errorf("%w: head cursor at header offset %d is %d, past the tail %d (header offset %d); it must be from tail - capacity %d to tail", ErrCorrupt, offHead, h, t, offTail, capacity)
	case h > t && h-t > capacity:
		return fmt.Errorf("%w: head cursor at header offset %d is %d, more than capacity %d past the published tail %d (header offset %d)", ErrCorrupt, offHead, h, capacity, t, offTail)
	}
	return nil
}

// maxMessageFor is the largest payload a ring of capacity bytes can always
// take: a record plus the wrap padding in front of it must fit in the ring.
func maxMessageFor(capacity uint64) uint64 {
	m := capacity/2 - recordHeader
	if m > 1<<31 {
		m = 1 << 31
	}
	return m
}
