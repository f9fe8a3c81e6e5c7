package natsbridge

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/shmkit/shm/internal/shmtest"
	"github.com/shmkit/shm/queue"
)

// TestOutOversize: a message larger than the server's max payload stops
// out with an error naming it (the message stays in the queue), or with
// Skip is counted and dropped.
func TestOutOversize(t *testing.T) {
	for _, tc := range []struct {
		name     string
		oversize Oversize
	}{{"Stop", Stop}, {"Skip", Skip}} {
		t.Run(tc.name, func(t *testing.T) {
			srv := startServer(t, 4096)
			nc := srv.connect(t, nil)
			stream := makeStream(t, nc, "OO", "oo.>")
			name := shmtest.Name(t, "")
			p, err := queue.Create(name, 1<<16)
			if err != nil {
				t.Fatal(err)
			}
			big := bytes.Repeat([]byte{'b'}, 5000)
			for _, m := range [][]byte{[]byte("first"), big, []byte("third")} {
				if err := p.TrySend(m); err != nil {
					t.Fatal(err)
				}
			}
			p.Close()
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			var st Stats
			err = Out(ctx, nc, Config{Queue: name, Subject: "oo.m", Oversize: tc.oversize, Stats: &st, Logf: t.Logf})
			info, ierr := stream.Info(ctx)
			if ierr != nil {
				t.Fatal(ierr)
			}
			switch tc.oversize {
			case Stop:
				if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "5000 bytes") || !strings.Contains(err.Error(), "max payload of 4096") || !strings.Contains(err.Error(), name) {
					t.Fatalf("Out: %v; want ErrTooLarge naming the queue, the size and the limit", err)
				}
				if info.State.Msgs != 1 {
					t.Errorf("the stream has %d messages, want the one before the large one", info.State.Msgs)
				}
				// Nothing lost: the large message is still the queue's next.
				c, err := queue.Open(name)
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				if m, err := c.TryReceive(nil); err != nil || !bytes.Equal(m, big) {
					t.Errorf("after the stop the queue's next message is %d bytes (%v), want the large one", len(m), err)
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

// TestInOversize: a stream message larger than the queue's max message
// stops in with an error naming it (unacknowledged: it comes again), or
// with Skip is counted, acknowledged and dropped.
func TestInOversize(t *testing.T) {
	for _, tc := range []struct {
		name     string
		oversize Oversize
	}{{"Stop", Stop}, {"Skip", Skip}} {
		t.Run(tc.name, func(t *testing.T) {
			srv := startServer(t, 0)
			nc := srv.connect(t, nil)
			stream := makeStream(t, nc, "IO", "io.>")
			js, err := jetstream.New(nc)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			for _, m := range [][]byte{[]byte("first"), bytes.Repeat([]byte{'b'}, 300), []byte("third")} {
				if _, err := js.Publish(ctx, "io.m", m); err != nil {
					t.Fatal(err)
				}
			}
			name := shmtest.Name(t, "")
			q, err := queue.Create(name, 1<<12, queue.MaxMessage(256))
			if err != nil {
				t.Fatal(err)
			}
			defer q.Close()
			var st Stats
			err = In(ctx, nc, Config{Queue: name, Subject: "io.m", Count: 2, Sequence: true, Oversize: tc.oversize, Stats: &st, Logf: t.Logf})
			var got []string
			for {
				m, err := q.TryReceive(nil)
				if err != nil {
					break
				}
				_, payload, _ := Unframe(m)
				got = append(got, string(payload))
			}
			c, cerr := stream.Consumer(ctx, DurableFor(name))
			if cerr != nil {
				t.Fatal(cerr)
			}
			// In's acknowledgements reach the server on their own time:
			// wait (a while) for the floor the case expects.
			want := map[Oversize]uint64{Stop: 1, Skip: 3}[tc.oversize]
			var info *jetstream.ConsumerInfo
			for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
				if info, cerr = c.Info(ctx); cerr != nil {
					t.Fatal(cerr)
				}
				if info.AckFloor.Stream >= want || time.Now().After(deadline) {
					break
				}
			}
			switch tc.oversize {
			case Stop:
				if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "stream sequence 2") || !strings.Contains(err.Error(), "308 bytes") || !strings.Contains(err.Error(), "max message of 256") {
					t.Fatalf("In: %v; want ErrTooLarge naming the sequence, the size and the limit", err)
				}
				if strings.Join(got, ",") != "first" || info.AckFloor.Stream != 1 {
					t.Errorf("the queue got %q and the acknowledgement floor is %d; want first and 1", got, info.AckFloor.Stream)
				}
			case Skip:
				if err != nil {
					t.Fatal(err)
				}
				if strings.Join(got, ",") != "first,third" || st.Skipped.Load() != 1 || info.AckFloor.Stream != 3 {
					t.Errorf("the queue got %q, Skipped %d, acknowledgement floor %d; want first,third, 1 and 3", got, st.Skipped.Load(), info.AckFloor.Stream)
				}
			}
		})
	}
}
