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

// The raw transport's shared segment holds two rings, one per direction
// (driver to peer first, then peer to driver). Each ring:
//
//	+0    head  uint64      messages emptied so far; written by the receiver
//	+64   slot 0 | slot 1 | ... | slot n-1        (n a power of two)
//
//	slot j, at 64 + j*stride:
//	+0     data  [size]byte
//	+off   seq   uint64   i+1 once it holds message i; written by the sender
//
// where off is size rounded up to 8, and stride is off+8 rounded up to 64.
//
// Message i goes in slot i%n. The sender copies the data and then stores
// seq = i+1 with a release store: a plain MOV on amd64, as the queue's
// commits are. (A sequentially consistent store, an XCHG, stalls the
// sender until it owns the line; on an AMD EPYC VM that made this ring's
// 64 B stream 2-4x and its round trip 1.2x slower than the queue's.) The
// receiver polls the seq of the one slot it waits for, busy, and copies
// the data out. Slot lines are written by the sender only, and the seq
// comes after the data, so that the receiver's polling does not pull a
// line away from the sender while it writes the message (except the last
// one, shared with the seq): a message costs the transfer of its own cache
// lines from one core to the other and little more, the limit a
// shared-memory transport works against. The receiver publishes head
// lazily, every n/4 messages and when it finds the ring empty; the sender
// reads it only when the ring looks full. A slot's seq before its message
// arrives is that of message i-n (the creator sets slot j to j+1-n, modulo
// 2^64); any other value, or a head beyond what was sent, is reported as
// corruption, never waited on.
const (
	ringHeadOff   = 0
	ringSlotsOff  = 64
	slotAlign     = 64
	ringTargetLen = 1 << 20 // bytes per ring, give or take, with at least minSlots slots
	minSlots      = 8
	maxSlots      = 1024
)

// errCorrupt reports a sequence word or cursor that breaks the ring's rules.
var errCorrupt = errors.New("bench: ring is corrupt")

// ringGeometry returns the slot stride and count for messages of size
// bytes, and the length in bytes of one ring.
func ringGeometry(size int) (stride, n, length int) {
	stride = (slotSeqOff(size) + 8 + slotAlign - 1) / slotAlign * slotAlign
	n = maxSlots
	for n > minSlots && n*stride > ringTargetLen {
		n /= 2
	}
	return stride, n, ringSlotsOff + n*stride
}

// slotSeqOff is the offset of a slot's seq: after the data, 8-byte aligned.
func slotSeqOff(size int) int { return (size + 7) / 8 * 8 }

// ring is one direction of the raw transport, seen from one side.
type ring struct {
	head      *atomic.Uint64
	seqs      []*atomic.Uint64
	data      [][]byte
	n         uint64
	next      uint64 // the next message this side sends or receives
	headCache uint64 // sender: the last head seen
	published uint64 // receiver: the last head published
	yield     bool   // the two sides may share one CPU
}

func newRing(b []byte, size int, yield bool) *ring {
	stride, n, length := ringGeometry(size)
	b = b[:length]
	r := &ring{head: mem.MustUint64(b, ringHeadOff), n: uint64(n), yield: yield}
	for j := range n {
		s := b[ringSlotsOff+j*stride : ringSlotsOff+(j+1)*stride]
		r.seqs = append(r.seqs, mem.MustUint64(s, slotSeqOff(size)))
		r.data = append(r.data, s[:size])
	}
	return r
}

// init makes a new ring's slots look as if they held messages -n to -1.
func (r *ring) init() {
	for j, s := range r.seqs {
		s.Store(uint64(j) + 1 - r.n)
	}
}

func (r *ring) send(ctx context.Context, msg []byte) error {
	i := r.next
	s := spinner{yield: r.yield}
	for i-r.headCache >= r.n {
		r.headCache = r.head.Load()
		if r.headCache > i {
			return fmt.Errorf("%w: head %d is past the %d messages sent", errCorrupt, r.headCache, i)
		}
		if i-r.headCache >= r.n {
			if err := s.spin(ctx); err != nil {
				return err
			}
		}
	}
	j := i & (r.n - 1)
	copy(r.data[j], msg)
	mem.StoreRelease64(r.seqs[j], i+1)
	r.next++
	return nil
}

func (r *ring) receive(ctx context.Context, buf []byte) error {
	i := r.next
	j := i & (r.n - 1)
	seq := r.seqs[j]
	s := spinner{yield: r.yield}
	for {
		v := seq.Load()
		if v == i+1 {
			break
		}
		if v != i+1-r.n { // anything but "still holds message i-n"
			return fmt.Errorf("%w: slot %d has seq %d, receiver waits for %d", errCorrupt, j, v, i+1)
		}
		if r.published != i {
			mem.StoreRelease64(r.head, i)
			r.published = i
		}
		if err := s.spin(ctx); err != nil {
			return err
		}
	}
	copy(buf, r.data[j])
	r.next++
	if r.next-r.published >= r.n/4 {
		mem.StoreRelease64(r.head, r.next)
		r.published = r.next
	}
	return nil
}

// spinner busy-polls, looking at ctx every 1024 spins (and only then: a
// send or receive that does not wait never touches ctx). With yield set
// (the two sides may share a CPU) it gives the CPU away every 8 spins.
type spinner struct {
	n     uint
	yield bool
}

func (s *spinner) spin(ctx context.Context) error {
	s.n++
	if s.yield && s.n%8 == 0 {
		unix.RawSyscall(unix.SYS_SCHED_YIELD, 0, 0, 0)
	}
	if s.n%1024 != 0 {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if !s.yield && s.n%(1<<20) == 0 {
		runtime.Gosched()
	}
	return nil
}
