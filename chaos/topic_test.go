//go:build linux

package chaos

import (
	"context"
	"errors"
	"io"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/shmkit/shm/internal/shmtest"
	"github.com/shmkit/shm/topic"
)

func init() {
	shmtest.Role("topic-sub", topicSubscriber)
	shmtest.Role("topic-victim", topicVictim)
	shmtest.Role("topic-pub-loop", topicPublishLoop)
}

// topicSubscriber subscribes to a["name"], says "ready", and receives until
// io.EOF, checking every message (whole, and each publisher's in order from
// its first, with the lags an overwrite topic reports counted as missed).
// It reports "got=N missed=M".
func topicSubscriber(a shmtest.Args) int {
	t, err := topic.Open(a["name"])
	if err != nil {
		say("open: %v", err)
		return shmtest.ExitFail
	}
	defer t.Close()
	if err := t.Subscribe(); err != nil {
		say("subscribe: %v", err)
		return shmtest.ExitFail
	}
	say("ready")
	ctx := context.Background()
	next := map[uint32]uint64{}
	var got, missed uint64
	var pending uint64 // missed messages not yet placed in a publisher's order
	buf := make([]byte, 0, 64<<10)
	for {
		m, err := t.Receive(ctx, buf)
		var lag *topic.LaggedError
		switch {
		case err == io.EOF:
			say("got=%d missed=%d", got, missed)
			return shmtest.ExitOK
		case errors.As(err, &lag):
			missed += lag.Missed
			pending += lag.Missed
			continue
		case err != nil:
			say("UNEXPECTED receive error after %d messages: %v", got, err)
			return shmtest.ExitFail
		}
		info, err := decodeMsg(m)
		if err != nil {
			say("TORN message %d: %v", got, err)
			return shmtest.ExitFail
		}
		want, seen := next[info.id]
		switch {
		case !seen && len(next) == 0:
			// The first message: where this subscriber started (a lag
			// before it counts from the start, which was not known).
			pending = 0
		case pending > 0 && info.seq >= want && info.seq-want == pending:
			pending = 0
		case info.seq != want:
			say("ORDER publisher %d: message %d came when %d was due (pending missed %d)", info.id, info.seq, want, pending)
			return shmtest.ExitFail
		}
		next[info.id] = info.seq + 1
		got++
	}
}

// topicVictim subscribes to a["name"], says "ready", receives a["read"]
// messages and then stops reading, holding its entry until it is killed.
func topicVictim(a shmtest.Args) int {
	t, err := topic.Open(a["name"])
	if err != nil {
		say("open: %v", err)
		return shmtest.ExitFail
	}
	if err := t.Subscribe(); err != nil {
		say("subscribe: %v", err)
		return shmtest.ExitFail
	}
	say("ready")
	var buf []byte
	for range a.Int("read") {
		if buf, err = t.Receive(context.Background(), buf); err != nil {
			say("receive: %v", err)
			return shmtest.ExitFail
		}
	}
	say("stalled")
	time.Sleep(time.Hour)
	return shmtest.ExitOK
}

// topicPublishLoop publishes checked messages as publisher a["id"] on
// a["name"] for ever, one at a time, in batches, and through Reserve with
// the message written in two halves, until it is killed.
func topicPublishLoop(a shmtest.Args) int {
	t, err := topic.Open(a["name"])
	if err != nil {
		say("open: %v", err)
		return shmtest.ExitFail
	}
	id := uint32(a.Int("id"))
	r := roleRand()
	ctx := context.Background()
	bufs := make([][]byte, 8)
	for i := range bufs {
		bufs[i] = make([]byte, msgHeader+1000)
	}
	say("ready")
	for seq := uint64(0); ; {
		var err error
		switch r.IntN(3) {
		case 0:
			err = t.Publish(ctx, encodeMsg(bufs[0], id, seq, r.IntN(1001)))
			seq++
		case 1:
			batch := make([][]byte, 1+r.IntN(8))
			for i := range batch {
				batch[i] = encodeMsg(bufs[i], id, seq, r.IntN(1001))
				seq++
			}
			err = t.PublishBatch(ctx, batch)
		default:
			m := encodeMsg(bufs[0], id, seq, r.IntN(1001))
			var b []byte
			if b, err = t.Reserve(ctx, len(m)); err == nil {
				copy(b[:len(m)/2], m)
				copy(b[len(m)/2:], m[len(m)/2:])
				err = t.Commit()
			}
			seq++
		}
		if err != nil {
			say("publish: %v", err)
			return shmtest.ExitFail
		}
	}
}

