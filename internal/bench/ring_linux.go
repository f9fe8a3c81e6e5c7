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
//	+64   slot 0 | slot 1 | ... | slot n-1
//
//	slot j, at 64 + j*stride:
//	+0     data  [size]byte
//	+off   seq   uint64   i+1 once it holds message i; written by the sender
//
// where off is size rounded up to 8, and stride is off+8 rounded up to 64.
// n is as many slots as the case's capacity holds, and at least two.
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
// lines from one core to the other and little more. The receiver publishes
// head lazily, every n/4 messages and when it finds the ring empty; the
// sender reads it only when the ring looks full. A slot's seq before its
// message arrives is that of message i-n (the creator sets slot j to
// j+1-n, modulo 2^64); any other value, or a head beyond what was sent, is
// reported as corruption, never waited on.
const (
	ringHeadOff  = 0
	ringSlotsOff = 64
	slotAlign    = 64
	minSlots     = 2
)

// errCorrupt reports a sequence word or cursor that breaks the ring's rules.
var errCorrupt = errors.New("bench: ring is corrupt")

// ringGeometry returns the slot stride and count for messages of size
// bytes in a ring of about capacity bytes, and the length in bytes of one
// ring.
func ringGeometry(size int, capacity int64) (stride, n, length int) {
	stride = (slotSeqOff(size) + 8 + slotAlign - 1) / slotAlign * slotAlign
	n = int(max(capacity/int64(stride), minSlots))
	return stride, n, ringSlotsOff + n*stride
}

// slotSeqOff is the offset of a slot's seq: after the data, 8-byte aligned.
func slotSeqOff(size int) int { return (size + 7) / 8 * 8 }

// ring is one direction of the raw transport, seen from one side.
type ring struct {
	head      *atomic.Uint64
	words     []atomic.Uint64 // the ring as 8-byte words, for the seqs
	b         []byte
	size      int
	stride    int
	n         uint64
	next      uint64 // the next message this side sends or receives
	slot      int    // its slot, next % n
	headCache uint64 // sender: the last head seen
	published uint64 // receiver: the last head published
	yield     bool   // the two sides may share one CPU
}

func newRing(b []byte, size int, capacity int64, yield bool) (*ring, error) {
	stride, n, length := ringGeometry(size, capacity)
	if len(b) < length {
		return nil, fmt.Errorf("%w: %d bytes hold no ring of %d slots of %d", errCorrupt, len(b), n, stride)
	}
	b = b[:length]
	words, err := mem.Uint64s(b, 0, length/8)
	if err != nil {
		return nil, err
	}
	return &ring{head: &words[ringHeadOff/8], words: words, b: b, size: size, stride: stride, n: uint64(n), yield: yield}, nil
}

// seq returns the sequence word of slot j.
func (r *ring) seq(j int) *atomic.Uint64 {
	return &r.words[(ringSlotsOff+j*r.stride+slotSeqOff(r.size))/8]
}

// data returns the message bytes of slot j.
func (r *ring) data(j int) []byte {
	off := ringSlotsOff + j*r.stride
	return r.b[off : off+r.size]
}

// init makes a new ring's slots look as if they held messages -n to -1.
func (r *ring) init() {
	for j := range int(r.n) {
		r.seq(j).Store(uint64(j) + 1 - r.n)
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
	j := r.slot
	copy(r.data(j), msg)
	mem.StoreRelease64(r.seq(j), i+1)
	r.advance()
	return nil
}

// advance moves to the next message and its slot.
func (r *ring) advance() {
	r.next++
	r.slot++
	if r.slot == int(r.n) {
		r.slot = 0
	}
}

func (r *ring) receive(ctx context.Context, buf []byte) error {
	i := r.next
	j := r.slot
	seq := r.seq(j)
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
	copy(buf, r.data(j))
	r.advance()
	if r.next-r.published >= max(r.n/4, 1) {
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
