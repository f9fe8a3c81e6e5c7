package queue

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shmkit/shm"
	"github.com/shmkit/shm/internal/shmtest"
)

// consumersQueue creates a queue with n competing consumers and returns its
// producer handle and n consumer handles, closed when the test ends.
func consumersQueue(t testing.TB, capacity int64, n int, opts ...Option) (name string, p *Queue, cs []*Queue) {
	t.Helper()
	name = shmtest.Name(t, "")
	p, err := Create(name, capacity, append(opts, Consumers(n))...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	for range n {
		c, err := Open(name, opts...)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		cs = append(cs, c)
	}
	return name, p, cs
}

func TestConsumersOption(t *testing.T) {
	for _, n := range []int{0, -1, MaxConsumers + 1} {
		name := shmtest.Name(t, "")
		if _, err := Create(name, 4096, Consumers(n)); !errors.Is(err, shm.ErrInvalid) {
			t.Errorf("Consumers(%d): %v, want shm.ErrInvalid", n, err)
		}
	}
	_, p, cs := consumersQueue(t, 4096, 3)
	if !p.IsCompeting() || p.MaxConsumers() != 3 {
		t.Errorf("IsCompeting %v MaxConsumers %d, want true 3", p.IsCompeting(), p.MaxConsumers())
	}
	_, single, _ := pair(t, 4096)
	if single.IsCompeting() || single.MaxConsumers() != 1 {
		t.Errorf("single: IsCompeting %v MaxConsumers %d, want false 1", single.IsCompeting(), single.MaxConsumers())
	}
	_ = cs
}

// Every message goes to exactly one consumer, each consumer sees its
// messages in order, and every consumer gets io.EOF after the producer's
// Close.
func TestConsumersShareWork(t *testing.T) {
	for _, m := range bothModes {
		t.Run(m.name, func(t *testing.T) {
			const count = 20000
			_, p, cs := consumersQueue(t, 4096, 3, m.opts...)
			ctx := ctxT(t)
			got := make([][]int, len(cs))
			var wg sync.WaitGroup
			errs := make(chan error, len(cs))
			for i, c := range cs {
				wg.Add(1)
				go func() {
					defer wg.Done()
					var buf []byte
					for {
						var err error
						buf, err = c.Receive(ctx, buf)
						if err == io.EOF {
							return
						}
						if err != nil {
							errs <- err
							return
						}
						if c.Deliveries() != 1 {
							errs <- fmt.Errorf("deliveries %d, want 1", c.Deliveries())
							return
						}
						got[i] = append(got[i], int(binary.LittleEndian.Uint32(buf)))
					}
				}()
			}
			for i := range count {
				msg := make([]byte, 4+i%50)
				binary.LittleEndian.PutUint32(msg, uint32(i))
				if err := p.Send(ctx, msg); err != nil {
					t.Fatal(err)
				}
			}
			p.Close()
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Fatal(err)
			}
			seen := make([]bool, count)
			for i, g := range got {
				for j, v := range g {
					if j > 0 && v <= g[j-1] {
						t.Fatalf("consumer %d: %d after %d: out of order", i, v, g[j-1])
					}
					if seen[v] {
						t.Fatalf("message %d delivered twice", v)
					}
					seen[v] = true
				}
			}
			for v, ok := range seen {
				if !ok {
					t.Fatalf("message %d lost", v)
				}
			}
		})
	}
}

