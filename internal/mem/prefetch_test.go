package mem

import (
	"bytes"
	"testing"
)

func TestPrefetchWrite(t *testing.T) {
	buf := make([]byte, 4096)
	for i := range buf {
		buf[i] = byte(i * 13)
	}
	want := bytes.Clone(buf)
	for _, c := range []struct{ from, to int }{{0, 0}, {0, 1}, {1, 64}, {63, 65}, {7, 1031}, {0, 4096}, {4095, 4096}} {
		PrefetchWrite(buf[c.from:c.to])
		if !bytes.Equal(buf, want) {
			t.Fatalf("PrefetchWrite(buf[%d:%d]) changed the buffer", c.from, c.to)
		}
	}
}
