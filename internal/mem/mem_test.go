package mem

import (
	"encoding/binary"
	"testing"
)

func TestUint64s(t *testing.T) {
	b := make([]uint64, 4) // 8-byte aligned backing
	buf := unsafeBytes(b)
	w, err := Uint64s(buf, 0, 4)
	if err != nil || len(w) != 4 {
		t.Fatalf("Uint64s of 32 aligned bytes: %d words, %v", len(w), err)
	}
	w[2].Store(0x0102030405060708)
	if got := binary.LittleEndian.Uint64(buf[16:]); got != 0x0102030405060708 {
		t.Errorf("word 2 reads %#x through the bytes", got)
	}
	if w, err := Uint64s(buf, 8, 3); err != nil || &w[0] != &Must(Uint64s(buf, 0, 4))[1] {
		t.Errorf("Uint64s(buf, 8, 3) does not start at word 1: %v", err)
	}
	for _, tc := range []struct {
		name   string
		off, n int
	}{{"misaligned", 1, 1}, {"past the end", 8, 4}, {"negative offset", -8, 1}, {"negative count", 0, -1}, {"offset past the end", 40, 0}} {
		if _, err := Uint64s(buf, tc.off, tc.n); err == nil {
			t.Errorf("%s: no error", tc.name)
		}
	}
}
