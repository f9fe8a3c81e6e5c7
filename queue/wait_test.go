package queue

import (
	"bytes"
	"context"
	"errors"
	"io"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shmkit/shm/internal/mem"
	"github.com/shmkit/shm/internal/slip"
)

// TestWakeUpPaysOneBarrier puts a consumer to sleep on an empty queue again
// and again and wakes it with a message each time. Going to sleep costs a
// membarrier (mem.Heavy, tens of microseconds on some VMs); a waiter that
// the message woke must take the message without paying for another.
func TestWakeUpPaysOneBarrier(t *testing.T) {
	if !mem.Asymmetric() {
		t.Skip("membarrier is not available: waiters do not use it")
	}
	const wakeUps = 20
	_, p, c := pair(t, 4096, SpinTime(time.Microsecond))
	ctx := ctxT(t)
	got := make(chan error)
	before := mem.HeavyCalls()
	go func() {
		for range wakeUps {
			_, err := c.Receive(ctx, nil)
			got <- err
		}
	}()
	for i := range wakeUps {
		// The consumer advertises that it sleeps before its barrier and
		// its futex wait; give it time to get into the wait.
		for c.consWait.Load() == 0 {
			if ctx.Err() != nil {
				t.Fatalf("wake-up %d: the consumer never went to sleep", i)
			}
			time.Sleep(100 * time.Microsecond)
		}
		time.Sleep(2 * time.Millisecond)
		if err := p.Send(ctx, []byte{byte(i)}); err != nil {
			t.Fatal(err)
		}
		if err := <-got; err != nil {
			t.Fatalf("wake-up %d: %v", i, err)
		}
	}
	// One barrier per sleep; a few more if the futex wait returned early
	// (a signal) and the waiter went round again.
	if n := mem.HeavyCalls() - before; n < wakeUps || n > wakeUps+wakeUps/4 {
		t.Errorf("%d barriers for %d sleeps and wake-ups, want %d (a few more at most)", n, wakeUps, wakeUps)
	}
}

// TestWaitingConsumerSeesEachEnd lets a consumer wait on an empty queue,
// with each wait strategy, and then ends its wait each way there is: a
// message (one that fits, one behind a wrap record, one from a
// multi-producer queue, one taken by Peek), the producer's Close or Abort,
// and the context's end. A spinning consumer first glances at the header
// word and then waits on it through await's watch; each must hand the
// wait to the code that decides, whatever ended it.
func TestWaitingConsumerSeesEachEnd(t *testing.T) {
	msg := bytes.Repeat([]byte{7}, 100) // a 112-byte record
	ends := []struct {
		name  string
		multi bool
		// prime runs before the consumer waits; end ends its wait.
		prime func(t *testing.T, p, c *Queue)
		end   func(p *Queue, cancel context.CancelFunc) error
		peek  bool
		want  error
	}{
		{name: "message", end: func(p *Queue, _ context.CancelFunc) error { return p.TrySend(msg) }},
		{name: "message behind a wrap record", prime: func(t *testing.T, p, c *Queue) {
			// Two records leave head 32 bytes before the ring's end, too
			// few for the next one.
			for range 2 {
				if err := p.TrySend(msg); err != nil {
					t.Fatal(err)
				}
				if _, err := c.TryReceive(nil); err != nil {
					t.Fatal(err)
				}
			}
		}, end: func(p *Queue, _ context.CancelFunc) error { return p.TrySend(msg) }},
		{name: "multi-producer message", multi: true, end: func(p *Queue, _ context.CancelFunc) error { return p.TrySend(msg) }},
		{name: "message to Peek", peek: true, end: func(p *Queue, _ context.CancelFunc) error { return p.TrySend(msg) }},
		{name: "Close", end: func(p *Queue, _ context.CancelFunc) error { return p.Close() }, want: io.EOF},
		{name: "Abort", end: func(p *Queue, _ context.CancelFunc) error { return p.Abort() }, want: ErrAborted},
		{name: "context", end: func(_ *Queue, cancel context.CancelFunc) error { cancel(); return nil }, want: context.Canceled},
	}
	for _, s := range []WaitStrategy{Spin, SpinThenSleep, Block} {
		for _, e := range ends {
			t.Run(s.String()+"/"+e.name, func(t *testing.T) {
				opts := []Option{Wait(s)}
				if e.multi {
					opts = append(opts, MultiProducer())
				}
				_, p, c := pair(t, 256, opts...)
				if err := p.BecomeProducer(); err != nil {
					t.Fatal(err)
				}
				if e.prime != nil {
					e.prime(t, p, c)
				}
				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
				defer cancel()
				got := make(chan []byte, 1)
				errc := make(chan error, 1)
				go func() {
					var m []byte
					var err error
					if e.peek {
						m, err = c.Peek(ctx)
						m = bytes.Clone(m)
					} else {
						m, err = c.Receive(ctx, nil)
					}
					got <- m
					errc <- err
				}()
				// Long enough for the consumer to get past its glance and
				// into await; the results do not depend on it.
				time.Sleep(20 * time.Millisecond)
				if err := e.end(p, cancel); err != nil {
					t.Fatal(err)
				}
				m, err := <-got, <-errc
				switch {
				case e.want == nil && (err != nil || !bytes.Equal(m, msg)):
					t.Fatalf("got %d bytes, %v; want the %d-byte message", len(m), err, len(msg))
				case e.want != nil && !errors.Is(err, e.want):
					t.Fatalf("got %v, want %v", err, e.want)
				}
			})
		}
	}
}

