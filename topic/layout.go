package topic

import (
	"encoding/binary"
	"fmt"
)

// The layout of a topic segment, described once. All integers are little
// endian; every cursor and word is naturally aligned. The header is a whole
// number of pages (it grows with the subscriber table) so that the ring
// starts page-aligned.
//
//	offset  size  field           written by            notes
//	------  ----  --------------  --------------------  ------------------------------
//	line 0: static, written once by Create (magic last)
//	     0     8  magic           creator               "SHMTOPIC"
//	     8     4  version         creator               layoutVersion
//	    12     4  flags           creator               flagOverwrite
//	    16     8  capacity        creator               ring bytes, a power of two
//	    24     4  max message     creator               ≤ capacity/2 - 2*recordHeader
//	    28     4  subscribers     creator               table entries, 1..MaxSubscribers
//	    32     4  history         creator               messages a joiner may start with
//	    48    16  id              creator               random; tells this topic from an
//	                                                    earlier one of the same name
//	line 1: the publisher's line
//	    64     8  tail            publisher             end of the last committed record
//	    72     8  oldest          publisher             first record still intact
//	    80     4  closed          publisher             closedOpen, closedEnd, closedAborted
//	    84     4  sub wait        subscribers, pub.     futex word: 1 = a subscriber sleeps
//	line 2: read-mostly words
//	   128     4  pub wait        publisher, subs.      futex word: 1 = the publisher sleeps
//	   132     4  join gen        joiners               grows by one with every join
//	   136     4  pub state       publisher             1 while a publisher holds the role
//	   140     4  pub pid         publisher             for display only
//	   144     8  pub want        publisher             position it waits for (pub wait)
//	line 3:
//	   192     1  publisher role  (an OFD lock, no data; see package internal/live)
//	   256  64*n  subscriber table, one line per entry:
//	       +0  8  position        subscriber            next record it reads
//	       +8  8  sequence        subscriber            number of that record's message
//	      +16  4  state           subscriber, reclaimer generation<<1 | active
//	      +20  4  pid             subscriber            for display only
//	      +24  1  role            (an OFD lock, no data)
//	header size (a multiple of 4096): the ring
//
// Positions are byte positions that only grow (2^64 bytes never wrap in
// practice); a position's ring offset is pos & (capacity-1). Every record
// starts at a multiple of 16:
//
//	+0   uint64 sequence  number of the message (for a wrap record or the end
//	                      marker: of the next message); the first is 0
//	+8   uint32 length    payload bytes (wrap record: bytes to the ring's end - 16)
//	+12  uint32 kind      kindEnd, kindData or kindWrap
//	+16  payload...       then padding to the next multiple of 16
//
// The ring always ends in an end marker (kind kindEnd, the next sequence)
// at tail. The publisher writes a record behind the marker (a new marker
// after it, the payload, the record at offset 0 behind a wrap record when
// it does not fit before the ring's end) and commits it by storing the
// length-and-kind word over the marker's in one 8-byte release store; then
// it publishes tail. So a subscriber reads record headers, never tail,
// while it keeps up; joiners and Stat read tail.
//
// The ring keeps every record from oldest to tail intact. Before the
// publisher writes over a record it moves oldest past it (to the first
// record boundary at or after the last position it is about to write, minus
// capacity; a lossless publisher may go on past records that every
// subscriber has read, at most a 64th of the ring or 4 KiB further, so
// that it moves oldest once per run of small messages). A lossless topic first waits until every active subscriber's
// position is at or after the new oldest: a subscriber's record is never
// written over. In an overwrite topic the publisher never waits; a reader
// copies a record and then reads oldest again (a seqlock on oldest): when
// oldest has passed the record, the copy may be torn and is thrown away,
// and the reader moves to oldest and reports how many messages it missed
// (the difference of the two records' sequences).
//
// A subscriber entry's state word is 0 (never used), or generation<<1 |
// active. A joiner that locked the entry's role byte stores the next
// generation with the active bit; a subscriber that leaves clears the bit
// (compare-and-swap from its own value); anyone who finds the bit set but
// the role byte unlocked (its holder died) clears it the same way. The
// generation tells a reclaimer's stale compare-and-swap apart from a new
// holder's state. The publisher considers active entries only.
//
// The closed word says how the publishing side ended: closedOpen while a
// publisher may still publish (a publisher that takes the role stores it),
// closedEnd after a publisher's Close (the stream is complete: a
// subscriber reads what remains and gets io.EOF), closedAborted after its
// Abort (the stream was cut short: a subscriber reads what remains and
// gets ErrAborted). Detach leaves it as it is; any other value is corrupt.
//
// Joining (see join in subscribe.go): a joiner stores position 0 and sets
// its entry active, adds one to join gen, and only then reads oldest and
// tail and chooses its start; the publisher, after it moves oldest, reads
// join gen and, when it changed, looks at the table again before it writes
// over anything. Either the publisher sees the joiner (and, on a lossless
// topic, waits for it) or the joiner sees the new oldest (and starts after
// it): a message published after a subscriber joined is never lost to it
// on a lossless topic, and on an overwrite topic it is read or counted as
// missed. The joiner's position 0 holds a lossless publisher back while
// the joiner walks the ring for its history. A joiner that reads oldest 0
// starts at position 0, the topic's first record (sequence 0): by the
// same argument a lossless publisher that moves oldest past it meanwhile
// sees the joiner and waits for it, and an overwrite joiner that finds
// oldest moved while it chose chooses again. A lossless publisher moves
// oldest past 0 no sooner than its start grace after it took the role
// (see StartGrace), so that joiners started with it find the record.
const (
	magic         uint64 = 0x4349504f544d4853 // "SHMTOPIC" read as a little-endian uint64
	layoutVersion uint32 = 1

	offMagic       = 0
	offVersion     = 8
	offFlags       = 12
	offCapacity    = 16
	offMaxMsg      = 24
	offSubscribers = 28
	offHistory     = 32
	offID          = 48
	idSize         = 16

	offTail    = 64
	offOldest  = 72
	offClosed  = 80
	offSubWait = 84

	offPubWait  = 128
	offJoinGen  = 132
	offPubState = 136
	offPubPID   = 140
	offWant     = 144

	offPubRole = 192

	offTable   = 256
	entrySize  = 64
	entPos     = 0
	entSeq     = 8
	entState   = 16
	entPID     = 20
	entRole    = 24
	pageSize   = 4096
	minHeader  = pageSize
	flagOverwr = 1
	knownFlags = flagOverwr

	recordHeader = 16

	// MinCapacity and MaxCapacity bound the ring size.
	MinCapacity = 256
	MaxCapacity = 1 << 40

	// MaxSubscribers bounds the subscriber table; DefaultSubscribers is
	// its size when Create is not told.
	MaxSubscribers     = 1024
	DefaultSubscribers = 64
)

