//go:build !amd64

package mem

import (
	"encoding/binary"
	"sync/atomic"
	"unsafe"
)

func storeRelease64(w *atomic.Uint64, v uint64) { w.Store(v) }

func storeRelease32(w *atomic.Uint32, v uint32) { w.Store(v) }

func storeRelease64s(dst *atomic.Uint64, src *byte, n int) {
	d := unsafe.Slice(dst, n)
	s := unsafe.Slice(src, n*8)
	for i := range d {
		d[i].Store(binary.NativeEndian.Uint64(s[i*8:]))
	}
}

func loadAcquire64s(dst *byte, src *atomic.Uint64, n int) {
	d := unsafe.Slice(dst, n*8)
	s := unsafe.Slice(src, n)
	for i := range s {
		binary.NativeEndian.PutUint64(d[i*8:], s[i].Load())
	}
}
