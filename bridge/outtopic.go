package natsbridge

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/shmkit/shm/topic"
)

// topicOut is Out for a topic: one subscriber of it.
type topicOut struct {
	cfg *Config
	nc  *nats.Conn
	js  jetstream.JetStream
	st  *Stats
	t   *topic.Topic
	id  string // the topic's ID in hex and "-": each Nats-Msg-Id's prefix

	pend        []topicPending // publishes in flight, oldest first
	free        [][]byte       // message buffers no publish uses any more
	waitingPeer bool           // the topic's publisher died; logged
}

// topicPending is a message published and not yet acknowledged. The
// bridge keeps its bytes: the topic does not keep them for it.
type topicPending struct {
	seq  uint64
	fut  jetstream.PubAckFuture
	buf  []byte
	sent time.Time // when it was published: its acknowledgement is due AckTimeout later
}

// outTopic runs Out on cfg.Topic; js is nil for core NATS.
func outTopic(ctx context.Context, nc *nats.Conn, cfg *Config, js jetstream.JetStream) error {
	if cfg.Queue != "" {
		return fmt.Errorf("both a queue (%s) and a topic (%s) to bridge: want one", cfg.Queue, cfg.Topic)
	}
	t, err := topic.Open(cfg.Topic, cfg.TopicOptions...)
	if err != nil {
		return err
	}
	defer t.Close()
	o := &topicOut{cfg: cfg, nc: nc, js: js, st: cfg.stats(), t: t, id: t.ID().String() + "-"}
	if cfg.Core {
		if err := t.Subscribe(); err != nil {
			return err
		}
		return o.core(ctx)
	}
	if err := o.subscribe(ctx); err != nil || ctx.Err() != nil {
		return err
	}
	return o.run(ctx)
}

// subscribe joins the topic after the last of its messages the stream
// holds, or, when the stream holds none of this topic's, as any new
// subscriber does (with the topic's first message while the ring holds it,
// else at the next message or with the topic's history).
func (o *topicOut) subscribe(ctx context.Context) error {
	from, found, err := o.resumePoint(ctx)
	if err != nil || ctx.Err() != nil {
		return err
	}
	if !found {
		o.cfg.logf("out %s: the stream holds no message of this topic (ID %s) on %s: joining as a new subscriber, from the topic's first message while its ring holds it, else the next message published (or the topic's history of %d)", o.cfg.Topic, o.t.ID(), o.cfg.Subject, o.t.History())
		return o.t.Subscribe()
	}
	err = o.t.SubscribeFrom(from)
	var lag *topic.LaggedError
	if errors.As(err, &lag) {
		o.missed(lag.Missed, fmt.Sprintf("the topic no longer held them when the bridge started (resuming after message %d, the last the stream holds)", from-1))
		return nil
	}
	if err == nil {
		o.cfg.logf("out %s: resuming at message %d, after the last one the stream holds", o.cfg.Topic, from)
	}
	return err
}

// missed counts messages the bridge never received and says which.
func (o *topicOut) missed(n uint64, why string) {
	next := o.t.Sequence()
	o.st.Missed.Add(int64(n))
	o.cfg.logf("out %s: missed %d message%s (numbers %d to %d): %s", o.cfg.Topic, n, plural(n), next-n, next-1, why)
}

func plural(n uint64) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// resumePoint finds the message number after the last one of this topic
// that the stream holds on the subject; found is false when the stream's
// last message there is not one of this topic's (or there is none). It
// retries while the server is unreachable.
func (o *topicOut) resumePoint(ctx context.Context) (from uint64, found bool, err error) {
	for failures := 1; ; failures++ {
		from, found, err = o.lastStored(ctx)
		if err == nil || ctx.Err() != nil {
			return from, found, nil
		}
		var apiErr *jetstream.APIError
		if errors.Is(err, errNoStream) || errors.As(err, &apiErr) && apiErr.Code != 503 && apiErr.Code != 408 || errors.Is(err, errBadMsgID) {
			return 0, false, err
		}
		d := backoff(failures)
		o.cfg.logf("out %s: reading the stream's last message: %v; again in %v", o.cfg.Topic, describe(err), d)
		if !sleep(ctx, d) {
			return 0, false, nil
		}
	}
}

var errBadMsgID = errors.New("a Nats-Msg-Id with this topic's ID and no message number after it")

func (o *topicOut) lastStored(ctx context.Context) (uint64, bool, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	name, err := o.js.StreamNameBySubject(ctx, o.cfg.Subject)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return 0, false, fmt.Errorf("%w %s", errNoStream, o.cfg.Subject)
	}
	if err != nil {
		return 0, false, err
	}
	stream, err := o.js.Stream(ctx, name)
	if err != nil {
		return 0, false, fmt.Errorf("stream %s: %w", name, err)
	}
	m, err := stream.GetLastMsgForSubject(ctx, o.cfg.Subject)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("stream %s, last message on %s: %w", name, o.cfg.Subject, err)
	}
	id := m.Header.Get(jetstream.MsgIDHeader)
	rest, ok := strings.CutPrefix(id, o.id)
	if !ok {
		if id != "" {
			o.cfg.logf("out %s: the stream's last message on %s (stream sequence %d) has Nats-Msg-Id %q, not one of this topic's", o.cfg.Topic, o.cfg.Subject, m.Sequence, id)
		}
		return 0, false, nil
	}
	n, err := strconv.ParseUint(rest, 10, 64)
	if err != nil || n == ^uint64(0) {
		return 0, false, fmt.Errorf("stream %s, stream sequence %d: %w: %q", name, m.Sequence, errBadMsgID, id)
	}
	return n + 1, true, nil
}

