package bench

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync/atomic"

	"github.com/shmkit/shm/internal/mem"
	"golang.org/x/sys/unix"
)

// The raw transport's shared segment holds two rings of fixed-size slots,
// one per direction (driver to peer first, then peer to driver). Each ring:
//
//	+0    tail  uint64  slots filled so far; written by the sender only
//	+128  head  uint64  slots emptied so far; written by the receiver only
//	+256  slot 0 | slot 1 | ... | slot n-1      (n a power of two)
//
// Slot i%n holds message i. The cursors are on lines of their own, 128 bytes
// apart so that the adjacent-line prefetcher does not pair them, and only
// ever grow. A round trip therefore moves the tail's cache line to the
// receiver and back (and the message's lines with it): the cost of two
// cores flipping a cache line, which is the limit any shared-memory
// transport works against. The receiver publishes head lazily (every n/4
// slots, or when it finds the ring empty), so a stream pays one cursor store
// per message, on the sender's side.
//
// Both processes read the other's cursor from shared memory: a tail more
// than n ahead of head, or a head beyond tail, is reported as corruption.
const (
	ringTailOff   = 0
	ringHeadOff   = 128
	ringSlotsOff  = 256
	slotAlign     = 64
	ringTargetLen = 1 << 20 // bytes of slots per ring, at least minSlots slots
	minSlots      = 8
	maxSlots      = 1024
)

// errCorrupt reports a cursor that breaks the ring's invariants.
var errCorrupt = errors.New("bench: ring cursors are corrupt")

// ringGeometry returns the slot size and count for messages of size bytes,
// and the length in bytes of one ring.
func ringGeometry(size int) (slot, n, length int) {
	slot = (size + slotAlign - 1) / slotAlign * slotAlign
	n = maxSlots
	for n > minSlots && n*slot > ringTargetLen {
		n /= 2
	}
	return slot, n, ringSlotsOff + n*slot
}

// ring is one direction of the raw transport, seen from one side.
type ring struct {
	tail, head *atomic.Uint64
	slots      []byte
	slot       int
	n          uint64

	// Sender's state.
	sent      uint64 // == tail, kept locally
	headCache uint64
	// Receiver's state.
	recvd     uint64 // == head as soon as published
	published uint64
	tailCache uint64
}

func newRing(b []byte, size int) *ring {
	slot, n, length := ringGeometry(size)
	b = b[:length]
	return &ring{
		tail:  mem.MustUint64(b, ringTailOff),
		head:  mem.MustUint64(b, ringHeadOff),
		slots: b[ringSlotsOff:],
		slot:  slot,
		n:     uint64(n),
	}
}

func (r *ring) at(i uint64) []byte {
	off := int(i&(r.n-1)) * r.slot
	return r.slots[off : off+r.slot]
}

func (r *ring) send(ctx context.Context, msg []byte) error {
	s := spinner{done: ctx.Done()}
	for r.sent-r.headCache >= r.n {
		r.headCache = r.head.Load()
		if r.headCache > r.sent {
			return fmt.Errorf("%w: head %d is past tail %d", errCorrupt, r.headCache, r.sent)
		}
		if r.sent-r.headCache >= r.n {
			if err := s.spin(ctx); err != nil {
				return err
			}
		}
	}
	copy(r.at(r.sent), msg)
	r.sent++
	r.tail.Store(r.sent)
	return nil
}

func (r *ring) receive(ctx context.Context, buf []byte) error {
	s := spinner{done: ctx.Done()}
	for r.tailCache == r.recvd {
		if r.published != r.recvd {
			r.head.Store(r.recvd)
			r.published = r.recvd
		}
		r.tailCache = r.tail.Load()
		if r.tailCache-r.recvd > r.n {
			return fmt.Errorf("%w: tail %d is more than %d slots ahead of head %d", errCorrupt, r.tailCache, r.n, r.recvd)
		}
		if r.tailCache == r.recvd {
			if err := s.spin(ctx); err != nil {
				return err
			}
		}
	}
	copy(buf, r.at(r.recvd))
	r.recvd++
	if r.recvd-r.published >= r.n/4 {
		r.head.Store(r.recvd)
		r.published = r.recvd
	}
	return nil
}

// yieldWhileSpinning is set when both processes may share one CPU: a
// spinning waiter then gives the CPU away now and then, or its peer could
// not run until the scheduler preempts it.
var yieldWhileSpinning atomic.Bool

// spinner busy-polls, looking at ctx every 1024 spins.
type spinner struct {
	n    uint
	done <-chan struct{}
}

func (s *spinner) spin(ctx context.Context) error {
	s.n++
	if s.n%1024 != 0 {
		return nil
	}
	select {
	case <-s.done:
		return ctx.Err()
	default:
	}
	if yieldWhileSpinning.Load() {
		unix.RawSyscall(unix.SYS_SCHED_YIELD, 0, 0, 0)
	} else if s.n%(1<<20) == 0 {
		runtime.Gosched()
	}
	return nil
}
