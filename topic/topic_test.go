package topic

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shmkit/shm"
	"github.com/shmkit/shm/internal/shmtest"
)

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// newTopic creates a topic and closes it when the test ends.
func newTopic(t testing.TB, capacity int64, opts ...Option) (string, *Topic) {
	t.Helper()
	name := shmtest.Name(t, "")
	tp, err := Create(name, capacity, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tp.Close() })
	return name, tp
}

func open(t testing.TB, name string, opts ...Option) *Topic {
	t.Helper()
	tp, err := Open(name, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tp.Close() })
	return tp
}

func subscribe(t testing.TB, name string, opts ...Option) *Topic {
	t.Helper()
	s := open(t, name, opts...)
	if err := s.Subscribe(); err != nil {
		t.Fatal(err)
	}
	return s
}

func TestCreateRejects(t *testing.T) {
	for _, tc := range []struct {
		name     string
		capacity int64
		opts     []Option
	}{
		{"capacity not a power of two", 1000, nil},
		{"capacity too small", 128, nil},
		{"max message too large", 1024, []Option{MaxMessage(1024/2 - 31)}},
		{"no subscribers", 1024, []Option{Subscribers(0)}},
		{"too many subscribers", 1024, []Option{Subscribers(MaxSubscribers + 1)}},
		{"negative history", 1024, []Option{History(-1)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			name := shmtest.Name(t, "")
			_, err := Create(name, tc.capacity, tc.opts...)
			if !errors.Is(err, shm.ErrInvalid) {
				t.Fatalf("Create: %v, want shm.ErrInvalid", err)
			}
			var se *shm.Error
			if !errors.As(err, &se) || se.Op != "topic create" || se.Name != name {
				t.Fatalf("Create: %v, want a *shm.Error naming topic create and %s", err, name)
			}
		})
	}
}

