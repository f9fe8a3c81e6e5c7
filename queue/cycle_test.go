package queue

import (
	"encoding/binary"
	"errors"
	"testing"
)

// TestHostileRecordCycle: records a hostile writer arranges so that the
// consumer would pass them for ever (a wrap record at the ring's start, a
// ring of skip records with no end marker) are reported as corruption,
// not spun on.
func TestHostileRecordCycle(t *testing.T) {
	for _, tc := range []struct {
		name  string
		write func(ring []byte)
	}{
		{"wrap at ring offset 0", func(ring []byte) {
			binary.LittleEndian.PutUint32(ring[0:], uint32(len(ring)-recordHeader))
			binary.LittleEndian.PutUint32(ring[4:], recordState(kindWrap, 0, 1))
		}},
		{"a ring of skip records", func(ring []byte) {
			for off := 0; off < len(ring); off += recordHeader {
				binary.LittleEndian.PutUint32(ring[off:], 0)
				binary.LittleEndian.PutUint32(ring[off+4:], recordState(kindSkip, 0, 1))
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, p, c := pair(t, 4096)
			for range 3 {
				if err := p.TrySend([]byte("message")); err != nil {
					t.Fatal(err)
				}
			}
			tc.write(p.seg.Bytes()[headerSize:])
			_, err := c.Receive(ctxT(t), nil)
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Receive: %v, want ErrCorrupt", err)
			}
		})
	}
}
