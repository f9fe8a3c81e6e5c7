package natsbridge

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/shmkit/shm/queue"
	"github.com/shmkit/shm/topic"
)

// ErrTooLarge is wrapped by the error for a message larger than the
// server's maximum payload (Out) or the queue's maximum message (In).
var ErrTooLarge = errors.New("message too large")

// Error records a failed bridge operation: Op is "out" or "in", Name the
// queue (or topic). It unwraps to the cause.
type Error struct {
	Op   string
	Name string
	Err  error
}

// Error returns "shm-bridge OP NAME: cause".
func (e *Error) Error() string { return "shm-bridge " + e.Op + " " + e.Name + ": " + e.Err.Error() }

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Oversize says what the bridge does with a message too large to pass.
type Oversize int

const (
	// Stop ends the bridge with an error wrapping ErrTooLarge and leaves
	// the message where it is (unreleased in the queue, unacknowledged in
	// the stream).
	Stop Oversize = iota
	// Skip logs the error, counts the message in Stats.Skipped, drops it
	// (releases or acknowledges it) and goes on.
	Skip
)

// Config describes one direction of a bridge.
type Config struct {
	// Queue is the local queue's name; QueueOptions are passed to
	// queue.Open (queue.Dir, say).
	Queue        string
	QueueOptions []queue.Option

	// Topic, when not "", names a topic of package topic to bridge
	// instead of a queue (Queue is then ""): Out is one subscriber of it,
	// In its publisher. TopicOptions are passed to topic.Open.
	Topic        string
	TopicOptions []topic.Option

	// Subject is the NATS subject published to (Out) or consumed (In,
	// where it may hold wildcards).
	Subject string

	// Core publishes plain NATS messages without JetStream (Out only).
	Core bool

	// Stream is the JetStream stream (In); "" finds the stream whose
	// subjects take Subject.
	Stream string

	// Durable is the name of In's durable consumer; "" derives one from
	// the queue's name.
	Durable string

	// Window bounds the publishes in flight (Out) and the messages
	// fetched at a time and delivered and not yet acknowledged (In, the
	// consumer's MaxAckPending): 256 if 0.
	Window int

	// AckTimeout is how long Out waits for a publish's acknowledgement
	// before it publishes again from the released position: 5 s if 0.
	AckTimeout time.Duration

	// AckWait is the durable consumer's AckWait (In): after it, JetStream
	// delivers an unacknowledged message again. 30 s if 0.
	AckWait time.Duration

	// Count ends In after this many messages sent to the queue (0: never).
	Count int64

	// Sequence frames each message In sends to the queue with its stream
	// sequence (see Frame).
	Sequence bool

	// Oversize is what happens to a message too large to pass.
	Oversize Oversize

	// Logf, if not nil, receives the bridge's events: reconnects, skipped
	// messages, restarts from the released position.
	Logf func(format string, args ...any)

	// Stats, if not nil, is kept up to date while the bridge runs.
	Stats *Stats
}

// name is the local object's name: the topic's, or the queue's.
func (c *Config) name() string {
	if c.Topic != "" {
		return c.Topic
	}
	return c.Queue
}

// kind is "topic" or "queue".
func (c *Config) kind() string {
	if c.Topic != "" {
		return "topic"
	}
	return "queue"
}

func (c *Config) window() int {
	if c.Window <= 0 {
		return 256
	}
	return c.Window
}

func (c *Config) ackTimeout() time.Duration {
	if c.AckTimeout <= 0 {
		return 5 * time.Second
	}
	return c.AckTimeout
}

func (c *Config) ackWait() time.Duration {
	if c.AckWait <= 0 {
		return 30 * time.Second
	}
	return c.AckWait
}

func (c *Config) logf(format string, args ...any) {
	if c.Logf != nil {
		c.Logf(format, args...)
	}
}

func (c *Config) stats() *Stats {
	if c.Stats == nil {
		c.Stats = new(Stats)
	}
	return c.Stats
}

