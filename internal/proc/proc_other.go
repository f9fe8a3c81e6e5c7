//go:build !linux

package proc

import (
	"errors"
	"os"
)

// Self returns errors.ErrUnsupported: identities come from Linux's /proc.
func Self() (Identity, error) { return Of(os.Getpid()) }

// Of returns errors.ErrUnsupported: identities come from Linux's /proc.
func Of(pid int) (Identity, error) { return Identity{}, errors.ErrUnsupported }

// Alive says alive, the safe answer for a lock, where it cannot tell.
func Alive(id Identity) bool { return id.PID > 0 }

// AliveMasked says alive, the safe answer for a lock, where it cannot tell.
func AliveMasked(id Identity, bits uint) bool { return id.PID > 0 }
