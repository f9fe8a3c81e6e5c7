//go:build linux

package chaos

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shmkit/shm"
	"github.com/shmkit/shm/internal/mem"
	"github.com/shmkit/shm/lock"
	"github.com/shmkit/shm/sem"
)

// The hostile fuzz targets run a script against a primitive in shared
// memory: a byte below 0x80 starts a rewrite of a shared word (as a hostile
// peer would make), the others are operations of a user. The user must get
// a documented error or a plausible result, never a panic, an out-of-range
// access or a call that outlives its deadline. testdata/fuzz/FuzzHostile*
// keeps a small corpus: the inputs that once crashed a worker, and a spread
// of the ones the fuzzer found interesting. Run `go test -fuzz` to find
// more; commit only those that fail or that cover something new.
//
// A rewrite is: op byte (bit 0: 8-byte word, else 4-byte), 2 bytes of
// offset (little endian; the target maps it into its region), 8 bytes of
// value (missing bytes are zero).

type script struct {
	b []byte
	i int
}

func (s *script) next() (byte, bool) {
	if s.i >= len(s.b) {
		return 0, false
	}
	s.i++
	return s.b[s.i-1], true
}

func (s *script) take(n int) []byte {
	var out [8]byte
	k := copy(out[:n], s.b[min(s.i, len(s.b)):])
	s.i += k
	return out[:n]
}

// rewrite applies a rewrite whose op byte was op; where maps the raw offset
// to a byte offset in b.
func (s *script) rewrite(op byte, b []byte, where func(uint16) int) {
	off := int(where(binary.LittleEndian.Uint16(s.take(2))))
	val := binary.LittleEndian.Uint64(s.take(8))
	if op&1 == 1 {
		if w, err := mem.Uint64(b, off&^7); err == nil {
			w.Store(val)
		}
	} else if w, err := mem.Uint32(b, off&^3); err == nil {
		w.Store(uint32(val))
	}
}

// play runs the script: a rewrite of b (where maps the offsets) for each
// byte below 0x80, and for each other byte the user operation that pick
// chooses, under bounded with the allowed errors.
func (s *script) play(t *testing.T, b []byte, where func(uint16) int, allowed []error, pick func(op byte) (what string, call func(ctx context.Context) error)) {
	t.Helper()
	for range fuzzMaxOps {
		op, ok := s.next()
		if !ok {
			return
		}
		if op < 0x80 {
			s.rewrite(op, b, where)
			continue
		}
		what, call := pick(op)
		bounded(t, what, call, allowed...)
	}
}

const (
	fuzzMaxOps  = 64
	fuzzTimeout = time.Millisecond
	fuzzBound   = 3 * time.Second // a call may overrun its deadline by this much at most (a hang, not a latency, bound)
)

var fuzzCounter atomic.Uint64

// fuzzName is a fresh object name for one fuzz input, unlinked by cleanup.
// (A fuzz worker killed when -fuzztime ends runs no cleanup: the queue
// target, which needs its name, may then leave one shmchaos-fuzz-* object.)
func fuzzName(t *testing.T) string {
	n := fmt.Sprintf("shmchaos-fuzz-%d-%d", os.Getpid(), fuzzCounter.Add(1))
	t.Cleanup(func() { shm.Unlink(n) })
	return n
}

// bounded runs f and fails the test if it did not return within its
// deadline plus fuzzBound, or returned an error outside allowed.
func bounded(t *testing.T, what string, f func(ctx context.Context) error, allowed ...error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), fuzzTimeout)
	defer cancel()
	t0 := time.Now()
	err := f(ctx)
	if d := time.Since(t0); d > fuzzTimeout+fuzzBound {
		t.Fatalf("%s took %v", what, d)
	}
	if err == nil {
		return
	}
	for _, a := range allowed {
		if errors.Is(err, a) {
			return
		}
	}
	t.Fatalf("%s: undocumented error: %v", what, err)
}

