package queue

import (
	"encoding/binary"
	"fmt"
	"os"

	"github.com/shmkit/shm"
	"github.com/shmkit/shm/internal/fault"
	"github.com/shmkit/shm/internal/live"
)

// Stats describes a queue as its header (and, for Stat, its ring) shows it
// at one moment. It reads the shared memory without taking any role, so a
// queue in use may change while it is read.
type Stats struct {
	Capacity      int64  `json:"capacity"`       // ring bytes
	MaxMessage    int    `json:"max_message"`    // largest message, bytes
	MultiProducer bool   `json:"multi_producer"` // created with MultiProducer
	Closed        bool   `json:"closed"`         // the sending side closed (completed or aborted)
	Aborted       bool   `json:"aborted"`        // the sending side closed with Abort: the stream was cut short
	Head          uint64 `json:"head"`           // published read cursor
	Tail          uint64 `json:"tail"`           // write (reservation) cursor
	Bytes         int64  `json:"bytes"`          // ring bytes in use: Tail - Head
	Messages      int    `json:"messages"`       // committed messages waiting; -1: not counted (Probe)
	Pending       int    `json:"pending"`        // reserved, not yet committed records
	Consumer      *Peer  `json:"consumer,omitempty"`
	Producers     []Peer `json:"producers"`
	// MaxConsumers is n for a queue created with Consumers(n), n ≥ 2
	// (competing consumers), and 0 otherwise; Take is then the next
	// position to take, Messages counts the messages from there (not those
	// in flight), and Consumers lists the table's slots that have a
	// consumer or a message in flight.
	MaxConsumers int            `json:"max_consumers,omitempty"`
	Take         uint64         `json:"take,omitempty"`
	Consumers    []ConsumerPeer `json:"consumers,omitempty"`
}

// ConsumerPeer is a slot of a queue with competing consumers: its
// consumer, if one claimed it (PID 0 when the slot was given up), and the
// message it has in flight.
type ConsumerPeer struct {
	Peer
	// InFlight is set while the slot has a message taken and not
	// finished; Position is then that message's position (the start of
	// its record) and Deliveries how many times it has been taken.
	InFlight   bool   `json:"in_flight"`
	Position   uint64 `json:"position,omitempty"`
	Deliveries int    `json:"deliveries,omitempty"`
}

// String describes the slot for people: "pid 12 (alive), in flight at 4096
// (delivery 1)".
func (c ConsumerPeer) String() string {
	s := c.Peer.String()
	if c.PID == 0 {
		s = "no consumer"
	}
	if c.InFlight {
		s += fmt.Sprintf(", in flight at %d (delivery %d)", c.Position, c.Deliveries)
	}
	return s
}

// Peer is a process that claimed a role on the queue. Whether it is alive
// is whether it holds the role's lock (see "Roles" in layout.go), which
// holds in every PID namespace; its pid is only what it wrote, in its own
// PID namespace.
type Peer struct {
	Slot  int  `json:"slot"`  // producer slot; 0 for the consumer
	PID   int  `json:"pid"`   // in the peer's PID namespace
	Alive bool `json:"alive"` // it holds its role; false when LivenessUnknown
	// OtherNamespace is set when the peer wrote another PID namespace than
	// the reader's: PID is not one of the reader's pids then.
	OtherNamespace bool `json:"other_pid_namespace,omitempty"`
	// NamespaceUnknown is set when the peer's PID namespace or the
	// reader's is not known (no /proc): PID may or may not be the reader's.
	NamespaceUnknown bool `json:"pid_namespace_unknown,omitempty"`
	// LivenessUnknown is set by Probe, which has no file to ask for the
	// role's lock (ProbeFile has), and when asking the lock failed (the
	// error says why).
	LivenessUnknown bool `json:"liveness_unknown,omitempty"`
}

// String describes the peer for people: "pid 12 (alive)", "pid 1 (alive,
// in another PID namespace)", "pid 7 (dead)".
func (p Peer) String() string {
	state := "dead"
	switch {
	case p.LivenessUnknown:
		state = "liveness unknown"
	case p.Alive:
		state = "alive"
	}
	switch {
	case p.OtherNamespace:
		state += ", in another PID namespace"
	case p.NamespaceUnknown:
		state += ", PID namespace unknown"
	}
	return fmt.Sprintf("pid %d (%s)", p.PID, state)
}

// Fill returns the used fraction of the ring, from 0 to 1.
func (s Stats) Fill() float64 {
	if s.Capacity == 0 {
		return 0
	}
	return float64(s.Bytes) / float64(s.Capacity)
}

