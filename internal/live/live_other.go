//go:build !linux

package live

import (
	"errors"
	"runtime"
)

// ErrHeld is returned by Hold when another open file description holds the
// byte: the role is taken by a live process.
var ErrHeld = errors.New("held by a live process")

// ErrUnsupported is returned on systems without open file description locks.
var ErrUnsupported = errors.New("open file description locks are not supported on " + runtime.GOOS)

// Hold is not supported on this system.
func Hold(fd int, off int64) error { return ErrUnsupported }

// Release is not supported on this system.
func Release(fd int, off int64) error { return ErrUnsupported }

// Held is not supported on this system.
func Held(fd int, off int64) (bool, error) { return false, ErrUnsupported }

// ReadLocked is not supported on this system.
func ReadLocked(fd int, off int64) (bool, error) { return false, ErrUnsupported }

// Namespace returns 0: unknown.
func Namespace() uint64 { return 0 }

// TokenBase is where token bytes start.
const TokenBase = 1 << 62

// HoldToken is not supported on this system.
func HoldToken(fd int) (uint64, error) { return 0, ErrUnsupported }

// TokenHeld is not supported on this system.
func TokenHeld(fd int, t uint64) (bool, error) { return false, ErrUnsupported }
