package natsbridge

import (
	"context"
	"io"
	"testing"
	"time"

	"github.com/shmkit/shm/internal/shmtest"
	"github.com/shmkit/shm/queue"
	"github.com/shmkit/shm/topic"
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
// to a queue or publishes into a topic; the bridge reconnects, and the
// reader gets every message at least once, in order, with fewer
// redeliveries than Window, each recognised by its stream sequence
// (Config.Sequence).
func TestInServerRestart(t *testing.T) {
	shmtest.SkipShort(t)
	type receiver func(context.Context, []byte) ([]byte, error)
	tests := []struct {
		name string
		open func(t *testing.T) (Config, receiver)
	}{
		{"queue", func(t *testing.T) (Config, receiver) {
			name := shmtest.Name(t, "")
			q, err := queue.Create(name, 1<<16)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { q.Close() })
			return Config{Queue: name}, q.Receive
		}},
		{"topic", func(t *testing.T) (Config, receiver) {
			name := createTopic(t, 64<<10) // lossless and small: the subscriber holds the bridge back
			s, err := topic.Open(name)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			if err := s.Subscribe(); err != nil {
				t.Fatal(err)
			}
			return Config{Topic: name}, s.Receive
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			const n, window = 50_000, 128
			srv := startServer(t, 0)
			var log eventLog
			nc := srv.connect(t, &log)
			makeStream(t, nc, "RI", "ri.>")
			publishChecked(t, nc, "ri.m", n, 48)
			cfg, receive := tc.open(t)
			cfg.Subject, cfg.Window, cfg.Count, cfg.Sequence = "ri.m", window, n, true
			cfg.AckWait, cfg.Logf = 2*time.Second, log.logf(t)
			var st Stats
			cfg.Stats = &st
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			done := make(chan error, 1)
			go func() { done <- In(ctx, nc, cfg) }()
			received := make(chan error, 1)
			var last uint64
			dups := 0
			go func() {
				received <- func() error {
					var buf []byte
					for {
						var err error
						buf, err = receive(ctx, buf)
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
							t.Errorf("after stream sequence %d the %s has %d: lost or out of order", last, tc.name, seq)
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
			t.Logf("%s; %d redeliveries into the %s", &st, dups, tc.name)
			if last != n {
				t.Fatalf("the %s got stream sequences up to %d, want %d", tc.name, last, n)
			}
			if dups > window {
				t.Errorf("%d redeliveries after one server restart, more than Window %d", dups, window)
			}
			if log.count("reconnected") == 0 {
				t.Error("no reconnection was logged")
			}
		})
	}
}
