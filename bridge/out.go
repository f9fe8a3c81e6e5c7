package natsbridge

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/shmkit/shm/queue"
)

// Out moves the messages of cfg.Queue to cfg.Subject on nc, as the package
// documentation describes, until the queue is closed for sending and every
// message is acknowledged (nil), ctx ends (nil, after the publishes in
// flight are acknowledged or time out), or an error that publishing again
// cannot mend: the queue cannot be opened or is corrupt, a message is too
// large and cfg.Oversize is Stop.
//
// With cfg.Topic it is one subscriber of the topic instead, as the
// package documentation describes under "Topics".
func Out(ctx context.Context, nc *nats.Conn, cfg Config) error {
	o := &out{cfg: &cfg, nc: nc, st: cfg.stats()}
	if !cfg.Core {
		// No timeout per publish (a timer each): the bridge times the
		// oldest publish it waits for itself, and drops the futures of a
		// session it gives up (CleanupPublisher). The limit is only a
		// backstop; the bridge keeps within Window.
		opts := []jetstream.JetStreamOpt{jetstream.WithPublishAsyncMaxPending(2 * cfg.window())}
		if cfg.Topic == "" {
			opts = append(opts,
				jetstream.WithPublishAsyncAckHandler(func(jetstream.JetStream, *nats.Msg, *jetstream.PubAck) { o.settle() }),
				jetstream.WithPublishAsyncErrHandler(func(jetstream.JetStream, *nats.Msg, error) { o.settle() }))
		}
		js, err := jetstream.New(nc, opts...)
		if err != nil {
			return &Error{Op: "out", Name: cfg.name(), Err: err}
		}
		o.js = js
	}
	if cfg.Topic != "" {
		if err := outTopic(ctx, nc, &cfg, o.js); err != nil {
			return &Error{Op: "out", Name: cfg.Topic, Err: err}
		}
		return nil
	}
	failures := 0
	for {
		err := o.session(ctx)
		var r *restart
		if !errors.As(err, &r) {
			if err != nil {
				return &Error{Op: "out", Name: cfg.Queue, Err: err}
			}
			return nil
		}
		if r.progress {
			failures = 0
		}
		failures++
		o.st.Restarts.Add(1)
		o.st.InFlight.Store(0)
		d := backoff(failures)
		cfg.logf("out %s: %v; publishing again from position %d in %v", cfg.Queue, describe(r.err), r.from, d)
		if !sleep(ctx, d) {
			return nil
		}
	}
}

// restart is a failed publish: Out lets go of the queue and publishes
// again from the position released.
type restart struct {
	err      error
	from     queue.Position
	progress bool // a publish was acknowledged in this session
}

func (r *restart) Error() string { return r.err.Error() }

type out struct {
	cfg *Config
	nc  *nats.Conn
	js  jetstream.JetStream
	st  *Stats

	pend   []pending   // publishes in flight, oldest first
	free   [][]byte    // message buffers no publish uses any more (Core)
	spares []*nats.Msg // messages whose publish was acknowledged, to reuse
	idBuf  []byte      // the Nats-Msg-Id being built
	// published is the highest position published so far: a message at
	// or below it is published again.
	published   queue.Position
	waitingPeer bool // the queue's producer died; logged

	// receiveOrAck's wait, which settle ends. settled is set by every
	// settle and cleared by receiveOrAck when it looks at the oldest
	// publish, so a publish settled between the look and the wait is not
	// missed.
	waitMu     sync.Mutex
	waitCancel context.CancelFunc
	settled    bool
}

// pending is a message published and not yet released.
type pending struct {
	pos  queue.Position
	fut  jetstream.PubAckFuture // nil: skipped, release it in turn
	msg  *nats.Msg
	skip bool
	sent time.Time // when it was published: its acknowledgement is due AckTimeout later
	// The outcome, once receiveOrAck took it from fut's channel: acked,
	// or the publish's error.
	acked bool
	err   error
}

