package natsbridge

import (
	"context"
	"errors"
	"io"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/shmkit/shm/internal/shmtest"
	"github.com/shmkit/shm/queue"
)

// million is how many messages the long tests move each way: a million,
// a tenth of it under the race detector (ten times slower), or
// SHM_BRIDGE_MESSAGES.
func million() int {
	if n, err := strconv.Atoi(os.Getenv("SHM_BRIDGE_MESSAGES")); err == nil && n > 0 {
		return n
	}
	if raceEnabled {
		return 100_000
	}
	return 1_000_000
}

// sendChecked sends checked messages 0..n-1 into the queue, then closes it
// for sending.
func sendChecked(ctx context.Context, name string, n, spread int) error {
	q, err := queue.Open(name)
	if err != nil {
		return err
	}
	defer q.Close()
	var buf []byte
	for i := range uint64(n) {
		buf = checkedMsg(buf, i, spread)
		if err := q.Send(ctx, buf); err != nil {
			return err
		}
	}
	return q.Close()
}

// TestOutMillion: a million checked messages from a queue to a stream
// while the producer sends them: the stream holds each once, in order.
func TestOutMillion(t *testing.T) {
	shmtest.SkipShort(t)
	n := million()
	srv := startServer(t, 0)
	nc := srv.connect(t, nil)
	makeStream(t, nc, "OUT", "out.>")
	name := shmtest.Name(t, "")
	q, err := queue.Create(name, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	q.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	sent := make(chan error, 1)
	go func() { sent <- sendChecked(ctx, name, n, 112) }()
	start := time.Now()
	var st Stats
	// The publishes in flight never pass the window.
	const window = 256
	stop := make(chan struct{})
	maxInFlight := make(chan int64, 1)
	go func() {
		m := int64(0)
		for {
			select {
			case <-stop:
				maxInFlight <- m
				return
			case <-time.After(100 * time.Microsecond):
				m = max(m, st.InFlight.Load())
			}
		}
	}()
	err = Out(ctx, nc, Config{Queue: name, Subject: "out.m", Window: window, Stats: &st})
	close(stop)
	if err != nil {
		t.Fatal(err)
	}
	if m := <-maxInFlight; m > window || m == 0 {
		t.Errorf("at most %d publishes were seen in flight, want 1 to the window %d", m, window)
	}
	if err := <-sent; err != nil {
		t.Fatal(err)
	}
	t.Logf("%d messages out in %v: %s", n, time.Since(start).Round(time.Millisecond), &st)
	if got := st.Moved.Load(); got != int64(n) {
		t.Errorf("Moved = %d, want %d", got, n)
	}
	readStream(t, nc, "OUT", n)
}

// TestInMillion: a million checked messages from a stream to a queue
// while its consumer receives them: each once, in order, with the stream
// sequence framed in front.
func TestInMillion(t *testing.T) {
	shmtest.SkipShort(t)
	n := million()
	srv := startServer(t, 0)
	nc := srv.connect(t, nil)
	makeStream(t, nc, "IN", "in.>")
	publishChecked(t, nc, "in.m", n, 112)
	name := shmtest.Name(t, "")
	q, err := queue.Create(name, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	received := make(chan error, 1)
	go func() {
		received <- func() error {
			var buf []byte
			for next := uint64(0); ; next++ {
				buf, err = q.Receive(ctx, buf)
				if err == io.EOF {
					if next != uint64(n) {
						return errors.New("end of file after " + strconv.FormatUint(next, 10) + " messages")
					}
					return nil
				}
				if err != nil {
					return err
				}
				seq, payload, err := Unframe(buf)
				if err != nil {
					return err
				}
				i, err := checkMsg(payload)
				if err != nil {
					return err
				}
				if i != next || seq != next+1 {
					return errors.New("message " + strconv.FormatUint(next, 10) + " is checked message " + strconv.FormatUint(i, 10) + " at stream sequence " + strconv.FormatUint(seq, 10))
				}
			}
		}()
	}()
	start := time.Now()
	var st Stats
	if err := In(ctx, nc, Config{Queue: name, Subject: "in.m", Count: int64(n), Sequence: true, Stats: &st}); err != nil {
		t.Fatal(err)
	}
	if err := <-received; err != nil {
		t.Fatal(err)
	}
	t.Logf("%d messages in in %v: %s", n, time.Since(start).Round(time.Millisecond), &st)
	if got := st.Redelivered.Load(); got != 0 {
		t.Errorf("Redelivered = %d without a crash, want 0", got)
	}
}

// TestOutCore: without JetStream, out publishes plain NATS messages that a
// subscriber gets in order, and ends when the queue is closed and drained.
func TestOutCore(t *testing.T) {
	const n = 10_000
	srv := startServer(t, 0)
	nc := srv.connect(t, nil)
	sub, err := nc.SubscribeSync("core.m")
	if err != nil {
		t.Fatal(err)
	}
	sub.SetPendingLimits(-1, -1)
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	name := shmtest.Name(t, "")
	q, err := queue.Create(name, 1<<16)
	if err != nil {
		t.Fatal(err)
	}
	q.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	sent := make(chan error, 1)
	go func() { sent <- sendChecked(ctx, name, n, 48) }()
	var st Stats
	if err := Out(ctx, nc, Config{Queue: name, Subject: "core.m", Core: true, Stats: &st}); err != nil {
		t.Fatal(err)
	}
	if err := <-sent; err != nil {
		t.Fatal(err)
	}
	for want := range uint64(n) {
		m, err := sub.NextMsg(30 * time.Second)
		if err != nil {
			t.Fatalf("message %d: %v", want, err)
		}
		if i, err := checkMsg(m.Data); err != nil || i != want {
			t.Fatalf("message %d is checked message %d (%v)", want, i, err)
		}
	}
	if st.Moved.Load() != n {
		t.Errorf("Moved = %d, want %d", st.Moved.Load(), n)
	}
}

// TestInBackPressure: a full queue holds in back: it acknowledges only
// what the queue took and has at most Window deliveries outstanding; once
// the queue is read, the rest follows.
func TestInBackPressure(t *testing.T) {
	const n, window = 2000, 32
	srv := startServer(t, 0)
	nc := srv.connect(t, nil)
	stream := makeStream(t, nc, "BP", "bp.>")
	publishChecked(t, nc, "bp.m", n, 48)
	name := shmtest.Name(t, "")
	q, err := queue.Create(name, 4096) // about 60 messages
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- In(ctx, nc, Config{Queue: name, Subject: "bp.m", Window: window, Count: n}) }()
	// Wait until the queue is full and the bridge has stopped.
	var info *jetstream.ConsumerInfo
	for prev := uint64(0); ; prev = info.AckFloor.Stream {
		time.Sleep(300 * time.Millisecond)
		c, err := stream.Consumer(ctx, DurableFor(name))
		if err != nil {
			continue
		}
		if info, err = c.Info(ctx); err != nil {
			t.Fatal(err)
		}
		if info.AckFloor.Stream > 0 && info.AckFloor.Stream == prev {
			break
		}
		if ctx.Err() != nil {
			t.Fatal("the bridge did not stop on a full queue")
		}
	}
	st, err := queue.Stat(name)
	if err != nil {
		t.Fatal(err)
	}
	// Full: no room for another record of the largest checked message
	// (16+47 bytes and its header).
	if st.Bytes < 4096-72 || info.AckFloor.Stream > uint64(st.Messages) || info.NumAckPending > window {
		t.Fatalf("a queue of %d bytes holds %d bytes, %d messages; the bridge acknowledged %d and has %d outstanding (window %d)", st.Capacity, st.Bytes, st.Messages, info.AckFloor.Stream, info.NumAckPending, window)
	}
	t.Logf("full queue: %d messages, %d acknowledged, %d outstanding", st.Messages, info.AckFloor.Stream, info.NumAckPending)
	var buf []byte
	for want := uint64(0); want < n; want++ {
		if buf, err = q.Receive(ctx, buf); err != nil {
			t.Fatalf("message %d: %v", want, err)
		}
		if i, err := checkMsg(buf); err != nil || i != want {
			t.Fatalf("message %d is checked message %d (%v)", want, i, err)
		}
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