func TestFanOutInProcess(t *testing.T) {
	ctx := ctxT(t)
	name, pub := newTopic(t, 1024, MaxMessage(200))
	subs := []*Topic{subscribe(t, name), subscribe(t, name), subscribe(t, name)}
	const n = 2000
	done := make(chan error, 1)
	go func() {
		for i := range n {
			msg := []byte(fmt.Sprintf("message %d %s", i, make([]byte, i%150)))
			if err := pub.Publish(ctx, msg); err != nil {
				done <- err
				return
			}
		}
		done <- pub.Close()
	}()
	errs := make(chan error, len(subs))
	for si, s := range subs {
		go func() {
			var buf []byte
			for i := 0; ; i++ {
				var err error
				buf, err = s.Receive(ctx, buf)
				if err == io.EOF {
					if i != n {
						err = fmt.Errorf("subscriber %d: EOF after %d messages, want %d", si, i, n)
					} else {
						err = nil
					}
					errs <- err
					return
				}
				if err != nil {
					errs <- fmt.Errorf("subscriber %d, message %d: %v", si, i, err)
					return
				}
				if want := fmt.Sprintf("message %d %s", i, make([]byte, i%150)); string(buf) != want {
					errs <- fmt.Errorf("subscriber %d, message %d: %q", si, i, buf)
					return
				}
			}
		}()
	}
	for range subs {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestLosslessWaitsForSlowest(t *testing.T) {
	ctx := ctxT(t)
	name, pub := newTopic(t, 1024)
	slow := subscribe(t, name)
	msg := make([]byte, 100)
	sent := 0
	for pub.TryPublish(msg) == nil {
		sent++
	}
	if sent == 0 || sent > 1024/112 {
		t.Fatalf("%d messages of 100 bytes fit a 1 KiB ring", sent)
	}
	if err := pub.TryPublish(msg); err != ErrFull {
		t.Fatalf("TryPublish on a full ring: %v, want ErrFull", err)
	}
	errc := make(chan error, 1)
	go func() { errc <- pub.Publish(ctx, msg) }()
	select {
	case err := <-errc:
		t.Fatalf("Publish did not wait for the slow subscriber: %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	if _, err := slow.Receive(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	// A subscriber that leaves stops holding the publisher back.
	if err := slow.Close(); err != nil {
		t.Fatal(err)
	}
	for range 100 {
		if err := pub.TryPublish(msg); err != nil {
			t.Fatalf("with no subscriber: %v", err)
		}
	}
}

func TestOverwriteLag(t *testing.T) {
	ctx := ctxT(t)
	name, pub := newTopic(t, 1024, Overwrite())
	sub := subscribe(t, name)
	const n = 100
	for i := range n {
		if err := pub.Publish(ctx, fmt.Appendf(nil, "%040d", i)); err != nil {
			t.Fatal(err)
		}
	}
	pub.Close()
	got, missed := 0, uint64(0)
	next := 0
	for {
		m, err := sub.Receive(ctx, nil)
		var lag *LaggedError
		switch {
		case err == io.EOF:
			if uint64(got)+missed != n {
				t.Fatalf("received %d + missed %d != published %d", got, missed, n)
			}
			if missed == 0 {
				t.Fatal("no message was missed")
			}
			return
		case errors.As(err, &lag):
			if !errors.Is(err, ErrLagged) {
				t.Fatalf("%v does not match ErrLagged", err)
			}
			missed += lag.Missed
			next += int(lag.Missed)
			continue
		case err != nil:
			t.Fatal(err)
		}
		if want := fmt.Sprintf("%040d", next); string(m) != want {
			t.Fatalf("got %q, want %q", m, want)
		}
		got++
		next++
	}
}

// TestHistory: where a joiner starts. While the ring still holds the
// topic's first message, with it; on a topic whose ring went round, with
// the next message, or the last History messages kept.
func TestHistory(t *testing.T) {
	ctx := ctxT(t)
	all := []string{"0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "late"}
	for _, tc := range []struct {
		name    string
		history int
		round   bool // the ring goes round before messages 0 to 9
		want    []string
	}{
		{"none", 0, true, []string{"late"}},
		{"three", 3, true, []string{"7", "8", "9", "late"}},
		{"none, first message kept", 0, false, all},
		{"three, first message kept", 3, false, all},
		{"more than kept", 50, false, all},
	} {
		t.Run(tc.name, func(t *testing.T) {
			name, pub := newTopic(t, 4096, History(tc.history), StartGrace(0))
			if tc.round {
				goRound(t, pub)
			}
			for i := range 10 {
				if err := pub.Publish(ctx, fmt.Appendf(nil, "%d", i)); err != nil {
					t.Fatal(err)
				}
			}
			sub := subscribe(t, name)
			if err := pub.Publish(ctx, []byte("late")); err != nil {
				t.Fatal(err)
			}
			pub.Close()
			var got []string
			for {
				m, err := sub.Receive(ctx, nil)
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, string(m))
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
		})
	}
}

// goRound publishes filler messages ("-") until the publisher has written
// over the topic's first message, so that joiners start at the live end.
func goRound(t testing.TB, pub *Topic) {
	t.Helper()
	for pub.oldest.Load() == 0 {
		if err := pub.Publish(ctxT(t), []byte("-")); err != nil {
			t.Fatal(err)
		}
	}
}

func TestZeroCopyAndBatches(t *testing.T) {
	ctx := ctxT(t)
	for _, over := range []bool{false, true} {
		t.Run(fmt.Sprint("overwrite=", over), func(t *testing.T) {
			var opts []Option
			if over {
				opts = append(opts, Overwrite())
			}
			name, pub := newTopic(t, 1<<16, opts...)
			sub := subscribe(t, name)
			b, err := pub.Reserve(ctx, 5)
			if err != nil {
				t.Fatal(err)
			}
			copy(b, "hello")
			if _, err := sub.TryReceive(nil); err != ErrEmpty {
				t.Fatalf("before Commit: %v, want ErrEmpty", err)
			}
			if err := pub.Commit(); err != nil {
				t.Fatal(err)
			}
			if err := pub.PublishBatch(ctx, [][]byte{[]byte("a"), {}, []byte("ccc")}); err != nil {
				t.Fatal(err)
			}
			p, err := sub.Peek(ctx)
			if err != nil || string(p) != "hello" {
				t.Fatalf("Peek: %q, %v", p, err)
			}
			if err := sub.Release(); err != nil {
				t.Fatal(err)
			}
			msgs := make([][]byte, 8)
			n, err := sub.ReceiveBatch(ctx, msgs)
			if err != nil || n != 3 || string(msgs[0]) != "a" || len(msgs[1]) != 0 || string(msgs[2]) != "ccc" {
				t.Fatalf("ReceiveBatch: %d %q, %v", n, msgs[:n], err)
			}
			if err := sub.Release(); err == nil {
				t.Fatal("Release without Peek: no error")
			}
		})
	}
}

func TestSecondPublisherBusy(t *testing.T) {
	ctx := ctxT(t)
	name, pub := newTopic(t, 1024)
	if err := pub.Publish(ctx, []byte("x")); err != nil {
		t.Fatal(err)
	}
	other := open(t, name)
	if err := other.Publish(ctx, []byte("y")); !errors.Is(err, ErrBusy) {
		t.Fatalf("second publisher: %v, want ErrBusy", err)
	}
	pub.Detach()
	if err := other.Publish(ctx, []byte("y")); err != nil {
		t.Fatalf("after the first detached: %v", err)
	}
}

func TestTableFull(t *testing.T) {
	name, _ := newTopic(t, 1024, Subscribers(2))
	subscribe(t, name)
	subscribe(t, name)
	s := open(t, name)
	if err := s.Subscribe(); !errors.Is(err, ErrBusy) {
		t.Fatalf("third subscriber of two: %v, want ErrBusy", err)
	}
}

// TestJoinWhilePublishing: subscribers join a lossless topic with history
// while a publisher fills its small ring as fast as it can. Each gets an
// unbroken run of messages that starts no later than the first message
// published after Subscribe returned, and no earlier than the history
// allows.
func TestJoinWhilePublishing(t *testing.T) {
	ctx := ctxT(t)
	const history = 8
	name, pub := newTopic(t, 1024, History(history))
	var published atomic.Uint64
	stop := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		var b [8]byte
		for i := uint64(0); ; i++ {
			select {
			case <-stop:
				done <- nil
				return
			default:
			}
			binary.LittleEndian.PutUint64(b[:], i)
			if err := pub.Publish(ctx, b[:]); err != nil {
				done <- err
				return
			}
			published.Store(i + 1)
		}
	}()
	for j := range 100 {
		s := open(t, name)
		before := published.Load()
		if err := s.Subscribe(); err != nil {
			t.Fatal(err)
		}
		after := published.Load()
		var first, prev uint64
		for k := range 50 {
			m, err := s.Receive(ctx, nil)
			if err != nil {
				t.Fatalf("joiner %d, message %d: %v", j, k, err)
			}
			n := binary.LittleEndian.Uint64(m)
			if k == 0 {
				first = n
				// Published before Subscribe began: at most history of
				// them (and one in flight); after it returned: none missed.
				if n+history+1 < before || n > after+1 {
					t.Fatalf("joiner %d started at message %d; %d were published before it joined, %d when it had", j, n, before, after)
				}
			} else if n != prev+1 {
				t.Fatalf("joiner %d: message %d after %d (started at %d)", j, n, prev, first)
			}
			prev = n
		}
		s.Close()
	}
	close(stop)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// TestOneWakeForAll: subscribers asleep on a topic are all woken by one
// publish, which makes one wake system call; a publish with nobody asleep
// makes none.
func TestOneWakeForAll(t *testing.T) {
	ctx := ctxT(t)
	name, pub := newTopic(t, 4096)
	if err := pub.Publish(ctx, []byte("before anyone listens")); err != nil {
		t.Fatal(err)
	}
	before := subscriberWakes.Load()
	if err := pub.Publish(ctx, []byte("nobody asleep")); err != nil {
		t.Fatal(err)
	}
	if n := subscriberWakes.Load() - before; n != 0 {
		t.Fatalf("a publish with no subscriber asleep made %d wake calls", n)
	}
	const n = 4
	got := make(chan string, n)
	for range n {
		s := subscribe(t, name, SpinTime(0))
		// The ring still holds the topic's first message, so a joiner
		// starts with it: read up to the live end first.
		for {
			_, err := s.TryReceive(nil)
			if err == ErrEmpty {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
		}
		go func() {
			m, err := s.Receive(ctx, nil)
			if err != nil {
				got <- err.Error()
				return
			}
			got <- string(m)
		}()
	}
	// Let every subscriber advertise its sleep.
	for pub.subWait.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond)
	before = subscriberWakes.Load()
	if err := pub.Publish(ctx, []byte("wake up")); err != nil {
		t.Fatal(err)
	}
	if w := subscriberWakes.Load() - before; w != 1 {
		t.Fatalf("one publish to %d sleeping subscribers made %d wake calls, want 1", n, w)
	}
	for range n {
		if m := <-got; m != "wake up" {
			t.Fatalf("a subscriber got %q", m)
		}
	}
}

// TestHoldBackEndsForPublisher: a subscriber's hold-back ends at once when
// a lossless publisher waits for it to move past its position, and runs
// its course when the publisher's target is one the subscriber passed.
func TestHoldBackEndsForPublisher(t *testing.T) {
	for _, c := range []struct {
		name      string
		want, pos uint64
		d         time.Duration
		at        time.Duration // how long the hold-back should take at least
		within    time.Duration // and at most
	}{
		{"the publisher waits for it", 200, 100, 15 * time.Second, 0, 10 * time.Second},
		{"a target it passed", 100, 200, 20 * time.Millisecond, 20 * time.Millisecond, 10 * time.Second},
		{"no publisher waiting", 0, 100, 20 * time.Millisecond, 20 * time.Millisecond, 10 * time.Second},
	} {
		t.Run(c.name, func(t *testing.T) {
			tp := &Topic{want: new(atomic.Uint64)}
			tp.want.Store(c.want)
			tp.s.pos = c.pos
			start := time.Now()
			tp.holdBack(c.d)
			if took := time.Since(start); took < c.at || took > c.within {
				t.Errorf("held back %v; want between %v and %v", took, c.at, c.within)
			}
		})
	}
}

// TestHoldBackEndsForPublisherStream: a lossless publisher streams through
// a ring of four messages to a subscriber in another goroutine; the
// subscriber's hold-backs after a run of messages (6 µs) outlast the
// publisher's filling the ring, and the publisher's wait must end them,
// through the subscriber's Receive, as TestHoldBackEndsForPublisher
// checks of holdBack alone. Every message arrives, in order. The two must
// run at once for a wait to meet a hold-back, so on a machine busy with
// other tests the stream goes on in runs of 5,000 messages until one is
// cut short, for up to ten seconds.
func TestHoldBackEndsForPublisherStream(t *testing.T) {
	if runtime.NumCPU() < 2 || runtime.GOMAXPROCS(0) < 2 {
		t.Skip("the publisher and the subscriber need a CPU each")
	}
	ctx := ctxT(t)
	const size, run = 1000, 5_000
	name, pub := newTopic(t, 4096)
	sub := subscribe(t, name)
	buf := make([]byte, 0, size)
	var next uint64 // the sequence of the next message
	for deadline := time.Now().Add(10 * time.Second); sub.s.cutShort == 0; {
		if time.Now().After(deadline) {
			t.Fatalf("no hold-back of the subscriber was cut short in %d messages through a ring of four", next)
		}
		errc := make(chan error, 1)
		go func(first uint64) {
			msg := make([]byte, size)
			for i := range uint64(run) {
				binary.LittleEndian.PutUint64(msg, first+i)
				if err := pub.Publish(ctx, msg); err != nil {
					errc <- err
					return
				}
			}
			errc <- nil
		}(next)
		for range run {
			m, err := sub.Receive(ctx, buf)
			if err != nil {
				t.Fatalf("message %d: %v", next, err)
			}
			if got := binary.LittleEndian.Uint64(m); len(m) != size || got != next {
				t.Fatalf("message %d arrived as %d (%d bytes)", next, got, len(m))
			}
			next++
		}
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("%d hold-backs cut short by the publisher's wait in %d messages", sub.s.cutShort, next)
}