// playSteps plays steps on q, a consumer at ring offset 0, far from the
// end of a large ring: t takes a message, G is a glance that finds one at
// once, g one that finds none, w a wait the long way.
func playSteps(t *testing.T, q *Queue, steps string) {
	t.Helper()
	for _, s := range steps {
		switch s {
		case 't':
			q.c.takes++
		case 'G', 'g':
			if s == 'G' {
				q.words[0].Store(1)
			}
			if got := q.glance(); got != (s == 'G') {
				t.Fatalf("glance() = %v in %q", got, steps)
			}
			q.words[0].Store(0)
		case 'w':
			q.holdBack()
		default:
			t.Fatalf("step %q in %q", s, steps)
		}
	}
}

// TestGlanceAlso: besides the header's word, a glance loads the ring's
// first word near the ring's end, and the first word of the next line
// after a record of at most two lines; nothing else, and never past the
// ring's end.
func TestGlanceAlso(t *testing.T) {
	const capacity = 4096
	q := &Queue{words: make([]atomic.Uint64, capacity/8), geometry: geometry{capacity: capacity}, wrapZone: 200}
	for _, c := range []struct {
		name    string
		off     uint64 // ring offset of the glance
		lastRec uint64 // ring bytes of the last message taken
		want    int    // index into words, or -1 for none
	}{
		{"no message yet", 8, 0, 8},
		{"after 64 B", 72, 72, 16},
		{"after 120 B, on a line's start", 128, 128, 24},
		{"after 128 B", 136, 136, -1},
		{"after 1 KiB", 1032, 1032, -1},
		{"near the end, after 64 B", capacity - 72, 72, 0},
		{"near the end, after 1 KiB", capacity - 136, 1032, 0},
		{"in the last line", capacity - 64, 72, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			q.c.lastRec = c.lastRec
			got := q.glanceAlso(c.off)
			switch {
			case c.want < 0 && got != nil:
				t.Errorf("glanceAlso(%d) loads word %d, want none", c.off, wordIndex(q, got))
			case c.want >= 0 && got != &q.words[c.want]:
				t.Errorf("glanceAlso(%d) loads word %d, want %d", c.off, wordIndex(q, got), c.want)
			}
		})
	}
	q.wrapZone = 8
	q.c.lastRec = 72
	if got := q.glanceAlso(capacity - 56); got != nil {
		t.Errorf("in the last line, a narrow wrap zone: glanceAlso loads word %d, want none", wordIndex(q, got))
	}
}