// run receives from the topic and publishes, at most Window publishes in
// flight, until the topic is closed and everything is acknowledged, ctx
// ends, or a fatal error.
func (o *topicOut) run(ctx context.Context) error {
	for {
		if err := o.settle(ctx, false); err != nil || ctx.Err() != nil {
			o.drain()
			return err
		}
		if len(o.pend) >= o.cfg.window() {
			if err := o.settle(ctx, true); err != nil {
				return err
			}
			continue
		}
		msg, err := o.t.TryReceive(o.buffer())
		if err == topic.ErrEmpty {
			if len(o.pend) > 0 {
				// Acknowledgements come first: look at the topic again
				// after the oldest.
				o.free = append(o.free, msg)
				if err := o.settle(ctx, true); err != nil {
					return err
				}
				continue
			}
			msg, err = o.t.Receive(ctx, msg)
			if ctx.Err() != nil {
				return nil
			}
		}
		var lag *topic.LaggedError
		switch {
		case err == io.EOF:
			o.free = append(o.free, msg)
			if len(o.pend) == 0 {
				return nil
			}
			if err := o.settle(ctx, true); err != nil {
				return err
			}
			continue
		case errors.As(err, &lag):
			o.free = append(o.free, msg)
			o.missed(lag.Missed, "the topic's publisher wrote over them before the bridge read them")
			continue
		case errors.Is(err, topic.ErrPeerDead):
			o.free = append(o.free, msg)
			if !o.waitingPeer {
				o.waitingPeer = true
				o.cfg.logf("out %s: the topic's publisher died without closing it; waiting for another", o.cfg.Topic)
			}
			if !sleep(ctx, 200*time.Millisecond) {
				return nil
			}
			continue
		case err != nil:
			return err
		}
		o.waitingPeer = false
		seq := o.t.Sequence() - 1
		fut, err := o.publish(seq, msg)
		if errors.Is(err, nats.ErrMaxPayload) {
			err = fmt.Errorf("%w: message %d is %d bytes, more than the server's max payload of %d bytes (with the Nats-Msg-Id header)", ErrTooLarge, seq, len(msg), o.nc.MaxPayload())
			if o.cfg.Oversize == Stop {
				o.drain()
				return err
			}
			o.cfg.logf("out %s: skipped: %v", o.cfg.Topic, err)
			o.st.Skipped.Add(1)
			o.free = append(o.free, msg)
			continue
		}
		o.pend = append(o.pend, topicPending{seq: seq, fut: fut, buf: msg, sent: time.Now()})
		o.st.InFlight.Store(int64(len(o.pend)))
		if err != nil {
			// Not sent (the connection is down): published again below.
			if err := o.retry(ctx, err); err != nil {
				return err
			}
		}
	}
}

func (o *topicOut) publish(seq uint64, msg []byte) (jetstream.PubAckFuture, error) {
	m := &nats.Msg{Subject: o.cfg.Subject, Data: msg, Header: nats.Header{jetstream.MsgIDHeader: {o.id + strconv.FormatUint(seq, 10)}}}
	return o.js.PublishMsgAsync(m) // no options: nats.go's fast path
}

func (o *topicOut) buffer() []byte {
	if n := len(o.free); n > 0 {
		b := o.free[n-1]
		o.free = o.free[:n-1]
		return b
	}
	return nil
}

// settle takes the acknowledged publishes at the front of the window
// (with wait, first waiting for the oldest); after a failed publish it
// publishes the window again (retry). It returns nil when ctx ends.
func (o *topicOut) settle(ctx context.Context, wait bool) error {
	if err := o.reap(wait); err != nil {
		return o.retry(ctx, err)
	}
	return nil
}

// reap takes the acknowledged publishes at the front of the window; with
// wait it first waits for the oldest, at most AckTimeout. It returns the
// error of a failed publish, which stays at the front.
func (o *topicOut) reap(wait bool) error {
	var timeout <-chan time.Time
	if wait && len(o.pend) > 0 {
		t := time.NewTimer(time.Until(o.pend[0].sent.Add(o.cfg.ackTimeout())))
		defer t.Stop()
		timeout = t.C
	}
	defer func() { o.st.InFlight.Store(int64(len(o.pend))) }()
	for first := true; len(o.pend) > 0; first = false {
		p := o.pend[0]
		if p.fut == nil {
			return errNotConnected
		}
		var err error
		if first && wait {
			select {
			case <-p.fut.Ok():
			case err = <-p.fut.Err():
			case <-timeout:
				err = fmt.Errorf("no acknowledgement for message %d within %v", p.seq, o.cfg.ackTimeout())
			}
		} else {
			// Only the acknowledgement: a failed publish is found when
			// the bridge waits for it.
			select {
			case <-p.fut.Ok():
			default:
				return nil
			}
		}
		if err != nil {
			return err
		}
		o.st.Moved.Add(1)
		o.free = append(o.free, p.buf[:0])
		o.pend = o.pend[1:]
	}
	return nil
}

