package mem

import "sync/atomic"

// Release stores and the asymmetric barrier.
//
// Go's atomic stores are sequentially consistent: on amd64 an XCHG, which
// waits until every earlier store of the CPU, and its own, reached the
// cache. A writer that only publishes data (a commit after a payload) needs
// release order alone: earlier writes become visible no later than the
// store. StoreRelease64 gives exactly that, and on amd64, where every plain
// store has release order (TSO), it is one MOVQ that does not wait.
//
// What a release store does not give is store-load order: a load after it
// may be performed before the store is visible to other CPUs. Dekker-style
// hand-offs (publish, then look whether the other side sleeps) need that
// order. Heavy supplies it from the other, rare side: a sleeper that stored
// its flag and calls Heavy afterwards knows that every thread of every
// process that called Asymmetric either performs its later loads after the
// flag was visible, or has made its earlier stores visible. See Heavy.

// StoreRelease64 stores v in *w with release order: every earlier load and
// store of this goroutine is visible to another CPU before v is. It does
// not order the store before later loads (see Heavy). On architectures
// other than amd64 it is w.Store(v).
func StoreRelease64(w *atomic.Uint64, v uint64) { storeRelease64(w, v) }

// StoreRelease32 is StoreRelease64 for a 4-byte word.
func StoreRelease32(w *atomic.Uint32, v uint32) { storeRelease32(w, v) }