// wordIndex is w's index in q.words, or -1.
func wordIndex(q *Queue, w *atomic.Uint64) int {
	for i := range q.words {
		if &q.words[i] == w {
			return i
		}
	}
	return -1
}

// TestGlanceLen: after a glance that found nothing, or found its message
// late, a consumer that took one message or none since glances longer, as
// a requester's or a server's should; one that found its message at once,
// or took several since, as a consumer in mid-stream does, keeps the
// short glance.
func TestGlanceLen(t *testing.T) {
	const short, long = 4, 16
	for _, c := range []struct {
		name  string
		steps string // as for playSteps
		want  int
	}{
		{"the first glance", "", short},
		{"a reply found at once", "tGt", short},
		{"a reply after a failed glance", "tGtgt", long},
		{"nothing, then nothing again", "g", long},
		{"a stream that stalled goes on", "tGtttgttt", short},
		{"a reply at once after a late glance", "tgtGt", short},
	} {
		t.Run(c.name, func(t *testing.T) {
			q := &Queue{cfg: newConfig(nil), words: make([]atomic.Uint64, 4096/8), geometry: geometry{capacity: 4096}, prodWait: new(atomic.Uint32), glances: short, lateGlances: long}
			playSteps(t, q, c.steps)
			if got := q.glanceLen(); got != c.want {
				t.Errorf("after %q: glanceLen() = %d, want %d", c.steps, got, c.want)
			}
		})
	}
}

// TestGlanceLooks: a handle glances when it spins, and glances longer
// after a late glance only when it spins long enough for it.
func TestGlanceLooks(t *testing.T) {
	for _, c := range []struct {
		name        string
		opts        []Option
		short, late int
	}{
		{"the default", nil, glanceLooks, lateLooks},
		{"Spin", []Option{Wait(Spin)}, glanceLooks, lateLooks},
		{"a short spin", []Option{SpinTime(lateSpin / 2)}, glanceLooks, glanceLooks},
		{"Block", []Option{Wait(Block)}, 0, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, _, q := pair(t, 4096, c.opts...)
			if q.glances != c.short || q.lateGlances != c.late {
				t.Errorf("glances %d, %d; want %d, %d", q.glances, q.lateGlances, c.short, c.late)
			}
		})
	}
}

// TestHoldBackCounts: every wait for data, a glance or the long way,
// begins with the hold-back rule (package internal/slip): a consumer that
// took two or more messages since its last wait holds back before it
// looks, a requester that finds each reply after one glance never does,
// and the long way after a glance counts from the glance.
func TestHoldBackCounts(t *testing.T) {
	for _, c := range []struct {
		name  string
		opts  []Option
		steps string        // as for playSteps
		want  time.Duration // held back over the steps
	}{
		{"a reply after each glance", nil, "wtGtGtGtGtg", 0},
		{"a stream, then a failed glance", nil, "wtttttg", slip.Max},
		{"a stream, then a glance that finds the next message", nil, "wtttttG", slip.Max},
		{"a stream, then a wait the long way", nil, "wttw", slip.Max},
		{"one message, then a failed glance", nil, "wtg", 0},
		{"a stream caught up twice", nil, "wtttGtttGtg", 2 * slip.Max},
		{"a stream with a short spin", []Option{SpinTime(2 * time.Microsecond)}, "wttttg", 2 * time.Microsecond},
		{"a stream waiting with Block", []Option{Wait(Block)}, "wttttw", 0},
		{"the long way after a failed glance", nil, "wtttgww", slip.Max},
	} {
		t.Run(c.name, func(t *testing.T) {
			q := &Queue{cfg: newConfig(c.opts), words: make([]atomic.Uint64, 4096/8), geometry: geometry{capacity: 4096}, prodWait: new(atomic.Uint32), glances: 4, lateGlances: 4}
			playSteps(t, q, c.steps)
			if q.c.heldBack != c.want {
				t.Fatalf("after %q: held back %v, want %v", c.steps, q.c.heldBack, c.want)
			}
		})
	}
}