// A message peeked (or held) by a consumer that closes without releasing
// it goes to another consumer, counted as a second delivery; released
// messages do not come back.
func TestConsumersRedeliver(t *testing.T) {
	for _, how := range []string{"peek", "hold"} {
		t.Run(how, func(t *testing.T) {
			_, p, cs := consumersQueue(t, 4096, 2)
			ctx := ctxT(t)
			for _, m := range []string{"a", "b", "c"} {
				if err := p.Send(ctx, []byte(m)); err != nil {
					t.Fatal(err)
				}
			}
			p.Close()
			a, b := cs[0], cs[1]
			if how == "hold" {
				a.Hold()
			}
			got, err := a.Receive(ctx, nil)
			if err != nil || string(got) != "a" {
				t.Fatalf("Receive: %q %v", got, err)
			}
			if err := a.ReleaseThrough(a.Position()); err != nil {
				t.Fatal(err)
			}
			var msg []byte
			if how == "peek" {
				msg, err = a.Peek(ctx)
			} else {
				msg, err = a.Receive(ctx, nil)
				if _, herr := a.Receive(ctx, nil); herr == nil || !strings.Contains(herr.Error(), "holds a message") {
					t.Errorf("second Receive while holding: %v, want the holding error", herr)
				}
			}
			if err != nil || string(msg) != "b" || a.Deliveries() != 1 {
				t.Fatalf("take b: %q %v deliveries %d", msg, err, a.Deliveries())
			}
			st, err := Stat(p.Name())
			if err != nil {
				t.Fatal(err)
			}
			if len(st.Consumers) != 1 || !st.Consumers[0].InFlight || st.Consumers[0].Deliveries != 1 {
				t.Errorf("Stat consumers %v, want one with b in flight", st.Consumers)
			}
			a.Close()
			want := []string{"b", "c"}
			for i, w := range want {
				msg, err := b.Receive(ctx, nil)
				if err != nil || string(msg) != w {
					t.Fatalf("b's message %d: %q %v, want %q", i, msg, err, w)
				}
				if d := b.Deliveries(); d != 2-i {
					t.Errorf("message %q: deliveries %d, want %d", w, d, 2-i)
				}
			}
			if _, err := b.Receive(ctx, nil); err != io.EOF {
				t.Fatalf("after the last: %v, want io.EOF", err)
			}
		})
	}
}