func FuzzHostileSemaphore(f *testing.F) {
	f.Add([]byte{0x01, 0, 0, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0x80, 0x81, 0x82}) // value 2^32-1
	f.Add([]byte{0x01, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x82, 0x83, 0x80}) // nwaiters at its maximum
	f.Add([]byte{0x00, 8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x86, 0x80, 0x83})             // private flag 0
	f.Add([]byte{0x01, 0, 0, 0xff, 0xff, 0xff, 0x7f, 0, 0, 0, 0, 0x80, 0x80, 0x84}) // at SEM_VALUE_MAX
	f.Add([]byte{0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x80, 0x83})             // every operation
	f.Fuzz(func(t *testing.T, data []byte) {
		name := fuzzName(t)
		seg, err := shm.Create(name, 4096)
		if err != nil {
			t.Fatal(err)
		}
		defer seg.Close()
		shm.Unlink(name) // the mapping is all it needs: a killed fuzz worker leaves nothing
		s, err := sem.Init(seg, 0, 1)
		if err != nil {
			t.Fatal(err)
		}
		b := seg.Bytes()
		where := func(o uint16) int { return int(o) % sem.Size }
		allowed := []error{sem.ErrCorrupt, sem.ErrTimeout, sem.ErrOverflow, sem.ErrNotShared, context.DeadlineExceeded}
		(&script{b: data}).play(t, b, where, allowed, func(op byte) (what string, call func(ctx context.Context) error) {
			switch op % 7 {
			case 0:
				what, call = "Post", func(context.Context) error { return s.Post() }
			case 1:
				what, call = "TryWait", func(context.Context) error { _, err := s.TryWait(); return err }
			case 2:
				what, call = "WaitTimeout", func(context.Context) error { return s.WaitTimeout(fuzzTimeout) }
			case 3:
				what, call = "Wait", func(ctx context.Context) error { return s.Wait(ctx) }
			case 4:
				what, call = "Value", func(context.Context) error {
					v, err := s.Value()
					if err == nil && (v < 0 || v > sem.ValueMax) {
						return fmt.Errorf("Value %d out of range", v)
					}
					return err
				}
			case 5:
				what, call = "Waiters", func(context.Context) error { _, err := s.Waiters(); return err }
			default:
				what, call = "At", func(context.Context) error {
					n, err := sem.At(seg, 0)
					if err == nil {
						s = n
					}
					return err
				}
			}
			return
		})
	})
}

func FuzzHostileMutex(f *testing.F) {
	oldLayout := uint64(os.Getpid())<<4 | 1
	le := func(v uint64) []byte { return binary.LittleEndian.AppendUint64(nil, v) }
	f.Add(append(append([]byte{0x01, 0, 0}, le(3)...), 0x80, 0x81, 0x82))                    // not recoverable
	f.Add(append(append([]byte{0x01, 0, 0}, le(oldLayout)...), 0x80, 0x82, 0x83))            // our pid where a token goes
	f.Add(append(append([]byte{0x01, 0, 0}, le(1<<6|2|4)...), 0x81, 0x83, 0x82, 0x80))       // token 1, inconsistent
	f.Add(append(append([]byte{0x01, 0, 0}, le(uint64(1<<58-1)<<6|1)...), 0x80, 0x83, 0x82)) // a token nobody holds
	f.Add([]byte{0x80, 0x82, 0x81, 0x82, 0x83, 0x84, 0x85})                                  // every operation
	f.Fuzz(func(t *testing.T, data []byte) {
		name := fuzzName(t)
		seg, err := shm.Create(name, 4096)
		if err != nil {
			t.Fatal(err)
		}
		defer seg.Close()
		shm.Unlink(name) // the mapping is all it needs: a killed fuzz worker leaves nothing
		m, err := lock.MutexAt(seg, 0)
		if err != nil {
			t.Fatal(err)
		}
		b := seg.Bytes()
		where := func(o uint16) int { return int(o) % lock.MutexSize }
		allowed := []error{lock.ErrOwnerDead, lock.ErrCorrupt, lock.ErrNotRecoverable, lock.ErrNotOwner, lock.ErrNotLocked, context.DeadlineExceeded}
		(&script{b: data}).play(t, b, where, allowed, func(op byte) (what string, call func(ctx context.Context) error) {
			switch op % 6 {
			case 0:
				what, call = "Lock", func(ctx context.Context) error { return m.Lock(ctx) }
			case 1:
				what, call = "TryLock", func(context.Context) error { _, err := m.TryLock(); return err }
			case 2:
				what, call = "Unlock", func(context.Context) error { return m.Unlock() }
			case 3:
				what, call = "MarkConsistent", func(context.Context) error { return m.MarkConsistent() }
			case 4:
				what, call = "MutexAt", func(context.Context) error {
					n, err := lock.MutexAt(seg, 0)
					if err == nil {
						m = n
					}
					return err
				}
			default:
				what, call = "Reset", func(context.Context) error { m.Reset(); return nil }
			}
			return
		})
	})
}
