package natsbridge

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/shmkit/shm/internal/shmtest"
	"github.com/shmkit/shm/topic"
)

// createTopic creates a topic and closes the creator's handle (which never
// published: the topic stays open for publishing).
func createTopic(t testing.TB, capacity int64, opts ...topic.Option) string {
	t.Helper()
	name := shmtest.Name(t, "")
	tp, err := topic.Create(name, capacity, opts...)
	if err != nil {
		t.Fatal(err)
	}
	tp.Close()
	t.Cleanup(func() { topic.Unlink(name) })
	return name
}

// waitSubscribers waits until the topic has n active subscribers.
func waitSubscribers(t testing.TB, name string, n int) {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(time.Millisecond) {
		st, err := topic.Stat(name)
		if err != nil {
			t.Fatal(err)
		}
		if st.Active == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("topic %s has %d active subscribers after a minute, want %d", name, st.Active, n)
		}
	}
}

// publishTopic publishes the checked messages from to before to.
func publishTopic(ctx context.Context, t testing.TB, p *topic.Topic, from, to int) {
	t.Helper()
	var buf []byte
	for i := uint64(from); i < uint64(to); i++ {
		buf = checkedMsg(buf, i, 48)
		if err := p.Publish(ctx, buf); err != nil {
			t.Fatal(err)
		}
	}
}

