package queue

import (
	"context"
	"fmt"
	"runtime/debug"
)

// Holding messages: receiving ahead of what is consumed.
//
// Receive consumes a message as it returns it, and Peek/Release lets one
// message wait between the two. A consumer that forwards messages to
// something slower than a call (a network server that acknowledges them
// later) needs more: many messages read, none of them consumed until the
// far side has them, and after a crash the same messages again. The
// consumer's head is that record: it is the cursor the queue keeps in its
// header (offset 128), the one a new consumer starts from. While messages
// are held, the handle reads ahead with its local cursor and publishes
// head only up to the released position:
//
//	released ≤ head (local) ≤ tail
//	   │          │
//	   │          └─ next ReceiveHeld reads here
//	   └─ published as the header's head: what producers may overwrite,
//	      and where the next consumer resumes
//
// Each message has a Position: the cursor just past its record. Positions
// only grow, no two messages of a queue have the same one, and they depend
// only on what the producers wrote, so a consumer that resumes from a
// released position sees the messages after it at the same positions as
// the consumer before it. With the queue's ID a position names a message
// for good (a deduplication key for a downstream system).

// Position is a message's place in its queue: the queue's read cursor just
// past the message's record, in bytes since the queue was created.
type Position uint64

// ReceiveHeld waits for the next message like Receive and returns it
// appended to buf[:0] with its position, but does not consume it: the
// message stays in the queue, and a consumer that opens the queue after
// this handle closes or its process dies receives it again, at the same
// position, until ReleaseThrough releases it. Errors are those of Receive.
//
// Held messages take room from producers: a handle that holds a ring's
// worth waits for a message that cannot come. Release before waiting (see
// TryReceiveHeld). Receive, ReceiveBatch and Peek may be used on the same
// handle; what they consume while messages are held is released with the
// held messages around it.
func (q *Queue) ReceiveHeld(ctx context.Context, buf []byte) (_ []byte, _ Position, err error) {
	if !q.cfg.noGuard {
		defer q.catch(debug.SetPanicOnFault(true), opReceive, &err)
	}
	return q.receiveHeld(ctx, buf, true)
}

// TryReceiveHeld is ReceiveHeld without waiting: it returns ErrEmpty
// (unwrapped) when no message is ready.
func (q *Queue) TryReceiveHeld(buf []byte) (_ []byte, _ Position, err error) {
	if !q.cfg.noGuard {
		defer q.catch(debug.SetPanicOnFault(true), opReceive, &err)
	}
	return q.receiveHeld(context.Background(), buf, false)
}

func (q *Queue) receiveHeld(ctx context.Context, buf []byte, block bool) ([]byte, Position, error) {
	if q.state == stateOpen && !q.c.active {
		// Claiming resets the consumer's state: before held is set.
		if err := q.claimConsumer(); err != nil {
			return buf[:0], 0, q.recvErr(err)
		}
	}
	wasHeld := q.c.held
	if !wasHeld {
		// Nothing is held: the first held message starts at head.
		q.c.released = q.c.head
	}
	q.c.held = true
	off, n, adv, err := q.next(ctx, block)
	if err != nil {
		if !wasHeld {
			// Nothing came: the records passed on the way (wraps, skips)
			// are consumed as Receive would consume them.
			q.c.held = false
		}
		return buf[:0], 0, q.recvErr(err)
	}
	buf = append(buf[:0], q.ring[off:off+uint64(n)]...)
	q.c.peeked = false
	q.c.head += adv
	if q.publishDue() {
		q.publishHead() // wakes a producer that waits for the released room
	}
	return buf, Position(q.c.head), nil
}

// ReleaseThrough consumes the held messages up to and including the one
// at pos, and publishes the consumer's progress at once, so that a
// consumer that starts after this one resumes with the message after pos.
// pos must be a position ReceiveHeld returned that is not yet released;
// releasing the position already released is a no-op.
func (q *Queue) ReleaseThrough(pos Position) (err error) {
	if !q.cfg.noGuard {
		defer q.catch(debug.SetPanicOnFault(true), opRelease, &err)
	}
	if q.state != stateOpen {
		return wrapErr(opRelease, q.name, q.stateErr())
	}
	p := uint64(pos)
	if !q.c.held {
		if p == q.c.head {
			return nil
		}
		return wrapErr(opRelease, q.name, fmt.Errorf("position %d is not held: no message is held, the consumer is at %d", p, q.c.head))
	}
	if p < q.c.released || p > q.c.head {
		return wrapErr(opRelease, q.name, fmt.Errorf("position %d is not held: held positions are from %d to %d", p, q.c.released, q.c.head))
	}
	q.c.released = p
	q.c.held = p != q.c.head
	q.publishHead()
	return nil
}

// Released returns the position through which this handle's consumer has
// released its messages: where a consumer that starts after it resumes
// (0 before the handle's first receive).
func (q *Queue) Released() Position {
	if !q.c.active {
		return Position(q.c.pub)
	}
	return Position(q.publishable())
}

// publishable is the cursor publishHead may store as the header's head:
// the local head, or the released position while messages are held.
func (q *Queue) publishable() uint64 {
	if q.c.held {
		return q.c.released
	}
	return q.c.head
}