// session publishes from the queue's released position until the end,
// a fatal error, or a failed publish (*restart).
func (o *out) session(ctx context.Context) error {
	q, err := queue.Open(o.cfg.Queue, o.cfg.QueueOptions...)
	if err != nil {
		return err
	}
	defer q.Close()
	if o.cfg.Core {
		return o.core(ctx, q)
	}
	// A failed session's futures may still be referred to by nats.go:
	// fail them, and reuse none of their messages.
	o.js.CleanupPublisher()
	clear(o.pend)
	o.pend = o.pend[:0]
	o.idBuf = append(append(o.idBuf[:0], q.ID().String()...), '-')
	idLen := len(o.idBuf)
	progress := false
	fail := func(err error) error {
		return &restart{err: err, from: q.Released(), progress: progress}
	}
	for {
		if n, err := o.reap(q, false); n > 0 || err != nil {
			progress = progress || n > 0
			if err != nil {
				return fail(err)
			}
		}
		if ctx.Err() != nil {
			return o.drain(q)
		}
		if len(o.pend) >= o.cfg.window() {
			if _, err := o.reap(q, true); err != nil {
				return fail(err)
			}
			continue
		}
		m := o.spare()
		msg, pos, err := tryReceiveHeld(q, m.Data[:0])
		m.Data = msg
		if err == queue.ErrEmpty {
			if len(o.pend) > 0 {
				msg, pos, err = o.receiveOrAck(ctx, q, msg)
				m.Data = msg
				if err == errAckFirst {
					o.spares = append(o.spares, m)
					continue
				}
			} else {
				// Nothing held: waiting cannot keep room from producers.
				msg, pos, err = receiveHeld(ctx, q, msg)
				m.Data = msg
			}
			if ctx.Err() != nil {
				o.spares = append(o.spares, m)
				return o.drain(q)
			}
			if errors.Is(err, queue.ErrPeerDead) {
				// The producer died without closing the queue: wait for
				// the next one.
				o.spares = append(o.spares, m)
				if !o.deadPeer(ctx) {
					return o.drain(q)
				}
				continue
			}
		}
		if err == io.EOF {
			o.spares = append(o.spares, m)
			if len(o.pend) == 0 {
				return nil
			}
			if _, err := o.reap(q, true); err != nil {
				return fail(err)
			}
			continue
		}
		if err != nil {
			return err
		}
		o.waitingPeer = false
		if pos <= o.published {
			o.st.Redelivered.Add(1)
		} else {
			o.published = pos
		}
		o.idBuf = strconv.AppendUint(o.idBuf[:idLen], uint64(pos), 10)
		m.Header[jetstream.MsgIDHeader][0] = string(o.idBuf)
		// No publish options: with none, nats.go takes its fast path.
		fut, err := o.js.PublishMsgAsync(m)
		if errors.Is(err, nats.ErrMaxPayload) {
			err = fmt.Errorf("%w: the message at position %d is %d bytes, more than the server's max payload of %d bytes (with the Nats-Msg-Id header)", ErrTooLarge, pos, len(msg), o.nc.MaxPayload())
			if o.cfg.Oversize == Stop {
				// Release what came before it: the large message is the
				// queue's next.
				o.drain(q)
				return err
			}
			o.cfg.logf("out %s: skipped: %v", o.cfg.Queue, err)
			o.st.Skipped.Add(1)
			o.pend = append(o.pend, pending{pos: pos, msg: m, skip: true})
			continue
		}
		if err != nil {
			return fail(err)
		}
		o.pend = append(o.pend, pending{pos: pos, fut: fut, msg: m, sent: time.Now()})
		o.st.InFlight.Store(int64(len(o.pend)))
	}
}

// errAckFirst is receiveOrAck's answer when the oldest publish in flight
// was settled (acknowledged, failed, or timed out) before a message came.
var errAckFirst = errors.New("the oldest publish was settled first")