// streamIndices reads the checked messages of a stream, in order, and
// checks that each carries the Nats-Msg-Id of the topic's message it came
// from.
func streamIndices(t testing.TB, nc *nats.Conn, stream string, id topic.ID) []uint64 {
	t.Helper()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	s, err := js.Stream(ctx, stream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	c, err := s.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	var got []uint64
	for uint64(len(got)) < info.State.Msgs {
		batch, err := c.Fetch(1000, jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		k := 0
		for m := range batch.Messages() {
			k++
			i, err := checkMsg(m.Data())
			if err != nil {
				t.Fatalf("stream message %d: %v", len(got), err)
			}
			// The topic's message number is the checked index: the tests
			// publish nothing else to their topics.
			if want := id.String() + "-" + strconv.FormatUint(i, 10); m.Headers().Get(jetstream.MsgIDHeader) != want {
				t.Fatalf("stream message %d (checked message %d) has Nats-Msg-Id %q, want %q", len(got), i, m.Headers().Get(jetstream.MsgIDHeader), want)
			}
			got = append(got, i)
		}
		if k == 0 {
			t.Fatalf("reading the stream: nothing after %d messages: %v", len(got), batch.Error())
		}
	}
	return got
}

// gaps checks that indices only grow, ending with n-1, and returns how
// many of 0..n-1 they leave out.
func gaps(t testing.TB, indices []uint64, n int) uint64 {
	t.Helper()
	if len(indices) == 0 {
		t.Fatal("the stream is empty")
	}
	missing, next := uint64(0), uint64(0)
	for k, i := range indices {
		if i < next {
			t.Fatalf("stream message %d is checked message %d, after %d: duplicated or reordered", k, i, next-1)
		}
		missing += i - next
		next = i + 1
	}
	if next != uint64(n) {
		t.Fatalf("the stream ends with checked message %d, want %d", next-1, n-1)
	}
	return missing
}

func topicID(t testing.TB, name string) topic.ID {
	t.Helper()
	tp, err := topic.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer tp.Close()
	return tp.ID()
}

// runOut runs Out in a goroutine; the returned function stops it (nil
// ctx cancel) and returns its error.
func runOut(t testing.TB, nc *nats.Conn, cfg Config) (wait func() error, stop context.CancelFunc) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	done := make(chan error, 1)
	go func() { done <- Out(ctx, nc, cfg) }()
	t.Cleanup(cancel)
	return func() error { return <-done }, cancel
}

// TestOutTopic: checked messages from a lossless topic to a stream while
// the publisher publishes them: each once, in order, each with the
// topic's ID and its number as Nats-Msg-Id; the bridge ends when the
// publisher closes the topic.
func TestOutTopic(t *testing.T) {
	n := million() / 10
	srv := startServer(t, 0)
	nc := srv.connect(t, nil)
	makeStream(t, nc, "TOUT", "tout.>")
	name := createTopic(t, 1<<20)
	var st Stats
	wait, _ := runOut(t, nc, Config{Topic: name, Subject: "tout.m", Stats: &st, Logf: (*eventLog)(nil).logf(t)})
	waitSubscribers(t, name, 1)
	p, err := topic.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	publishTopic(ctx, t, p, 0, n)
	p.Close()
	if err := wait(); err != nil {
		t.Fatal(err)
	}
	if missing := gaps(t, streamIndices(t, nc, "TOUT", topicID(t, name)), n); missing != 0 || st.Missed.Load() != 0 || st.Moved.Load() != int64(n) {
		t.Fatalf("%d messages missing from the stream, %d counted missed, %d moved; want 0, 0, %d", missing, st.Missed.Load(), st.Moved.Load(), n)
	}
}

// TestOutTopicResume: a bridge stopped and started again resumes after
// the last message the stream holds. While the topic still holds the
// messages published meanwhile, nothing is lost; when the publisher wrote
// over them, the restarted bridge counts exactly the messages gone.
func TestOutTopicResume(t *testing.T) {
	shmtest.SkipShort(t)
	for _, tc := range []struct {
		name     string
		capacity int64
		opts     []topic.Option
		lost     bool
	}{
		{"kept", 1 << 20, nil, false},
		{"written over, lossless", 4096, nil, true},
		{"written over, overwrite", 4096, []topic.Option{topic.Overwrite()}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const first, down, after = 100, 1000, 100
			srv := startServer(t, 0)
			var log eventLog
			nc := srv.connect(t, &log)
			makeStream(t, nc, "RES", "res.>")
			name := createTopic(t, tc.capacity, tc.opts...)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			p, err := topic.Open(name)
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			var st Stats
			cfg := Config{Topic: name, Subject: "res.m", Stats: &st, Logf: log.logf(t)}
			wait, stop := runOut(t, nc, cfg)
			waitSubscribers(t, name, 1)
			publishTopic(ctx, t, p, 0, first)
			// An overwrite topic's bridge may lag: what it missed counts.
			for deadline := time.Now().Add(time.Minute); st.Moved.Load()+st.Missed.Load() < first; time.Sleep(time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatalf("the bridge moved %d messages and missed %d in a minute, want %d", st.Moved.Load(), st.Missed.Load(), first)
				}
			}
			stop()
			if err := wait(); err != nil {
				t.Fatal(err)
			}
			waitSubscribers(t, name, 0)
			// No bridge: the publisher is not held back.
			publishTopic(ctx, t, p, first, first+down)
			var st2 Stats
			cfg.Stats = &st2
			wait, _ = runOut(t, nc, cfg)
			waitSubscribers(t, name, 1)
			publishTopic(ctx, t, p, first+down, first+down+after)
			p.Close()
			if err := wait(); err != nil {
				t.Fatal(err)
			}
			missing := gaps(t, streamIndices(t, nc, "RES", topicID(t, name)), first+down+after)
			t.Logf("%d messages missing from the stream, %d counted missed by the first bridge, %d by the restarted one", missing, st.Missed.Load(), st2.Missed.Load())
			if uint64(st.Missed.Load()+st2.Missed.Load()) != missing || !p.IsOverwrite() && st.Missed.Load() != 0 {
				t.Fatalf("%d messages missing from the stream; the bridges counted %d and %d missed", missing, st.Missed.Load(), st2.Missed.Load())
			}
			if tc.lost != (missing > 0) {
				t.Fatalf("%d messages missing; want some: %v", missing, tc.lost)
			}
			if log.count("resuming at message 100") != 1 && !tc.lost {
				t.Fatal("the restarted bridge did not say that it resumed at message 100")
			}
			if tc.lost && log.count("no longer held them") != 1 {
				t.Fatal("the restarted bridge did not say that it missed messages")
			}
		})
	}
}

