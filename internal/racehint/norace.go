//go:build !race

// Package racehint tells the race detector about orderings it cannot see.
//
// The race detector does not see the happens-before edges of atomics on
// memory mapped outside the Go heap (golang/go#16206), so without help it
// reports Go memory handed from one goroutine to another through a shared
// semaphore, mutex or queue as raced. Race builds tell it about each hand-off
// instead — a release where the data is published, an acquire where it is
// taken — on a heap byte that stands for the shared object, as sync.Mutex and
// channels do. Outside race builds every call here is empty and inlined away.
package racehint

// Enabled reports whether this is a race build.
const Enabled = false

// Key returns nil: nothing is tracked outside race builds.
func Key(id any) *byte { return nil }

// Acquire does nothing outside race builds.
func Acquire(*byte) {}

// Release does nothing outside race builds.
func Release(*byte) {}
