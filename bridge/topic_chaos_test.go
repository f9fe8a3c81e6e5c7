package natsbridge

import (
	"context"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/shmkit/shm/internal/shmtest"
	"github.com/shmkit/shm/topic"
)

// TestOutTopicKilled: the out bridge of a topic, SIGKILLed at random
// points and started again each time, leaves every message in the stream
// exactly once and in the topic's order: each bridge resumes after the
// last message the stream holds, which the topic still holds (its ring
// takes every message of the test), and the duplicate window drops what
// a dead bridge's publishes in flight stored after that. The first bridge
// joins with the topic's history, so that nothing published before it
// is lost either.
func TestOutTopicKilled(t *testing.T) {
	shmtest.SkipShort(t)
	trials, n := chaosTrials()
	srv := startServer(t, 0)
	nc := srv.connect(t, nil)
	makeStream(t, nc, "KTO", "kto.>")
	name := createTopic(t, 16<<20, topic.History(n))
	p, err := topic.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	args := shmtest.Args{"url": srv.url(), "topic": name, "subject": "kto.m", "window": "64"}
	rnd := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 3))
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	stream, err := js.Stream(ctx, "KTO")
	if err != nil {
		t.Fatal(err)
	}
	stored := func() uint64 {
		info, err := stream.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return info.State.Msgs
	}
	next, busy := 0, 0
	for trial := range trials {
		before := stored()
		// Twice a trial's share: the bridge has work when it dies.
		to := min(n, 2*n*(trial+1)/trials)
		publishTopic(ctx, t, p, next, to)
		next = to
		cmd := startChild(t, "out", args)
		if trial%2 == 0 {
			// Killed at a random time, often while it sets up.
			time.Sleep(time.Duration(rnd.IntN(20_000)) * time.Microsecond)
		} else {
			// Killed after a random number of messages.
			k := uint64(1 + rnd.IntN(n/trials))
			for deadline := time.Now().Add(30 * time.Second); stored() < before+k && time.Now().Before(deadline); {
				time.Sleep(200 * time.Microsecond)
			}
		}
		killAfter(cmd, 0)
		if s := stored(); s > before && s < uint64(next) {
			busy++
		}
	}
	publishTopic(ctx, t, p, next, n)
	p.Close()
	// The last bridge ends by itself: the topic is closed and read.
	waitChild(t, startChild(t, "out", args), 5*time.Minute)
	readStream(t, nc, "KTO", n)
	t.Logf("%d messages, %d kills, %d of them while publishing (some messages stored, others waiting)", n, trials, busy)
	if busy < trials/5 {
		t.Errorf("only %d of %d kills came while the bridge was publishing", busy, trials)
	}
}

// TestOutTopicKilledGaps: the out bridge of a topic whose ring is too
// small to keep what is published while no bridge runs, SIGKILLed at
// random points and started again each time: the stream holds each
// message at most once, in order, and the messages it lacks are exactly
// the ones the bridges reported missed (the numbers in their log lines),
// except those published before the first message the stream holds,
// which a bridge that finds none of the topic's messages in the stream
// does not know of.
func TestOutTopicKilledGaps(t *testing.T) {
	shmtest.SkipShort(t)
	trials, n := chaosTrials()
	srv := startServer(t, 0)
	nc := srv.connect(t, nil)
	makeStream(t, nc, "KTG", "ktg.>")
	const capacity = 32 << 10 // about 600 messages of the 800 a trial publishes
	name := createTopic(t, capacity, topic.History(capacity/16))
	p, err := topic.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	logPath := filepath.Join(t.TempDir(), "bridges.log")
	args := shmtest.Args{"url": srv.url(), "topic": name, "subject": "ktg.m", "window": "64", "log": logPath}
	rnd := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 5))
	next := 0
	for trial := range trials {
		// A trial's share and then some, published with no bridge
		// running: the publisher writes over what the ring cannot keep.
		to := min(n, 2*n*(trial+1)/trials)
		publishTopic(ctx, t, p, next, to)
		next = to
		cmd := startChild(t, "out", args)
		time.Sleep(time.Duration(rnd.IntN(50_000)) * time.Microsecond)
		killAfter(cmd, 0)
	}
	publishTopic(ctx, t, p, next, n)
	p.Close()
	waitChild(t, startChild(t, "out", args), 5*time.Minute)

	indices := streamIndices(t, nc, "KTG", topicID(t, name))
	gaps(t, indices, n) // in order, each at most once, up to the last
	inStream := make(map[uint64]bool, len(indices))
	for _, i := range indices {
		inStream[i] = true
	}
	log, err := os.ReadFile(logPath)
	if err != nil {
		t.Fatal(err)
	}
	reported := map[uint64]bool{}
	lines := regexp.MustCompile(`missed (\d+) messages? \(numbers (\d+) to (\d+)\)`).FindAllStringSubmatch(string(log), -1)
	for _, m := range lines {
		k, _ := strconv.ParseUint(m[1], 10, 64)
		from, _ := strconv.ParseUint(m[2], 10, 64)
		to, _ := strconv.ParseUint(m[3], 10, 64)
		if to+1-from != k {
			t.Fatalf("log line %q: the numbers do not make the count", m[0])
		}
		for i := from; i <= to; i++ {
			reported[i] = true
		}
	}
	missing := 0
	for i := indices[0]; i < uint64(n); i++ {
		if !inStream[i] {
			missing++
			if !reported[i] {
				t.Fatalf("message %d is not in the stream, and no bridge reported it missed", i)
			}
		} else if reported[i] {
			t.Fatalf("message %d is in the stream, and a bridge reported it missed", i)
		}
	}
	t.Logf("%d messages, %d kills; the stream holds %d from message %d on, %d missing, all reported (%d log lines)", n, trials, len(indices), indices[0], missing, len(lines))
	if missing == 0 {
		t.Error("no message was missed: the test did not test the report")
	}
}

