//go:build linux

package queue

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/shmkit/shm"
	"github.com/shmkit/shm/internal/shmtest"
)

// held is a message and the position Position gave it after TryReceive.
type held struct {
	msg string
	pos Position
}

func receiveHeldAll(t *testing.T, q *Queue, n int) []held {
	t.Helper()
	var out []held
	for range n {
		b, pos, err := tryHeld(q, nil)
		if err != nil {
			t.Fatalf("TryReceive held, after %d messages: %v", len(out), err)
		}
		out = append(out, held{string(b), pos})
	}
	return out
}

// TestHoldAndRelease: held messages come again, at the same positions, to
// a consumer that opens the queue after the holder closed, from the last
// released position on; through ring wraps, in both layouts.
func TestHoldAndRelease(t *testing.T) {
	for _, tc := range []struct {
		name  string
		multi bool
	}{{"SPSC", false}, {"MPSC", true}} {
		t.Run(tc.name, func(t *testing.T) {
			name := shmtest.Name(t, "")
			var opts []Option
			if tc.multi {
				opts = append(opts, MultiProducer())
			}
			p, err := Create(name, 256, opts...)
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			for round := range 20 {
				// 5 messages of 9..13 bytes: 80 ring bytes, so rounds wrap.
				var want []string
				for i := range 5 {
					m := fmt.Sprintf("r%02d-m%d%s", round, i, strings.Repeat("x", i))
					want = append(want, m)
					if err := p.TrySend([]byte(m)); err != nil {
						t.Fatalf("round %d: TrySend: %v", round, err)
					}
				}
				c1, err := Open(name)
				if err != nil {
					t.Fatal(err)
				}
				first := receiveHeldAll(t, c1, 5)
				for i, h := range first {
					if h.msg != want[i] {
						t.Fatalf("round %d: message %d is %q, want %q", round, i, h.msg, want[i])
					}
					if i > 0 && h.pos <= first[i-1].pos {
						t.Fatalf("round %d: positions do not grow: %v", round, first)
					}
				}
				if _, _, err := tryHeld(c1, nil); err != ErrEmpty {
					t.Fatalf("round %d: sixth TryReceive: %v, want ErrEmpty", round, err)
				}
				// Close without releasing: everything comes again.
				c1.Close()
				c2, err := Open(name)
				if err != nil {
					t.Fatal(err)
				}
				again := receiveHeldAll(t, c2, 5)
				if fmt.Sprint(again) != fmt.Sprint(first) {
					t.Fatalf("round %d: after close without release got %v, want %v", round, again, first)
				}
				if err := c2.ReleaseThrough(again[1].pos); err != nil {
					t.Fatal(err)
				}
				if got := c2.Released(); got != again[1].pos {
					t.Fatalf("Released() = %d, want %d", got, again[1].pos)
				}
				c2.Close()
				// Released through the second: the third is next, at its place.
				c3, err := Open(name)
				if err != nil {
					t.Fatal(err)
				}
				rest := receiveHeldAll(t, c3, 3)
				if fmt.Sprint(rest) != fmt.Sprint(first[2:]) {
					t.Fatalf("round %d: after release through the second got %v, want %v", round, rest, first[2:])
				}
				if err := c3.ReleaseThrough(rest[2].pos); err != nil {
					t.Fatal(err)
				}
				if err := c3.ReleaseThrough(rest[2].pos); err != nil {
					t.Fatalf("releasing the released position again: %v", err)
				}
				c3.Close()
			}
		})
	}
}

