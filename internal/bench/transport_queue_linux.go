package bench

import (
	"context"
	"errors"
	"fmt"

	"github.com/shmkit/shm"
	"github.com/shmkit/shm/queue"
)

// queueTransport moves messages through two shm queues, one per direction,
// with the given wait strategy on both sides, and with or without the
// fault guard. With zeroCopy, messages go through Reserve/Commit and
// Peek/Release instead of Send and Receive: the sender copies each message
// into its reservation with shm.Copy, the copy Send uses (as the C ring's
// producer copies with glibc's memcpy), and the receiver reads it in
// place, one load per cache line, without copying it out. In the batch
// workload, messages go through SendBatch and ReceiveBatch (see
// queueConn).
type queueTransport struct {
	name     string
	strategy queue.WaitStrategy
	noGuard  bool
	zeroCopy bool
}

func (t queueTransport) Name() string { return t.name }

func (t queueTransport) Describe() string {
	switch {
	case t.zeroCopy:
		return "as queue, with Reserve/Commit (message copied in with shm.Copy) and Peek/Release (read in place, not copied out)"
	case t.strategy == queue.Spin:
		return "two shm queues, waiting by spinning"
	case t.noGuard:
		return "as queue, without the fault guard (queue.NoFaultGuard, for trusted peers)"
	}
	return "two shm queues, default waiting (spin briefly, then sleep on a futex)"
}

// capacityFor is the capacity of each direction's queue: the smallest power
// of two at least capacity whose largest message (half the ring less a
// record header) holds size bytes.
func (queueTransport) capacityFor(size int, capacity int64) int64 {
	c := int64(queue.MinCapacity)
	for c < capacity || c/2-8 < int64(size) {
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
	capacity := t.capacityFor(c.Size, c.Capacity)
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
	conn := &queueConn{out: down, in: up, zeroCopy: t.zeroCopy, unlink: []string{c.Name + "-down", c.Name + "-up"}, dir: c.Dir}
	return conn, PeerInfo{Arg: c.Name}, nil
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
	return &queueConn{out: up, in: down, zeroCopy: t.zeroCopy}, nil
}

func unlinkQueue(name, dir string) error {
	return unlinkIfExists(name, dir)
}

type queueConn struct {
	out, in  *queue.Queue
	zeroCopy bool
	touched  byte     // zero-copy: what the loads of a received message saw
	batch    [][]byte // ReceiveBatch's buffers, reused
	unlink   []string // the driver's end removes the names when it closes
	dir      string
}

func (q *queueConn) Send(ctx context.Context, msg []byte) error {
	if !q.zeroCopy {
		return q.out.Send(ctx, msg)
	}
	b, err := q.out.Reserve(ctx, len(msg))
	if err != nil {
		return err
	}
	shm.Copy(b, msg)
	return q.out.Commit()
}

// SendData and ReceiveData are dataStreamer's loops around Send and Receive.
func (q *queueConn) SendData(ctx context.Context, msg []byte, seq uint64, n int) error {
	for i := range uint64(n) {
		setHeader(msg, msgData, seq+i)
		if err := q.Send(ctx, msg); err != nil {
			return err
		}
	}
	return nil
}

func (q *queueConn) ReceiveData(ctx context.Context, buf []byte, seq uint64) (uint64, error) {
	for {
		if err := q.Receive(ctx, buf); err != nil || !isData(buf, seq) {
			return seq, err
		}
		seq++
	}
}

// Receive copies the message into buf; with zeroCopy it reads the message
// in place, a byte of every cache line, and copies only the header out.
func (q *queueConn) Receive(ctx context.Context, buf []byte) error {
	if q.zeroCopy {
		p, err := q.in.Peek(ctx)
		if err != nil {
			return err
		}
		if len(p) != len(buf) {
			return fmt.Errorf("received %d bytes, want %d", len(p), len(buf))
		}
		// The sum is kept in a local: in q.touched it would be a load and
		// a store per line, each waiting for the last.
		var t byte
		for i := headerLen; i < len(p); i += 64 {
			t ^= p[i]
		}
		q.touched ^= t
		copy(buf[:headerLen], p)
		return q.in.Release()
	}
	got, err := q.in.Receive(ctx, buf[:0])
	if err != nil {
		return err
	}
	if len(got) != len(buf) {
		return fmt.Errorf("received %d bytes, want %d", len(got), len(buf))
	}
	return nil
}

// SendBatch sends msgs with one queue.SendBatch (Reserve and Commit one by
// one with zeroCopy, which has no batch form).
func (q *queueConn) SendBatch(ctx context.Context, msgs [][]byte) error {
	if q.zeroCopy {
		for _, m := range msgs {
			if err := q.Send(ctx, m); err != nil {
				return err
			}
		}
		return nil
	}
	return q.out.SendBatch(ctx, msgs)
}

// ReceiveBatch fills bufs[:n] with one queue.ReceiveBatch (Peek and Release
// one at a time with zeroCopy).
func (q *queueConn) ReceiveBatch(ctx context.Context, bufs [][]byte) (int, error) {
	if q.zeroCopy {
		return 1, q.Receive(ctx, bufs[0])
	}
	if len(q.batch) < len(bufs) {
		q.batch = make([][]byte, len(bufs))
	}
	b := q.batch[:len(bufs)]
	for i := range b {
		b[i] = bufs[i][:0]
	}
	n, err := q.in.ReceiveBatch(ctx, b)
	for i := range n {
		if len(b[i]) != len(bufs[i]) {
			return i, fmt.Errorf("received %d bytes, want %d", len(b[i]), len(bufs[i]))
		}
	}
	return n, err
}

func (q *queueConn) Close() error {
	err := errors.Join(q.out.Close(), q.in.Close())
	for _, n := range q.unlink {
		err = errors.Join(err, unlinkQueue(n, q.dir))
	}
	return err
}
