//go:build race

package lock

import (
	"runtime"
	"sync"
	"sync/atomic"
	"unsafe"
)

// The race detector cannot see the happens-before edges of atomics on memory
// mapped outside the Go heap (golang/go#16206), so without help it reports
// the data a Mutex protects as raced between goroutines of one process.
// Race builds tell it about each acquisition and release, as sync.Mutex
// does, keyed by a heap byte per lock word address.

var raceKeys sync.Map // uintptr (lock word address) -> *byte

func raceKey(w *atomic.Uint64) unsafe.Pointer {
	// unsafe: the word's address is only a map key, never dereferenced; the
	// pointer handed to the race runtime is an ordinary heap pointer.
	k, _ := raceKeys.LoadOrStore(uintptr(unsafe.Pointer(w)), new(byte))
	return unsafe.Pointer(k.(*byte))
}

func raceAcquire(w *atomic.Uint64) { runtime.RaceAcquire(raceKey(w)) }
func raceRelease(w *atomic.Uint64) { runtime.RaceReleaseMerge(raceKey(w)) }