// TestTopicSubscriberKill: subscribers of a lossless topic are killed at
// random points, most of them while they hold the publisher back, while
// two steady subscriber processes read everything. After each death the
// publisher is held back for at most about a second (the promise, checked
// with slack for a loaded machine), and the steady subscribers get every
// message, whole and in order.
func TestTopicSubscriberKill(t *testing.T) {
	n := trials(5, 100)
	r := newRand(t)
	name := shmtest.Name(t, "")
	pub, err := topic.Create(name, 1<<16, topic.MaxMessage(msgHeader+1000))
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	var steady []*shmtest.Child
	for range 2 {
		p := shmtest.Spawn(t, "topic-sub", shmtest.Args{"name": name})
		if _, ok := p.Expect("ready", 10*time.Second); !ok {
			t.Fatalf("subscriber not ready: %s", p.Output())
		}
		steady = append(steady, p)
	}

	var published atomic.Uint64
	stop := make(chan struct{})
	pubErr := make(chan error, 1)
	go func() {
		buf := make([]byte, msgHeader+1000)
		ctx := context.Background()
		pr := newRand(t)
		for seq := uint64(0); ; seq++ {
			select {
			case <-stop:
				pubErr <- pub.Close()
				return
			default:
			}
			if err := pub.Publish(ctx, encodeMsg(buf, 1, seq, pr.IntN(1001))); err != nil {
				pubErr <- err
				return
			}
			published.Add(1)
		}
	}()

	var worst time.Duration
	for trial := range n {
		v := shmtest.Spawn(t, "topic-victim", shmtest.Args{"name": name, "read": itoa(r.IntN(200))})
		if _, ok := v.Expect("ready", 10*time.Second); !ok {
			t.Fatalf("trial %d: victim not ready: %s", trial, v.Output())
		}
		time.Sleep(time.Duration(r.IntN(30_000)) * time.Microsecond)
		v.KillWait()
		killed := time.Now()
		// Twice the ring's worth of the largest messages: the publisher
		// must have gone past where the victim stopped.
		target := published.Load() + 2*(1<<16)/(msgHeader+16)
		for published.Load() < target {
			if time.Since(killed) > 10*time.Second {
				t.Fatalf("trial %d: the publisher has not moved 10 s after the victim's death", trial)
			}
			time.Sleep(time.Millisecond)
		}
		worst = max(worst, time.Since(killed))
	}
	close(stop)
	if err := <-pubErr; err != nil {
		t.Fatalf("publisher: %v", err)
	}
	total := published.Load()
	for i, p := range steady {
		if !p.Finish(60 * time.Second) {
			continue
		}
		var got, missed int
		if _, err := sscanKV(lastLine(p.Output(), "got="), "got", &got, "missed", &missed); err != nil {
			t.Fatalf("subscriber %d: %v\n%s", i, err, p.Output())
		}
		if uint64(got) != total || missed != 0 {
			t.Errorf("steady subscriber %d: got %d, missed %d; want all %d", i, got, missed, total)
		}
	}
	if worst > time.Second+500*time.Millisecond {
		t.Errorf("the publisher was held back %v after a subscriber's death, want about a second at most", worst)
	}
	t.Logf("SUMMARY topic subscriber kill: trials=%d, %d messages to 2 steady subscribers, none lost; longest hold-up after a death %v (promise: 1 s)", n, total, worst.Round(time.Millisecond))
}

