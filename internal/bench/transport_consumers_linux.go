package bench

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/shmkit/shm/queue"
)

// consumersTransport shares the driver's messages between n consumer
// processes through one queue created with queue.Consumers(n) (the first
// consumer is the run's peer, the others it starts; see extraPeers): each
// message goes to one of them. It runs the Stream workload only, whose
// rate is the consumers' total. Each consumer answers through a queue of
// its own: the one that takes message 0 echoes it, and at the end each
// acknowledges with the number of messages it took, which together must
// be every message sent, each exactly once; a release queue per consumer
// then lets it go (a consumer that took its stop must take nothing more
// from the shared queue, where the others' stops still wait). Both sides wait the default
// way (spin, then sleep on a futex).
type consumersTransport struct {
	name string
	n    int
}

func (t consumersTransport) Name() string { return t.name }

func (t consumersTransport) Describe() string {
	return fmt.Sprintf("one queue shared by %d consumer processes (queue.Consumers; their total rate), default waiting", t.n)
}

func (consumersTransport) supports(w Workload) bool { return w == Stream }

func (consumersTransport) capacityFor(size int, capacity int64) int64 {
	return queueTransport{}.capacityFor(size, capacity)
}

func (consumersTransport) opts(c Case) []queue.Option {
	return []queue.Option{queue.Dir(shmDir(c.Dir))}
}

func (t consumersTransport) Prepare(ctx context.Context, c Case) (_ Conn, _ PeerInfo, err error) {
	capacity := t.capacityFor(c.Size, c.Capacity)
	opts := append(t.opts(c), queue.MaxMessage(c.Size))
	conn := &consumersDriver{n: t.n, dir: c.Dir}
	defer func() {
		if err != nil {
			conn.Close()
		}
	}()
	work := c.Name + "-work"
	if conn.work, err = queue.Create(work, capacity, append(opts, queue.Consumers(t.n))...); err != nil {
		return nil, PeerInfo{}, err
	}
	conn.unlink = append(conn.unlink, work)
	for k := range t.n {
		for _, dir := range []string{"-up-", "-rel-"} {
			n := c.Name + dir + strconv.Itoa(k)
			q, err := queue.Create(n, capacity, opts...)
			if err != nil {
				return nil, PeerInfo{}, err
			}
			conn.unlink = append(conn.unlink, n)
			if dir == "-up-" {
				conn.ups = append(conn.ups, q)
			} else {
				conn.rels = append(conn.rels, q)
			}
		}
	}
	return conn, PeerInfo{Arg: peerArg(c.Name, 0)}, nil
}

func (t consumersTransport) Attach(ctx context.Context, c Case, p PeerInfo) (_ Conn, err error) {
	base, k, err := parsePeerArg(p.Arg, t.n)
	if err != nil {
		return nil, err
	}
	conn := &consumerConn{}
	defer func() {
		if err != nil {
			conn.Close()
		}
	}()
	if conn.work, err = queue.Open(base+"-work", t.opts(c)...); err != nil {
		return nil, err
	}
	if conn.up, err = queue.Open(base+"-up-"+strconv.Itoa(k), t.opts(c)...); err != nil {
		return nil, err
	}
	if conn.rel, err = queue.Open(base+"-rel-"+strconv.Itoa(k), t.opts(c)...); err != nil {
		return nil, err
	}
	if k == 0 {
		// The driver removes the names when the case ends: the other
		// consumers have yet to open them.
		conn.extra, err = startExtraPeers(t.n, func(k int) string { return peerArg(base, k) })
	}
	return conn, err
}

// consumersDriver is the driver's end. It sends the first stop message
// once per consumer (a consumer takes no message after its stop, so each
// gets one), turns the consumers' acknowledgements into the one that
// driveStream expects after checking that their counts add up, and sends
// the second stop, the release, to each consumer's release queue.
type consumersDriver struct {
	n      int
	work   *queue.Queue
	ups    []*queue.Queue
	rels   []*queue.Queue
	sent   uint64 // data messages sent
	stops  int    // stop messages sent, per consumer
	stop   uint64 // the first stop's sequence
	unlink []string
	dir    string
}

func (d *consumersDriver) Send(ctx context.Context, msg []byte) error {
	kind, seq := header(msg)
	if kind != msgStop {
		d.sent++
		return d.work.Send(ctx, msg)
	}
	d.stops++
	if d.stops > 1 {
		for _, q := range d.rels {
			if err := q.Send(ctx, msg); err != nil {
				return err
			}
		}
		return nil
	}
	d.stop = seq
	for range d.n {
		if err := d.work.Send(ctx, msg); err != nil {
			return err
		}
	}
	return nil
}

