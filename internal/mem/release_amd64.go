package mem

import "sync/atomic"

// storeRelease64 is one MOVQ (release_amd64.s): amd64 stores are never
// reordered with earlier loads or stores (TSO), and the call keeps the
// compiler from moving memory accesses across it.
//
//go:noescape
func storeRelease64(w *atomic.Uint64, v uint64)

// storeRelease32 is one MOVL (release_amd64.s).
//
//go:noescape
func storeRelease32(w *atomic.Uint32, v uint32)

// storeRelease64s copies n words from src to dst by plain MOVQs
// (release_amd64.s); n > 0.
//
//go:noescape
func storeRelease64s(dst *atomic.Uint64, src *byte, n int)

// loadAcquire64s copies n words from src to dst by plain MOVQs; n > 0.
//
//go:noescape
func loadAcquire64s(dst *byte, src *atomic.Uint64, n int)
