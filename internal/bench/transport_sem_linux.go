package bench

import (
	"context"
	"errors"

	"github.com/shmkit/shm"
	"github.com/shmkit/shm/sem"
)

// semTransport is the classic bounded buffer: slots in a shared segment and
// two process-shared semaphores per direction, "items" (messages waiting)
// and "spaces" (free slots). A sender waits on spaces, copies its message
// into the next slot and posts items; a receiver waits on items, copies the
// message out and posts spaces. The semaphores are glibc-compatible
// (package sem): they sleep on a futex when there is nothing to take, so a
// round trip costs two wake-ups, which is what a semaphore hand-off between
// processes costs.
//
// Segment layout:
//
//	+0    items  (driver to peer)      sem.Size bytes, each on its own
//	+64   spaces (driver to peer)      64-byte line
//	+128  items  (peer to driver)
//	+192  spaces (peer to driver)
//	+256  slots of the driver-to-peer ring, n * stride
//	...   slots of the peer-to-driver ring, n * stride
//
// stride is the message size rounded up to 64 bytes; n follows the raw
// transport's ringGeometry for the case's capacity.
type semTransport struct{}

const semSlotsOff = 256

func (semTransport) Name() string { return Sem }
func (semTransport) Describe() string {
	return "slots in a shared segment handed over with two process-shared semaphores per direction"
}

func (semTransport) capacityFor(size int, capacity int64) int64 {
	return rawTransport{}.capacityFor(size, capacity)
}

func semGeometry(size int, capacity int64) (stride, n, length int) {
	stride = (size + slotAlign - 1) / slotAlign * slotAlign
	_, n, _ = ringGeometry(size, capacity)
	return stride, n, semSlotsOff + 2*n*stride
}

func (semTransport) Prepare(ctx context.Context, c Case) (Conn, PeerInfo, error) {
	_, n, length := semGeometry(c.Size, c.Capacity)
	seg, err := shm.Create(c.Name, int64(length), shm.Dir(shmDir(c.Dir)), shm.Prefault())
	if err != nil {
		return nil, PeerInfo{}, err
	}
	conn := &semConn{seg: seg, unlink: true, c: c}
	fail := func(err error) (Conn, PeerInfo, error) {
		conn.Close()
		return nil, PeerInfo{}, err
	}
	var sems [4]*sem.Semaphore
	for i, v := range []uint32{0, uint32(n), 0, uint32(n)} {
		if sems[i], err = sem.Init(seg, 64*i, v); err != nil {
			return fail(err)
		}
	}
	conn.wire(sems, false)
	return conn, PeerInfo{Arg: c.Name}, nil
}

func (semTransport) Attach(ctx context.Context, c Case, p PeerInfo) (Conn, error) {
	seg, err := shm.Open(p.Arg, shm.Dir(shmDir(c.Dir)), shm.Prefault())
	if err != nil {
		return nil, err
	}
	shm.Unlink(p.Arg, shm.Dir(shmDir(c.Dir)))
	conn := &semConn{seg: seg, c: c}
	if _, _, length := semGeometry(c.Size, c.Capacity); seg.Size() != int64(length) {
		conn.Close()
		return nil, &shm.Error{Op: "bench attach", Name: p.Arg, Err: errCorrupt}
	}
	var sems [4]*sem.Semaphore
	for i := range sems {
		if sems[i], err = sem.At(seg, 64*i); err != nil {
			conn.Close()
			return nil, err
		}
	}
	conn.wire(sems, true)
	return conn, nil
}

type semConn struct {
	seg     *shm.Segment
	out, in semRing
	unlink  bool
	c       Case
}

// semRing is one direction: its semaphores, its slots and this side's
// position in them.
type semRing struct {
	items, spaces *sem.Semaphore
	slots         [][]byte
	next          int
}

// wire points the two directions at their semaphores and slots; the peer
// sends on the second direction and receives on the first.
func (s *semConn) wire(sems [4]*sem.Semaphore, peer bool) {
	stride, n, _ := semGeometry(s.c.Size, s.c.Capacity)
	b := s.seg.Bytes()
	dir := func(k int) semRing {
		r := semRing{items: sems[2*k], spaces: sems[2*k+1]}
		base := semSlotsOff + k*n*stride
		for j := range n {
			off := base + j*stride
			r.slots = append(r.slots, b[off:off+s.c.Size])
		}
		return r
	}
	s.out, s.in = dir(0), dir(1)
	if peer {
		s.out, s.in = s.in, s.out
	}
}

func (s *semConn) Send(ctx context.Context, msg []byte) error {
	r := &s.out
	if err := r.spaces.Wait(ctx); err != nil {
		return err
	}
	copy(r.slots[r.next], msg)
	r.next = (r.next + 1) % len(r.slots)
	return r.items.Post()
}

func (s *semConn) Receive(ctx context.Context, buf []byte) error {
	r := &s.in
	if err := r.items.Wait(ctx); err != nil {
		return err
	}
	copy(buf, r.slots[r.next])
	r.next = (r.next + 1) % len(r.slots)
	return r.spaces.Post()
}

func (s *semConn) Close() error {
	var err error
	for _, r := range []semRing{s.out, s.in} {
		for _, sm := range []*sem.Semaphore{r.items, r.spaces} {
			if sm != nil {
				err = errors.Join(err, sm.Close())
			}
		}
	}
	err = errors.Join(err, s.seg.Close())
	if s.unlink {
		err = errors.Join(err, unlinkIfExists(s.c.Name, s.c.Dir))
	}
	return err
}