// receiveOrAck waits for the queue's next message, as receiveHeld does,
// or for the oldest publish in flight to be settled, whichever comes
// first; for the latter it returns errAckFirst and records the outcome in
// the pending publish for reap. Waiting for either keeps a message that
// comes while a publish is in flight from waiting for its
// acknowledgement, and the held messages are released as soon as they
// are acknowledged, so a producer waiting for room does not wait for the
// next message.
//
// The wait is the queue's own, on a context that ends at the oldest
// publish's acknowledgement deadline or when nats.go reports a publish
// settled (settle, called from its acknowledgement callbacks): no
// goroutine of the bridge's own stands between the queue and the
// publish, so a message that comes is published by the goroutine that
// the queue woke.
func (o *out) receiveOrAck(ctx context.Context, q *queue.Queue, buf []byte) ([]byte, queue.Position, error) {
	p := &o.pend[0]
	wctx, cancel := context.WithDeadline(ctx, p.sent.Add(o.cfg.ackTimeout()))
	defer cancel()
	for {
		if p.skip || o.settledFront(p) {
			return buf, 0, errAckFirst
		}
		o.waitMu.Lock()
		if !o.settled {
			o.waitCancel = cancel
			o.waitMu.Unlock()
			break
		}
		// A publish was settled since the last look: look again.
		o.settled = false
		o.waitMu.Unlock()
	}
	// A publish just made woke nats.go's flusher, which writes it to the
	// server, onto this goroutine's P. The queue's wait spins before it
	// sleeps, and would keep the flusher from that P meanwhile: let it run
	// first.
	runtime.Gosched()
	msg, pos, err := receiveHeld(wctx, q, buf)
	o.waitMu.Lock()
	o.waitCancel = nil
	o.waitMu.Unlock()
	if err != nil && ctx.Err() == nil && wctx.Err() != nil {
		if !o.settledFront(p) && errors.Is(wctx.Err(), context.DeadlineExceeded) {
			p.err = fmt.Errorf("no acknowledgement for the message at position %d within %v", p.pos, o.cfg.ackTimeout())
		}
		return msg, 0, errAckFirst
	}
	return msg, pos, err
}

// settle is nats.go's callback for a publish acknowledged or failed: it
// ends receiveOrAck's wait, or tells the next one to look first.
func (o *out) settle() {
	o.waitMu.Lock()
	o.settled = true
	if o.waitCancel != nil {
		o.waitCancel()
		o.waitCancel = nil
	}
	o.waitMu.Unlock()
}

// settledFront reports whether publish p was settled, and records its
// outcome, without waiting.
func (o *out) settledFront(p *pending) bool {
	if p.acked || p.err != nil {
		return true
	}
	select {
	case <-p.fut.Ok():
		p.acked = true
	case p.err = <-p.fut.Err():
	default:
	}
	return p.acked || p.err != nil
}

// deadPeer logs (once until a message comes) that the queue's producer
// died and waits a moment; it reports false when ctx ended.
func (o *out) deadPeer(ctx context.Context) bool {
	if !o.waitingPeer {
		o.waitingPeer = true
		o.cfg.logf("out %s: the queue's producer died without closing it; waiting for another", o.cfg.Queue)
	}
	return sleep(ctx, 200*time.Millisecond)
}

// spare returns a message to receive into and publish: one whose publish
// was acknowledged, or a new one. nats.go keeps a message until its
// publish is acknowledged (to publish it again to a stream that was not
// there yet), so only acknowledged ones are reused.
func (o *out) spare() *nats.Msg {
	if n := len(o.spares); n > 0 {
		m := o.spares[n-1]
		o.spares = o.spares[:n-1]
		return m
	}
	return &nats.Msg{Subject: o.cfg.Subject, Header: nats.Header{jetstream.MsgIDHeader: make([]string, 1)}}
}

// reap takes the acknowledged publishes at the front of the window and
// releases the queue through the last of them; with wait it first waits
// for the oldest, at most AckTimeout. It returns how many it took, and
// the error of a failed publish.
func (o *out) reap(q *queue.Queue, wait bool) (int, error) {
	n := 0
	var last queue.Position
	var failed error
	var timeout <-chan time.Time
	if wait && len(o.pend) > 0 {
		// The oldest publish's acknowledgement is due AckTimeout after
		// it was sent, however often the bridge looked for it since.
		t := time.NewTimer(time.Until(o.pend[0].sent.Add(o.cfg.ackTimeout())))
		defer t.Stop()
		timeout = t.C
	}
	for len(o.pend) > 0 {
		p := o.pend[0]
		if !p.skip {
			acked, err := p.acked, p.err
			if acked || err != nil {
				// receiveOrAck took the outcome.
			} else if n == 0 && wait {
				select {
				case <-p.fut.Ok():
					acked = true
				case err = <-p.fut.Err():
				case <-timeout:
					err = fmt.Errorf("no acknowledgement for the message at position %d within %v", p.pos, o.cfg.ackTimeout())
				}
			} else {
				// Only the acknowledgement: a failed publish is found when
				// the bridge waits for it (Err makes a channel per call's
				// future, as Ok does).
				select {
				case <-p.fut.Ok():
					acked = true
				default:
				}
			}
			if err != nil {
				failed = err
				break
			}
			if !acked {
				break
			}
			o.st.Moved.Add(1)
		}
		o.spares = append(o.spares, p.msg)
		o.pend[0] = pending{}
		o.pend = o.pend[1:]
		last = p.pos
		n++
	}
	o.st.InFlight.Store(int64(len(o.pend)))
	if n > 0 {
		if err := q.ReleaseThrough(last); err != nil {
			return n, err
		}
	}
	return n, failed
}