// Values of the closed word.
const (
	closedOpen    uint32 = 0
	closedEnd     uint32 = 1
	closedAborted uint32 = 2
)

// Record kinds, in the upper half of a record's second word.
const (
	kindEnd  uint32 = 0
	kindData uint32 = 1
	kindWrap uint32 = 2
)

// recSize is the ring space of a record with an n-byte payload.
func recSize(n int) uint64 { return (uint64(n) + recordHeader + 15) &^ 15 }

// lenKind is a record's second word.
func lenKind(n uint32, kind uint32) uint64 { return uint64(n) | uint64(kind)<<32 }

func isPow2(n uint64) bool { return n != 0 && n&(n-1) == 0 }

// headerSizeFor is the header's size with n subscriber entries.
func headerSizeFor(n int) int {
	return (offTable + n*entrySize + pageSize - 1) / pageSize * pageSize
}

// maxMessageFor is the largest payload a ring of capacity bytes can always
// take: a record, the wrap padding in front of it and the end marker after
// it must fit in the ring.
func maxMessageFor(capacity uint64) uint64 {
	m := capacity/2 - 2*recordHeader
	if m > 1<<31 {
		m = 1 << 31
	}
	return m
}

// geometry is the validated static part of a header.
type geometry struct {
	capacity  uint64
	maxMsg    int
	nsubs     int
	history   int
	overwrite bool
	header    int // header bytes before the ring
}

// parseHeader validates the static line of a header. size is the object's
// size (or -1 when unknown, as for Probe on a header copy).
func parseHeader(b []byte, size int64) (geometry, error) {
	if len(b) < offHistory+4 {
		return geometry{}, fmt.Errorf("%w: %d bytes, too small for a topic header", ErrNotTopic, len(b))
	}
	le := binary.LittleEndian
	if m := le.Uint64(b[offMagic:]); m != magic {
		return geometry{}, fmt.Errorf("%w: magic %#016x, want %#016x", ErrNotTopic, m, magic)
	}
	if v := le.Uint32(b[offVersion:]); v != layoutVersion {
		return geometry{}, fmt.Errorf("%w: layout version %d, this package reads %d", ErrVersion, v, layoutVersion)
	}
	g := geometry{}
	flags := le.Uint32(b[offFlags:])
	if flags&^knownFlags != 0 {
		return g, &partError{PartHeader, fmt.Errorf("%w: header field flags at offset %d: unknown bits %#x", ErrCorrupt, offFlags, flags&^knownFlags)}
	}
	g.overwrite = flags&flagOverwr != 0
	g.capacity = le.Uint64(b[offCapacity:])
	if !isPow2(g.capacity) || g.capacity < MinCapacity || g.capacity > MaxCapacity {
		return g, &partError{PartHeader, fmt.Errorf("%w: header field capacity at offset %d: %d is not a power of two in [%d, %d]", ErrCorrupt, offCapacity, g.capacity, MinCapacity, uint64(MaxCapacity))}
	}
	mm := uint64(le.Uint32(b[offMaxMsg:]))
	if mm > maxMessageFor(g.capacity) {
		return g, &partError{PartHeader, fmt.Errorf("%w: header field max message at offset %d: %d is more than %d allowed by capacity %d", ErrCorrupt, offMaxMsg, mm, maxMessageFor(g.capacity), g.capacity)}
	}
	g.maxMsg = int(mm)
	n := le.Uint32(b[offSubscribers:])
	if n < 1 || n > MaxSubscribers {
		return g, &partError{PartHeader, fmt.Errorf("%w: header field subscribers at offset %d: %d is not in [1, %d]", ErrCorrupt, offSubscribers, n, MaxSubscribers)}
	}
	g.nsubs = int(n)
	h := le.Uint32(b[offHistory:])
	if uint64(h) > g.capacity/recordHeader {
		return g, &partError{PartHeader, fmt.Errorf("%w: header field history at offset %d: %d is more than the %d records capacity %d holds", ErrCorrupt, offHistory, h, g.capacity/recordHeader, g.capacity)}
	}
	g.history = int(h)
	g.header = headerSizeFor(g.nsubs)
	if size >= 0 && uint64(size) < uint64(g.header)+g.capacity {
		return g, &partError{PartSize, fmt.Errorf("%w: the object has %d bytes, a topic of capacity %d with %d subscribers needs %d", ErrCorrupt, size, g.capacity, g.nsubs, uint64(g.header)+g.capacity)}
	}
	return g, nil
}
