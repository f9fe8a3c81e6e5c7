package bench

import (
	"context"
	"errors"
	"io/fs"

	"github.com/shmkit/shm"
)

// rawTransport is the hardware's limit: two rings of slots in one shared
// segment, each side busy-polling the sequence word of the slot it waits
// for (see ring_linux.go). It
// makes no system call and has no wait strategy: nothing between two
// processes can be faster on the same pair of CPUs.
type rawTransport struct{}

func (rawTransport) Name() string { return Raw }
func (rawTransport) Describe() string {
	return "slots in one shared segment, both sides busy-polling a sequence word (the hardware limit)"
}

func (rawTransport) Prepare(ctx context.Context, c Case) (Conn, PeerInfo, error) {
	_, _, length := ringGeometry(c.Size)
	seg, err := shm.Create(c.Name, int64(2*length), shm.Dir(shmDir(c.Dir)), shm.Prefault())
	if err != nil {
		return nil, PeerInfo{}, err
	}
	b := seg.Bytes()
	conn := &rawConn{seg: seg, out: newRing(b, c.Size, c.SharedCPU), in: newRing(b[length:], c.Size, c.SharedCPU), unlink: true, c: c}
	conn.out.init()
	conn.in.init()
	return conn, PeerInfo{Arg: c.Name}, nil
}

func (rawTransport) Attach(ctx context.Context, c Case, p PeerInfo) (Conn, error) {
	seg, err := shm.Open(p.Arg, shm.Dir(shmDir(c.Dir)), shm.Prefault())
	if err != nil {
		return nil, err
	}
	_, _, length := ringGeometry(c.Size)
	if seg.Size() != int64(2*length) {
		seg.Close()
		return nil, &shm.Error{Op: "bench attach", Name: p.Arg, Err: errCorrupt}
	}
	shm.Unlink(p.Arg, shm.Dir(shmDir(c.Dir)))
	b := seg.Bytes()
	return &rawConn{seg: seg, out: newRing(b[length:], c.Size, c.SharedCPU), in: newRing(b, c.Size, c.SharedCPU)}, nil
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
