//go:build linux

package lock_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/shmkit/shm"
	"github.com/shmkit/shm/internal/mem"
	"github.com/shmkit/shm/internal/shmtest"
	"github.com/shmkit/shm/lock"
)

// snap is the seqlock test payload: data derived from seq, and a checksum
// over both, so a snapshot mixing two writes fails the check.
type snap struct {
	Seq  uint64
	Data [29]uint64
	Sum  uint64
}

func mix(x uint64) uint64 { // splitmix64's finaliser
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	return x ^ x>>31
}

func checksum(s *snap) uint64 {
	h := s.Seq
	for _, d := range s.Data {
		h = (h<<7 | h>>57) ^ d
	}
	return h
}

func makeSnap(seq uint64) snap {
	s := snap{Seq: seq}
	for i := range s.Data {
		s.Data[i] = mix(seq<<6 + uint64(i))
	}
	s.Sum = checksum(&s)
	return s
}

// valid: the checksum holds, or it is the zero value nobody stored yet.
func valid(s *snap) bool { return *s == snap{} || s.Sum == checksum(s) }

func seqWriter(b []byte, arg string) error {
	d, err := time.ParseDuration(arg)
	if err != nil {
		return err
	}
	v, err := lock.ValueIn[snap](b[offValue:])
	if err != nil {
		return err
	}
	end := time.Now().Add(d)
	seq := uint64(0)
	for {
		for range 256 {
			seq++
			v.Store(makeSnap(seq))
		}
		if time.Now().After(end) {
			break
		}
	}
	fmt.Println("wrote", seq)
	return nil
}

func seqReader(b []byte, arg string) error {
	d, err := time.ParseDuration(arg)
	if err != nil {
		return err
	}
	v, err := lock.ValueIn[snap](b[offValue:])
	if err != nil {
		return err
	}
	var snapshots, raced, torn, changes, busy int
	last := uint64(0)
	end := time.Now().Add(d)
	for i := 0; ; i++ {
		if i%64 == 0 && time.Now().After(end) {
			break
		}
		var s snap
		if i%2 == 0 {
			var ok bool
			if s, ok = v.TryLoad(); !ok {
				raced++
				continue
			}
		} else if s, err = v.Load(); err != nil {
			if !errors.Is(err, lock.ErrBusy) {
				return err
			}
			busy++
			continue
		}
		snapshots++
		if !valid(&s) {
			torn++
		}
		if s.Seq != last {
			changes++
			last = s.Seq
		}
	}
	fmt.Println("snapshots", snapshots, "raced", raced, "torn", torn, "changes", changes, "busy", busy)
	return nil
}

// TestSeqlockProcesses runs a writer process storing at full speed and
// reader processes that verify the checksum of every snapshot.
func TestSeqlockProcesses(t *testing.T) {
	shmtest.SkipShort(t)
	_, name := newSeg(t)
	const readers = 3
	w := startChild(t, "write", name, "1500ms")
	var rs []*child
	for range readers {
		rs = append(rs, startChild(t, "read", name, "1200ms"))
	}
	total, totalRaced := 0, 0
	for i, r := range rs {
		l := r.line(t, 30*time.Second)
		var snapshots, raced, torn, changes, busy int
		if _, err := fmt.Sscanf(l, "snapshots %d raced %d torn %d changes %d busy %d", &snapshots, &raced, &torn, &changes, &busy); err != nil {
			t.Fatalf("reader %d said %q: %v", i, l, err)
		}
		t.Logf("reader %d: %s", i, l)
		if torn != 0 {
			t.Errorf("reader %d saw %d torn snapshots", i, torn)
		}
		if changes < 2 {
			t.Errorf("reader %d saw the value change %d times", i, changes)
		}
		if err := r.wait(t, 30*time.Second); err != nil {
			t.Errorf("reader %d: %v", i, err)
		}
		total += snapshots
		totalRaced += raced
	}
	t.Logf("writer: %s", w.line(t, 30*time.Second))
	if err := w.wait(t, 30*time.Second); err != nil {
		t.Fatalf("writer: %v", err)
	}
	if total < 1000 {
		t.Errorf("readers got only %d snapshots", total)
	}
	if totalRaced == 0 {
		t.Errorf("no read raced with a write: the test did not exercise the seqlock")
	}
}

