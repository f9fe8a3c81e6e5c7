package queue

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"testing"
	"time"

	"github.com/shmkit/shm/internal/shmtest"
)

// TestAbortedStream: a producer that aborts ends the stream so that the
// consumer, after every committed message, gets ErrAborted and never
// io.EOF; Stat and Probe say aborted; a Close by another producer does not
// turn the abort into a normal end; a new producer reopens the queue.
func TestAbortedStream(t *testing.T) {
	for _, mode := range bothModes {
		t.Run(mode.name, func(t *testing.T) {
			ctx := ctxT(t)
			name, p, c := pair(t, 4096, mode.opts...)
			for i := range 3 {
				if err := p.Send(ctx, pattern(i, 10)); err != nil {
					t.Fatal(err)
				}
			}
			if mode.name == "mpsc" {
				// A second producer's Close after the abort leaves it.
				p2, err := Open(name)
				if err != nil {
					t.Fatal(err)
				}
				if err := p2.Send(ctx, pattern(3, 10)); err != nil {
					t.Fatal(err)
				}
				if err := p.Abort(); err != nil {
					t.Fatalf("Abort: %v", err)
				}
				if err := p2.Close(); err != nil {
					t.Fatal(err)
				}
			} else if err := p.Abort(); err != nil {
				t.Fatalf("Abort: %v", err)
			}
			if err := p.Abort(); err != nil {
				t.Errorf("second Abort: %v", err)
			}
			st, err := Stat(name)
			if err != nil || !st.Closed || !st.Aborted {
				t.Errorf("Stat after Abort: closed %v aborted %v, %v; want both", st.Closed, st.Aborted, err)
			}
			want := 3
			if mode.name == "mpsc" {
				want = 4
			}
			for i := range want {
				got, err := c.Receive(ctx, nil)
				if err != nil || !bytes.Equal(got, pattern(i, 10)) {
					t.Fatalf("message %d of an aborted stream: %q %v", i, got, err)
				}
			}
			for range 2 {
				if _, err := c.Receive(ctx, nil); !errors.Is(err, ErrAborted) || err == io.EOF {
					t.Fatalf("Receive after the drain of an aborted stream: %v, want ErrAborted", err)
				}
			}
			if _, err := c.TryReceive(nil); !errors.Is(err, ErrAborted) {
				t.Errorf("TryReceive after the drain: %v, want ErrAborted", err)
			}
			if n, err := c.ReceiveBatch(ctx, make([][]byte, 4)); n != 0 || !errors.Is(err, ErrAborted) {
				t.Errorf("ReceiveBatch after the drain: %d, %v, want ErrAborted", n, err)
			}
			// A new producer reopens the queue; its Close ends it normally.
			p3, err := Open(name)
			if err != nil {
				t.Fatal(err)
			}
			if err := p3.Send(ctx, []byte("again")); err != nil {
				t.Fatal(err)
			}
			p3.Close()
			if got, err := c.Receive(ctx, nil); err != nil || string(got) != "again" {
				t.Fatalf("after a new producer: %q %v", got, err)
			}
			if _, err := c.Receive(ctx, nil); err != io.EOF {
				t.Fatalf("after the new producer's Close: %v, want io.EOF", err)
			}
		})
	}
}

// TestAbortedStreamWakesWaiter: a consumer asleep on an empty queue is woken
// by the Abort and gets ErrAborted; a handle that never sent becomes the
// producer to abort.
func TestAbortedStreamWakesWaiter(t *testing.T) {
	ctx := ctxT(t)
	name, _, c := pair(t, 4096, Wait(Block))
	errc := make(chan error, 1)
	go func() {
		_, err := c.Receive(ctx, nil)
		errc <- err
	}()
	time.Sleep(50 * time.Millisecond)
	p, err := Open(name)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Abort(); err != nil {
		t.Fatalf("Abort of a handle that never sent: %v", err)
	}
	err = <-errc
	if !errors.Is(err, ErrAborted) {
		t.Fatalf("waiting Receive: %v, want ErrAborted", err)
	}
	if want := "shm queue receive " + name + ": the sender aborted the stream"; err.Error() != want {
		t.Errorf("error %q, want %q", err, want)
	}
}

// TestAbortedStreamWhileBusy: Abort on a handle that never sent fails with
// ErrBusy while another live handle is the single producer, and leaves the
// queue open.
func TestAbortedStreamWhileBusy(t *testing.T) {
	ctx := ctxT(t)
	name, p, _ := pair(t, 4096)
	if err := p.Send(ctx, []byte("x")); err != nil {
		t.Fatal(err)
	}
	other, err := Open(name)
	if err != nil {
		t.Fatal(err)
	}
	if err := other.Abort(); !errors.Is(err, ErrBusy) {
		t.Errorf("Abort while another producer is live: %v, want ErrBusy", err)
	}
	if st, err := Stat(name); err != nil || st.Closed || st.Aborted {
		t.Errorf("Stat: closed %v aborted %v, %v; want open", st.Closed, st.Aborted, err)
	}
}

