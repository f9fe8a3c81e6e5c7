package mem

import (
	"bytes"
	"fmt"
	"testing"
)

// pattern returns n bytes that differ from their neighbours and from a
// shifted copy of themselves.
func pattern(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7) ^ byte(i>>8) ^ seed
	}
	return b
}

func zero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// copiers are the ways to copy under test: Copy as this machine runs it,
// and its REP MOVSB path (on amd64 the instruction itself) forced.
var copiers = []struct {
	name string
	copy func(dst, src []byte) int
}{
	{"Copy", Copy},
	{"forced", func(dst, src []byte) int {
		defer ForceRepMovsb()()
		return Copy(dst, src)
	}},
}

func TestCopy(t *testing.T) {
	t.Logf("REP MOVSB for blocks of %d bytes or more on this machine: %v", RepMovsbMin, useRepMovsb)
	sizes := []int{0, 1, 63, 4096, RepMovsbMin - 1, RepMovsbMin, RepMovsbMin + 1, 64<<10 + 3}
	for _, c := range copiers {
		for _, n := range sizes {
			for _, shift := range []int{0, 1, 8, 63} { // the destination's misalignment
				src := pattern(n, 1)
				buf := make([]byte, n+shift+16)
				dst := buf[shift : shift+n]
				if got := c.copy(dst, src); got != n {
					t.Fatalf("%s of %d bytes at +%d returned %d", c.name, n, shift, got)
				}
				if !bytes.Equal(dst, src) {
					t.Fatalf("%s of %d bytes at +%d: the copy differs", c.name, n, shift)
				}
				if !zero(buf[:shift]) || !zero(buf[shift+n:]) {
					t.Fatalf("%s of %d bytes at +%d wrote outside its destination", c.name, n, shift)
				}
			}
		}
	}
}

func TestCopyShorter(t *testing.T) {
	tests := []struct{ dst, src, want int }{
		{RepMovsbMin, 2 * RepMovsbMin, RepMovsbMin},
		{2 * RepMovsbMin, RepMovsbMin + 5, RepMovsbMin + 5},
		{RepMovsbMin - 1, 2 * RepMovsbMin, RepMovsbMin - 1},
	}
	for _, c := range copiers {
		for _, tt := range tests {
			src := pattern(tt.src, 2)
			dst := make([]byte, tt.dst)
			if got := c.copy(dst, src); got != tt.want {
				t.Errorf("%s(%d bytes, %d bytes) = %d, want %d", c.name, tt.dst, tt.src, got, tt.want)
			}
			if !bytes.Equal(dst[:tt.want], src[:tt.want]) {
				t.Errorf("%s(%d bytes, %d bytes): the copy differs", c.name, tt.dst, tt.src)
			}
		}
	}
}

// TestCopyOverlap checks that overlapping slices are copied as the
// built-in copy copies them, in both directions: a forward copy to a
// destination after its source would repeat the source's first bytes.
func TestCopyOverlap(t *testing.T) {
	n := 2 * RepMovsbMin
	for _, c := range copiers {
		for _, d := range []int{-4096, -1, 1, 4096} {
			buf, want := pattern(3*n, 3), pattern(3*n, 3)
			from, to := n, n+d
			copy(want[to:to+n], want[from:from+n])
			if got := c.copy(buf[to:to+n], buf[from:from+n]); got != n {
				t.Fatalf("%s, overlap %+d: returned %d", c.name, d, got)
			}
			if !bytes.Equal(buf, want) {
				t.Errorf("%s, overlap %+d: differs from copy", c.name, d)
			}
		}
	}
}

func TestAppend(t *testing.T) {
	for _, forced := range []bool{false, true} {
		if forced {
			defer ForceRepMovsb()()
		}
		for _, n := range []int{0, 100, RepMovsbMin, RepMovsbMin + 9} {
			for _, spare := range []int{0, n} { // grow, or fit in the capacity
				src := pattern(n, 4)
				dst := append(make([]byte, 0, 3+spare), 'a', 'b', 'c')
				got := Append(dst, src)
				if want := append([]byte("abc"), src...); !bytes.Equal(got, want) {
					t.Fatalf("forced %v: Append of %d bytes to 3 (spare %d): wrong result", forced, n, spare)
				}
				if spare >= n && &got[0] != &dst[0] {
					t.Errorf("forced %v: Append of %d bytes with room for them allocated", forced, n)
				}
			}
		}
		if got := Append(nil, pattern(RepMovsbMin, 5)); !bytes.Equal(got, pattern(RepMovsbMin, 5)) {
			t.Errorf("forced %v: Append to nil: wrong result", forced)
		}
	}
}

func BenchmarkCopy(b *testing.B) {
	for _, n := range []int{4 << 10, 64 << 10} {
		src, dst := pattern(n, 5), make([]byte, n)
		b.Run(fmt.Sprintf("%dKiB", n>>10), func(b *testing.B) {
			b.SetBytes(int64(n))
			for b.Loop() {
				Copy(dst, src)
			}
		})
	}
}
