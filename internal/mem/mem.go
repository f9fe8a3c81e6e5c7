// Package mem is the one place that turns bytes of a shared mapping into
// typed atomic words. Every other package goes through it, so the alignment
// and bounds checks live here once.
//
// Why this is safe: the slices come from mmap, so they are not moved by the
// garbage collector and stay mapped until the owning Segment is closed, which
// the callers document as ending the life of every word taken from it; the
// offset is checked to be aligned to the word's size and the word to lie
// entirely inside the slice.
package mem

import (
	"fmt"
	"sync/atomic"
	"unsafe"
)

// Uint32 returns the 4-byte word at off in b.
func Uint32(b []byte, off int) (*atomic.Uint32, error) {
	p, err := word(b, off, 4)
	return (*atomic.Uint32)(p), err
}

// Uint64 returns the 8-byte word at off in b.
func Uint64(b []byte, off int) (*atomic.Uint64, error) {
	p, err := word(b, off, 8)
	return (*atomic.Uint64)(p), err
}

// MustUint32 is Uint32 for offsets that the caller's layout constants
// guarantee; it panics on a programming error, never on shared data.
func MustUint32(b []byte, off int) *atomic.Uint32 {
	p, err := Uint32(b, off)
	if err != nil {
		panic(err)
	}
	return p
}

// MustUint64 is Uint64 for offsets that the caller's layout constants
// guarantee; it panics on a programming error, never on shared data.
func MustUint64(b []byte, off int) *atomic.Uint64 {
	p, err := Uint64(b, off)
	if err != nil {
		panic(err)
	}
	return p
}

func word(b []byte, off, size int) (unsafe.Pointer, error) {
	if off < 0 || off > len(b)-size {
		return nil, fmt.Errorf("mem: %d-byte word at offset %d lies outside %d bytes", size, off, len(b))
	}
	p := unsafe.Pointer(unsafe.SliceData(b[off:]))
	if uintptr(p)%uintptr(size) != 0 {
		return nil, fmt.Errorf("mem: %d-byte word at offset %d (address %#x) is not %d-byte aligned", size, off, uintptr(p), size)
	}
	return p, nil
}

// Uint64s returns b as a slice of 8-byte words, for hot loops that index
// many words of one region: the bounds check is then the slice's own. b must
// start 8-byte aligned and its length must be a multiple of 8.
func Uint64s(b []byte) ([]atomic.Uint64, error) {
	if len(b)%8 != 0 {
		return nil, fmt.Errorf("mem: %d bytes are not a whole number of 8-byte words", len(b))
	}
	if len(b) == 0 {
		return nil, nil
	}
	p, err := word(b, 0, 8)
	if err != nil {
		return nil, err
	}
	return unsafe.Slice((*atomic.Uint64)(p), len(b)/8), nil
}
