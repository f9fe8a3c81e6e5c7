package natsbridge

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/shmkit/shm/queue"
	"github.com/shmkit/shm/topic"
)

// In moves the messages of cfg.Subject from its JetStream stream into
// cfg.Queue through the durable consumer cfg.Durable, as the package
// documentation describes, until cfg.Count messages were sent (nil), ctx
// ends (nil), or an error that retrying cannot mend: no stream takes the
// subject, the queue cannot be opened or refuses a message, a message is
// too large and cfg.Oversize is Stop. It is the queue's (single or one
// of many) producer. One bridge at a time reads a durable consumer.
//
// With cfg.Topic it is the topic's publisher instead (ErrBusy while
// another live process is), and a message is acknowledged after the
// topic's Publish returned.
func In(ctx context.Context, nc *nats.Conn, cfg Config) error {
	q, err := openSink(&cfg)
	if err != nil {
		return &Error{Op: "in", Name: cfg.name(), Err: err}
	}
	i := &in{cfg: &cfg, nc: nc, q: q, st: cfg.stats()}
	err = i.run(ctx)
	i.flush()
	if err == nil && cfg.Count > 0 && i.moved >= cfg.Count {
		// The source ended: the queue's consumer gets io.EOF after the
		// last message.
		err = q.Close()
	} else if derr := q.Detach(); err == nil {
		err = derr
	}
	if err != nil {
		return &Error{Op: "in", Name: cfg.name(), Err: err}
	}
	return nil
}

// sink is where In sends: a queue, or a topic as its publisher.
type sink interface {
	Send(ctx context.Context, msg []byte) error
	MaxMessage() int
	Close() error
	Detach() error
}

// topicSink publishes to a topic.
type topicSink struct{ *topic.Topic }

// Send publishes msg; on a lossless topic it waits while the slowest
// subscriber holds back the room it needs.
func (t topicSink) Send(ctx context.Context, msg []byte) error { return t.Publish(ctx, msg) }

func openSink(cfg *Config) (sink, error) {
	if cfg.Topic == "" {
		return queue.Open(cfg.Queue, cfg.QueueOptions...)
	}
	if cfg.Queue != "" {
		return nil, fmt.Errorf("both a queue (%s) and a topic (%s) to bridge: want one", cfg.Queue, cfg.Topic)
	}
	t, err := topic.Open(cfg.Topic, cfg.TopicOptions...)
	if err != nil {
		return nil, err
	}
	return topicSink{t}, nil
}

type in struct {
	cfg    *Config
	nc     *nats.Conn
	q      sink
	st     *Stats
	stream jetstream.Stream
	cons   jetstream.Consumer

	moved int64
	// last is the stream sequence of the last message sent to the queue
	// (at the start: the consumer's acknowledgement floor); a delivery at
	// or below it is a redelivery.
	last uint64
	// lastDelivery is the consumer sequence of the last delivery seen; 0
	// after the consumer was (re)created. A delivery that does not follow
	// it means deliveries were lost, and the consumer starts again after
	// last.
	lastDelivery uint64
	durable      string
	buf          []byte
}

// errRestarted ends a batch whose consumer was created again.
var errRestarted = errors.New("durable consumer created again")

func (i *in) run(ctx context.Context) error {
	if err := i.setup(ctx); err != nil || ctx.Err() != nil {
		return err
	}
	failures := 0
	for i.cfg.Count == 0 || i.moved < i.cfg.Count {
		if ctx.Err() != nil {
			return nil
		}
		if i.cons == nil {
			if err := i.setup(ctx); err != nil || ctx.Err() != nil {
				return err
			}
		}
		n := i.cfg.window()
		if i.cfg.Count > 0 {
			n = int(min(int64(n), i.cfg.Count-i.moved))
		}
		batch, err := i.cons.Fetch(n, jetstream.FetchMaxWait(time.Second))
		if err == nil {
			for m := range batch.Messages() {
				if err := i.deliver(ctx, m); err == errRestarted {
					break
				} else if err != nil {
					return err
				}
				if ctx.Err() != nil || i.cfg.Count > 0 && i.moved >= i.cfg.Count {
					break
				}
			}
			err = batch.Error()
		}
		if err == nil || err == errRestarted || errors.Is(err, nats.ErrTimeout) || errors.Is(err, context.DeadlineExceeded) {
			failures = 0
			continue
		}
		if ctx.Err() != nil {
			return nil
		}
		if errors.Is(err, jetstream.ErrConsumerDeleted) || errors.Is(err, jetstream.ErrConsumerNotFound) {
			i.cons = nil // set up again
		}
		failures++
		d := backoff(failures)
		i.cfg.logf("in %s: fetch: %v; again in %v", i.cfg.name(), describe(err), d)
		if !sleep(ctx, d) {
			return nil
		}
	}
	return nil
}

