//go:build !linux

package sem

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"time"

	"github.com/shmkit/shm"
)

// This file keeps the package building on systems other than Linux, where
// every call fails with an error matching errors.ErrUnsupported.

func unsupported(op, name string) error {
	return &shm.Error{Op: op, Name: name, Err: fmt.Errorf("%w: package sem supports Linux only, not %s", errors.ErrUnsupported, runtime.GOOS)}
}

// Semaphore is a counting semaphore in shared memory. On this system none
// can be made: every function returns errors.ErrUnsupported.
type Semaphore struct{ name string }

// Init is not supported on this system.
func Init(seg *shm.Segment, offset int, value uint32) (*Semaphore, error) {
	return nil, unsupported("sem init", "")
}

// At is not supported on this system.
func At(seg *shm.Segment, offset int) (*Semaphore, error) {
	return nil, unsupported("sem attach", "")
}

// Create is not supported on this system.
func Create(name string, value uint32, opts ...Option) (*Semaphore, error) {
	return nil, unsupported("sem create", name)
}

// Open is not supported on this system.
func Open(name string, opts ...Option) (*Semaphore, error) {
	return nil, unsupported("sem open", name)
}

// OpenOrCreate is not supported on this system.
func OpenOrCreate(name string, value uint32, opts ...Option) (*Semaphore, bool, error) {
	return nil, false, unsupported("sem open", name)
}

// Unlink is not supported on this system.
func Unlink(name string, opts ...Option) error { return unsupported("sem unlink", name) }

// Stat is not supported on this system.
func Stat(name string, opts ...Option) (State, error) {
	return State{}, unsupported("sem stat", name)
}

// Name returns the semaphore's name.
func (s *Semaphore) Name() string { return s.name }

// Post is not supported on this system.
func (s *Semaphore) Post() error { return unsupported("sem post", s.name) }

// TryWait is not supported on this system.
func (s *Semaphore) TryWait() (bool, error) { return false, unsupported("sem trywait", s.name) }

// Wait is not supported on this system.
func (s *Semaphore) Wait(ctx context.Context) error { return unsupported("sem wait", s.name) }

// WaitTimeout is not supported on this system.
func (s *Semaphore) WaitTimeout(d time.Duration) error { return unsupported("sem wait", s.name) }

// Value is not supported on this system.
func (s *Semaphore) Value() (int, error) { return 0, unsupported("sem value", s.name) }

// Waiters is not supported on this system.
func (s *Semaphore) Waiters() (int, error) { return 0, unsupported("sem waiters", s.name) }

// Close does nothing on this system.
func (s *Semaphore) Close() error { return nil }