func TestValueTypes(t *testing.T) {
	seg, _ := newSeg(t)
	b := seg.Bytes()
	type plain struct {
		A int32
		B [4]float64
		C complex128
		D [2]struct{ X, Y uint8 }
		E uintptr
	}
	type withString struct {
		A int
		S string
	}
	type nested struct {
		In [3]struct{ P *int }
	}
	tests := []struct {
		name    string
		open    func() error
		wantErr string // substring; "" means accepted
	}{
		{"int", func() error { _, err := lock.ValueIn[int](b); return err }, ""},
		{"struct", func() error { _, err := lock.ValueIn[plain](b); return err }, ""},
		{"array", func() error { _, err := lock.ValueIn[[7]uint8](b); return err }, ""},
		{"empty struct", func() error { _, err := lock.ValueIn[struct{}](b); return err }, ""},
		{"string", func() error { _, err := lock.ValueIn[string](b); return err }, "string is a string"},
		{"pointer", func() error { _, err := lock.ValueIn[*int](b); return err }, "*int is a ptr"},
		{"slice", func() error { _, err := lock.ValueIn[[]int](b); return err }, "is a slice"},
		{"map", func() error { _, err := lock.ValueIn[map[int]int](b); return err }, "is a map"},
		{"chan", func() error { _, err := lock.ValueIn[chan int](b); return err }, "is a chan"},
		{"func", func() error { _, err := lock.ValueIn[func()](b); return err }, "is a func"},
		{"interface", func() error { _, err := lock.ValueIn[any](b); return err }, "is a interface"},
		{"unsafe.Pointer", func() error { _, err := lock.ValueIn[unsafe.Pointer](b); return err }, "unsafe.Pointer"},
		{"bool", func() error { _, err := lock.ValueIn[bool](b); return err }, "use uint8"},
		{"string field", func() error { _, err := lock.ValueIn[withString](b); return err }, "withString.S is a string"},
		{"pointer in array in struct", func() error { _, err := lock.ValueIn[nested](b); return err }, "nested.In[i].P is a ptr"},
		{"too small", func() error { _, err := lock.ValueIn[[64]uint64](b[:100]); return err }, "does not fit"},
		{"misaligned", func() error { _, err := lock.ValueIn[uint64](b[4:]); return err }, "a multiple of 8 (SeqlockAlign)"},
		{"misaligned offset", func() error { _, err := lock.ValueAt[uint64](seg, 3); return err }, "a multiple of 8 (SeqlockAlign)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.open()
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if !errors.Is(err, shm.ErrInvalid) || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err = %v, want ErrInvalid mentioning %q", err, tc.wantErr)
			}
		})
	}
}

func TestValueRoundTrip(t *testing.T) {
	seg, _ := newSeg(t)
	b := seg.Bytes()
	t.Run("odd size", func(t *testing.T) {
		type odd struct {
			A uint8
			B [2]uint16
			C [6]uint8
		} // 11 bytes
		v, err := lock.ValueIn[odd](b)
		if err != nil {
			t.Fatal(err)
		}
		if got := lock.ValueSize[odd](); got != lock.SeqlockHeader+16 {
			t.Fatalf("ValueSize = %d, want %d", got, lock.SeqlockHeader+16)
		}
		if x, err := v.Load(); err != nil || x != (odd{}) {
			t.Fatalf("Load of fresh value = %+v, %v", x, err)
		}
		want := odd{A: 1, B: [2]uint16{0x203, 0x405}, C: [6]uint8{6, 7, 8, 9, 10, 11}}
		v.Store(want)
		if x, err := v.Load(); err != nil || x != want {
			t.Fatalf("Load = %+v, %v; want %+v", x, err, want)
		}
		if x, ok := v.TryLoad(); !ok || x != want {
			t.Fatalf("TryLoad = %+v, %v", x, ok)
		}
	})
	t.Run("snap", func(t *testing.T) {
		v, err := lock.ValueIn[snap](b[512:])
		if err != nil {
			t.Fatal(err)
		}
		for i := range uint64(100) {
			v.Store(makeSnap(i))
			if x, err := v.Load(); err != nil || x != makeSnap(i) {
				t.Fatalf("Load = %+v, %v", x.Seq, err)
			}
		}
	})
}

