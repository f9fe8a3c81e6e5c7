package mem

import (
	"sync/atomic"
	"unsafe"
)

// storeRelease64 is one plain store: amd64 never reorders a store with
// earlier loads or stores (TSO), and the compiler does not move memory
// accesses across a call of a function it may not inline (the Go
// runtime's acquire loads on amd64 rest on the same rule). It is Go, not
// assembly, because an assembly function takes its arguments through the
// stack: two more stores per call, which on a producer's hot path wait in
// the store buffer behind the ring's stores. With the CPUs far apart, a
// 64 B stream's producer took 51 ns a message with the assembly store and
// 32 ns with this one (docs/BENCHMARKS-LOG.md). Builds whose checkers
// instrument Go's stores (race, asan, msan) keep the assembly store, out
// of their sight: callers tell the race checker about the order
// themselves (package racehint).
//
//go:noinline
func storeRelease64(w *atomic.Uint64, v uint64) {
	if instrumented {
		storeRelease64Asm(w, v)
		return
	}
	*(*uint64)(unsafe.Pointer(w)) = v
}

// storeRelease32 is storeRelease64 for a 4-byte word.
//
//go:noinline
func storeRelease32(w *atomic.Uint32, v uint32) {
	if instrumented {
		storeRelease32Asm(w, v)
		return
	}
	*(*uint32)(unsafe.Pointer(w)) = v
}

// storeRelease64Asm is one MOVQ (release_amd64.s).
//
//go:noescape
func storeRelease64Asm(w *atomic.Uint64, v uint64)

// storeRelease32Asm is one MOVL (release_amd64.s).
//
//go:noescape
func storeRelease32Asm(w *atomic.Uint32, v uint32)

// storeRelease64s copies n words from src to dst by plain MOVQs
// (release_amd64.s); n > 0.
//
//go:noescape
func storeRelease64s(dst *atomic.Uint64, src *byte, n int)

// loadAcquire64s copies n words from src to dst by plain MOVQs; n > 0.
//
//go:noescape
func loadAcquire64s(dst *byte, src *atomic.Uint64, n int)
