package natsbridge

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/shmkit/shm/internal/shmtest"
	"github.com/shmkit/shm/topic"
)

// TestOutTopicCore: without JetStream, out publishes a topic's messages
// as plain NATS messages: at most once. A subscriber gets them in order
// and never twice; across a server restart only messages around the
// broken connection may be missing, and everything published once the
// bridge and the subscriber are connected again arrives. The bridge ends
// when the topic's publisher closes it.
func TestOutTopicCore(t *testing.T) {
	shmtest.SkipShort(t)
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