// flush makes sure the server has the acknowledgements, which are sent
// without waiting, before the bridge goes.
func (i *in) flush() {
	if err := i.nc.FlushTimeout(i.cfg.ackTimeout()); err != nil {
		i.cfg.logf("in %s: flushing acknowledgements: %v (the messages not acknowledged come again to the next bridge)", i.cfg.name(), describe(err))
	}
}

// setup finds the stream and creates or updates the durable consumer,
// retrying while the server is unreachable.
func (i *in) setup(ctx context.Context) error {
	js, err := jetstream.New(i.nc)
	if err != nil {
		return err
	}
	durable := i.cfg.Durable
	if durable == "" {
		durable = DurableFor(i.cfg.name())
	}
	for failures := 1; ; failures++ {
		err := i.setupOnce(ctx, js, durable)
		if err == nil || ctx.Err() != nil {
			return nil
		}
		if errors.Is(err, jetstream.ErrStreamNotFound) || errors.Is(err, errNoStream) {
			return err
		}
		var apiErr *jetstream.APIError
		if errors.As(err, &apiErr) && apiErr.Code != 503 && apiErr.Code != 408 {
			return err
		}
		d := backoff(failures)
		i.cfg.logf("in %s: %v; again in %v", i.cfg.name(), describe(err), d)
		if !sleep(ctx, d) {
			return nil
		}
	}
}

var errNoStream = errors.New("no JetStream stream takes the subject")

func (i *in) setupOnce(ctx context.Context, js jetstream.JetStream, durable string) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	name := i.cfg.Stream
	if name == "" {
		var err error
		if name, err = js.StreamNameBySubject(ctx, i.cfg.Subject); err != nil {
			if errors.Is(err, jetstream.ErrStreamNotFound) {
				return fmt.Errorf("%w %s", errNoStream, i.cfg.Subject)
			}
			return err
		}
	}
	stream, err := js.Stream(ctx, name)
	if err != nil {
		return fmt.Errorf("stream %s: %w", name, err)
	}
	i.stream, i.durable = stream, durable
	// A restart that a crash interrupted: finish it.
	if m, err := stream.Consumer(ctx, i.restartMarker()); err == nil {
		return i.restartAt(ctx, m.CachedInfo().Config.OptStartSeq)
	} else if !errors.Is(err, jetstream.ErrConsumerNotFound) {
		return fmt.Errorf("consumer %s of stream %s: %w", i.restartMarker(), name, err)
	}
	cons, err := stream.Consumer(ctx, durable)
	if errors.Is(err, jetstream.ErrConsumerNotFound) {
		cons, err = stream.CreateConsumer(ctx, i.consumerConfig(durable, 0))
	}
	if err != nil {
		return fmt.Errorf("durable consumer %s of stream %s: %w", durable, name, err)
	}
	info, err := cons.Info(ctx)
	if err != nil {
		return fmt.Errorf("durable consumer %s of stream %s: %w", durable, name, err)
	}
	if info.Delivered.Stream > info.AckFloor.Stream {
		// Deliveries outstanding from a bridge that died: JetStream would
		// deliver them again after AckWait, after newer messages.
		i.cfg.logf("in %s: stream sequences %d to %d were delivered to an earlier bridge and not all acknowledged: the durable consumer starts again at %d", i.cfg.name(), info.AckFloor.Stream+1, info.Delivered.Stream, info.AckFloor.Stream+1)
		return i.restartAt(ctx, info.AckFloor.Stream+1)
	}
	// Keep where it starts, take the rest of the configuration.
	cfg := i.consumerConfig(durable, 0)
	cfg.DeliverPolicy, cfg.OptStartSeq = info.Config.DeliverPolicy, info.Config.OptStartSeq
	if cons, err = stream.UpdateConsumer(ctx, cfg); err != nil {
		return fmt.Errorf("durable consumer %s of stream %s: %w", durable, name, err)
	}
	i.cons, i.last, i.lastDelivery = cons, info.AckFloor.Stream, 0
	i.st.Lag.Store(int64(info.NumPending))
	return nil
}

// consumerConfig is the durable consumer's configuration, delivering from
// stream sequence start (0: from the stream's first message).
func (i *in) consumerConfig(name string, start uint64) jetstream.ConsumerConfig {
	c := jetstream.ConsumerConfig{
		Durable:       name,
		FilterSubject: i.cfg.Subject,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       i.cfg.ackWait(),
		MaxAckPending: i.cfg.window(),
	}
	if start > 0 {
		c.DeliverPolicy, c.OptStartSeq = jetstream.DeliverByStartSequencePolicy, start
	}
	return c
}

func (i *in) restartMarker() string { return i.durable + "-restart" }

