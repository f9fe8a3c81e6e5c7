package topic

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/shmkit/shm"
	"github.com/shmkit/shm/internal/fault"
	"github.com/shmkit/shm/internal/live"
	"github.com/shmkit/shm/internal/mem"
)

// Stats describes a topic as its header (and, for Stat, its ring) shows
// it at one moment. It reads the shared memory without taking any role,
// so a topic in use may change while it is read.
type Stats struct {
	Capacity       int64        `json:"capacity"`        // ring bytes
	MaxMessage     int          `json:"max_message"`     // largest message, bytes
	MaxSubscribers int          `json:"max_subscribers"` // subscriber table entries
	History        int          `json:"history"`         // messages a joiner may start with
	Overwrite      bool         `json:"overwrite"`       // the policy: overwrite, or lossless
	Closed         bool         `json:"closed"`          // closed for publishing (or aborted)
	Aborted        bool         `json:"aborted"`         // the publisher ended with Abort: the stream was cut short
	Tail           uint64       `json:"tail"`            // end of the last committed record
	Oldest         uint64       `json:"oldest"`          // first record still kept
	Published      int64        `json:"published"`       // messages published so far; -1: not read (Probe)
	Kept           int64        `json:"kept"`            // messages the ring holds; -1: not read (Probe)
	Active         int          `json:"active"`          // table entries marked active
	Publisher      *Peer        `json:"publisher,omitempty"`
	Subscribers    []Subscriber `json:"subscribers"`
}

// Peer is the process holding the publisher role.
type Peer struct {
	PID   int  `json:"pid"` // as the process saw itself (another PID namespace may differ)
	Alive bool `json:"alive"`
}

// Subscriber is an active entry of the subscriber table.
type Subscriber struct {
	Slot     int    `json:"slot"`
	PID      int    `json:"pid"` // as the process saw itself
	Alive    bool   `json:"alive"`
	Position uint64 `json:"position"` // the next record it reads
	Sequence uint64 `json:"sequence"` // the next message it reads
	Lag      int64  `json:"lag"`      // messages published that it has not read
}

// Policy names the topic's policy as the command line does.
func (s Stats) Policy() string {
	if s.Overwrite {
		return "overwrite"
	}
	return "lossless"
}

// Fill returns the part of the ring, from 0 to 1, that the slowest active
// subscriber has still to read: the bytes from its position (or from
// oldest, when it is behind that, as a joiner or a subscriber that lagged
// is) to tail, over the capacity. On a lossless topic the publisher waits
// when a message does not fit in the rest; on an overwrite topic the
// slowest subscriber misses messages once it passes 1. It is 0 without
// subscribers.
func (s Stats) Fill() float64 {
	if s.Capacity <= 0 {
		return 0
	}
	var most uint64
	for _, sub := range s.Subscribers {
		pos := max(sub.Position, s.Oldest)
		if pos < s.Tail {
			most = max(most, s.Tail-pos)
		}
	}
	return min(float64(most)/float64(s.Capacity), 1)
}

// Probe tells whether b, the start of an object (at least its first page),
// holds a topic, and describes it from the header alone: Published and Kept
// are -1, Subscribers lists the active entries that lie within b, and
// liveness is not known (Alive false). It fails with ErrNotTopic,
// ErrVersion or ErrCorrupt; with ErrCorrupt for bad cursors the static
// fields of Stats are still filled in. It is meant for listings such as
// "shm ls". When b is a mapping that another process shrank, so that
// reading it faults, Probe returns shm.ErrFault instead of crashing.
func Probe(b []byte) (s Stats, err error) {
	if fault.Catch(func() { s, err = probe(b, -1) }) {
		return Stats{}, shm.ErrFault
	}
	return s, err
}

