//go:build race

package racehint

import (
	"runtime"
	"sync"
	"unsafe"
)

// Enabled reports whether this is a race build.
const Enabled = true

var keys sync.Map // id -> *byte

// Key returns the heap byte that stands for id, the same for every caller
// that passes an equal id.
func Key(id any) *byte {
	k, _ := keys.LoadOrStore(id, new(byte))
	return k.(*byte)
}

// Acquire tells the race detector that what was released on k happens
// before what follows.
func Acquire(k *byte) { runtime.RaceAcquire(unsafe.Pointer(k)) }

// Release tells the race detector that what came before happens before a
// later Acquire on k.
func Release(k *byte) { runtime.RaceReleaseMerge(unsafe.Pointer(k)) }