// A consumer at the end of a closed queue waits for another's message in
// flight: released, it gets io.EOF; had it been dropped, it would take it.
func TestConsumersEOFWaitsForInFlight(t *testing.T) {
	_, p, cs := consumersQueue(t, 4096, 2)
	ctx := ctxT(t)
	if err := p.Send(ctx, []byte("x")); err != nil {
		t.Fatal(err)
	}
	p.Close()
	if _, err := cs[0].Peek(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := cs[1].TryReceive(nil); err != ErrEmpty {
		t.Fatalf("TryReceive with x in flight: %v, want ErrEmpty", err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := cs[1].Receive(ctx, nil)
		done <- err
	}()
	select {
	case err := <-done:
		t.Fatalf("Receive returned %v while a message is in flight", err)
	default:
	}
	if err := cs[0].Release(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != io.EOF {
		t.Fatalf("after the release: %v, want io.EOF", err)
	}
}

func TestConsumersBusy(t *testing.T) {
	name, _, cs := consumersQueue(t, 4096, 2)
	for _, c := range cs {
		if _, err := c.TryReceive(nil); err != ErrEmpty {
			t.Fatal(err)
		}
	}
	extra, err := Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer extra.Close()
	if _, err := extra.TryReceive(nil); !errors.Is(err, ErrBusy) {
		t.Fatalf("third consumer of two slots: %v, want ErrBusy", err)
	}
	cs[0].Close()
	if _, err := extra.TryReceive(nil); err != ErrEmpty {
		t.Fatalf("after a slot was given up: %v, want ErrEmpty", err)
	}
}

func TestConsumersBatch(t *testing.T) {
	_, p, cs := consumersQueue(t, 4096, 2)
	ctx := ctxT(t)
	for i := range 10 {
		if err := p.Send(ctx, []byte{byte(i)}); err != nil {
			t.Fatal(err)
		}
	}
	msgs := make([][]byte, 4)
	n, err := cs[0].ReceiveBatch(ctx, msgs)
	if err != nil || n != 4 {
		t.Fatalf("ReceiveBatch: %d %v", n, err)
	}
	for i := range n {
		if msgs[i][0] != byte(i) {
			t.Fatalf("message %d is %d", i, msgs[i][0])
		}
	}
	n, err = cs[1].ReceiveBatch(ctx, msgs)
	if err != nil || n != 4 || msgs[0][0] != 4 {
		t.Fatalf("second consumer's batch: %d %v", n, err)
	}
}

// Each field of the consumer table and the take cursor, damaged, gives
// ErrCorrupt naming it (Open for the static field, Receive for the rest),
// never a panic or a wrong message. The queue: "first" at position 0
// taken and finished, "second" at 16 in flight at slot 0, "third" at 32
// ready; head 16, take 32. The damage is to slot 1, which the consumer
// that then receives claims, or to the shared words.
func TestConsumersCorrupt(t *testing.T) {
	slot1 := offConsSlots + consSlotSize
	le := binary.LittleEndian
	for _, tc := range []struct {
		name  string
		write func(b []byte)
		want  string
	}{
		{"consumers count", func(b []byte) { le.PutUint32(b[offConsN:], 99) }, "header field consumers at offset 48"},
		{"count without flag", func(b []byte) { le.PutUint32(b[offFlags:], 0) }, "header field consumers at offset 48: 2, want 0"},
		{"take misaligned", func(b []byte) { le.PutUint64(b[offTake:], 35) }, "take cursor at header offset 1344"},
		{"take behind head", func(b []byte) { le.PutUint64(b[offTake:], 8) }, "take cursor at header offset 1344"},
		{"take past the ring", func(b []byte) { le.PutUint64(b[offTake:], 1<<20) }, "take cursor at header offset 1344"},
		{"in flight flag", func(b []byte) { le.PutUint64(b[slot1+consOffInFlight:], 16|6) }, "consumer slot 1: in flight at header offset 1488"},
		{"in flight below head", func(b []byte) {
			le.PutUint64(b[slot1+consOffInFlight:], 0|1)
			le.PutUint64(b[slot1+consOffDeliv:], 1)
		}, "consumer slot 1: in flight at header offset 1488"},
		{"deliveries", func(b []byte) {
			le.PutUint64(b[slot1+consOffInFlight:], 16|1)
			le.PutUint64(b[slot1+consOffDeliv:], 0)
		}, "consumer slot 1: deliveries at header offset 1496"},
		{"in flight on no message", func(b []byte) {
			le.PutUint64(b[slot1+consOffInFlight:], 24|1)
			le.PutUint64(b[slot1+consOffDeliv:], 1)
		}, "record at position 24"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			name, p, cs := consumersQueue(t, 4096, 2)
			ctx := ctxT(t)
			for _, m := range []string{"first", "second", "third"} {
				if err := p.Send(ctx, []byte(m)); err != nil {
					t.Fatal(err)
				}
			}
			p.Close()
			a, b := cs[0], cs[1]
			if _, err := b.TryReceive(nil); err != nil { // b: slot 0, takes "first"
				t.Fatal(err)
			}
			if _, err := a.Peek(ctx); err != nil { // a: slot 1, "second" in flight
				t.Fatal(err)
			}
			b.Close() // slot 0 is free; a's message stays in flight
			seg, err := shm.Open(name)
			if err != nil {
				t.Fatal(err)
			}
			defer seg.Close()
			hdr := seg.Bytes()
			if h, tk := le.Uint64(hdr[offHead:]), le.Uint64(hdr[offTake:]); h != 16 || tk != 32 {
				t.Fatalf("head %d, take %d: want 16 and 32", h, tk)
			}
			// a closes, leaving its message to the next consumer, which
			// claims slot 0: the message is moved there, and slot 1 is an
			// orphan only when the damage makes it one.
			a.Close()
			le.PutUint64(hdr[offConsSlots+consOffInFlight:], 16|1) // a's message, now at slot 0
			le.PutUint64(hdr[offConsSlots+consOffDeliv:], 1)
			le.PutUint64(hdr[slot1+consOffInFlight:], 0)
			tc.write(hdr)
			// A damaged slot may be the second orphan taken: a good
			// message may come first.
			c, err := Open(name)
			if err == nil {
				defer c.Close()
				for i := 0; i < 3 && err == nil; i++ {
					_, err = c.Receive(ctx, nil)
				}
			}
			if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want ErrCorrupt naming %q", err, tc.want)
			}
		})
	}
}

// TestHostilePeerConsumers rewrites the take cursor, the consume lock and
// the consumer table at random while two consumers receive (one by Peek)
// and a producer sends: every call returns, and nothing panics.
func TestHostilePeerConsumers(t *testing.T) {
	name, p, cs := consumersQueue(t, 1024, 2)
	cs[1].Hold()
	seg, err := shm.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer seg.Close()
	stop := make(chan struct{})
	done := make(chan struct{})
	var once sync.Once
	halt := func() { once.Do(func() { close(stop); <-done }) }
	defer halt() // before seg.Close, also when the test fails
	go func() {
		defer close(done)
		rnd := rand.New(rand.NewPCG(8, 9))
		var w [8]byte
		for {
			select {
			case <-stop:
				return
			default:
			}
			v := rnd.Uint64() >> rnd.IntN(64)
			if rnd.IntN(2) == 0 {
				v = binary.LittleEndian.Uint64(seg.Bytes()[offHead:]) + uint64(rnd.IntN(256)) // near the cursors
			}
			binary.LittleEndian.PutUint64(w[:], v)
			fields := []int64{offTake, offConsumeLock, offConsSlots + consOffInFlight, offConsSlots + consOffDeliv,
				offConsSlots + consSlotSize + consOffInFlight, offConsSlots + consSlotSize + consOffDeliv, offConsSlots + 2*consSlotSize + consOffInFlight}
			off := fields[rnd.IntN(len(fields))]
			n := 8
			if off == offConsumeLock {
				n = 4
			}
			seg.WriteAt(w[:n], off)
			time.Sleep(time.Duration(rnd.IntN(50)) * time.Microsecond)
		}
	}()
	deadline := time.Now().Add(500 * time.Millisecond)
	buf := make([]byte, 0, 600)
	msg := make([]byte, 100)
	for i := 0; time.Now().Before(deadline); i++ {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Millisecond)
		start := time.Now()
		var err error
		switch i % 3 {
		case 0:
			err = p.Send(ctx, msg[:i%100])
		case 1:
			buf, err = cs[0].Receive(ctx, buf)
		case 2:
			if _, err = cs[1].Peek(ctx); err == nil {
				err = cs[1].Release()
				if err == nil {
					err = cs[1].ReleaseThrough(cs[1].Position())
				}
			}
		}
		cancel()
		if d := time.Since(start); d > time.Second {
			t.Fatalf("a call took %v with a 5 ms timeout", d)
		}
		if err != nil && !errors.Is(err, ErrCorrupt) && !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, ErrPeerDead) && err != io.EOF && !strings.Contains(err.Error(), "not held") {
			t.Fatalf("call %d: unexpected error %v", i, err)
		}
	}
	halt()
	if _, err := Stat(name); err != nil && !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Stat: %v", err)
	}
}

