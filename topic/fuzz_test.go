package topic

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/shmkit/shm"
	"github.com/shmkit/shm/internal/shmtest"
)

// hostileSegment makes a segment that passes Open's header checks (the
// first fuzz byte chooses capacity, policy and history) and whose cursors,
// wait words, roles, subscriber table and ring are the rest of data,
// repeated as needed.
func hostileSegment(t testing.TB, data []byte) string {
	name := shmtest.Name(t, "")
	var sel byte
	if len(data) > 0 {
		sel, data = data[0], data[1:]
	}
	capacity := uint64(MinCapacity) << (sel % 5)
	const nsubs = 4
	header := headerSizeFor(nsubs)
	seg, err := shm.Create(name, int64(uint64(header)+capacity))
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
		o := le.Uint64(b[offOldest:]) &^ 15 % (1 << 40)
		le.PutUint64(b[offOldest:], o)
		le.PutUint64(b[offTail:], o+le.Uint64(b[offTail:])%(capacity+32)&^15)
	}
	clear(b[offMagic:offTail])
	le.PutUint64(b[offMagic:], magic)
	le.PutUint32(b[offVersion:], layoutVersion)
	if sel&0x80 != 0 {
		le.PutUint32(b[offFlags:], flagOverwr)
	}
	le.PutUint64(b[offCapacity:], capacity)
	le.PutUint32(b[offMaxMsg:], uint32(maxMessageFor(capacity)))
	le.PutUint32(b[offSubscribers:], nsubs)
	le.PutUint32(b[offHistory:], uint32(sel>>5&1)*3)
	return name
}

var documented = []error{ErrCorrupt, ErrPeerDead, ErrBusy, ErrTooLarge, ErrFull, ErrEmpty, ErrLagged, io.EOF, context.DeadlineExceeded}

func isDocumented(err error) bool {
	for _, d := range documented {
		if errors.Is(err, d) {
			return true
		}
	}
	return false
}

// exercise subscribes, receives and publishes on a topic that may be
// garbage, each call bounded by a short timeout; it must not panic, every
// error must be a documented one, and every call must return.
func exercise(t testing.TB, name string, rounds int) {
	tp, err := Open(name, SpinTime(0))
	if err != nil {
		if !errors.Is(err, ErrCorrupt) {
			t.Fatalf("Open: %v", err)
		}
		return
	}
	defer tp.Close()
	if _, err := Stat(name); err != nil && !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Stat: %v", err)
	}
	buf := make([]byte, 0, 64)
	for i := range rounds {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Millisecond)
		start := time.Now()
		switch i % 5 {
		case 0:
			buf, err = tp.Receive(ctx, buf)
		case 1:
			buf, err = tp.TryReceive(buf)
		case 2:
			var m []byte
			if m, err = tp.Peek(ctx); err == nil {
				_ = len(m)
				err = tp.Release()
			}
		case 3:
			err = tp.Publish(ctx, make([]byte, i%40))
		case 4:
			err = tp.PublishBatch(ctx, [][]byte{{1}, {2, 3}})
		}
		cancel()
		if d := time.Since(start); d > 3*time.Second {
			t.Fatalf("round %d took %v", i, d)
		}
		if err != nil && !isDocumented(err) {
			t.Fatalf("round %d: undocumented error %v", i, err)
		}
		if err != nil && errors.Is(err, ErrCorrupt) && i%5 < 3 {
			return // the subscriber's view is broken for good
		}
	}
}

func FuzzOpenHostile(f *testing.F) {
	f.Add([]byte{0})
	f.Add([]byte{0x41, 0x10, 0, 0, 0, 0, 0, 0, 0, 0x20, 0, 0, 0, 0, 0, 0, 0})
	f.Add([]byte{0xc2, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	f.Add([]byte{0x63, 1, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		exercise(t, hostileSegment(t, data), 10)
	})
}