// TestHoldBackEndsForProducer: a producer that asks for head (the ring
// filled while the consumer held back) ends the hold-back, and the word
// stays set for the consumer to answer by publishing head.
func TestHoldBackEndsForProducer(t *testing.T) {
	for _, want := range []uint32{prodIdle, prodWantHead, prodSleeping} {
		q := &Queue{cfg: newConfig(nil), words: make([]atomic.Uint64, 4096/8), geometry: geometry{capacity: 4096}, prodWait: new(atomic.Uint32), glances: 4, lateGlances: 4}
		q.prodWait.Store(want)
		playSteps(t, q, "wttg")
		cut := 0
		if want != prodIdle {
			cut = 1
		}
		if q.c.cutShort != cut || q.c.heldBack != slip.Max || q.prodWait.Load() != want {
			t.Errorf("producer wait %d: %d hold-backs cut short of %v allowed, word %d; want %d, %v, %d",
				want, q.c.cutShort, q.c.heldBack, q.prodWait.Load(), cut, slip.Max, want)
		}
	}
}

// TestHoldBackOncePerWait: on a real ring, a consumer that took a run of
// messages and then finds the ring empty holds back once for the wait,
// in the glance, and not again the long way; so do Peek and ReceiveBatch.
func TestHoldBackOncePerWait(t *testing.T) {
	msg := []byte("m")
	for _, c := range []struct {
		name string
		get  func(ctx context.Context, c *Queue) error
	}{
		{"Receive", func(ctx context.Context, c *Queue) error {
			_, err := c.Receive(ctx, nil)
			return err
		}},
		{"Peek", func(ctx context.Context, c *Queue) error {
			if _, err := c.Peek(ctx); err != nil {
				return err
			}
			return c.Release()
		}},
		{"ReceiveBatch", func(ctx context.Context, c *Queue) error {
			_, err := c.ReceiveBatch(ctx, make([][]byte, 1))
			return err
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, p, q := pair(t, 4096)
			for range 3 {
				if err := p.TrySend(msg); err != nil {
					t.Fatal(err)
				}
			}
			for range 3 {
				if err := c.get(context.Background(), q); err != nil {
					t.Fatal(err)
				}
			}
			if q.c.heldBack != 0 {
				t.Fatalf("held back %v while messages were ready", q.c.heldBack)
			}
			// Long enough that the deadline is unlikely to pass before the call
			// looks at its context on a loaded machine: a context done at
			// entry ends the call before any wait.
			ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
			defer cancel()
			if err := c.get(ctx, q); !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("on an empty ring: %v, want the deadline", err)
			}
			if q.c.heldBack != slip.Max {
				t.Errorf("held back %v in one wait, want %v", q.c.heldBack, slip.Max)
			}
		})
	}
}

// TestHoldBackCountsMessages: the hold-back counts messages on a real
// ring, one per message whether it came alone or in a batch, and none for
// the wrap records a consumer passes on its way round.
func TestHoldBackCountsMessages(t *testing.T) {
	ctx := context.Background()
	msg := bytes.Repeat([]byte{7}, 48) // a 56-byte record: a 256-byte ring wraps every few
	_, p, c := pair(t, 256)
	for i := range 40 {
		if err := p.TrySend(msg); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Receive(ctx, nil); err != nil {
			t.Fatal(err)
		}
		if got := c.c.takes; got != uint64(i+1) {
			t.Fatalf("after %d messages one at a time, %d takes counted", i+1, got)
		}
	}
	for range 3 {
		if err := p.TrySend(msg); err != nil {
			t.Fatal(err)
		}
	}
	batch := make([][]byte, 8)
	n, err := c.ReceiveBatch(ctx, batch)
	if err != nil || n != 3 {
		t.Fatalf("ReceiveBatch = %d, %v; want 3 messages", n, err)
	}
	if got := c.c.takes; got != 43 {
		t.Fatalf("after 40 messages and a batch of 3, %d takes counted", got)
	}
}
