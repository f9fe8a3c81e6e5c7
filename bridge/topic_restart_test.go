package natsbridge

import (
	"context"
	"io"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/shmkit/shm/topic"
)

// TestInTopicServerRestart: the server stops and starts again while in
// publishes a stream's messages into a topic; the bridge reconnects, and
// a subscriber of the topic gets every message at least once, in order,
// with fewer redeliveries than Window, each recognised by its stream
// sequence (Config.Sequence).
func TestInTopicServerRestart(t *testing.T) {
	const n, window = 50_000, 128
	srv := startServer(t, 0)
	var log eventLog
	nc := srv.connect(t, &log)
	makeStream(t, nc, "RTI", "rti.>")
	publishChecked(t, nc, "rti.m", n, 48)
	name := createTopic(t, 64<<10) // lossless and small: the subscriber holds the bridge back
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
	var st Stats
	done := make(chan error, 1)
	go func() {
		done <- In(ctx, nc, Config{Topic: name, Subject: "rti.m", Window: window, Count: n, Sequence: true, AckWait: 2 * time.Second, Stats: &st, Logf: log.logf(t)})
	}()
	received := make(chan error, 1)
	var last uint64
	dups := 0
	go func() {
		received <- func() error {
			var buf []byte
			for {
				buf, err = s.Receive(ctx, buf)
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
					t.Errorf("after stream sequence %d the topic has %d: lost or out of order", last, seq)
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
	t.Logf("%s; %d redeliveries into the topic", &st, dups)
	if last != n {
		t.Fatalf("the topic got stream sequences up to %d, want %d", last, n)
	}
	if dups > window {
		t.Errorf("%d redeliveries after one server restart, more than Window %d", dups, window)
	}
	if log.count("reconnected") == 0 {
		t.Error("no reconnection was logged")
	}
}

// TestOutTopicCore: without JetStream, out publishes a topic's messages
// as plain NATS messages: at most once. A subscriber gets them in order
// and never twice; across a server restart only messages around the
// broken connection may be missing, and everything published once the
// bridge and the subscriber are connected again arrives. The bridge ends
// when the topic's publisher closes it.
func TestOutTopicCore(t *testing.T) {
	const n = 20_000
	srv := startServer(t, 0)
	var log eventLog
	nc := srv.connect(t, &log)
	subConn := srv.connect(t, nil)
	sub, err := subConn.SubscribeSync("tcore.m")
	if err != nil {
		t.Fatal(err)
	}
	sub.SetPendingLimits(-1, -1)
	if err := subConn.Flush(); err != nil {
		t.Fatal(err)
	}
	name := createTopic(t, 1<<16)
	var st Stats
	wait, _ := runOut(t, nc, Config{Topic: name, Subject: "tcore.m", Core: true, Window: 64, AckTimeout: 2 * time.Second, Stats: &st, Logf: log.logf(t)})
	waitSubscribers(t, name, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	p, err := topic.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	publishTopic(ctx, t, p, 0, n/2)
	// The server goes away while the first half is on its way.
	srv.stop()
	time.Sleep(300 * time.Millisecond)
	srv.start()
	waitConnected(t, nc)
	waitConnected(t, subConn)
	if err := subConn.Flush(); err != nil { // the server has the subscription again
		t.Fatal(err)
	}
	publishTopic(ctx, t, p, n/2, n)
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if err := wait(); err != nil {
		t.Fatal(err)
	}
	got, next := 0, uint64(0)
	for {
		m, err := sub.NextMsg(5 * time.Second)
		if err == nats.ErrTimeout {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		i, err := checkMsg(m.Data)
		if err != nil {
			t.Fatal(err)
		}
		if i < next {
			t.Fatalf("message %d after message %d: duplicated or reordered", i, next-1)
		}
		if from := max(next, n/2); i > from {
			t.Errorf("messages %d to %d, published after the bridge reconnected, are missing", from, i-1)
		}
		next = i + 1
		got++
	}
	t.Logf("%d of %d messages arrived; %s", got, n, &st)
	if next != n {
		t.Fatalf("the last message that arrived is %d, want %d", next-1, n-1)
	}
	if log.count("reconnected") == 0 {
		t.Error("no reconnection was logged")
	}
}

// waitConnected waits until nc is connected to the server again.
func waitConnected(t *testing.T, nc *nats.Conn) {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); !nc.IsConnected(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("not connected again a minute after the server restarted (%v)", nc.Status())
		}
	}
}