// restartAt creates the durable consumer again, delivering from stream
// sequence start, so that messages continue in the stream's order at once
// instead of after AckWait. A consumer named after the durable with
// "-restart" records start while the durable is deleted and created
// again: a bridge that dies half-way leaves it, and the next one finishes
// the restart from it instead of creating the durable from the stream's
// first message.
func (i *in) restartAt(ctx context.Context, start uint64) error {
	start = max(start, 1)
	if _, err := i.stream.CreateOrUpdateConsumer(ctx, i.consumerConfig(i.restartMarker(), start)); err != nil {
		return fmt.Errorf("consumer %s: %w", i.restartMarker(), err)
	}
	if err := i.stream.DeleteConsumer(ctx, i.durable); err != nil && !errors.Is(err, jetstream.ErrConsumerNotFound) {
		return fmt.Errorf("durable consumer %s: %w", i.durable, err)
	}
	cons, err := i.stream.CreateOrUpdateConsumer(ctx, i.consumerConfig(i.durable, start))
	if err != nil {
		return fmt.Errorf("durable consumer %s: %w", i.durable, err)
	}
	if err := i.stream.DeleteConsumer(ctx, i.restartMarker()); err != nil && !errors.Is(err, jetstream.ErrConsumerNotFound) {
		return fmt.Errorf("consumer %s: %w", i.restartMarker(), err)
	}
	i.cons, i.last, i.lastDelivery = cons, start-1, 0
	i.st.Restarts.Add(1)
	return nil
}

// DurableFor is the durable consumer name In uses for a queue when none
// is given: "shm-bridge-" and the queue's name, with the characters a
// consumer name may not hold replaced by '_'.
func DurableFor(queueName string) string {
	return "shm-bridge-" + strings.Map(func(r rune) rune {
		if r <= ' ' || r > '~' || strings.ContainsRune(".*>/\\", r) {
			return '_'
		}
		return r
	}, strings.TrimLeft(queueName, "/"))
}

// deliver sends one delivery to the queue and acknowledges it.
func (i *in) deliver(ctx context.Context, m jetstream.Msg) error {
	meta, err := m.Metadata()
	if err != nil {
		return fmt.Errorf("a delivery on %s without JetStream metadata: %w", m.Subject(), err)
	}
	seq, delivery := meta.Sequence.Stream, meta.Sequence.Consumer
	gap := i.lastDelivery != 0 && delivery != i.lastDelivery+1
	i.lastDelivery = delivery
	i.st.Lag.Store(int64(meta.NumPending))
	if seq <= i.last {
		i.st.Redelivered.Add(1)
		m.Ack()
		return nil
	}
	if gap {
		// Deliveries were lost (a broken connection): JetStream would
		// deliver them again after AckWait, after this one.
		i.cfg.logf("in %s: deliveries lost before stream sequence %d: the durable consumer starts again at %d", i.cfg.name(), seq, i.last+1)
		rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		if err := i.restartAt(rctx, i.last+1); err != nil {
			// Set up again (and finish the restart) before the next fetch.
			i.cfg.logf("in %s: %v", i.cfg.name(), err)
			i.cons = nil
		}
		return errRestarted
	}
	sent, err := i.send(ctx, m.Subject(), seq, m.Data())
	if err != nil || !sent {
		return err
	}
	m.Ack()
	return nil
}

// send commits one message to the queue and records its sequence. It
// reports false, with a nil error, when ctx ended first.
func (i *in) send(ctx context.Context, subject string, seq uint64, data []byte) (bool, error) {
	if i.cfg.Sequence {
		i.buf = Frame(i.buf[:0], seq, data)
		data = i.buf
	}
	if len(data) > i.q.MaxMessage() {
		frame := ""
		if i.cfg.Sequence {
			frame = fmt.Sprintf(" (with the %d-byte sequence frame)", FrameSize)
		}
		err := fmt.Errorf("%w: stream sequence %d on %s is %d bytes%s, more than the %s's max message of %d bytes", ErrTooLarge, seq, subject, len(data), frame, i.cfg.kind(), i.q.MaxMessage())
		if i.cfg.Oversize == Stop {
			return false, err
		}
		i.cfg.logf("in %s: skipped: %v", i.cfg.name(), err)
		i.st.Skipped.Add(1)
		i.last = seq
		return true, nil
	}
	for logged := false; ; {
		err := i.q.Send(ctx, data)
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return false, nil
		}
		if !errors.Is(err, queue.ErrPeerDead) {
			return false, err
		}
		// The queue is full and its consumer died: wait for the next.
		if !logged {
			logged = true
			i.cfg.logf("in %s: the queue is full and its consumer died; waiting for another", i.cfg.name())
		}
		if !sleep(ctx, 200*time.Millisecond) {
			return false, nil
		}
	}
	i.last = seq
	i.moved++
	i.st.Moved.Add(1)
	return true, nil
}
