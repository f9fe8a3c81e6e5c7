//go:build race

package sem

import (
	"runtime"
	"sync"
	"sync/atomic"
	"unsafe"
)

// The race detector cannot see the happens-before edges of atomics on memory
// mapped outside the Go heap (golang/go#16206), so without help it reports
// the data a semaphore hands from goroutine to goroutine of one process as
// raced. Race builds tell it about each post (a release) and each token
// taken (an acquire), as sync.Mutex does, on a heap byte shared by every
// Semaphore on the same data word address.

var raceKeys sync.Map // uintptr (data word address) -> *byte

func raceKey(w *atomic.Uint64) *byte {
	// unsafe: the word's address is only a map key, never dereferenced.
	k, _ := raceKeys.LoadOrStore(uintptr(unsafe.Pointer(w)), new(byte))
	return k.(*byte)
}

func raceAcquire(k *byte) { runtime.RaceAcquire(unsafe.Pointer(k)) }
func raceRelease(k *byte) { runtime.RaceReleaseMerge(unsafe.Pointer(k)) }
