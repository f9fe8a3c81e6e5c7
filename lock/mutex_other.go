//go:build !linux

package lock

import (
	"context"
	"errors"
	"fmt"
	"runtime"

	"github.com/shmkit/shm"
)

// This file keeps the package building on systems other than Linux, where
// the Mutex (futexes, /proc) is not available: every call fails with an
// error matching errors.ErrUnsupported. Seqlock and Value are portable.

func unsupported(op, name string) error {
	return wrap(op, name, fmt.Errorf("%w: lock.Mutex supports Linux only, not %s", errors.ErrUnsupported, runtime.GOOS))
}

// Mutex is a cross-process mutex. On this system it cannot be made.
type Mutex struct{ name string }

// MutexIn is not supported on this system.
func MutexIn(b []byte, opts ...Option) (*Mutex, error) {
	c := newConfig(opts)
	return nil, unsupported("mutex open", c.name)
}

// MutexAt is not supported on this system.
func MutexAt(seg *shm.Segment, off int, opts ...Option) (*Mutex, error) {
	c := newConfig(opts)
	return nil, unsupported("mutex open", c.name)
}

// Lock is not supported on this system.
func (m *Mutex) Lock(ctx context.Context) error { return unsupported("mutex lock", m.name) }

// TryLock is not supported on this system.
func (m *Mutex) TryLock() (bool, error) { return false, unsupported("mutex trylock", m.name) }

// Unlock is not supported on this system.
func (m *Mutex) Unlock() error { return unsupported("mutex unlock", m.name) }

// MarkConsistent is not supported on this system.
func (m *Mutex) MarkConsistent() error { return unsupported("mutex mark consistent", m.name) }

// Reset does nothing on this system.
func (m *Mutex) Reset() {}