// TestSeqlockBusy plants a write in progress (an odd sequence, as a writer
// that died mid-write leaves it) and checks that readers give up with
// ErrBusy and that the next write repairs it.
func TestSeqlockBusy(t *testing.T) {
	seg, _ := newSeg(t)
	b := seg.Bytes()
	v, err := lock.ValueIn[uint64](b, lock.ReadTimeout(30*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	v.Store(7)
	seq, err := mem.Uint64(b, 0)
	if err != nil {
		t.Fatal(err)
	}
	seq.Add(1) // a writer began and died
	start := time.Now()
	if _, err := v.Load(); !errors.Is(err, lock.ErrBusy) {
		t.Fatalf("Load = %v, want ErrBusy", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("Load gave up after %v", d)
	}
	if _, ok := v.TryLoad(); ok {
		t.Fatal("TryLoad succeeded during a write")
	}
	v.Store(8)
	if seq.Load()%2 != 0 {
		t.Fatalf("sequence %d still odd after a write", seq.Load())
	}
	if x, err := v.Load(); err != nil || x != 8 {
		t.Fatalf("Load = %d, %v; want 8", x, err)
	}
}

func TestSeqlockBytes(t *testing.T) {
	seg, _ := newSeg(t)
	s, err := lock.SeqlockIn(seg.Bytes(), 13)
	if err != nil {
		t.Fatal(err)
	}
	if s.Len() != 13 || lock.SeqlockSize(13) != lock.SeqlockHeader+16 {
		t.Fatalf("Len %d, SeqlockSize %d", s.Len(), lock.SeqlockSize(13))
	}
	if err := s.Write(make([]byte, 12)); !errors.Is(err, shm.ErrInvalid) {
		t.Fatalf("short Write = %v", err)
	}
	if err := s.Read(make([]byte, 14)); !errors.Is(err, shm.ErrInvalid) {
		t.Fatalf("long Read = %v", err)
	}
	in := []byte("hello, shared")
	if err := s.Write(in); err != nil {
		t.Fatal(err)
	}
	out := make([]byte, 13)
	if err := s.Read(out); err != nil || string(out) != string(in) {
		t.Fatalf("Read = %q, %v", out, err)
	}
	// Readers work on a read-only mapping.
	ro, err := shm.Open(seg.Name(), shm.ReadOnly())
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	rs, err := lock.SeqlockIn(ro.Bytes(), 13)
	if err != nil {
		t.Fatal(err)
	}
	clear(out)
	if err := rs.Read(out); err != nil || string(out) != string(in) {
		t.Fatalf("read-only Read = %q, %v", out, err)
	}
}

// TestSeqlockWriterDeath kills a writer process in the middle of storing at
// full speed. Readers then get either a valid snapshot or, when the kill
// left a write open, ErrBusy; the next Store repairs the sequence.
func TestSeqlockWriterDeath(t *testing.T) {
	seg, name := newSeg(t)
	v, err := lock.ValueIn[snap](seg.Bytes()[offValue:], lock.ReadTimeout(20*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	busy := 0
	for i := range 10 {
		w := startChild(t, "write", name, "1h")
		// Let it get going; it prints nothing until it is done.
		deadline := time.Now().Add(30 * time.Second)
		for {
			s, err := v.Load()
			if err == nil && s.Seq > 1000 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("round %d: writer made no progress", i)
			}
			time.Sleep(time.Millisecond)
		}
		w.kill(t)
		w.killed(t)
		s, err := v.Load()
		switch {
		case errors.Is(err, lock.ErrBusy):
			busy++
		case err != nil:
			t.Fatalf("round %d: Load = %v", i, err)
		case !valid(&s):
			t.Fatalf("round %d: torn snapshot after the writer died", i)
		}
		v.Store(makeSnap(uint64(i)))
		if s, err := v.Load(); err != nil || s != makeSnap(uint64(i)) {
			t.Fatalf("round %d: Load after repair = %v, %v", i, s.Seq, err)
		}
	}
	t.Logf("%d of 10 kills left a write open", busy)
}

// FuzzSeqlock plants arbitrary bytes as a Value's sequence and payload: Load
// ends within its ReadTimeout with a snapshot or ErrBusy, never a panic.
func FuzzSeqlock(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{1, 0, 0, 0, 0, 0, 0, 0, 42})
	f.Add([]byte{2, 0, 0, 0, 0, 0, 0, 0, 42})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	// sequence, wake, sleepers, writer word: a dead writer, a closed one.
	f.Add([]byte{2, 0, 0, 0, 0, 0, 0, 0, 9, 0, 0, 0, 1, 0, 0, 0, 0x41, 0x30, 0, 0, 0, 0, 0, 0})
	f.Add([]byte{3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x42, 0x30, 0, 0, 0, 0, 0, 0})
	seg, _ := newSeg(f)
	region := seg.Bytes()[offValue : offValue+lock.ValueSize[snap]()]
	v, err := lock.ValueIn[snap](region, lock.ReadTimeout(time.Millisecond), lock.File(seg.Fd()))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		clear(region)
		copy(region, data)
		start := time.Now()
		_, err := v.Load()
		if d := time.Since(start); d > 2*time.Second {
			t.Fatalf("Load took %v", d)
		}
		odd := len(data) > 0 && data[0]&1 != 0
		if odd != errors.Is(err, lock.ErrBusy) {
			t.Fatalf("sequence odd %v, Load error %v", odd, err)
		}
		// Wait and Writer on whatever the header holds: an answer, never a
		// hang or a panic.
		start = time.Now()
		if _, err := v.Writer(); err != nil && !errors.Is(err, lock.ErrCorrupt) {
			t.Fatalf("Writer = %v", err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		_, _, err = v.Wait(ctx, 0)
		cancel()
		if err != nil && !errors.Is(err, lock.ErrCorrupt) && !errors.Is(err, lock.ErrWriterClosed) &&
			!errors.Is(err, lock.ErrWriterDead) && !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Wait = %v", err)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Fatalf("Writer and Wait took %v", d)
		}
		v.Store(makeSnap(7))
		if s, err := v.Load(); err != nil || s != makeSnap(7) {
			t.Fatalf("Load after Store = %v, %v", s.Seq, err)
		}
	})
}

// TestReadOnlySegment: readers work on a ReadOnly mapping; writers are
// refused with an error (or, for Value.Store, which returns none, a panic)
// rather than faulting.
func TestReadOnlySegment(t *testing.T) {
	seg, name := newSeg(t)
	w, err := lock.ValueAt[uint64](seg, offValue)
	if err != nil {
		t.Fatal(err)
	}
	w.Store(99)
	ro, err := shm.Open(name, shm.ReadOnly())
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()

	if _, err := lock.MutexAt(ro, offMutex); !errors.Is(err, shm.ErrReadOnly) {
		t.Fatalf("MutexAt(read-only) = %v, want ErrReadOnly", err)
	}
	r, err := lock.ValueAt[uint64](ro, offValue)
	if err != nil {
		t.Fatal(err)
	}
	if x, err := r.Load(); err != nil || x != 99 {
		t.Fatalf("read-only Load = %d, %v", x, err)
	}
	func() {
		defer func() {
			if recover() == nil {
				t.Fatal("Store on a read-only Value did not panic")
			}
		}()
		r.Store(1)
	}()
	s, err := lock.SeqlockAt(ro, offValue, 8)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Write(make([]byte, 8)); !errors.Is(err, shm.ErrReadOnly) {
		t.Fatalf("read-only Write = %v, want ErrReadOnly", err)
	}
	p := make([]byte, 8)
	if err := s.Read(p); err != nil || p[0] != 99 {
		t.Fatalf("read-only Read = %v, %v", p, err)
	}
}