// TestInTopicKilled: the in bridge of a topic (its publisher), SIGKILLed
// at random points and started again each time, publishes every message
// of the stream to the topic at least once and in order; the redeliveries
// are at most the durable consumer's deliveries outstanding each time a
// bridge started, and those at most Window. Each bridge takes over the
// publisher role of the one killed before it.
func TestInTopicKilled(t *testing.T) {
	shmtest.SkipShort(t)
	trials, n := chaosTrials()
	const window = 64
	srv := startServer(t, 0)
	nc := srv.connect(t, nil)
	stream := makeStream(t, nc, "KTI", "kti.>")
	name := createTopic(t, 1<<20)
	s, err := topic.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Subscribe(); err != nil {
		t.Fatal(err)
	}

	var last uint64 // the highest stream sequence received
	dups := 0
	var buf []byte
	drain := func() {
		t.Helper()
		for {
			buf, err = s.TryReceive(buf)
			if err == topic.ErrEmpty {
				return
			}
			if errors.Is(err, topic.ErrPeerDead) {
				return // the next bridge takes over
			}
			if err != nil {
				t.Fatal(err)
			}
			seq, payload, err := Unframe(buf)
			if err != nil {
				t.Fatal(err)
			}
			i, err := checkMsg(payload)
			if err != nil {
				t.Fatal(err)
			}
			if i != seq-1 {
				t.Fatalf("stream sequence %d holds checked message %d", seq, i)
			}
			switch {
			case seq <= last:
				dups++
			case seq == last+1:
				last = seq
			default:
				t.Fatalf("after stream sequence %d the topic has %d: messages lost or out of order", last, seq)
			}
		}
	}
	args := shmtest.Args{"url": srv.url(), "topic": name, "subject": "kti.m", "window": strconv.Itoa(window), "ack-wait-ms": "250"}
	rnd := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 4))
	prev := 0
	outstanding := func() int {
		c, err := stream.Consumer(context.Background(), DurableFor(name))
		if err == nil {
			var info *jetstream.ConsumerInfo
			if info, err = c.Info(context.Background()); err == nil {
				prev = int(info.Delivered.Stream - info.AckFloor.Stream)
				return prev
			}
		}
		if !errors.Is(err, jetstream.ErrConsumerNotFound) {
			t.Fatal(err)
		}
		return prev
	}
	published, busy, bound, most := 0, 0, 0, 0
	for trial := range trials {
		to := min(n, 2*n*(trial+1)/trials)
		publishRange(t, nc, "kti.m", published, to, 48)
		published = to
		before := last
		o := outstanding()
		bound, most = bound+o, max(most, o)
		cmd := startChild(t, "in", args)
		if trial%2 == 0 {
			time.Sleep(time.Duration(rnd.IntN(20_000)) * time.Microsecond)
		} else {
			k := uint64(1 + rnd.IntN(2*n/trials-1))
			for deadline := time.Now().Add(30 * time.Second); last < before+k && time.Now().Before(deadline); {
				drain()
				time.Sleep(200 * time.Microsecond)
			}
		}
		killAfter(cmd, 0)
		drain()
		if last > before && last < uint64(published) {
			busy++
		}
	}
	publishRange(t, nc, "kti.m", published, n, 48)
	bound += outstanding()
	cmd := startChild(t, "in", args)
	for deadline := time.Now().Add(5 * time.Minute); last < uint64(n) && time.Now().Before(deadline); {
		drain()
		time.Sleep(time.Millisecond)
	}
	cmd.Cmd.Process.Signal(syscall.SIGTERM)
	waitChild(t, cmd, time.Minute)
	drain()
	if last != uint64(n) {
		t.Fatalf("the topic received stream sequences up to %d, want %d", last, n)
	}
	t.Logf("%d messages, %d kills (%d while publishing), %d redeliveries into the topic; bound: %d deliveries outstanding at the starts, at most %d at one (Window %d)", n, trials, busy, dups, bound, most, window)
	if busy < trials/5 {
		t.Errorf("only %d of %d kills came while the bridge was publishing", busy, trials)
	}
	if dups > bound || most > window {
		t.Errorf("%d redeliveries: more than the %d deliveries outstanding when the bridges started; at most %d outstanding at one start, more than Window %d", dups, bound, most, window)
	}
}