// TestHeldMessagesSurviveClose: with Hold, what a consumer received and did
// not Ack goes to the next consumer; what it acknowledged does not; held
// messages keep their room until the Ack.
func TestHeldMessagesSurviveClose(t *testing.T) {
	for _, mode := range bothModes {
		t.Run(mode.name, func(t *testing.T) {
			ctx := ctxT(t)
			name, p, c := pair(t, 1024, mode.opts...)
			c.Hold()
			for i := range 6 {
				if err := p.Send(ctx, pattern(i, 100)); err != nil {
					t.Fatal(err)
				}
			}
			for i := range 2 {
				if got, err := c.Receive(ctx, nil); err != nil || !bytes.Equal(got, pattern(i, 100)) {
					t.Fatalf("message %d: %v", i, err)
				}
			}
			if err := c.ReleaseThrough(c.Position()); err != nil {
				t.Fatal(err)
			}
			for i := 2; i < 6; i++ {
				if got, err := c.Receive(ctx, nil); err != nil || !bytes.Equal(got, pattern(i, 100)) {
					t.Fatalf("message %d: %v", i, err)
				}
			}
			// The four held records (112 bytes each) keep their room: of
			// the 1024-byte ring, at most five more fit, where nine would
			// after an Ack.
			k := 0
			for ; k < 10; k++ {
				short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
				err := p.Send(short, pattern(6+k, 100))
				cancel()
				if errors.Is(err, context.DeadlineExceeded) {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
			}
			if k == 0 || k > 5 {
				t.Fatalf("%d messages fit next to four held ones, want 1 to 5", k)
			}
			if err := c.Close(); err != nil {
				t.Fatal(err)
			}
			c2, err := Open(name)
			if err != nil {
				t.Fatal(err)
			}
			defer c2.Close()
			for i := 2; i < 6+k; i++ {
				if got, err := c2.Receive(ctx, nil); err != nil || !bytes.Equal(got, pattern(i, 100)) {
					t.Fatalf("next consumer, message %d: %q, %v", i, got, err)
				}
			}
		})
	}
}

// TestReceiveStopsWhenContextDone: a done context stops Receive, Peek and
// ReceiveBatch even while messages wait.
func TestReceiveStopsWhenContextDone(t *testing.T) {
	ctx := ctxT(t)
	_, p, c := pair(t, 4096)
	for i := range 3 {
		if err := p.Send(ctx, pattern(i, 8)); err != nil {
			t.Fatal(err)
		}
	}
	done, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := c.Receive(done, nil); !errors.Is(err, context.Canceled) {
		t.Errorf("Receive with a done context: %v, want Canceled", err)
	}
	if _, err := c.Peek(done); !errors.Is(err, context.Canceled) {
		t.Errorf("Peek with a done context: %v, want Canceled", err)
	}
	if n, err := c.ReceiveBatch(done, make([][]byte, 3)); n != 0 || !errors.Is(err, context.Canceled) {
		t.Errorf("ReceiveBatch with a done context: %d, %v, want Canceled", n, err)
	}
	// Nothing was taken.
	if n, err := c.ReceiveBatch(ctx, make([][]byte, 3)); n != 3 || err != nil {
		t.Errorf("ReceiveBatch afterwards: %d, %v, want the 3 messages", n, err)
	}
}

// TestInvalidOptions: an out-of-range wait strategy or spin time is an
// error from Create and Open, not a silent default.
func TestInvalidOptions(t *testing.T) {
	name := shmtest.Name(t, "")
	if q, err := Create(name, 4096, Wait(99)); !errors.Is(err, fs.ErrInvalid) {
		if q != nil {
			q.Close()
		}
		t.Fatalf("Create with Wait(99): %v, want ErrInvalid", err)
	} else if want := "shm queue create " + name + ": invalid argument: wait strategy 99 is not SpinThenSleep (0), Spin (1) or Block (2)"; err.Error() != want {
		t.Errorf("error %q, want %q", err, want)
	}
	q, err := Create(name, 4096)
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	for _, opt := range []Option{Wait(-1), Wait(3), SpinTime(-time.Second)} {
		if q, err := Open(name, opt); !errors.Is(err, fs.ErrInvalid) {
			if q != nil {
				q.Close()
			}
			t.Errorf("Open with an invalid option: %v, want ErrInvalid", err)
		}
	}
}
