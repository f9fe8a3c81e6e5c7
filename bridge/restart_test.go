package natsbridge

import (
	"context"
	"io"
	"testing"
	"time"

	"github.com/shmkit/shm/internal/shmtest"
	"github.com/shmkit/shm/queue"
)

// restartWhen stops the server once moved reaches at, waits a moment and
// starts it again on the same port with the same store.
func restartWhen(t *testing.T, srv *testServer, st *Stats, at int64) {
	t.Helper()
	for deadline := time.Now().Add(2 * time.Minute); st.Moved.Load() < at; {
		if time.Now().After(deadline) {
			t.Fatalf("the bridge moved %d messages in 2 minutes, want %d before the restart", st.Moved.Load(), at)
		}
		time.Sleep(time.Millisecond)
	}
	srv.stop()
	time.Sleep(300 * time.Millisecond)
	srv.start()
}

// TestOutServerRestart: the server stops and starts again while out
// publishes; the bridge reconnects, and the stream has every message
// exactly once, in order.
func TestOutServerRestart(t *testing.T) {
	shmtest.SkipShort(t)
	const n = 50_000
	srv := startServer(t, 0)
	var log eventLog
	nc := srv.connect(t, &log)
	makeStream(t, nc, "RO", "ro.>")
	name := shmtest.Name(t, "")
	q, err := queue.Create(name, 1<<16) // small: the producer waits while the server is away
	if err != nil {
		t.Fatal(err)
	}
	q.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	sent := make(chan error, 1)
	go func() { sent <- sendChecked(ctx, name, n, 48) }()
	var st Stats
	done := make(chan error, 1)
	go func() {
		done <- Out(ctx, nc, Config{Queue: name, Subject: "ro.m", Window: 128, AckTimeout: 2 * time.Second, Stats: &st, Logf: log.logf(t)})
	}()
	restartWhen(t, srv, &st, n/4)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := <-sent; err != nil {
		t.Fatal(err)
	}
	t.Logf("%s", &st)
	if log.count("reconnected") == 0 {
		t.Error("no reconnection was logged")
	}
	readStream(t, nc, "RO", n)
}

// TestInServerRestart: the server stops and starts again while in sends
// to the queue; the bridge reconnects, and the queue gets every message,
// in order, redeliveries within Window.
func TestInServerRestart(t *testing.T) {
	shmtest.SkipShort(t)
	const n, window = 50_000, 128
	srv := startServer(t, 0)
	var log eventLog
	nc := srv.connect(t, &log)
	makeStream(t, nc, "RI", "ri.>")
	publishChecked(t, nc, "ri.m", n, 48)
	name := shmtest.Name(t, "")
	q, err := queue.Create(name, 1<<16)
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var st Stats
	done := make(chan error, 1)
	go func() {
		done <- In(ctx, nc, Config{Queue: name, Subject: "ri.m", Window: window, Count: n, Sequence: true, AckWait: 2 * time.Second, Stats: &st, Logf: log.logf(t)})
	}()
	received := make(chan error, 1)
	var last uint64
	dups := 0
	go func() {
		received <- func() error {
			var buf []byte
			for {
				buf, err = q.Receive(ctx, buf)
				if err == io.EOF {
					return nil
				}
				if err != nil {
					return err
				}
				seq, payload, err := Unframe(buf)
				if err != nil {
					return err
				}
				if i, err := checkMsg(payload); err != nil || i != seq-1 {
					t.Errorf("stream sequence %d: checked message %d, %v", seq, i, err)
				}
				switch {
				case seq <= last:
					dups++
				case seq == last+1:
					last = seq
				default:
					t.Errorf("after stream sequence %d the queue has %d: lost or out of order", last, seq)
					last = seq
				}
			}
		}()
	}()
	restartWhen(t, srv, &st, n/4)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := <-received; err != nil {
		t.Fatal(err)
	}
	t.Logf("%s; %d redeliveries into the queue", &st, dups)
	if last != n {
		t.Fatalf("the queue got stream sequences up to %d, want %d", last, n)
	}
	if dups > window {
		t.Errorf("%d redeliveries after one server restart, more than Window %d", dups, window)
	}
	if log.count("reconnected") == 0 {
		t.Error("no reconnection was logged")
	}
}
