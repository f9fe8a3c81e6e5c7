//go:build linux

package sem

import (
	"encoding/binary"
	"errors"
	"testing"
	"time"
)

// FuzzSemaphoreState feeds random bytes as a semaphore's 32 bytes, as a
// broken or hostile peer could leave them, and runs TryWait, WaitTimeout,
// Post and Value on them. None may panic or wait unboundedly, a corrupt
// value must be refused by all of them without a change, and a sane state
// must come out exactly as glibc's protocol says with the waiter count as
// it was.
func FuzzSemaphoreState(f *testing.F) {
	seed := func(data uint64, private uint32) []byte {
		b := make([]byte, Size)
		putState(b, data, private)
		return b
	}
	f.Add(seed(0, privateShared))
	f.Add(seed(1, privateShared))
	f.Add(seed(2|3<<nwaitersShift, privateShared))
	f.Add(seed(ValueMax, privateShared))
	f.Add(seed(ValueMax+1, privateShared))
	f.Add(seed(0xffffffffffffffff, 0xffffffff))
	f.Add(seed(uint64(maxWaiters)<<nwaitersShift, privatePrivate))
	f.Add(seed(uint64(maxWaiters+1)<<nwaitersShift|1, privateShared))

	seg := segment(f, 4096)
	s, err := Init(seg, 0, 0)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) < Size {
			b = append(b, make([]byte, Size-len(b))...)
		}
		b = b[:Size]
		if _, err := seg.WriteAt(b, 0); err != nil {
			t.Fatal(err)
		}
		d0 := binary.NativeEndian.Uint64(b)
		v0, n0 := uint32(d0), d0>>nwaitersShift

		_, atErr := At(seg, 0)
		if atErr != nil && !errors.Is(atErr, ErrCorrupt) && !errors.Is(atErr, ErrNotShared) {
			t.Fatalf("At: %v", atErr)
		}
		if (v0 > ValueMax || n0 > maxWaiters) && atErr == nil {
			t.Fatalf("At accepted data %#x", d0)
		}

		start := time.Now()
		took, tryErr := s.TryWait()
		waitErr := s.WaitTimeout(time.Millisecond)
		postErr := s.Post()
		v, valErr := s.Value()
		if time.Since(start) > 5*time.Second {
			t.Fatalf("operations on %x took %v", b, time.Since(start))
		}
		d := s.data.Load()

		if v0 > ValueMax {
			for _, err := range []error{tryErr, waitErr, postErr, valErr} {
				if !errors.Is(err, ErrCorrupt) {
					t.Fatalf("value %#x: got %v, want ErrCorrupt", v0, err)
				}
			}
			if d != d0 {
				t.Fatalf("a corrupt state %#x was changed to %#x", d0, d)
			}
			return
		}
		if tryErr != nil || postErr != nil || valErr != nil {
			t.Fatalf("state %#x: TryWait %v, Post %v, Value %v", d0, tryErr, postErr, valErr)
		}
		if took != (v0 > 0) {
			t.Fatalf("state %#x: TryWait took %v", d0, took)
		}
		want := int(v0) - 1
		switch {
		case v0 >= 2:
			want = int(v0) - 1 // TryWait, WaitTimeout and Post each moved it by one
			if waitErr != nil {
				t.Fatalf("state %#x: WaitTimeout with a token: %v", d0, waitErr)
			}
		case n0 >= maxWaiters:
			want = 1
			if !errors.Is(waitErr, ErrCorrupt) {
				t.Fatalf("state %#x: WaitTimeout = %v, want ErrCorrupt", d0, waitErr)
			}
		default:
			want = 1
			if !errors.Is(waitErr, ErrTimeout) {
				t.Fatalf("state %#x: WaitTimeout = %v, want ErrTimeout", d0, waitErr)
			}
		}
		if v != want || d>>nwaitersShift != n0 {
			t.Fatalf("state %#x became %#x (value %d); want value %d, waiters %d", d0, d, v, want, n0)
		}
	})
}
