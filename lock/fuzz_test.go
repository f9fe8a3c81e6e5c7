//go:build linux

package lock_test

import (
	"context"
	"encoding/binary"
	"errors"
	"testing"
	"time"

	"github.com/shmkit/shm/lock"
)

// FuzzMutexState plants arbitrary bytes as a mutex's shared state and runs
// TryLock, Lock (with a short deadline), MarkConsistent and Unlock on it.
// Whatever the bytes, every call returns in bounded time with nil or one of
// the documented errors, and never panics.
func FuzzMutexState(f *testing.F) {
	seg, _ := newSeg(f)
	m := newMutex(f, seg)
	me := self(f, seg, m, lockWord(f, seg))
	other := otherToken(f, seg)
	words := []uint64{
		0, wNotRecoverable, ^uint64(0), 1, 2, 8, 0x10, 0x20,
		ownerBits(me) | wLocked,
		ownerBits(me) | wContended | wInconsistent,
		ownerBits(other) | wLocked,
		ownerBits(deadToken(f, seg)) | wContended,
		ownerBits(1<<58-1) | wContended,
		ownerBits(1) | wLocked,
	}
	for i, w := range words {
		b := make([]byte, lock.MutexSize+1)
		binary.NativeEndian.PutUint64(b, w)
		binary.NativeEndian.PutUint32(b[8:], uint32(i*0x9e3779b9))
		b[lock.MutexSize] = byte(i)
		f.Add(b)
	}
	region := seg.Bytes()[offMutex : offMutex+lock.MutexSize]
	plant := func(data []byte) {
		clear(region)
		copy(region, data)
	}
	known := []error{lock.ErrOwnerDead, lock.ErrNotRecoverable, lock.ErrCorrupt, lock.ErrNotOwner, lock.ErrNotLocked}
	check := func(t *testing.T, op string, err error, extra ...error) {
		t.Helper()
		if err == nil {
			return
		}
		for _, k := range append(known, extra...) {
			if errors.Is(err, k) {
				return
			}
		}
		t.Fatalf("%s: unexpected error %v", op, err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var flags byte
		if len(data) > lock.MutexSize {
			flags = data[lock.MutexSize]
		}
		w := lockWord(t, seg)

		plant(data)
		ok, err := m.TryLock()
		check(t, "TryLock", err)
		if ok {
			if got := w.Load(); got>>tokenShift != me {
				t.Fatalf("TryLock succeeded but the word %#x names another owner", got)
			}
			if flags&1 != 0 {
				check(t, "MarkConsistent", m.MarkConsistent())
			}
			check(t, "Unlock", m.Unlock())
		}

		plant(data)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Millisecond)
		start := time.Now()
		err = m.Lock(ctx)
		cancel()
		if d := time.Since(start); d > 2*time.Second {
			t.Fatalf("Lock took %v", d)
		}
		check(t, "Lock", err, context.DeadlineExceeded)
		if err == nil || errors.Is(err, lock.ErrOwnerDead) {
			if flags&2 != 0 {
				check(t, "MarkConsistent", m.MarkConsistent())
			}
			check(t, "Unlock", m.Unlock())
		}

		plant(data)
		check(t, "MarkConsistent", m.MarkConsistent())
		check(t, "Unlock", m.Unlock())
		m.Reset()
	})
}
