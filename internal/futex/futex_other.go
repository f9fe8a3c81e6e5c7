//go:build !linux

package futex

import (
	"context"
	"errors"
	"sync/atomic"
	"time"
)

// Wait returns errors.ErrUnsupported: futexes are Linux's.
func Wait(ctx context.Context, addr *atomic.Uint32, val uint32) error { return errors.ErrUnsupported }

// WaitTimeout returns errors.ErrUnsupported: futexes are Linux's.
func WaitTimeout(addr *atomic.Uint32, val uint32, d time.Duration) error {
	return errors.ErrUnsupported
}

// Wake wakes nobody: futexes are Linux's.
func Wake(addr *atomic.Uint32, n int) int { return 0 }

// WakeAll wakes nobody: futexes are Linux's.
func WakeAll(addr *atomic.Uint32) int { return 0 }