// Receive returns the echo of message 0 from whichever consumer took it,
// or, after the first stop, the acknowledgement of every consumer.
func (d *consumersDriver) Receive(ctx context.Context, buf []byte) error {
	if d.stops == 0 {
		for {
			for _, up := range d.ups {
				got, err := up.TryReceive(buf[:0])
				if err == queue.ErrEmpty {
					continue
				}
				if err != nil {
					return err
				}
				if len(got) != len(buf) {
					return fmt.Errorf("received %d bytes, want %d", len(got), len(buf))
				}
				return nil
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(50 * time.Microsecond):
			}
		}
	}
	total := uint64(0)
	for k, up := range d.ups {
		got, err := up.Receive(ctx, buf[:0])
		if err != nil {
			return fmt.Errorf("consumer %d's acknowledgement: %w", k, err)
		}
		kind, count := header(got)
		if len(got) != len(buf) || kind != msgStop {
			return fmt.Errorf("consumer %d acknowledged with %d bytes of kind %d", k, len(got), kind)
		}
		total += count
	}
	if total != d.sent {
		return fmt.Errorf("the %d consumers took %d messages in all, %d were sent", d.n, total, d.sent)
	}
	setHeader(buf, msgStop, d.stop)
	return nil
}

func (d *consumersDriver) Close() error {
	var err error
	if d.work != nil {
		err = d.work.Close()
	}
	for _, q := range append(d.ups, d.rels...) {
		err = errors.Join(err, q.Close())
	}
	for _, n := range d.unlink {
		err = errors.Join(err, unlinkIfExists(n, d.dir))
	}
	return err
}

// consumerConn is a consumer's end; it serves the case itself (serve).
type consumerConn struct {
	work, up, rel *queue.Queue
	extra         *extraPeers
}

func (c *consumerConn) Send(ctx context.Context, msg []byte) error { return c.up.Send(ctx, msg) }

func (c *consumerConn) Receive(ctx context.Context, buf []byte) error {
	got, err := c.work.Receive(ctx, buf[:0])
	if err == nil && len(got) != len(buf) {
		err = fmt.Errorf("received %d bytes, want %d", len(got), len(buf))
	}
	return err
}

// serve takes messages until its stop, each in a higher sequence than the
// last (the order is per consumer), echoes message 0 if it takes it,
// acknowledges the stop with the number of messages it took, and waits
// for the second stop, on its release queue, that lets it go.
func (c *consumerConn) serve(ctx context.Context, cs Case) error {
	if cs.Workload != Stream {
		return fmt.Errorf("workload %q: competing consumers run %s only", cs.Workload, Stream)
	}
	buf := make([]byte, cs.Size)
	var count uint64
	last := int64(-1)
	for {
		if err := c.Receive(ctx, buf); err != nil {
			return fmt.Errorf("receive: %w", err)
		}
		kind, seq := header(buf)
		if kind == msgStop {
			setHeader(buf, msgStop, count)
			if err := c.up.Send(ctx, buf); err != nil {
				return fmt.Errorf("send acknowledgement: %w", err)
			}
			got, err := c.rel.Receive(ctx, buf[:0])
			if err != nil {
				return fmt.Errorf("receive release: %w", err)
			}
			if kind, _ := header(got); len(got) != len(buf) || kind != msgStop {
				return fmt.Errorf("a release of %d bytes of kind %d", len(got), kind)
			}
			return nil
		}
		if int64(seq) <= last {
			return fmt.Errorf("message %d after %d", seq, last)
		}
		if seq == 0 {
			if err := c.up.Send(ctx, buf); err != nil {
				return fmt.Errorf("echo: %w", err)
			}
		}
		last = int64(seq)
		count++
	}
}

func (c *consumerConn) Close() error {
	var err error
	if c.extra != nil {
		err = c.extra.wait()
	}
	if c.work != nil {
		err = errors.Join(err, c.work.Close())
	}
	for _, q := range []*queue.Queue{c.up, c.rel} {
		if q != nil {
			err = errors.Join(err, q.Close())
		}
	}
	return err
}

// selfServing is a peer's Conn that plays the peer's part of a case itself,
// instead of the workload's serve function.
type selfServing interface {
	serve(ctx context.Context, cs Case) error
}