// TestHoldKeepsRoom: held messages are not room for producers until they
// are released.
func TestHoldKeepsRoom(t *testing.T) {
	name := shmtest.Name(t, "")
	p, err := Create(name, 128)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	c, err := Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	msg := bytes.Repeat([]byte{'m'}, 24) // a 32-byte record
	sent := 0
	for ; p.TrySend(msg) == nil; sent++ {
	}
	if sent == 0 {
		t.Fatal("no message fits an empty queue")
	}
	var last Position
	for range sent {
		if _, last, err = tryHeld(c, nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.TrySend(msg); err != ErrFull {
		t.Fatalf("TrySend with every message held: %v, want ErrFull", err)
	}
	if err := c.ReleaseThrough(last); err != nil {
		t.Fatal(err)
	}
	if err := p.TrySend(msg); err != nil {
		t.Fatalf("TrySend after the release: %v", err)
	}
}

// TestReleaseThroughRejects positions that are not held.
func TestReleaseThroughRejects(t *testing.T) {
	name := shmtest.Name(t, "")
	p, err := Create(name, 4096)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	c, err := Open(name)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []string{"a", "b"} {
		if err := p.TrySend([]byte(m)); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.ReleaseThrough(8); err == nil || !strings.Contains(err.Error(), "is not held") {
		t.Fatalf("release before any hold: %v", err)
	}
	_, pa, _ := tryHeld(c, nil)
	_, pb, _ := tryHeld(c, nil)
	if err := c.ReleaseThrough(pb + 8); err == nil || !strings.Contains(err.Error(), "is not held") {
		t.Fatalf("release past the last held: %v", err)
	}
	if err := c.ReleaseThrough(pa); err != nil {
		t.Fatal(err)
	}
	if err := c.ReleaseThrough(pa - 8); err == nil || !strings.Contains(err.Error(), "is not held") {
		t.Fatalf("release behind the released: %v", err)
	}
	c.Close()
	if err := c.ReleaseThrough(pb); !errors.Is(err, shm.ErrClosed) {
		t.Fatalf("release after Close: %v, want shm.ErrClosed", err)
	}
}

// holdChild is the child role "hold": receive a["count"] messages held,
// release through the a["id"]-th (1-based; 0 releases none), print each
// message's position and text, say "ready" and sleep, to be SIGKILLed.
func holdChild(a shmtest.Args) error {
	q, err := Open(a["name"])
	if err != nil {
		return err
	}
	count, through := a.Int("count"), a.Int("id")
	for i := 1; i <= count; i++ {
		b, pos, err := tryHeld(q, nil)
		if err != nil {
			return err
		}
		fmt.Printf("%d %s\n", pos, b)
		if i == through {
			if err := q.ReleaseThrough(pos); err != nil {
				return err
			}
		}
	}
	fmt.Println("ready")
	time.Sleep(time.Hour)
	return nil
}

// TestHoldSurvivesSIGKILL: a consumer killed with messages read and not
// released leaves them to the next consumer, at the same positions.
func TestHoldSurvivesSIGKILL(t *testing.T) {
	for _, through := range []int{0, 3, 7} {
		t.Run(strconv.Itoa(through), func(t *testing.T) {
			name := shmtest.Name(t, "")
			p, err := Create(name, 1024)
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			const count = 10
			for i := range count + 5 {
				if err := p.TrySend(fmt.Appendf(nil, "message-%02d", i)); err != nil {
					t.Fatal(err)
				}
			}
			k := spawn(t, "hold", name, through, count)
			var seen []string
			for {
				line, ok := k.Next(time.Minute)
				if !ok || line == "ready" {
					break
				}
				seen = append(seen, line)
			}
			k.kill()
			if len(seen) != count {
				t.Fatalf("the child printed %d messages, want %d: %q", len(seen), count, seen)
			}
			c, err := Open(name)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			for i := through; i < count+5; i++ {
				b, pos, err := tryHeld(c, nil)
				if err != nil {
					t.Fatalf("message %d after the kill: %v", i, err)
				}
				got := fmt.Sprintf("%d %s", pos, b)
				if i < count && got != seen[i] {
					t.Fatalf("message %d after the kill is %q, the killed consumer had %q", i, got, seen[i])
				}
				if want := fmt.Sprintf("message-%02d", i); string(b) != want {
					t.Fatalf("message %d after the kill is %q, want %q", i, b, want)
				}
			}
		})
	}
}

// tryHeld holds the messages q receives and takes the next one without
// waiting, with its position.
func tryHeld(q *Queue, buf []byte) ([]byte, Position, error) {
	q.Hold()
	m, err := q.TryReceive(buf)
	if err != nil {
		return m, 0, err
	}
	return m, q.Position(), nil
}

// recvHeld is tryHeld waiting like Receive.
func recvHeld(ctx context.Context, q *Queue, buf []byte) ([]byte, Position, error) {
	q.Hold()
	m, err := q.Receive(ctx, buf)
	if err != nil {
		return m, 0, err
	}
	return m, q.Position(), nil
}

// TestReleaseThroughMidRecord: a position inside a held record (here inside
// a payload shaped like a record header, and a misaligned one) is refused,
// in both layouts and across a ring wrap, and the next consumer still gets
// every message intact; the end of any received message is accepted.
func TestReleaseThroughMidRecord(t *testing.T) {
	for _, tc := range []struct {
		name  string
		multi bool
	}{{"SPSC", false}, {"MPSC", true}} {
		t.Run(tc.name, func(t *testing.T) {
			name := shmtest.Name(t, "")
			var opts []Option
			if tc.multi {
				opts = append(opts, MultiProducer())
			}
			p, err := Create(name, 256, opts...)
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			// A 24-byte payload whose first word reads as a committed
			// 8-byte record.
			forged := make([]byte, 24)
			binary.LittleEndian.PutUint32(forged[0:], 8)
			binary.LittleEndian.PutUint32(forged[4:], recordState(kindData, 0, 1))
			copy(forged[8:], "forged!!")
			msgs := [][]byte{forged, []byte("second message, 24 bytes")}
			for _, m := range msgs {
				if err := p.TrySend(m); err != nil {
					t.Fatal(err)
				}
			}
			c, err := Open(name)
			if err != nil {
				t.Fatal(err)
			}
			var pos []Position
			for range msgs {
				_, at, err := tryHeld(c, nil)
				if err != nil {
					t.Fatal(err)
				}
				pos = append(pos, at)
			}
			for _, bad := range []Position{8, 11, pos[0] + 8, pos[1] - 1} {
				if err := c.ReleaseThrough(bad); err == nil || !strings.Contains(err.Error(), "not the end of a message") {
					t.Errorf("ReleaseThrough(%d) with messages ending at %v: %v, want a refusal", bad, pos, err)
				}
			}
			if err := c.Close(); err != nil {
				t.Fatal(err)
			}
			next, err := Open(name)
			if err != nil {
				t.Fatal(err)
			}
			for i, want := range msgs {
				got, err := next.TryReceive(nil)
				if err != nil || !bytes.Equal(got, want) {
					t.Fatalf("next consumer, message %d: %q, %v; want %q", i+1, got, err, want)
				}
			}
			if err := next.Close(); err != nil {
				t.Fatal(err)
			}

			// Through wraps: every message end is a release point, and
			// only those.
			c, err = Open(name)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			for round := range 10 {
				var ends []Position
				for i := range 3 {
					if err := p.TrySend(bytes.Repeat([]byte{byte('a' + i)}, 20+round)); err != nil {
						t.Fatal(err)
					}
					_, at, err := tryHeld(c, nil)
					if err != nil {
						t.Fatal(err)
					}
					ends = append(ends, at)
				}
				if err := c.ReleaseThrough(ends[0] + 8); err == nil {
					t.Fatalf("round %d: ReleaseThrough(%d) inside the message ending at %d: nil", round, ends[0]+8, ends[1])
				}
				if err := c.ReleaseThrough(ends[0]); err != nil {
					t.Fatalf("round %d: ReleaseThrough(%d), a message's end: %v", round, ends[0], err)
				}
				if err := c.ReleaseThrough(ends[1]); err != nil {
					t.Fatalf("round %d: ReleaseThrough(%d), a message's end: %v", round, ends[1], err)
				}
				if err := c.ReleaseThrough(ends[2]); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}
