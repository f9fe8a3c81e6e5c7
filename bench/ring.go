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

// The raw transport's shared segment holds two rings of n fixed-size slots,
// one per direction (driver to peer first, then peer to driver). Each slot
// carries its own sequence word, so the two sides never share a cursor:
//
//	slot j, at j*stride (stride: 8+size rounded up to 64 bytes):
//	+0  seq   uint64   whose turn the slot is (below)
//	+8  data  [size]byte
//
// Message i goes in slot i%n. The slot's seq says whose turn it is:
//
//	seq == i      free for message i: the sender may fill it
//	seq == i+1    holds message i: the receiver may empty it
//	seq == i+n    emptied: free for message i+n
//
// The creator sets seq = j in slot j; then only the sender stores i+1 (after
// the data) and only the receiver stores i+n (after copying the data out).
// Each side polls the seq of the one slot it waits for, busy, so a message
// costs the transfer of its own cache lines between the two cores and
// nothing more: the limit a shared-memory transport works against. A seq
// other than the ones a side may legitimately see while waiting is reported
// as corruption, never waited on.
const (
	slotSeqOff    = 0
	slotDataOff   = 8
	slotAlign     = 64
	ringTargetLen = 1 << 20 // bytes per ring, give or take, with at least minSlots slots
	minSlots      = 8
	maxSlots      = 1024
)

// errCorrupt reports a sequence word that breaks the ring's rules.
var errCorrupt = errors.New("bench: ring slot sequence is corrupt")

// ringGeometry returns the slot stride and count for messages of size
// bytes, and the length in bytes of one ring.
func ringGeometry(size int) (stride, n, length int) {
	stride = (slotDataOff + size + slotAlign - 1) / slotAlign * slotAlign
	n = maxSlots
	for n > minSlots && n*stride > ringTargetLen {
		n /= 2
	}
	return stride, n, n * stride
}

// ring is one direction of the raw transport, seen from one side.
type ring struct {
	seqs   []*atomic.Uint64
	data   [][]byte
	n      uint64
	next   uint64 // the next message this side sends or receives
	stride int
}

func newRing(b []byte, size int) *ring {
	stride, n, length := ringGeometry(size)
	b = b[:length]
	r := &ring{n: uint64(n), stride: stride}
	for j := range n {
		s := b[j*stride : (j+1)*stride]
		r.seqs = append(r.seqs, mem.MustUint64(s, slotSeqOff))
		r.data = append(r.data, s[slotDataOff:slotDataOff+size])
	}
	return r
}

// initRing gives every slot of a new ring its first turn.
func (r *ring) init() {
	for j, s := range r.seqs {
		s.Store(uint64(j))
	}
}

func (r *ring) send(ctx context.Context, msg []byte) error {
	i := r.next
	j := i & (r.n - 1)
	seq := r.seqs[j]
	s := spinner{done: ctx.Done()}
	for {
		v := seq.Load()
		if v == i {
			break
		}
		if v != i-r.n+1 { // anything but "still holds message i-n"
			return fmt.Errorf("%w: slot %d has seq %d, sender waits for %d", errCorrupt, j, v, i)
		}
		if err := s.spin(ctx); err != nil {
			return err
		}
	}
	copy(r.data[j], msg)
	seq.Store(i + 1)
	r.next++
	return nil
}

func (r *ring) receive(ctx context.Context, buf []byte) error {
	i := r.next
	j := i & (r.n - 1)
	seq := r.seqs[j]
	s := spinner{done: ctx.Done()}
	for {
		v := seq.Load()
		if v == i+1 {
			break
		}
		if v != i { // anything but "free, not yet filled"
			return fmt.Errorf("%w: slot %d has seq %d, receiver waits for %d", errCorrupt, j, v, i+1)
		}
		if err := s.spin(ctx); err != nil {
			return err
		}
	}
	copy(buf, r.data[j])
	seq.Store(i + r.n)
	r.next++
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
