package queue

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"testing"
	"time"

	"github.com/shmkit/shm"
	"github.com/shmkit/shm/internal/shmtest"
)

// hostileSegment makes a segment that passes Open's header checks (the
// first fuzz byte chooses capacity and mode) and whose cursors, closed flag,
// lock, peer slots and ring are the rest of data, repeated as needed.
func hostileSegment(t testing.TB, data []byte) string {
	name := shmtest.Name(t, "")
	var sel byte
	if len(data) > 0 {
		sel, data = data[0], data[1:]
	}
	capacity := uint64(MinCapacity) << (sel % 6)
	seg, err := shm.Create(name, int64(headerSize+capacity))
	if err != nil {
		t.Fatal(err)
	}
	defer seg.Close()
	b := seg.Bytes()
	if len(data) > 0 {
		for i := offTail; i < len(b); i += len(data) {
			copy(b[i:], data)
		}
	}
	le := binary.LittleEndian
	// Keep the cursors near each other half of the time, so that records
	// are read rather than the cursors refused at once.
	if sel&0x40 != 0 {
		h := le.Uint64(b[offHead:]) &^ 7 % (1 << 40)
		le.PutUint64(b[offHead:], h)
		le.PutUint64(b[offTail:], h+le.Uint64(b[offTail:])%(capacity+16)&^7)
	}
	clear(b[offMagic:offTail])
	le.PutUint64(b[offMagic:], magic)
	le.PutUint32(b[offVersion:], layoutVersion)
	slots := 1
	if sel&0x80 != 0 {
		le.PutUint32(b[offFlags:], flagMultiProducer)
		slots = maxSlots
	}
	le.PutUint64(b[offCapacity:], capacity)
	le.PutUint32(b[offMaxMsg:], uint32(maxMessageFor(capacity)))
	le.PutUint32(b[offSlots:], uint32(slots))
	if sel&0x20 != 0 {
		// Competing consumers: the take cursor and the consumer table are
		// the fuzz data too; half the time take lies from head to tail.
		le.PutUint32(b[offFlags:], le.Uint32(b[offFlags:])|flagConsumers)
		le.PutUint32(b[offConsN:], 2+uint32(sel)%3)
		if sel&0x40 != 0 {
			h, t := le.Uint64(b[offHead:]), le.Uint64(b[offTail:])
			le.PutUint64(b[offTake:], h+(le.Uint64(b[offTake:])%(t-h+8))&^7)
		}
	}
	return name
}

// exercise receives and sends on a queue that may be garbage, each call
// bounded by a short timeout; it must not panic, and every call must return.
func exercise(t testing.TB, name string, rounds int) {
	q, err := Open(name, Wait(Block))
	if err != nil {
		if !errors.Is(err, ErrCorrupt) {
			t.Fatalf("Open: %v", err)
		}
		return
	}
	defer q.Close()
	if _, err := Stat(name); err != nil && !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Stat: %v", err)
	}
	buf := make([]byte, 0, 64)
	for i := range rounds {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Millisecond)
		switch i % 5 {
		case 0:
			buf, err = q.Receive(ctx, buf)
		case 1:
			buf, err = q.TryReceive(buf)
		case 2:
			var m []byte
			if m, err = q.Peek(ctx); err == nil {
				_ = append(buf[:0], m...)
				err = q.Release()
			}
		case 3:
			err = q.TrySend(buf[:len(buf)%8])
		case 4:
			msgs := [][]byte{buf, nil, nil}
			_, err = q.ReceiveBatch(ctx, msgs)
			buf = msgs[0]
		}
		cancel()
		if err != nil && !errors.Is(err, ErrCorrupt) && !errors.Is(err, context.DeadlineExceeded) &&
			!errors.Is(err, ErrBusy) && !errors.Is(err, ErrPeerDead) && err != ErrFull && err != ErrEmpty && err != io.EOF {
			t.Fatalf("round %d: unexpected error %v", i, err)
		}
	}
}

func FuzzOpenReceive(f *testing.F) {
	f.Add([]byte{0})
	f.Add([]byte{0x41, 0, 0, 0, 0, 0, 0, 0, 0, 16, 0, 0, 0, 0, 0, 0, 0})
	f.Add([]byte{0xc2, 8, 0, 0, 0, 0, 0, 0, 0, 200, 1, 0, 0, 0, 0, 0, 0, 5, 0, 0, 0, 0, 0, 0, 0x10})
	f.Add([]byte{0x40, 0, 0, 0, 0, 0, 0, 0, 0, 64, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0x30})
	f.Add([]byte{0x60, 0, 0, 0, 0, 0, 0, 0, 0, 64, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0x10})
	f.Add([]byte{0xe1, 8, 0, 0, 0, 0, 0, 0, 0, 200, 1, 0, 0, 0, 0, 0, 0, 0x19, 0, 0, 0, 0, 0, 0, 0x10})
	f.Fuzz(func(t *testing.T, data []byte) {
		// Raw bytes as a header: Probe must refuse them or read them.
		Probe(data)
		if len(data) > 1<<16 {
			return
		}
		exercise(t, hostileSegment(t, data), 12)
	})
}

// TestHostilePeer rewrites the cursors and record headers of a queue at
// random while a consumer receives from it and a producer sends to it: every
// call returns, with a message or an error, and nothing panics.
func TestHostilePeer(t *testing.T) {
	shmtest.SkipShort(t)
	for _, multi := range []bool{false, true} {
		var opts []Option
		if multi {
			opts = append(opts, MultiProducer())
		}
		name, p, c := pair(t, 1024, opts...)
		seg, err := shm.Open(name)
		if err != nil {
			t.Fatal(err)
		}
		defer seg.Close()
		stop := make(chan struct{})
		done := make(chan struct{})
		go func() {
			defer close(done)
			rnd := rand.New(rand.NewPCG(3, 4))
			var w [8]byte
			for {
				select {
				case <-stop:
					return
				default:
				}
				binary.LittleEndian.PutUint64(w[:], rnd.Uint64()>>rnd.IntN(64))
				var off int64
				switch rnd.IntN(4) {
				case 0:
					off = offTail
				case 1:
					off = offHead
				default: // a record header somewhere in the ring
					off = headerSize + int64(rnd.IntN(1024/8))*8
					if rnd.IntN(2) == 0 {
						binary.LittleEndian.PutUint32(w[4:], rnd.Uint32N(6)<<kindShift|rnd.Uint32N(64)<<slotShift)
					}
				}
				seg.WriteAt(w[:], off)
				time.Sleep(time.Duration(rnd.IntN(50)) * time.Microsecond)
			}
		}()
		deadline := time.Now().Add(500 * time.Millisecond)
		buf := make([]byte, 0, 600)
		msg := make([]byte, 100)
		for i := 0; time.Now().Before(deadline); i++ {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Millisecond)
			start := time.Now()
			if i%2 == 0 {
				p.Send(ctx, msg[:i%100])
			} else {
				buf, _ = c.Receive(ctx, buf)
			}
			cancel()
			if d := time.Since(start); d > time.Second {
				t.Fatalf("a call took %v with a 5 ms timeout", d)
			}
		}
		close(stop)
		<-done
	}
}

var _ = os.Getpid