// Probe tells whether b, the start of an object (at least its first page),
// holds a queue, and describes it from the header alone: Messages is -1,
// each peer's liveness is unknown (see ProbeFile),
// and for a single-producer queue Bytes may lag by up to a sixteenth of
// the ring (its producer publishes the tail cursor only now and then).
// It fails with ErrNotQueue, ErrVersion or ErrCorrupt; with ErrCorrupt for
// bad cursors the static fields of Stats are still filled in. It checks
// the header only, not the object's size or ring: to list queues by name,
// use Stat, which makes every check. When b is a mapping that another process
// shrank, so that reading it faults, Probe returns shm.ErrFault (like its
// other errors, without a name) instead of crashing.
func Probe(b []byte) (s Stats, err error) {
	if fault.Catch(func() { s, err = probe(b, -1) }) {
		return Stats{}, shm.ErrFault
	}
	return s, err
}

// ProbeFile is Probe for b, the start of the object open as f (which may be
// read-only): it also tells whether each peer is alive, by its role's lock.
func ProbeFile(b []byte, f *os.File) (s Stats, err error) {
	fd := int(f.Fd())
	if fault.Catch(func() { s, err = probe(b, fd) }) {
		return Stats{}, shm.ErrFault
	}
	return s, err
}

// probe describes the queue whose header is b; fd is the object's
// descriptor, to ask for the roles' locks, or -1.
func probe(b []byte, fd int) (Stats, error) {
	g, err := parseHeader(b, -1)
	if err != nil {
		return Stats{}, err
	}
	if len(b) < headerSize {
		return Stats{}, fmt.Errorf("%w: %d bytes, a queue header has %d", ErrNotQueue, len(b), headerSize)
	}
	le := binary.LittleEndian
	s := Stats{
		Capacity:      int64(g.capacity),
		MaxMessage:    g.maxMsg,
		MultiProducer: g.multi,
		Closed:        le.Uint32(b[offClosed:]) != closedOpen,
		Aborted:       le.Uint32(b[offClosed:]) == closedAborted,
		Head:          le.Uint64(b[offHead:]),
		Tail:          le.Uint64(b[offTail:]),
		Messages:      -1,
		Producers:     []Peer{},
	}
	// An error from the locks leaves the peers' liveness unknown and is
	// returned once the rest is filled in.
	var lockErr error
	s.Consumer = peerAt(b, fd, offConsumer, 0, &lockErr)
	for i := range g.slots {
		if p := peerAt(b, fd, offProducers+i*slotSize, i, &lockErr); p != nil {
			s.Producers = append(s.Producers, *p)
		}
	}
	if g.cons > 0 {
		// The slots before take: a consumer stores its message in flight
		// before it moves take past it, so a position read here is never
		// past the take read after it.
		s.MaxConsumers = g.cons
		for i := range g.cons {
			if c := consumerAt(b, fd, i, &lockErr); c != nil {
				s.Consumers = append(s.Consumers, *c)
			}
		}
		s.Take = le.Uint64(b[offTake:])
	}
	if c := le.Uint32(b[offClosed:]); c > closedAborted {
		return s, closedErr(c)
	}
	if err := checkCursors(s.Head, s.Tail, g.capacity, g.multi); err != nil {
		return s, err
	}
	if s.Tail < s.Head {
		// A single producer publishes its tail only now and then (every
		// sixteenth of the ring, and when it waits or closes): it may lag.
		s.Tail = s.Head
	}
	s.Bytes = int64(s.Tail - s.Head)
	if g.cons > 0 && (s.Take%8 != 0 || s.Take < s.Head || s.Take-s.Head > g.capacity || g.multi && s.Take > s.Tail) {
		return s, fmt.Errorf("%w: take cursor at header offset %d is %d; it must be a multiple of 8 from head %d to tail %d", ErrCorrupt, offTake, s.Take, s.Head, s.Tail)
	}
	for _, c := range s.Consumers {
		if c.InFlight && (c.Position < s.Head || c.Position > s.Take || c.Deliveries < 1) {
			return s, fmt.Errorf("%w: consumer slot %d has a message in flight at position %d (delivery %d); it must lie from head %d to take %d, delivery 1 or more", ErrCorrupt, c.Slot, c.Position, c.Deliveries, s.Head, s.Take)
		}
	}
	return s, lockErr
}

// consumerAt describes slot i of the consumer table, or returns nil when
// it has neither a consumer nor a message in flight.
func consumerAt(b []byte, fd, i int, errp *error) *ConsumerPeer {
	le := binary.LittleEndian
	off := offConsSlots + i*consSlotSize
	w := le.Uint64(b[off+consOffInFlight:])
	c := &ConsumerPeer{InFlight: w != 0, Position: w &^ 7, Deliveries: int(min(le.Uint64(b[off+consOffDeliv:]), maxDeliveries))}
	if !c.InFlight {
		c.Position, c.Deliveries = 0, 0
	}
	if p := peerAt(b, fd, off, i, errp); p != nil {
		c.Peer = *p
	} else if !c.InFlight {
		return nil
	} else {
		c.Slot = i
	}
	return c
}