// TestOutTopicLag: a bridge slower than an overwrite topic's publisher
// (one publish in flight) lags; every message is in the stream or counted
// missed, exactly, and the stream's order is the topic's.
func TestOutTopicLag(t *testing.T) {
	shmtest.SkipShort(t)
	const n = 20_000
	srv := startServer(t, 0)
	var log eventLog
	nc := srv.connect(t, &log)
	makeStream(t, nc, "LAG", "lag.>")
	name := createTopic(t, 4096, topic.Overwrite())
	var st Stats
	// A lag is logged each time: the lines are kept, not printed.
	wait, _ := runOut(t, nc, Config{Topic: name, Subject: "lag.m", Window: 1, Stats: &st, Logf: func(format string, args ...any) {
		log.mu.Lock()
		defer log.mu.Unlock()
		log.lines = append(log.lines, fmt.Sprintf(format, args...))
	}})
	waitSubscribers(t, name, 1)
	p, err := topic.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	publishTopic(ctx, t, p, 0, n)
	p.Close()
	if err := wait(); err != nil {
		t.Fatal(err)
	}
	indices := streamIndices(t, nc, "LAG", topicID(t, name))
	missing := gaps(t, indices, n)
	t.Logf("%d messages in the stream, %d missed (%s)", len(indices), missing, &st)
	if missing == 0 || uint64(st.Missed.Load()) != missing || st.Moved.Load() != int64(len(indices)) {
		t.Fatalf("%d messages missing from the stream, %d counted missed, %d moved for %d in the stream; want some missing, all counted", missing, st.Missed.Load(), st.Moved.Load(), len(indices))
	}
	if log.count("wrote over them before the bridge read them") == 0 {
		t.Fatal("the bridge did not log its lag")
	}
	if s := st.String(); !strings.Contains(s, ", missed ") {
		t.Fatalf("status line %q does not say how many were missed", s)
	}
}