// What a consumer that died half-way through a step under the consume
// lock leaves (see the state machine in consumers.go) is read right: a
// message put in flight whose take was not moved is taken once, as new;
// a message left in two dead slots by a move cut short is delivered once,
// counted once more than the higher count.
func TestConsumersCrashStates(t *testing.T) {
	le := binary.LittleEndian
	slot := func(i int) int { return offConsSlots + i*consSlotSize }
	for _, tc := range []struct {
		name  string
		write func(b []byte)
		want  []string // messages, in order
		deliv []int
	}{
		{"taken half-way", func(b []byte) {
			le.PutUint64(b[slot(1)+consOffDeliv:], 1)
			le.PutUint64(b[slot(1)+consOffInFlight:], 0|1) // take is still 0
		}, []string{"first", "second"}, []int{1, 1}},
		{"moved half-way", func(b []byte) {
			le.PutUint64(b[offTake:], 16) // "first" was taken
			le.PutUint64(b[slot(1)+consOffDeliv:], 1)
			le.PutUint64(b[slot(1)+consOffInFlight:], 0|1)
			le.PutUint64(b[slot(2)+consOffDeliv:], 2)
			le.PutUint64(b[slot(2)+consOffInFlight:], 0|1)
		}, []string{"first", "second"}, []int{3, 1}},
		{"two orphans", func(b []byte) {
			le.PutUint64(b[offTake:], 32) // both taken, both in flight at dead slots
			le.PutUint64(b[slot(1)+consOffDeliv:], 1)
			le.PutUint64(b[slot(1)+consOffInFlight:], 16|1)
			le.PutUint64(b[slot(2)+consOffDeliv:], 1)
			le.PutUint64(b[slot(2)+consOffInFlight:], 0|1)
		}, []string{"first", "second"}, []int{2, 2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			name, p, _ := consumersQueue(t, 4096, 3)
			ctx := ctxT(t)
			for _, m := range []string{"first", "second"} {
				if err := p.Send(ctx, []byte(m)); err != nil {
					t.Fatal(err)
				}
			}
			p.Close()
			seg, err := shm.Open(name)
			if err != nil {
				t.Fatal(err)
			}
			defer seg.Close()
			tc.write(seg.Bytes())
			c, err := Open(name)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			for i, want := range tc.want {
				got, err := c.Receive(ctx, nil)
				if err != nil || string(got) != want || c.Deliveries() != tc.deliv[i] {
					t.Fatalf("message %d: %q %v, delivery %d; want %q, delivery %d", i, got, err, c.Deliveries(), want, tc.deliv[i])
				}
			}
			if got, err := c.Receive(ctx, nil); err != io.EOF {
				t.Fatalf("after the messages: %q %v, want io.EOF", got, err)
			}
			st, err := Stat(name)
			if err != nil || len(st.Consumers) != 1 || st.Consumers[0].InFlight || st.Head != 32 {
				t.Fatalf("Stat: %+v %v; want one consumer, nothing in flight, head 32", st, err)
			}
		})
	}
}

