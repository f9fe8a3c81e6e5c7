package natsbridge

// Crash tests: the test binary re-executes itself as the bridge process
// (the shmtest role "out" or "in", configured by its arguments), and the
// test SIGKILLs it at random points.

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/shmkit/shm/internal/shmtest"
	"github.com/shmkit/shm/queue"
)

func init() {
	for _, role := range []string{"out", "in", "produce"} {
		shmtest.Role(role, func(a shmtest.Args) int { return shmtest.ExitStatus(bridgeChild(role, a)) })
	}
}

func TestMain(m *testing.M) { shmtest.Main(m) }

// bridgeChild runs Out or In as its arguments configure it (url, queue or
// topic, subject, window, ack-wait-ms, count, log) until it ends or
// SIGTERM drains it.
func bridgeChild(role string, a shmtest.Args) error {
	atoi := func(k string) int { n, _ := strconv.Atoi(a[k]); return n }
	if role == "produce" {
		// Send the first count checked messages, say so and wait to be
		// killed, the queue left open.
		q, err := queue.Open(a["queue"])
		if err != nil {
			return err
		}
		n := atoi("count")
		var buf []byte
		for i := range uint64(n) {
			if buf = checkedMsg(buf, i, 48); q.TrySend(buf) != nil {
				return fmt.Errorf("message %d does not fit", i)
			}
		}
		fmt.Println("ready")
		time.Sleep(time.Hour)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	logf := func(format string, args ...any) { fmt.Fprintf(os.Stderr, role+": "+format+"\n", args...) }
	if path := a["log"]; path != "" {
		// The test reads the log lines of every bridge it killed: each
		// line is one write to a file opened for appending.
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
		if err != nil {
			return err
		}
		defer f.Close()
		stderr := logf
		logf = func(format string, args ...any) {
			stderr(format, args...)
			f.WriteString(fmt.Sprintf(format, args...) + "\n")
		}
	}
	nc, err := Connect(a["url"], "bridge child", logf)
	if err != nil {
		return err
	}
	defer nc.Close()
	fmt.Println("ready") // connected, SIGTERM handled
	cfg := Config{
		Queue:    a["queue"],
		Topic:    a["topic"],
		Subject:  a["subject"],
		Window:   atoi("window"),
		AckWait:  time.Duration(atoi("ack-wait-ms")) * time.Millisecond,
		Count:    int64(atoi("count")),
		Sequence: true,
		Logf:     logf,
	}
	if role == "out" {
		return Out(ctx, nc, cfg)
	}
	return In(ctx, nc, cfg)
}

// chaosTrials is how many times the crash tests kill the bridge: 50, or
// 300 with SHM_CHAOS=full.
func chaosTrials() (trials, messages int) {
	if os.Getenv("SHM_CHAOS") == "full" {
		return 300, 100_000
	}
	return 50, 20_000
}

// startChild starts the test binary as a bridge process in role with a
// and waits until it is connected.
func startChild(t *testing.T, role string, a shmtest.Args) *shmtest.Child {
	t.Helper()
	c := shmtest.Spawn(t, role, a)
	if _, ok := c.Expect("ready", time.Minute); !ok {
		c.KillWait()
		t.Fatalf("the bridge process was not ready within a minute; output:\n%s", c.Output())
	}
	return c
}

// waitChild waits up to d for the child to exit and fails the test when
// it does not, or exits with an error.
func waitChild(t *testing.T, c *shmtest.Child, d time.Duration) {
	t.Helper()
	if err := c.Wait(d); err != nil {
		t.Fatalf("the bridge process: %v", err)
	}
}

// killAfter SIGKILLs the child after d and reaps it.
func killAfter(c *shmtest.Child, d time.Duration) {
	time.Sleep(d)
	c.KillWait()
}

// TestOutKilled: the out bridge, SIGKILLed at random points and started
// again each time, leaves every message in the stream exactly once, in
// the queue's order (the duplicate window drops what a restarted bridge
// publishes again).
func TestOutKilled(t *testing.T) {
	shmtest.SkipShort(t)
	trials, n := chaosTrials()
	srv := startServer(t, 0)
	nc := srv.connect(t, nil)
	makeStream(t, nc, "KO", "ko.>")
	name := shmtest.Name(t, "")
	q, err := queue.Create(name, 8<<20)
	if err != nil {
		t.Fatal(err)
	}
	q.Close()
	p, err := queue.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	args := shmtest.Args{"url": srv.url(), "queue": name, "subject": "ko.m", "window": "64"}
	rnd := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	stream, err := js.Stream(ctx, "KO")
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
	var buf []byte
	next, busy := 0, 0
	for trial := range trials {
		before := stored()
		// Twice a trial's share: the bridge has work when it dies.
		for ; next < min(n, 2*n*(trial+1)/trials); next++ {
			buf = checkedMsg(buf, uint64(next), 48)
			if err := p.Send(ctx, buf); err != nil {
				t.Fatal(err)
			}
		}
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
		// At work: it had stored some and not all.
		if st, err := queue.Stat(name); err == nil && st.Messages > 0 && stored() > before {
			busy++
		}
	}
	for ; next < n; next++ {
		buf = checkedMsg(buf, uint64(next), 48)
		if err := p.Send(ctx, buf); err != nil {
			t.Fatal(err)
		}
	}
	p.Close()
	// The last bridge ends by itself: the queue is closed and drained.
	waitChild(t, startChild(t, "out", args), 5*time.Minute)
	readStream(t, nc, "KO", n)
	t.Logf("%d messages, %d kills, %d of them while publishing (some messages stored, others waiting)", n, trials, busy)
	if busy < trials/5 {
		t.Errorf("only %d of %d kills came while the bridge was publishing", busy, trials)
	}
}

// TestInKilled: the in bridge, SIGKILLed at random points and started
// again each time, sends every message of the stream into the queue at
// least once and in order; the redeliveries (sequences not above the last
// one received) are at most the deliveries outstanding (above the durable
// consumer's acknowledgement floor) each time a bridge started, and those
// at most Window.
func TestInKilled(t *testing.T) {
	shmtest.SkipShort(t)
	trials, n := chaosTrials()
	const window = 64
	srv := startServer(t, 0)
	nc := srv.connect(t, nil)
	stream := makeStream(t, nc, "KI", "ki.>")
	name := shmtest.Name(t, "")
	q, err := queue.Create(name, 8<<20)
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()

	var last uint64 // the highest stream sequence received
	dups := 0
	var buf []byte
	// drain takes what the queue holds and checks it.
	drain := func() {
		t.Helper()
		for {
			buf, err = q.TryReceive(buf)
			if err == queue.ErrEmpty {
				return
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
				t.Fatalf("after stream sequence %d the queue has %d: messages lost or out of order", last, seq)
			}
		}
	}
	args := shmtest.Args{"url": srv.url(), "queue": name, "subject": "ki.m", "window": strconv.Itoa(window), "ack-wait-ms": "250"}
	rnd := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 2))
	// outstanding is what a bridge starting now sends again at most: the
	// durable consumer's deliveries above its acknowledgement floor.
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
		// Not created yet, or killed while creating it again: then the
		// next bridge starts where the one before it would have.
		return prev
	}
	published, busy, bound, most := 0, 0, 0, 0
	for trial := range trials {
		// Twice a trial's share: the bridge has work when it dies.
		to := min(n, 2*n*(trial+1)/trials)
		publishRange(t, nc, "ki.m", published, to, 48)
		published = to
		before := last
		o := outstanding()
		bound, most = bound+o, max(most, o)
		cmd := startChild(t, "in", args)
		if trial%2 == 0 {
			// Killed at a random time, often while it sets up.
			time.Sleep(time.Duration(rnd.IntN(20_000)) * time.Microsecond)
		} else {
			// Killed after a random number of messages.
			k := uint64(1 + rnd.IntN(2*n/trials-1))
			for deadline := time.Now().Add(30 * time.Second); last < before+k && time.Now().Before(deadline); {
				drain()
				time.Sleep(200 * time.Microsecond)
			}
		}
		killAfter(cmd, 0)
		drain()
		// At work: it had sent some and not all.
		if last > before && last < uint64(published) {
			busy++
		}
	}
	publishRange(t, nc, "ki.m", published, n, 48)
	// The last bridge runs until the queue has everything, then drains on
	// SIGTERM.
	bound += outstanding()
	cmd := startChild(t, "in", args)
	deadline := time.Now().Add(5 * time.Minute)
	for last < uint64(n) && time.Now().Before(deadline) {
		drain()
		time.Sleep(time.Millisecond)
	}
	cmd.Cmd.Process.Signal(syscall.SIGTERM)
	waitChild(t, cmd, time.Minute)
	drain()
	if last != uint64(n) {
		t.Fatalf("the queue received stream sequences up to %d, want %d", last, n)
	}
	t.Logf("%d messages, %d kills (%d while sending: some messages sent, others pending), %d redeliveries into the queue; bound: %d deliveries outstanding at the starts, at most %d at one (Window %d)", n, trials, busy, dups, bound, most, window)
	if busy < trials/5 {
		t.Errorf("only %d of %d kills came while the bridge was sending", busy, trials)
	}
	if dups > bound || most > window {
		t.Errorf("%d redeliveries: more than the %d deliveries outstanding when the bridges started; at most %d outstanding at one start, more than Window %d", dups, bound, most, window)
	}
}

