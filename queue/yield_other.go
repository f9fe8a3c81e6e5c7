//go:build !linux

package queue

import "runtime"

// yield gives the CPU to another goroutine; off Linux there is no queue to
// spin on anyway (shm.Create fails with errors.ErrUnsupported).
func yield() { runtime.Gosched() }
