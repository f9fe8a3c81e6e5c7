package queue

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"testing"
)

// TestPeekThenReceive mixes the zero-copy and copying calls on the
// consumer side: a Receive after a Peek takes the peeked message, once.
func TestPeekThenReceive(t *testing.T) {
	ctx := ctxT(t)
	_, p, c := pair(t, 1024)
	for i := range 3 {
		if err := p.Send(ctx, pattern(i, 10)); err != nil {
			t.Fatal(err)
		}
	}
	if m, err := c.Peek(ctx); err != nil || !bytes.Equal(m, pattern(0, 10)) {
		t.Fatalf("Peek: %v, %v", m, err)
	}
	for i := range 3 {
		got, err := c.Receive(ctx, nil)
		if err != nil || !bytes.Equal(got, pattern(i, 10)) {
			t.Fatalf("Receive %d after a Peek: %v, %v; want %v", i, got, err, pattern(i, 10))
		}
	}
	if err := c.Release(); err == nil {
		t.Error("Release after the peeked message was received succeeded")
	}
}

// TestReceiveBatch streams messages of many sizes (wrapping around a small
// ring, with back-pressure), alone and in batches, and receives them in
// batches of several sizes:
// every message arrives once, in order, and the queue ends with io.EOF.
func TestReceiveBatch(t *testing.T) {
	const count = 3000
	for _, mode := range []struct {
		name string
		opts []Option
	}{{"spsc", nil}, {"mpsc", []Option{MultiProducer()}}, {"spsc-noguard", []Option{NoFaultGuard()}}} {
		for _, size := range []int{1, 3, 64} {
			t.Run(fmt.Sprintf("%s/batch%d", mode.name, size), func(t *testing.T) {
				ctx := ctxT(t)
				_, p, c := pair(t, 1024, mode.opts...)
				sent := make(chan error, 1)
				go func() {
					// Alone and in batches of up to 8, so that SendBatch's
					// fast path meets the ring's end and a full ring too.
					for i := 0; i < count; {
						var batch [][]byte
						for k := 0; k <= i%9 && i+k < count; k++ {
							batch = append(batch, pattern(i+k, (i+k)%200))
						}
						var err error
						if len(batch) == 1 {
							err = p.Send(ctx, batch[0])
						} else {
							err = p.SendBatch(ctx, batch)
						}
						if err != nil {
							sent <- err
							return
						}
						i += len(batch)
					}
					sent <- p.Close()
				}()
				msgs := make([][]byte, size)
				next := 0
				for {
					n, err := c.ReceiveBatch(ctx, msgs)
					if err == io.EOF {
						if n != 0 {
							t.Fatalf("io.EOF with %d messages", n)
						}
						break
					}
					if err != nil || n < 1 || n > size {
						t.Fatalf("ReceiveBatch after %d messages: n=%d, %v", next, n, err)
					}
					for _, m := range msgs[:n] {
						if !bytes.Equal(m, pattern(next, next%200)) {
							t.Fatalf("message %d: got %d bytes %v", next, len(m), m)
						}
						next++
					}
				}
				if next != count {
					t.Fatalf("received %d messages before io.EOF, sent %d", next, count)
				}
				if err := <-sent; err != nil {
					t.Fatal(err)
				}
			})
		}
	}
}

