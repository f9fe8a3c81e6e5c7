//go:build !linux

package mem

import "errors"

// Asymmetric reports false: membarrier(2) is Linux's, so callers keep
// full-barrier stores on both sides of a hand-off.
func Asymmetric() bool { return false }

// Heavy returns errors.ErrUnsupported: membarrier(2) is Linux's.
func Heavy() error {
	heavyCalls.Add(1)
	return errors.ErrUnsupported
}
