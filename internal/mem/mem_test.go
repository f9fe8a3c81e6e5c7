package mem

import (
	"encoding/binary"
	"testing"
)

func TestUint64s(t *testing.T) {
	b := make([]uint64, 4) // 8-byte aligned backing
	buf := unsafeBytes(b)
	w, err := Uint64s(buf)
	if err != nil || len(w) != 4 {
		t.Fatalf("Uint64s of 32 aligned bytes: %d words, %v", len(w), err)
	}
	w[2].Store(0x0102030405060708)
	if got := binary.LittleEndian.Uint64(buf[16:]); got != 0x0102030405060708 {
		t.Errorf("word 2 reads %#x through the bytes", got)
	}
	for _, tc := range []struct {
		name string
		b    []byte
	}{{"misaligned", buf[1:9]}, {"ragged length", buf[:12]}} {
		if _, err := Uint64s(tc.b); err == nil {
			t.Errorf("%s: no error", tc.name)
		}
	}
	if w, err := Uint64s(nil); w != nil || err != nil {
		t.Errorf("Uint64s(nil) = %v, %v", w, err)
	}
}