// probe reads the header; fd, when not -1, is used to ask whether the
// roles' holders live.
func probe(b []byte, fd int) (Stats, error) {
	g, err := parseHeader(b, -1)
	if err != nil {
		return Stats{}, err
	}
	if len(b) < minHeader {
		return Stats{}, fmt.Errorf("%w: %d bytes, a topic header has at least %d", ErrNotTopic, len(b), minHeader)
	}
	le := binary.LittleEndian
	s := Stats{
		Capacity:       int64(g.capacity),
		MaxMessage:     g.maxMsg,
		MaxSubscribers: g.nsubs,
		History:        g.history,
		Overwrite:      g.overwrite,
		Closed:         le.Uint32(b[offClosed:]) != closedOpen,
		Aborted:        le.Uint32(b[offClosed:]) == closedAborted,
		Tail:           le.Uint64(b[offTail:]),
		Oldest:         le.Uint64(b[offOldest:]),
		Published:      -1,
		Kept:           -1,
		Subscribers:    []Subscriber{},
	}
	alive := func(off int64) bool {
		if fd < 0 {
			return false
		}
		held, err := live.Held(fd, off)
		return err == nil && held
	}
	if le.Uint32(b[offPubState:]) == 1 {
		s.Publisher = &Peer{PID: int(le.Uint32(b[offPubPID:])), Alive: alive(offPubRole)}
	}
	for i := range g.nsubs {
		off := offTable + i*entrySize
		if off+entrySize > len(b) {
			break
		}
		if le.Uint32(b[off+entState:])&1 == 0 {
			continue
		}
		s.Active++
		s.Subscribers = append(s.Subscribers, Subscriber{
			Slot:     i,
			PID:      int(le.Uint32(b[off+entPID:])),
			Alive:    alive(int64(off + entRole)),
			Position: le.Uint64(b[off+entPos:]),
			Sequence: le.Uint64(b[off+entSeq:]),
		})
	}
	if c := le.Uint32(b[offClosed:]); c > closedAborted {
		return s, &partError{PartCursors, closedErr(c)}
	}
	if s.Tail%recordHeader != 0 || s.Oldest%recordHeader != 0 || s.Oldest > s.Tail || s.Tail-s.Oldest > g.capacity {
		return s, &partError{PartCursors, fmt.Errorf("%w: cursors tail %d (header offset %d) and oldest %d (header offset %d) are not multiples of %d with oldest ≤ tail ≤ oldest + capacity %d", ErrCorrupt, s.Tail, offTail, s.Oldest, offOldest, recordHeader, g.capacity)}
	}
	return s, nil
}

// statMapped maps the named topic read-only and describes it; Stat checks
// the header before it calls it.
func statMapped(name string, opts ...Option) (s Stats, err error) {
	c := newConfig(opts)
	seg, err := shm.Open(name, shm.Dir(c.dir), shm.ReadOnly())
	if err != nil {
		return Stats{}, wrapErr("topic stat", name, unwrapShm(err))
	}
	defer seg.Close()
	if fault.Catch(func() { s, err = stat(seg.Bytes(), seg.Fd()) }) {
		return s, wrapErr("topic stat", name, shm.ErrFault)
	}
	return s, wrapErr("topic stat", name, err)
}

// errMoved is stat's report of a look that the publisher overtook while
// it read the ring.
var errMoved = errors.New("the publisher moved on while the ring was read; look again")

func stat(b []byte, fd int) (Stats, error) {
	s, err := probe(b, fd)
	if err != nil {
		return s, err
	}
	g, err := parseHeader(b, int64(len(b)))
	if err != nil {
		return s, err
	}
	le := binary.LittleEndian
	ring := b[g.header : uint64(g.header)+g.capacity]
	mask := g.capacity - 1
	// A live publisher moves the cursors while they are read: read them
	// again just before the ring's words, and oldest once more after them
	// (the publisher moves oldest before it writes over a record). A look
	// that the publisher passed meanwhile is errMoved, and Stat looks
	// again.
	tw, ow := mem.MustUint64(b, offTail), mem.MustUint64(b, offOldest)
	if tail, oldest := tw.Load(), ow.Load(); tail != s.Tail || oldest != s.Oldest {
		if tail%recordHeader != 0 || oldest%recordHeader != 0 || oldest > tail || tail-oldest > g.capacity {
			return s, errMoved
		}
		s.Tail, s.Oldest = tail, oldest
	}
	pub := le.Uint64(ring[s.Tail&mask:])
	first := le.Uint64(ring[s.Oldest&mask:])
	if ow.Load() != s.Oldest {
		return s, errMoved
	}
	if first > pub || pub-first > (s.Tail-s.Oldest)/recordHeader {
		return s, &partError{PartRing, fmt.Errorf("%w: the end marker's sequence %d (ring offset %d) is not from %d (the oldest record's) to %d more", ErrCorrupt, pub, s.Tail&mask, first, (s.Tail-s.Oldest)/recordHeader)}
	}
	s.Published, s.Kept = int64(pub), int64(pub-first)
	for i := range s.Subscribers {
		sub := &s.Subscribers[i]
		if sub.Sequence <= pub {
			sub.Lag = int64(pub - sub.Sequence)
		}
	}
	return s, nil
}