// TestReceiveBatchEdges: a batch after a Peek starts with the peeked
// message; an empty msgs receives nothing; an error behind received
// messages waits for the next call; buffers are reused.
func TestReceiveBatchEdges(t *testing.T) {
	ctx := ctxT(t)
	_, p, c := pair(t, 1024)
	for i := range 3 {
		if err := p.Send(ctx, pattern(i, 10)); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := c.ReceiveBatch(ctx, nil); n != 0 || err != nil {
		t.Fatalf("ReceiveBatch(nil) = %d, %v; want 0, nil", n, err)
	}
	if _, err := c.Peek(ctx); err != nil {
		t.Fatal(err)
	}
	bufs := [][]byte{make([]byte, 0, 32), make([]byte, 0, 32), make([]byte, 0, 32), make([]byte, 0, 32)}
	first := &bufs[0][:1][0]
	n, err := c.ReceiveBatch(ctx, bufs)
	if n != 3 || err != nil {
		t.Fatalf("ReceiveBatch = %d, %v; want 3, nil", n, err)
	}
	for i, m := range bufs[:n] {
		if !bytes.Equal(m, pattern(i, 10)) {
			t.Fatalf("message %d: %v", i, m)
		}
	}
	if &bufs[0][0] != first {
		t.Error("ReceiveBatch did not reuse the buffer it was given")
	}
	if err := c.Release(); err == nil {
		t.Error("Release after the peeked message was received in a batch succeeded")
	}

	// Two good records, then a broken one: the batch ends at the break,
	// and the next call reports it.
	for i := range 2 {
		if err := p.Send(ctx, pattern(i, 10)); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.Send(ctx, pattern(2, 10)); err != nil {
		t.Fatal(err)
	}
	broken := (c.c.head + 2*recSize(10)) & c.mask
	binary.LittleEndian.PutUint32(c.ring[broken:], 5000)
	if n, err := c.ReceiveBatch(ctx, bufs); n != 2 || err != nil {
		t.Fatalf("batch before a broken record = %d, %v; want 2, nil", n, err)
	}
	if n, err := c.ReceiveBatch(ctx, bufs); n != 0 || !errors.Is(err, ErrCorrupt) {
		t.Fatalf("batch at a broken record = %d, %v; want 0, ErrCorrupt", n, err)
	}
}

// TestReceiveRefusesBadData writes one data record header at the
// consumer's head that breaks a rule, as a hostile producer could, and
// checks that every receiving call, whose common case skips next, still
// fails with ErrCorrupt; a well-formed header written the same way is
// received.
func TestReceiveRefusesBadData(t *testing.T) {
	const capacity = 1024
	data := func(n, slot uint32) uint64 {
		return uint64(n) | uint64(recordState(kindData, int(slot), 1))<<32
	}
	receivers := []struct {
		name string
		recv func(ctx context.Context, c *Queue) ([]byte, error)
	}{
		{"Receive", func(ctx context.Context, c *Queue) ([]byte, error) { return c.Receive(ctx, nil) }},
		{"TryReceive", func(_ context.Context, c *Queue) ([]byte, error) { return c.TryReceive(nil) }},
		{"Peek", func(ctx context.Context, c *Queue) ([]byte, error) { return c.Peek(ctx) }},
		{"ReceiveBatch", func(ctx context.Context, c *Queue) ([]byte, error) {
			msgs := make([][]byte, 4)
			n, err := c.ReceiveBatch(ctx, msgs)
			if n == 0 {
				return nil, err
			}
			return msgs[0], err
		}},
	}
	for _, tc := range []struct {
		name string
		hdr  uint64
		ok   bool
	}{
		{"well formed", data(16, 0), true},
		{"longer than the maximum message", data(capacity/2-recordHeader+1, 0), false},
		{"past the ring's end", data(100, 0), false},
		{"a producer slot the queue lacks", data(16, 1), false},
	} {
		for _, r := range receivers {
			t.Run(tc.name+"/"+r.name, func(t *testing.T) {
				ctx := ctxT(t)
				_, p, c := pair(t, capacity)
				// Two records of 504 and 448 bytes: head and the end
				// marker at 952, 72 bytes before the ring's end.
				for _, n := range []int{496, 440} {
					if err := p.Send(ctx, pattern(n, n)); err != nil {
						t.Fatal(err)
					}
					if _, err := c.Receive(ctx, nil); err != nil {
						t.Fatal(err)
					}
				}
				c.words[c.c.head&c.mask>>3].Store(tc.hdr)
				m, err := r.recv(ctx, c)
				switch {
				case tc.ok && (err != nil || len(m) != 16):
					t.Fatalf("%d bytes, %v; want the 16-byte message", len(m), err)
				case !tc.ok && !errors.Is(err, ErrCorrupt):
					t.Fatalf("%d bytes, %v; want ErrCorrupt", len(m), err)
				}
			})
		}
	}
}

// TestGlancedAtWrap: where a glance found a wrap record, glancedAt takes
// the message at the ring's start as next would, and leaves to next a
// wrap record or a record behind it that is anything but such a message.
// Receive and Peek, on a handle that spins, glance at a wrap record that
// is already there and so take it through glancedAt; TryReceive, which
// does not glance, shows what next makes of the others.
func TestGlancedAtWrap(t *testing.T) {
	ctx := ctxT(t)
	msg := func(b byte) []byte { return bytes.Repeat([]byte{b}, 100) }
	// Records of 112 bytes: at 0 and 112, then a wrap record at 224 and the
	// third message at 0 again.
	setUp := func(t *testing.T) (p, c *Queue) {
		_, p, c = pair(t, 256, MaxMessage(100))
		for _, b := range []byte{1, 2, 3} {
			if err := p.Send(ctx, msg(b)); err != nil {
				t.Fatal(err)
			}
			if b == 3 {
				break
			}
			if got, err := c.Receive(ctx, nil); err != nil || !bytes.Equal(got, msg(b)) {
				t.Fatalf("message %d: %v, %v", b, got, err)
			}
		}
		if c.c.head != 224 || c.capacity-224 >= c.wrapZone || c.glances == 0 {
			t.Fatalf("head %d, wrap zone %d, %d looks a glance: the set-up did not reach a glanced wrap", c.c.head, c.wrapZone, c.glances)
		}
		return p, c
	}
	receive := func(c *Queue) ([]byte, error) { return c.Receive(ctx, nil) }
	peek := func(c *Queue) ([]byte, error) {
		b, err := c.Peek(ctx)
		b = bytes.Clone(b)
		if err == nil {
			err = c.Release()
		}
		return b, err
	}
	try := func(c *Queue) ([]byte, error) { return c.TryReceive(nil) }
	for _, tc := range []struct {
		name    string
		change  func(c *Queue) // what another writer left in the ring
		taken   bool           // glancedAt takes the message at 0
		get     func(c *Queue) ([]byte, error)
		want    []byte // what get returns, or
		wantErr error  // the error it fails with
	}{
		{"a wrap and a message, received", func(*Queue) {}, true, receive, msg(3), nil},
		{"a wrap and a message, peeked", func(*Queue) {}, true, peek, msg(3), nil},
		{"a wrap one byte short", func(c *Queue) { c.words[224/8].Add(^uint64(0)) }, false, receive, nil, ErrCorrupt},
		{"a wrap of another slot", func(c *Queue) { c.words[224/8].Add(1 << (32 + slotShift)) }, false, receive, msg(3), nil},
		{"a skip record behind the wrap", func(c *Queue) {
			c.words[0].Store(uint64(100) | uint64(recordState(kindSkip, 0, 0))<<32)
		}, false, try, nil, ErrEmpty},
		{"an end marker behind the wrap", func(c *Queue) { c.words[0].Store(0) }, false, try, nil, ErrEmpty},
		{"a message over the maximum behind the wrap", func(c *Queue) {
			c.words[0].Store(101 | uint64(recordState(kindData, 0, 0))<<32)
		}, false, receive, nil, ErrCorrupt},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, c := setUp(t)
			tc.change(c)
			off, n, rec, ok := c.glancedAt(c.c.head)
			if ok != tc.taken {
				t.Fatalf("glancedAt: ok %v, want %v", ok, tc.taken)
			}
			if ok && (off != recordHeader || n != 100 || rec != 256-224+112) {
				t.Errorf("glancedAt = %d, %d, %d; want the payload at %d, 100 bytes, %d ring bytes", off, n, rec, recordHeader, 256-224+112)
			}
			got, err := tc.get(c)
			// The consumer took two messages since it last waited, and
			// found a record at head: that is no wait to hold back in.
			if c.c.heldBack != 0 {
				t.Errorf("held back %v at a wrap record", c.c.heldBack)
			}
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("after the wrap: %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil || !bytes.Equal(got, tc.want) {
				t.Fatalf("after the wrap: %v, %v; want message 3", got, err)
			}
			// Head is past the wrap and the message: the next one follows.
			if err := p.Send(ctx, msg(4)); err != nil {
				t.Fatal(err)
			}
			if got, err := c.Receive(ctx, nil); err != nil || !bytes.Equal(got, msg(4)) {
				t.Errorf("the message after: %v, %v", got, err)
			}
		})
	}
}