// TestTopicPublisherKill: publishers are killed at random points (in the
// middle of a copy, a batch, a message written in place); a subscriber
// gets whole messages only, each publisher's in order without a gap,
// then ErrPeerDead within a second, and the next publisher goes on.
func TestTopicPublisherKill(t *testing.T) {
	n := trials(5, 100)
	r := newRand(t)
	name := shmtest.Name(t, "")
	creator, err := topic.Create(name, 1<<14, topic.MaxMessage(msgHeader+1000))
	if err != nil {
		t.Fatal(err)
	}
	defer creator.Close()
	sub, err := topic.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	if err := sub.Subscribe(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := withTimeout(10 * time.Minute)
	defer cancel()
	var total int
	var slowest time.Duration
	buf := make([]byte, 0, 64<<10)
	for trial := range n {
		p := shmtest.Spawn(t, "topic-pub-loop", shmtest.Args{"name": name, "id": itoa(trial)})
		if _, ok := p.Expect("ready", 10*time.Second); !ok {
			t.Fatalf("trial %d: publisher not ready: %s", trial, p.Output())
		}
		var mu sync.Mutex
		var killed time.Time
		delay := time.Duration(r.IntN(20_000)) * time.Microsecond
		go func() {
			time.Sleep(delay)
			mu.Lock()
			killed = time.Now()
			mu.Unlock()
			p.Kill()
		}()
		next := uint64(0)
		for {
			m, err := sub.Receive(ctx, buf)
			if errors.Is(err, topic.ErrPeerDead) {
				mu.Lock()
				d := time.Since(killed)
				mu.Unlock()
				slowest = max(slowest, d)
				if d > time.Second+500*time.Millisecond {
					t.Errorf("trial %d: ErrPeerDead %v after the kill, want within about a second", trial, d)
				}
				break
			}
			if err != nil {
				t.Fatalf("trial %d: %v", trial, err)
			}
			info, err := decodeMsg(m)
			if err != nil {
				t.Fatalf("trial %d, message %d: %v", trial, next, err)
			}
			if int(info.id) != trial || info.seq != next {
				t.Fatalf("trial %d: message %d of publisher %d came when %d of %d was due", trial, info.seq, info.id, next, trial)
			}
			next++
			total++
		}
		p.ExitCode(10 * time.Second)
	}
	t.Logf("SUMMARY topic publisher kill: trials=%d, %d messages received whole and in order, 0 torn; ErrPeerDead at most %v after a kill", n, total, slowest.Round(time.Millisecond))
}

// TestTopicOverwriteStop: a subscriber of an overwrite topic is stopped
// (SIGSTOP) and continued at random while the publisher laps it; at the
// end it has received every message whole, in order, and received +
// missed == published.
func TestTopicOverwriteStop(t *testing.T) {
	n := trials(3, 30)
	r := newRand(t)
	var totalGot, totalMissed int
	for trial := range n {
		name := shmtest.Name(t, "")
		pub, err := topic.Create(name, 1<<13, topic.Overwrite(), topic.MaxMessage(msgHeader+1000))
		if err != nil {
			t.Fatal(err)
		}
		p := shmtest.Spawn(t, "topic-sub", shmtest.Args{"name": name})
		if _, ok := p.Expect("ready", 10*time.Second); !ok {
			t.Fatalf("subscriber not ready: %s", p.Output())
		}
		buf := make([]byte, msgHeader+1000)
		ctx := context.Background()
		published := 0
		for range 5 {
			for range r.IntN(3000) {
				if err := pub.Publish(ctx, encodeMsg(buf, 1, uint64(published), r.IntN(1001))); err != nil {
					t.Fatal(err)
				}
				published++
			}
			p.Cmd.Process.Signal(syscall.SIGSTOP)
			for range r.IntN(3000) {
				if err := pub.Publish(ctx, encodeMsg(buf, 1, uint64(published), r.IntN(1001))); err != nil {
					t.Fatal(err)
				}
				published++
			}
			p.Cmd.Process.Signal(syscall.SIGCONT)
		}
		pub.Close()
		if !p.Finish(60 * time.Second) {
			continue
		}
		var got, missed int
		if _, err := sscanKV(lastLine(p.Output(), "got="), "got", &got, "missed", &missed); err != nil {
			t.Fatalf("trial %d: %v\n%s", trial, err, p.Output())
		}
		if got+missed != published {
			t.Errorf("trial %d: received %d + missed %d = %d, published %d", trial, got, missed, got+missed, published)
		}
		totalGot += got
		totalMissed += missed
	}
	t.Logf("SUMMARY topic overwrite stop: trials=%d, %d received + %d missed == published in every trial, 0 torn", n, totalGot, totalMissed)
}
