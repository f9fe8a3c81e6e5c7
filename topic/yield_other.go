//go:build !linux

package topic

import "runtime"

// yield gives the CPU to another goroutine.
func yield() { runtime.Gosched() }
