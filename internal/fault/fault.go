// Package fault turns a memory fault in a shared mapping into something a
// caller can test. Another process with write access may shrink an object
// while it is mapped here; touching a page past the new end raises SIGBUS,
// which kills a Go program unless the goroutine set
// runtime/debug.SetPanicOnFault(true), which makes the runtime panic
// instead, with a value that has an Addr method.
package fault

import "runtime/debug"

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