// retry publishes the window again, in order and with the same message
// ids (the stream drops the ones it has), after a backoff that grows with
// each failure. The bridge keeps its place in the topic meanwhile: on a
// lossless topic it holds the publisher back. It returns nil when the
// window is published again or ctx ended.
func (o *topicOut) retry(ctx context.Context, cause error) error {
	for failures := 1; ; failures++ {
		o.st.Restarts.Add(1)
		d := backoff(failures)
		o.cfg.logf("out %s: %v; publishing again from message %d in %v", o.cfg.Topic, describe(cause), o.pend[0].seq, d)
		if !sleep(ctx, d) {
			return nil
		}
		// Drop the futures of the window's first publishes: the ones
		// still waiting count against nats.go's limit, and their
		// acknowledgements no longer matter.
		o.js.CleanupPublisher()
		cause = nil
		for i := range o.pend {
			p := &o.pend[i]
			if p.fut, cause = o.publish(p.seq, p.buf); cause != nil {
				break
			}
			p.sent = time.Now()
			o.st.Redelivered.Add(1)
		}
		if cause == nil {
			return nil
		}
	}
}

// drain waits for the publishes in flight when the bridge stops and
// takes what was acknowledged.
func (o *topicOut) drain() {
	for len(o.pend) > 0 {
		if err := o.reap(true); err != nil {
			o.cfg.logf("out %s: stopping: %v; messages %d to %d may not be in the stream (a bridge started again on the topic publishes them, if the topic still holds them)", o.cfg.Topic, err, o.pend[0].seq, o.pend[len(o.pend)-1].seq)
			return
		}
	}
}

// core publishes plain NATS messages: each is sent (published again while
// the connection is down, so that none is dropped by the client), and a
// flush every Window messages, or when the topic is empty, makes sure the
// server has them. At most once to subscribers, as core NATS is.
func (o *topicOut) core(ctx context.Context) error {
	var buf []byte
	unflushed := 0
	flush := func() {
		if err := o.nc.FlushTimeout(o.cfg.ackTimeout()); err != nil {
			o.cfg.logf("out %s: flush: %v; the last %d messages may not have reached the server", o.cfg.Topic, describe(err), unflushed)
		} else {
			o.st.Moved.Add(int64(unflushed))
		}
		unflushed = 0
		o.st.InFlight.Store(0)
	}
	defer func() {
		if unflushed > 0 {
			flush()
		}
	}()
	for {
		msg, err := o.t.TryReceive(buf)
		if err == topic.ErrEmpty {
			if unflushed > 0 {
				flush()
			}
			msg, err = o.t.Receive(ctx, msg)
			if ctx.Err() != nil {
				return nil
			}
		}
		buf = msg
		var lag *topic.LaggedError
		switch {
		case err == io.EOF:
			return nil
		case errors.As(err, &lag):
			o.missed(lag.Missed, "the topic's publisher wrote over them before the bridge read them")
			continue
		case errors.Is(err, topic.ErrPeerDead):
			if !o.waitingPeer {
				o.waitingPeer = true
				o.cfg.logf("out %s: the topic's publisher died without closing it; waiting for another", o.cfg.Topic)
			}
			if !sleep(ctx, 200*time.Millisecond) {
				return nil
			}
			continue
		case err != nil:
			return err
		}
		o.waitingPeer = false
		seq := o.t.Sequence() - 1
		for failures := 1; ; failures++ {
			err := o.nc.Publish(o.cfg.Subject, msg)
			if err == nil {
				break
			}
			if errors.Is(err, nats.ErrMaxPayload) {
				err = fmt.Errorf("%w: message %d is %d bytes, more than the server's max payload of %d bytes", ErrTooLarge, seq, len(msg), o.nc.MaxPayload())
				if o.cfg.Oversize == Stop {
					return err
				}
				o.cfg.logf("out %s: skipped: %v", o.cfg.Topic, err)
				o.st.Skipped.Add(1)
				unflushed-- // not sent: counted out below
				break
			}
			d := backoff(failures)
			o.cfg.logf("out %s: %v; publishing message %d again in %v", o.cfg.Topic, describe(err), seq, d)
			if !sleep(ctx, d) {
				return nil
			}
		}
		unflushed++
		o.st.InFlight.Store(int64(unflushed))
		if unflushed >= o.cfg.window() {
			flush()
		}
	}
}