// TestOutProducerDies: the queue's producer is SIGKILLed without closing
// the queue; out waits for the next producer instead of failing, and the
// stream gets the messages of both.
func TestOutProducerDies(t *testing.T) {
	shmtest.SkipShort(t)
	const first, n = 100, 300
	srv := startServer(t, 0)
	var log eventLog
	nc := srv.connect(t, &log)
	makeStream(t, nc, "PD", "pd.>")
	name := shmtest.Name(t, "")
	q, err := queue.Create(name, 1<<16)
	if err != nil {
		t.Fatal(err)
	}
	q.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var st Stats
	done := make(chan error, 1)
	go func() { done <- Out(ctx, nc, Config{Queue: name, Subject: "pd.m", Stats: &st, Logf: log.logf(t)}) }()
	killAfter(startChild(t, "produce", shmtest.Args{"queue": name, "count": strconv.Itoa(first)}), 0)
	for deadline := time.Now().Add(time.Minute); log.count("producer died") == 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("out did not say that the producer died")
		}
	}
	p, err := queue.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	var buf []byte
	for i := uint64(first); i < n; i++ {
		if err := p.Send(ctx, checkedMsg(buf, i, 48)); err != nil {
			t.Fatal(err)
		}
	}
	p.Close()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	readStream(t, nc, "PD", n)
}
