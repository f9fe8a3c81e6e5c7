package bench

import (
	"context"
	"errors"
	"io/fs"

	"github.com/shmkit/shm"
)

// rawTransport is the Go limit: two rings of slots in one shared segment,
// each side busy-polling the sequence word of the slot it waits for (see
// ring_linux.go). It makes no system call, has no wait strategy and no
// checks beyond the sequence words: what Go does at best with the same
// ring, next to the C programs that do it without Go (c-ring, c-pingpong).
type rawTransport struct{}

func (rawTransport) Name() string { return Raw }
func (rawTransport) Describe() string {
	return "Go, no queue code: slots in one shared segment, both sides busy-polling a sequence word"
}

// capacityFor is the capacity a raw ring has for messages of size bytes
// when asked for capacity: at least two slots.
func (rawTransport) capacityFor(size int, capacity int64) int64 {
	stride, n, _ := ringGeometry(size, capacity)
	return max(capacity, int64(n*stride))
}

func (rawTransport) Prepare(ctx context.Context, c Case) (Conn, PeerInfo, error) {
	_, _, length := ringGeometry(c.Size, c.Capacity)
	seg, err := shm.Create(c.Name, int64(2*length), shm.Dir(shmDir(c.Dir)), shm.Prefault())
	if err != nil {
		return nil, PeerInfo{}, err
	}
	conn := &rawConn{seg: seg, unlink: true, c: c}
	if err := conn.wire(false); err != nil {
		conn.Close()
		return nil, PeerInfo{}, err
	}
	conn.out.init()
	conn.in.init()
	return conn, PeerInfo{Arg: c.Name}, nil
}

func (rawTransport) Attach(ctx context.Context, c Case, p PeerInfo) (Conn, error) {
	seg, err := shm.Open(p.Arg, shm.Dir(shmDir(c.Dir)), shm.Prefault())
	if err != nil {
		return nil, err
	}
	_, _, length := ringGeometry(c.Size, c.Capacity)
	if seg.Size() != int64(2*length) {
		seg.Close()
		return nil, &shm.Error{Op: "bench attach", Name: p.Arg, Err: errCorrupt}
	}
	shm.Unlink(p.Arg, shm.Dir(shmDir(c.Dir)))
	conn := &rawConn{seg: seg, c: c}
	if err := conn.wire(true); err != nil {
		seg.Close()
		return nil, err
	}
	return conn, nil
}

// wire builds the two rings; the peer sends on the second and receives on
// the first.
func (r *rawConn) wire(peer bool) error {
	_, _, length := ringGeometry(r.c.Size, r.c.Capacity)
	b := r.seg.Bytes()
	down, err := newRing(b, r.c.Size, r.c.Capacity, r.c.SharedCPU)
	if err != nil {
		return err
	}
	up, err := newRing(b[length:], r.c.Size, r.c.Capacity, r.c.SharedCPU)
	if err != nil {
		return err
	}
	r.out, r.in = down, up
	if peer {
		r.out, r.in = up, down
	}
	return nil
}

type rawConn struct {
	seg     *shm.Segment
	out, in *ring
	unlink  bool // the driver's end removes the name when it closes
	c       Case
}

func (r *rawConn) Send(ctx context.Context, msg []byte) error {
	return r.out.send(ctx, msg)
}

func (r *rawConn) Receive(ctx context.Context, buf []byte) error {
	return r.in.receive(ctx, buf)
}

// SendData and ReceiveData are dataStreamer's loops around Send and Receive.
func (r *rawConn) SendData(ctx context.Context, msg []byte, seq uint64, n int) error {
	for i := range uint64(n) {
		setHeader(msg, msgData, seq+i)
		if err := r.Send(ctx, msg); err != nil {
			return err
		}
	}
	return nil
}

func (r *rawConn) ReceiveData(ctx context.Context, buf []byte, seq uint64) (uint64, error) {
	for {
		if err := r.Receive(ctx, buf); err != nil || !isData(buf, seq) {
			return seq, err
		}
		seq++
	}
}

func (r *rawConn) Close() error {
	err := r.seg.Close()
	if r.unlink {
		err = errors.Join(err, unlinkIfExists(r.c.Name, r.c.Dir))
	}
	return err
}

// unlinkIfExists removes a named object that the peer may already have
// removed.
func unlinkIfExists(name, dir string) error {
	err := shm.Unlink(name, shm.Dir(shmDir(dir)))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}

func shmDir(dir string) string {
	if dir == "" {
		return shm.DefaultDir
	}
	return dir
}
