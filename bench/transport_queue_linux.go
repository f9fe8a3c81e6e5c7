package bench

import (
	"context"
	"errors"
	"fmt"

	"github.com/shmkit/shm/queue"
)

// queueTransport moves messages through two shm queues, one per direction,
// with the given wait strategy on both sides, and with or without the
// fault guard.
type queueTransport struct {
	name     string
	strategy queue.WaitStrategy
	noGuard  bool
}

func (t queueTransport) Name() string { return t.name }

func (t queueTransport) Describe() string {
	switch {
	case t.strategy == queue.Spin:
		return "two shm queues, waiting by spinning"
	case t.noGuard:
		return "as queue, without the fault guard (queue.NoFaultGuard, for trusted peers)"
	}
	return "two shm queues, default waiting (spin briefly, then sleep on a futex)"
}

// queueCapacity gives each direction about as much room as the raw
// transport's ring, and at least two messages' worth.
func queueCapacity(size int) int64 {
	c := int64(queue.MinCapacity)
	for c < ringTargetLen || c < 4*int64(size+64) {
		c *= 2
	}
	return min(c, queue.MaxCapacity)
}

func (t queueTransport) opts(c Case) []queue.Option {
	opts := []queue.Option{queue.Dir(shmDir(c.Dir)), queue.Wait(t.strategy)}
	if t.noGuard {
		opts = append(opts, queue.NoFaultGuard())
	}
	return opts
}

func (t queueTransport) Prepare(ctx context.Context, c Case) (Conn, PeerInfo, error) {
	capacity := queueCapacity(c.Size)
	opts := append(t.opts(c), queue.MaxMessage(c.Size))
	down, err := queue.Create(c.Name+"-down", capacity, opts...)
	if err != nil {
		return nil, PeerInfo{}, err
	}
	up, err := queue.Create(c.Name+"-up", capacity, opts...)
	if err != nil {
		down.Close()
		unlinkQueue(c.Name+"-down", c.Dir)
		return nil, PeerInfo{}, err
	}
	return &queueConn{out: down, in: up, unlink: []string{c.Name + "-down", c.Name + "-up"}, dir: c.Dir}, PeerInfo{Arg: c.Name}, nil
}

func (t queueTransport) Attach(ctx context.Context, c Case, p PeerInfo) (Conn, error) {
	down, err := queue.Open(p.Arg+"-down", t.opts(c)...)
	if err != nil {
		return nil, err
	}
	up, err := queue.Open(p.Arg+"-up", t.opts(c)...)
	if err != nil {
		down.Close()
		return nil, err
	}
	unlinkQueue(p.Arg+"-down", c.Dir)
	unlinkQueue(p.Arg+"-up", c.Dir)
	return &queueConn{out: up, in: down}, nil
}

func unlinkQueue(name, dir string) error {
	return unlinkIfExists(name, dir)
}

type queueConn struct {
	out, in *queue.Queue
	unlink  []string // the driver's end removes the names when it closes
	dir     string
}

func (q *queueConn) Send(ctx context.Context, msg []byte) error {
	return q.out.Send(ctx, msg)
}

func (q *queueConn) Receive(ctx context.Context, buf []byte) error {
	got, err := q.in.Receive(ctx, buf[:0])
	if err != nil {
		return err
	}
	if len(got) != len(buf) {
		return fmt.Errorf("received %d bytes, want %d", len(got), len(buf))
	}
	return nil
}

func (q *queueConn) Close() error {
	err := errors.Join(q.out.Close(), q.in.Close())
	for _, n := range q.unlink {
		err = errors.Join(err, unlinkQueue(n, q.dir))
	}
	return err
}