// Stats counts what a bridge did. Its fields are safe to read while the
// bridge runs.
type Stats struct {
	// Moved counts the messages that crossed: acknowledged by JetStream
	// (Out), sent to the queue (In).
	Moved atomic.Int64
	// InFlight is the number of Out's publishes not yet acknowledged.
	InFlight atomic.Int64
	// Redelivered counts Out's messages published again after a failed
	// publish, and In's deliveries at or below the last sequence sent
	// (acknowledged and passed over).
	Redelivered atomic.Int64
	// Skipped counts messages too large that Skip dropped.
	Skipped atomic.Int64
	// Lag is the number of messages the stream holds for In's consumer
	// beyond the last one delivered; Out does not set it.
	Lag atomic.Int64
	// Restarts counts Out's restarts from the released position (from
	// the first unacknowledged message, for a topic) and In's restarts of
	// its durable consumer.
	Restarts atomic.Int64
	// Missed counts the messages of a topic that Out never received: an
	// overwrite topic's publisher wrote over them before the bridge read
	// them, or they were gone from the ring when a bridge started again.
	Missed atomic.Int64
}

// String is the bridge's status line.
func (s *Stats) String() string {
	line := fmt.Sprintf("moved %d, in flight %d, redelivered %d, skipped %d, lag %d, restarts %d",
		s.Moved.Load(), s.InFlight.Load(), s.Redelivered.Load(), s.Skipped.Load(), s.Lag.Load(), s.Restarts.Load())
	if m := s.Missed.Load(); m > 0 {
		line += fmt.Sprintf(", missed %d", m)
	}
	return line
}

// Connect connects to the NATS server at url (a comma-separated list of
// URLs) for a bridge: it retries the first connection and a lost one for
// ever with a delay that doubles from 100 ms to 5 s, logs each
// disconnection and reconnection through logf (which may be nil), and
// keeps no reconnect buffer, so that a publish while the connection is
// down fails at once instead of being sent out of order later.
func Connect(url, name string, logf func(format string, args ...any)) (*nats.Conn, error) {
	if logf == nil {
		logf = func(string, ...any) {}
	}
	return nats.Connect(url,
		nats.Name(name),
		nats.MaxReconnects(-1),
		nats.RetryOnFailedConnect(true),
		nats.ReconnectBufSize(-1),
		nats.CustomReconnectDelay(func(attempts int) time.Duration { return backoff(attempts) }),
		nats.ConnectHandler(func(c *nats.Conn) { logf("connected to %s", c.ConnectedUrlRedacted()) }),
		nats.DisconnectErrHandler(func(c *nats.Conn, err error) {
			if err != nil { // nil: the bridge closed the connection
				logf("disconnected from NATS: %v", err)
			}
		}),
		nats.ReconnectHandler(func(c *nats.Conn) {
			logf("reconnected to %s (reconnect %d)", c.ConnectedUrlRedacted(), c.Stats().Reconnects)
		}),
		nats.ReconnectErrHandler(func(_ *nats.Conn, err error) { logf("reconnecting: %v", err) }),
	)
}

// backoff is the delay before the attempt-th retry (1-based): 100 ms
// doubling to 5 s.
func backoff(attempt int) time.Duration {
	d := 100 * time.Millisecond
	for i := 1; i < attempt && d < 5*time.Second; i++ {
		d *= 2
	}
	return min(d, 5*time.Second)
}

// sleep waits d or until ctx ends, and reports whether ctx is still live.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// errNotConnected stands for nats.ErrReconnectBufExceeded, which a publish
// gets while the connection is down (Connect keeps no reconnect buffer).
var errNotConnected = errors.New("not connected to NATS (reconnecting)")

// describe makes a connection error say what it means for the bridge.
func describe(err error) error {
	if errors.Is(err, nats.ErrReconnectBufExceeded) {
		return errNotConnected
	}
	return err
}
