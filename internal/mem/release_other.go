//go:build !amd64

package mem

import "sync/atomic"

func storeRelease64(w *atomic.Uint64, v uint64) { w.Store(v) }

func storeRelease32(w *atomic.Uint32, v uint32) { w.Store(v) }