func TestConsumerLayout(t *testing.T) {
	// The take cursor's line comes after the last producer slot, each
	// consumer slot has a line of its own, and the table fits the header.
	if offTake < offProducers+maxSlots*slotSize || offTake%64 != 0 || offConsumeLock/64 != offTake/64 {
		t.Errorf("take %d and consume lock %d: want one line after the producer slots (which end at %d)", offTake, offConsumeLock, offProducers+maxSlots*slotSize)
	}
	if offConsSlots < offTake+64 || offConsSlots%64 != 0 || consSlotSize != 64 || consOffDeliv+8 > consSlotSize {
		t.Errorf("consumer slots at %d, %d bytes each: want whole lines after the take line", offConsSlots, consSlotSize)
	}
	if end := offConsSlots + MaxConsumers*consSlotSize; end > headerSize {
		t.Errorf("the consumer table ends at %d, past the header's %d bytes", end, headerSize)
	}
	if offConsN+4 > 64 || offConsN < offID+idSize {
		t.Errorf("the consumer count at %d is not in the static line's free bytes", offConsN)
	}
}

// TryReceive on a drained, closed queue with competing consumers gives
// io.EOF as on any queue (ErrEmpty while another consumer has a message
// in flight); a consumer that follows producers waits for the next one
// instead.
func TestConsumersEndOfStream(t *testing.T) {
	name, p, cs := consumersQueue(t, 4096, 3)
	ctx := ctxT(t)
	if err := p.Send(ctx, []byte("one")); err != nil {
		t.Fatal(err)
	}
	p.Close()
	if _, err := cs[0].Peek(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := cs[1].TryReceive(nil); err != ErrEmpty {
		t.Fatalf("TryReceive with a message in flight: %v, want ErrEmpty", err)
	}
	if err := cs[0].Release(); err != nil {
		t.Fatal(err)
	}
	if _, err := cs[1].TryReceive(nil); err != io.EOF {
		t.Fatalf("TryReceive at the end: %v, want io.EOF", err)
	}
	f, err := Open(name, FollowProducers())
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.TryReceive(nil); err != ErrEmpty {
		t.Fatalf("TryReceive following producers: %v, want ErrEmpty", err)
	}
	got := make(chan string, 1)
	go func() {
		m, err := f.Receive(ctx, nil)
		if err != nil {
			got <- err.Error()
			return
		}
		got <- string(m)
	}()
	p2, err := Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer p2.Close()
	if err := p2.Send(ctx, []byte("two")); err != nil {
		t.Fatal(err)
	}
	if m := <-got; m != "two" {
		t.Fatalf("the follower got %q, want the next producer's message", m)
	}
}