// drain waits for the publishes in flight after ctx ended and releases
// what was acknowledged.
func (o *out) drain(q *queue.Queue) error {
	for len(o.pend) > 0 {
		if _, err := o.reap(q, true); err != nil {
			o.cfg.logf("out %s: stopping: %v; the queue keeps the messages from position %d", o.cfg.Queue, err, q.Released())
			return nil
		}
	}
	return nil
}

// core publishes without JetStream: a window of messages, a flush (the
// server has them), then their release.
func (o *out) core(ctx context.Context, q *queue.Queue) error {
	var bufs [][]byte
	for {
		bufs = bufs[:0]
		var last queue.Position
		for len(bufs) < o.cfg.window() {
			var b []byte
			if len(o.free) > 0 {
				b = o.free[len(o.free)-1]
				o.free = o.free[:len(o.free)-1]
			}
			msg, pos, err := tryReceiveHeld(q, b)
			if err == queue.ErrEmpty && len(bufs) == 0 {
				msg, pos, err = receiveHeld(ctx, q, msg)
				if ctx.Err() != nil {
					return nil
				}
				if errors.Is(err, queue.ErrPeerDead) {
					o.free = append(o.free, msg)
					if !o.deadPeer(ctx) {
						return nil
					}
					continue
				}
				o.waitingPeer = false
			}
			if err == queue.ErrEmpty || err == io.EOF && len(bufs) > 0 {
				o.free = append(o.free, msg)
				break
			}
			if err == io.EOF {
				return nil
			}
			if err != nil {
				return err
			}
			if err := o.nc.Publish(o.cfg.Subject, msg); err != nil {
				if !errors.Is(err, nats.ErrMaxPayload) {
					return &restart{err: err, from: q.Released()}
				}
				err = fmt.Errorf("%w: the message at position %d is %d bytes, more than the server's max payload of %d bytes", ErrTooLarge, pos, len(msg), o.nc.MaxPayload())
				if o.cfg.Oversize == Stop {
					// Release what came before it: the large message is
					// the queue's next.
					if len(bufs) > 0 && o.nc.FlushTimeout(o.cfg.ackTimeout()) == nil {
						q.ReleaseThrough(last)
					}
					return err
				}
				o.cfg.logf("out %s: skipped: %v", o.cfg.Queue, err)
				o.st.Skipped.Add(1)
			}
			bufs = append(bufs, msg)
			last = pos
		}
		o.st.InFlight.Store(int64(len(bufs)))
		if err := o.nc.FlushTimeout(o.cfg.ackTimeout()); err != nil {
			return &restart{err: err, from: q.Released()}
		}
		if err := q.ReleaseThrough(last); err != nil {
			return err
		}
		o.st.Moved.Add(int64(len(bufs)))
		o.st.InFlight.Store(0)
		o.free = append(o.free, bufs...)
	}
}

// tryReceiveHeld takes the next message of q without waiting (ErrEmpty
// when there is none), held in the queue until released, with its
// position.
func tryReceiveHeld(q *queue.Queue, buf []byte) ([]byte, queue.Position, error) {
	q.Hold()
	msg, err := q.TryReceive(buf)
	if err != nil {
		return msg, 0, err
	}
	return msg, q.Position(), nil
}

// receiveHeld is tryReceiveHeld waiting for a message like Receive.
func receiveHeld(ctx context.Context, q *queue.Queue, buf []byte) ([]byte, queue.Position, error) {
	q.Hold()
	msg, err := q.Receive(ctx, buf)
	if err != nil {
		return msg, 0, err
	}
	return msg, q.Position(), nil
}
