package queue

import (
	"fmt"
	"runtime/debug"
)

// Holding messages: receiving ahead of what is consumed.
//
// Receive consumes a message as it returns it, and Peek/Release lets one
// message wait between the two. A consumer that hands messages on to
// something slower than a call (a file it flushes, a server that
// acknowledges later) needs more: many messages received, none of them
// consumed until they are safe, and after a crash the same messages again.
// The consumer's head is that record: it is the cursor the queue keeps in
// its header (offset 128), the one a new consumer starts from. After Hold,
// the handle receives with its local cursor and publishes head only up to
// the released position:
//
//	released ≤ head (local) ≤ tail
//	   │          │
//	   │          └─ the next receive reads here; Position returns it
//	   └─ published as the header's head: what producers may overwrite,
//	      and where the next consumer resumes
//
// A message's position is the cursor just past its record. Positions only
// grow, no two messages of a queue have the same one, and they depend only
// on what the producers wrote, so a consumer that resumes from a released
// position sees the messages after it at the same positions as the
// consumer before it. With the queue's ID a position names a message for
// good (a deduplication key for a downstream system).

// Position is a place in a queue: the queue's read cursor, in bytes since
// the queue was created. The position of a message is the cursor just past
// its record.
type Position uint64

// Hold makes the consumer keep the messages it receives from now on in the
// queue until it releases them with ReleaseThrough: their ring space is not
// given back to the producers, and if this handle closes or its process
// dies first, the next consumer receives them again, at the same positions.
// It is for a consumer that hands messages on (to a file, a socket, another
// system) and must not lose the ones it took but could not hand on.
// Messages are delivered at least once, then: a consumer that dies after
// handing messages on and before releasing them has its successor see them
// again. Every receive call (Receive, ReceiveBatch, Peek and Release) holds
// what it takes.
//
// A held message still takes room in the ring: a consumer that holds must
// release before it waits for more (a Receive that blocks on an empty
// queue, or on a ring full of held messages), or a producer that waits for
// that room waits with it until its context ends. Hold is for the handle's
// consumer role and does nothing else; it cannot be undone.
//
// On a queue with competing consumers (Consumers) a consumer holds one
// message at a time: a receive while one is held fails and says so, and
// the held message goes to another consumer, delivered once more, if this
// one dies or closes first (see "Competing consumers" in the package
// documentation).
func (q *Queue) Hold() {
	if q.c.hold {
		return
	}
	q.c.hold, q.c.released = true, q.c.head
}

// Position returns the consumer's read cursor: the position of the last
// message it received (a message returned by Peek and not yet Released is
// not received yet), or 0 before the handle's first receive.
func (q *Queue) Position() Position {
	if !q.c.active {
		return Position(q.c.pub)
	}
	return Position(q.c.head)
}

// ReleaseThrough consumes the held messages up to and including the one
// at pos, and publishes the consumer's progress at once, so that producers
// get the room and a consumer that starts after this one resumes with the
// message after pos. pos must be Released, Position, or the position of a
// message received in between (what Position returned after receiving it):
// any other position fails, since a consumer that resumed there would read
// the middle of a record. ReleaseThrough(Position()) releases everything
// received. On a queue with competing consumers pos must be the held
// message's position, Position. Positions there are the queue's, shared by
// all consumers: one consumer's messages have increasing positions with
// gaps between them.
func (q *Queue) ReleaseThrough(pos Position) (err error) {
	if !q.cfg.noGuard {
		defer q.catch(debug.SetPanicOnFault(true), opRelease, &err)
	}
	if q.state != stateOpen {
		return wrapErr(opRelease, q.name, q.stateErr())
	}
	p := uint64(pos)
	if q.cslots != nil && q.c.active {
		return wrapErr(opRelease, q.name, q.competeReleaseThrough(p))
	}
	if !q.c.active {
		if p == q.c.pub {
			return nil
		}
		return wrapErr(opRelease, q.name, fmt.Errorf("position %d is not held: the handle has received nothing", p))
	}
	if !q.c.hold {
		if p == q.c.head {
			return nil
		}
		return wrapErr(opRelease, q.name, fmt.Errorf("position %d is not held: the consumer does not hold messages (Hold) and is at %d", p, q.c.head))
	}
	if p < q.c.released || p > q.c.head {
		return wrapErr(opRelease, q.name, fmt.Errorf("position %d is not held: held positions are from %d to %d", p, q.c.released, q.c.head))
	}
	if p != q.c.head && p != q.c.released {
		if err := q.recordEnd(p); err != nil {
			return wrapErr(opRelease, q.name, err)
		}
	}
	q.c.released = p
	q.publishHead()
	return nil
}

// recordEnd reports whether p, strictly between the released position and
// the local head, is where a record this handle received ends: only there
// may the next consumer resume, since anywhere else it would read a
// payload's bytes as a record header. It walks the held records from the
// released position; they are at most the ring, were checked when they
// were received and are not the producers' to write until released, but
// they are in shared memory, so each step is checked again.
// ReleaseThrough asks only for a position that is neither end of the held
// region, so receiving costs nothing more and releasing everything
// received walks nothing.
func (q *Queue) recordEnd(p uint64) error {
	for pos := q.c.released; pos < p; {
		o := pos & q.mask
		hdr := q.words[o>>3].Load()
		length, st := uint64(uint32(hdr)), uint32(hdr>>32)
		var rec uint64
		switch stateKind(st) {
		case kindWrap:
			rec = q.capacity - o
		case kindData, kindSkip, kindPending:
			if length > uint64(q.maxMsg) {
				return q.corruptRecord(pos, "length", length, fmt.Sprintf("at most the maximum message %d", q.maxMsg))
			}
			rec = recSize(int(length))
		default:
			return q.corruptRecord(pos, "state", uint64(st), "a known record kind")
		}
		if o+rec > q.capacity || pos+rec > q.c.head {
			return q.corruptRecord(pos, "length", length, fmt.Sprintf("a record that ends by the local head %d", q.c.head))
		}
		if pos+rec > p {
			return fmt.Errorf("position %d is not the end of a message: it lies inside the record from %d to %d", p, pos, pos+rec)
		}
		pos += rec
	}
	return nil
}

// Released returns the position through which this handle's consumer has
// released its messages: where a consumer that starts after it resumes
// (0 before the handle's first receive). Without Hold it is Position.
func (q *Queue) Released() Position {
	if !q.c.active {
		return Position(q.c.pub)
	}
	if q.cslots != nil {
		if q.c.hold && q.c.inFlight {
			return Position(q.c.flight.pos)
		}
		return Position(q.c.head)
	}
	return Position(q.publishable())
}

// publishable is the cursor publishHead may store as the header's head:
// the local head, or the released position while messages are held.
func (q *Queue) publishable() uint64 {
	if q.c.hold {
		return q.c.released
	}
	return q.c.head
}
