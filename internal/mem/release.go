package mem

import (
	"encoding/binary"
	"sync/atomic"
)

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

// CopyRelease stores src into the words of dst in order, 8 bytes per
// word in native byte order, each with release order (as StoreRelease64);
// a last partial word is padded with zero bytes. dst must have at least
// (len(src)+7)/8 words. It is for a seqlock's payload: the writer's stores
// need only be ordered after the odd sequence and before the even one,
// which release order gives, without a sequentially consistent store (on
// amd64 an XCHG) per word. On amd64 the words are copied by plain MOVQs;
// elsewhere by atomic stores.
func CopyRelease(dst []atomic.Uint64, src []byte) {
	if len(src) == 0 {
		return
	}
	n := len(src) / 8
	_ = &dst[(len(src)+7)/8-1] // bounds, once
	for i := 0; i < n; i += copyChunk {
		k := min(copyChunk, n-i)
		storeRelease64s(&dst[i], &src[i*8], k)
	}
	if r := len(src) % 8; r != 0 {
		var t [8]byte
		copy(t[:], src[n*8:])
		StoreRelease64(&dst[n], binary.NativeEndian.Uint64(t[:]))
	}
}

// CopyAcquire loads the words of src in order into dst, 8 bytes per word
// in native byte order, each with acquire order: no later load (such as a
// seqlock's second sequence load) is performed before it. The last partial
// word fills the rest of dst. src must have at least (len(dst)+7)/8 words.
// On amd64 the words are copied by plain MOVQs (every amd64 load has
// acquire order); elsewhere by atomic loads.
func CopyAcquire(dst []byte, src []atomic.Uint64) {
	if len(dst) == 0 {
		return
	}
	n := len(dst) / 8
	_ = &src[(len(dst)+7)/8-1]
	for i := 0; i < n; i += copyChunk {
		k := min(copyChunk, n-i)
		loadAcquire64s(&dst[i*8], &src[i], k)
	}
	if r := len(dst) % 8; r != 0 {
		var t [8]byte
		binary.NativeEndian.PutUint64(t[:], src[n].Load())
		copy(dst[n*8:], t[:])
	}
}

// copyChunk bounds the words one assembly call copies (64 KiB), so that a
// huge copy still reaches a preemption point between calls.
const copyChunk = 8 << 10
