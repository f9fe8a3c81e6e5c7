// Package mem is the one place that turns bytes of a shared mapping into
// typed atomic words. Every other package goes through it, so the alignment
// and bounds checks live here once.
//
// Why this is safe: the slices come from mmap, so they are not moved by the
// garbage collector and stay mapped until the owning Segment is closed, which
// the callers document as ending the life of every word taken from it; the
// offset is checked to be aligned to the word's size and the word to lie
// entirely inside the slice.
//
// It also holds the memory-order tools for such words that sync/atomic
// lacks: StoreRelease64 and StoreRelease32, release-only stores, and Heavy,
// the asymmetric barrier that gives a hand-off built on them back its
// store-load order (release.go, barrier_linux.go), and Copy and Append,
// which move payloads in and out of a shared ring the fastest way the CPU
// has (copy.go).
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

// Aligned reports whether b starts at an address that is a multiple of n
// (a power of two), as the atomic words of a shared layout need.
func Aligned(b []byte, n int) bool {
	return uintptr(unsafe.Pointer(unsafe.SliceData(b)))%uintptr(n) == 0
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

// Uint64s returns the n consecutive 8-byte words at off in b, for copying a
// payload word by word with atomic loads and stores (a seqlock's data).
func Uint64s(b []byte, off, n int) ([]atomic.Uint64, error) {
	if off < 0 || off > len(b) || n < 0 || n > (len(b)-off)/8 {
		return nil, fmt.Errorf("mem: %d 8-byte words at offset %d lie outside %d bytes", n, off, len(b))
	}
	if n == 0 {
		return []atomic.Uint64{}, nil
	}
	p, err := word(b, off, 8)
	if err != nil {
		return nil, err
	}
	return unsafe.Slice((*atomic.Uint64)(p), n), nil
}

// Bytes views the value *p as its bytes in memory. It is only for types
// without pointers (the caller checks, with reflect): then the garbage
// collector has nothing to track inside, and any byte pattern written
// through the view is a value of the type, provided the type also has no
// bool (whose only valid bytes are 0 and 1). The view lives as long as *p.
func Bytes[T any](p *T) []byte {
	return unsafe.Slice((*byte)(unsafe.Pointer(p)), unsafe.Sizeof(*p))
}

// heavyCalls counts the calls of Heavy in this process.
var heavyCalls atomic.Uint64

// HeavyCalls is how many times this process called Heavy, so that a test
// can see how often a waiter paid for the barrier.
func HeavyCalls() uint64 { return heavyCalls.Load() }
