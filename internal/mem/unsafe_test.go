package mem

import "unsafe"

func unsafeBytes(w []uint64) []byte {
	return unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(w))), len(w)*8)
}

// Must is for tests: it panics on err.
func Must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
