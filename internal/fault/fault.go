// Package fault turns a memory fault in a shared mapping into something a
// caller can test. Another process with write access may shrink an object
// while it is mapped here; touching a page past the new end raises SIGBUS,
// which kills a Go program unless the goroutine set
// runtime/debug.SetPanicOnFault(true), which makes the runtime panic
// instead, with a value that has an Addr method (Catch, Addr), or, on
// Linux amd64, the mapping is watched by this package's SIGBUS handler,
// which costs nothing per call (Watch).
package fault

import (
	"fmt"
	"runtime/debug"
)

// Addr returns the faulting address if r, a recovered panic value, is a
// memory fault made into a panic by SetPanicOnFault, and whether it is one.
func Addr(r any) (uintptr, bool) {
	a, ok := r.(interface{ Addr() uintptr })
	if !ok {
		return 0, false
	}
	return a.Addr(), true
}

// Catch runs f with SetPanicOnFault set and reports whether f faulted. Any
// other panic goes on.
func Catch(f func()) (faulted bool) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			if _, ok := Addr(r); !ok {
				panic(r)
			}
			faulted = true
		}
	}()
	f()
	return false
}

// Why says what a memory fault in the mapping of an object means, for an
// error message (a faulting address means nothing to its reader): the
// object was truncated, or, when it still has every byte it had when it
// was mapped, that the kernel had no page to give it (its file system or a
// memory limit is full). size is the object's size now (sizeKnown false
// when it could not be read), had its size when it was mapped.
func Why(size, had int64, sizeKnown bool) string {
	switch {
	case !sizeKnown:
		return "the object was truncated, or a page of it could not be allocated; its size could not be read to tell which"
	case size < had:
		return fmt.Sprintf("the object was truncated to %d bytes; it had %d", size, had)
	}
	return fmt.Sprintf("the object still has its %d bytes, so no memory could be allocated for a page of it (its file system or a memory limit is full)", size)
}