// peerAt describes the claimant of the role at header offset off (producer
// slot i), or returns nil when the role was never claimed or was given up.
// With fd < 0 its liveness is unknown; so it is when asking the lock fails,
// and then *errp is set to the failure.
func peerAt(b []byte, fd, off, i int, errp *error) *Peer {
	le := binary.LittleEndian
	pid := claimPID(le.Uint64(b[off:]))
	if pid == 0 {
		return nil
	}
	theirs, ours := le.Uint64(b[off+8:]), live.Namespace()
	p := &Peer{Slot: i, PID: int(pid)}
	if theirs == 0 || ours == 0 {
		p.NamespaceUnknown = true
	} else {
		p.OtherNamespace = theirs != ours
	}
	if fd < 0 {
		p.LivenessUnknown = true
		return p
	}
	alive, err := roleHeld(fd, int64(off))
	if err != nil {
		p.LivenessUnknown = true
		if *errp == nil {
			*errp = fmt.Errorf("the liveness of peer %s: %w", p, liveErr(err))
		}
		return p
	}
	p.Alive = alive
	return p
}

// statMapped maps the named queue read-only and describes it, counting the
// messages in the ring; Stat checks the header before it calls it.
func statMapped(name string, opts ...Option) (s Stats, err error) {
	c := newConfig(opts)
	seg, err := shm.Open(name, shm.Dir(c.dir), shm.ReadOnly())
	if err != nil {
		return Stats{}, wrapErr("queue stat", name, unwrapShm(err))
	}
	defer seg.Close()
	if fault.Catch(func() { s, err = stat(seg.Bytes(), seg.Fd(), name) }) {
		return s, wrapErr("queue stat", name, shm.ErrFault)
	}
	return s, err
}

func stat(b []byte, fd int, name string) (Stats, error) {
	s, err := probe(b, fd)
	if err == nil {
		_, err = parseHeader(b, int64(len(b)))
	}
	if err != nil {
		return s, wrapErr("queue stat", name, err)
	}
	ring := b[headerSize : headerSize+uint64(s.Capacity)]
	var end uint64
	from := s.Head
	if s.MaxConsumers > 0 {
		from = s.Take
	}
	end, s.Messages, s.Pending, err = scan(ring, from, s.Tail, s.MultiProducer, s.MaxMessage)
	if !s.MultiProducer {
		// The single producer publishes its tail only now and then.
		s.Tail, s.Bytes = end, int64(end-s.Head)
	}
	return s, wrapErr("queue stat", name, err)
}

// scan walks the records from head, checking each header as the consumer
// does: for a single-producer ring to the end marker (a zero word), for a
// multi-producer ring to tail. It returns where it stopped and the
// committed and pending records it passed. It reads with plain loads: for a
// picture of a queue in use, or for a producer taking over a ring that no
// one else writes.
func scan(ring []byte, head, tail uint64, multi bool, maxMsg int) (end uint64, msgs, pending int, err error) {
	capacity := uint64(len(ring))
	le := binary.LittleEndian
	h := head
	for {
		if multi && h >= tail {
			return h, msgs, pending, nil
		}
		if !multi && h-head > capacity-recordHeader {
			return h, msgs, pending, fmt.Errorf("%w: no end marker within %d bytes after head %d", ErrCorrupt, capacity-recordHeader, head)
		}
		o := h & (capacity - 1)
		hdr := le.Uint64(ring[o:])
		if hdr == 0 && !multi {
			return h, msgs, pending, nil
		}
		length, st := uint64(uint32(hdr)), uint32(hdr>>32)
		avail := capacity - o
		if multi {
			avail = min(avail, tail-h)
		}
		where := func(field string, val uint64) error {
			return fmt.Errorf("%w: record at position %d (ring offset %d, segment offset %d): bad %s %d", ErrCorrupt, h, o, headerSize+o, field, val)
		}
		switch kind := stateKind(st); kind {
		case kindWrap:
			rest := capacity - o
			if length != rest-recordHeader || rest > avail {
				return h, msgs, pending, where("wrap length", length)
			}
			h += rest
		case kindData, kindPending, kindSkip:
			rec := recSize(int(min(length, 1<<32)))
			if length > uint64(maxMsg) || rec > avail {
				return h, msgs, pending, where("length", length)
			}
			switch kind {
			case kindData:
				msgs++
			case kindPending:
				pending++
			}
			h += rec
		default:
			return h, msgs, pending, where("state", uint64(st))
		}
	}
}

// findEnd finds the end of a single-producer ring for a producer that
// takes over: the end marker after head.
func (q *Queue) findEnd(head uint64) (uint64, error) {
	if head%8 != 0 {
		return 0, fmt.Errorf("%w: head cursor at header offset %d is %d, not a multiple of 8", ErrCorrupt, offHead, head)
	}
	end, _, _, err := scan(q.ring, head, 0, false, q.maxMsg)
	return end, err
}