// TestInTopic: checked messages from a stream into a lossless topic (the
// bridge is its publisher) that a subscriber reads: each once, in order;
// after Count messages the bridge closes the topic and the subscriber
// gets io.EOF.
func TestInTopic(t *testing.T) {
	n := million() / 10
	srv := startServer(t, 0)
	nc := srv.connect(t, nil)
	makeStream(t, nc, "TIN", "tin.>")
	publishChecked(t, nc, "tin.m", n, 48)
	name := createTopic(t, 64<<10) // smaller than the messages: back-pressure
	s, err := topic.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Subscribe(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- In(ctx, nc, Config{Topic: name, Subject: "tin.m", Count: int64(n), Logf: (*eventLog)(nil).logf(t)})
	}()
	var buf []byte
	for i := uint64(0); ; i++ {
		buf, err = s.Receive(ctx, buf)
		if err == io.EOF {
			if i != uint64(n) {
				t.Fatalf("io.EOF after %d messages, want %d", i, n)
			}
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got, err := checkMsg(buf)
		if err != nil {
			t.Fatalf("topic message %d: %v", i, err)
		}
		if got != i {
			t.Fatalf("topic message %d is checked message %d (lost, duplicated or reordered)", i, got)
		}
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// TestInTopicBusy: In on a topic that another live handle publishes to
// fails with an error naming the topic and the rule.
func TestInTopicBusy(t *testing.T) {
	srv := startServer(t, 0)
	nc := srv.connect(t, nil)
	makeStream(t, nc, "BUSY", "busy.>")
	publishChecked(t, nc, "busy.m", 1, 48)
	name := createTopic(t, 4096)
	p, err := topic.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if err := p.Publish(context.Background(), []byte("first")); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err = In(ctx, nc, Config{Topic: name, Subject: "busy.m", Count: 1})
	var be *Error
	if !errors.Is(err, topic.ErrBusy) || !errors.As(err, &be) || be.Name != name || be.Op != "in" {
		t.Fatalf("In on a topic with a live publisher: %v; want an *Error for in %s wrapping topic.ErrBusy", err, name)
	}
}

// TestOutTopicServerRestart: the server stops and starts again while out
// publishes a lossless topic's messages; the bridge publishes its window
// again after it reconnects (holding the topic's publisher back
// meanwhile), and the stream has every message exactly once, in order.
func TestOutTopicServerRestart(t *testing.T) {
	shmtest.SkipShort(t)
	const n = 50_000
	srv := startServer(t, 0)
	var log eventLog
	nc := srv.connect(t, &log)
	makeStream(t, nc, "RTO", "rto.>")
	name := createTopic(t, 1<<16) // small: the publisher waits while the server is away
	var st Stats
	wait, _ := runOut(t, nc, Config{Topic: name, Subject: "rto.m", Window: 128, AckTimeout: 2 * time.Second, Stats: &st, Logf: log.logf(t)})
	waitSubscribers(t, name, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	published := make(chan error, 1)
	go func() {
		p, err := topic.Open(name)
		if err != nil {
			published <- err
			return
		}
		var buf []byte
		for i := uint64(0); i < n && err == nil; i++ {
			buf = checkedMsg(buf, i, 48)
			err = p.Publish(ctx, buf)
		}
		if cerr := p.Close(); err == nil {
			err = cerr
		}
		published <- err
	}()
	restartWhen(t, srv, &st, n/4)
	if err := wait(); err != nil {
		t.Fatal(err)
	}
	if err := <-published; err != nil {
		t.Fatal(err)
	}
	t.Logf("%s", &st)
	if log.count("reconnected") == 0 || st.Restarts.Load() == 0 {
		t.Errorf("no reconnection logged, or no window published again (%d restarts)", st.Restarts.Load())
	}
	if missing := gaps(t, streamIndices(t, nc, "RTO", topicID(t, name)), n); missing != 0 || st.Missed.Load() != 0 {
		t.Fatalf("%d messages missing from the stream, %d counted missed; want none", missing, st.Missed.Load())
	}
	readStream(t, nc, "RTO", n)
}

// TestOutTopicOversize: a topic message larger than the server's max
// payload stops out with an error naming the topic, the message's number,
// its size and the limit; a bridge started again stops at it again
// (nothing lost). With Skip it is counted and dropped.
func TestOutTopicOversize(t *testing.T) {
	for _, tc := range []struct {
		name     string
		oversize Oversize
	}{{"Stop", Stop}, {"Skip", Skip}} {
		t.Run(tc.name, func(t *testing.T) {
			srv := startServer(t, 4096)
			nc := srv.connect(t, nil)
			stream := makeStream(t, nc, "TOO", "too.>")
			name := createTopic(t, 1<<16, topic.History(3))
			p, err := topic.Open(name)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			for _, m := range [][]byte{[]byte("first"), bytes.Repeat([]byte{'b'}, 5000), []byte("third")} {
				if err := p.Publish(ctx, m); err != nil {
					t.Fatal(err)
				}
			}
			p.Close()
			var st Stats
			cfg := Config{Topic: name, Subject: "too.m", Oversize: tc.oversize, Stats: &st, Logf: t.Logf}
			err = Out(ctx, nc, cfg)
			info, ierr := stream.Info(ctx)
			if ierr != nil {
				t.Fatal(ierr)
			}
			switch tc.oversize {
			case Stop:
				for _, want := range []string{name, "message 1 is 5000 bytes", "max payload of 4096"} {
					if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), want) {
						t.Fatalf("Out: %v; want ErrTooLarge saying %q", err, want)
					}
				}
				if info.State.Msgs != 1 {
					t.Errorf("the stream has %d messages, want the one before the large one", info.State.Msgs)
				}
				// Started again, the bridge resumes at the large message.
				if err := Out(ctx, nc, cfg); !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "message 1 ") {
					t.Fatalf("Out started again: %v; want it to stop at message 1 again", err)
				}
			case Skip:
				if err != nil {
					t.Fatal(err)
				}
				if info.State.Msgs != 2 || st.Skipped.Load() != 1 {
					t.Errorf("the stream has %d messages and Skipped is %d, want 2 and 1", info.State.Msgs, st.Skipped.Load())
				}
			}
		})
	}
}
