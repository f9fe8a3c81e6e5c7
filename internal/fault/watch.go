package fault

import (
	"sync/atomic"
	"unsafe"
)

// Watching a mapping.
//
// SetPanicOnFault has a price: a guarded call pays two runtime calls and a
// deferred closure, a few nanoseconds, which is a fifth of the time of a
// small message sent through a queue. Where the platform allows it (Linux
// on amd64, outside race builds) a mapping can be watched instead: the
// first Watch.Start puts a SIGBUS handler of this package in front of the Go
// runtime's. For a fault whose address lies in a watched mapping the
// handler sets the watch's hit flag and maps private zero pages over the
// whole mapping, so that the faulting access (past the object's end, or on
// a page the kernel could not allocate) and every later one goes on,
// reading zeros and writing where no other process sees it; every other
// SIGBUS goes on to the runtime's handler, which treats it as it always
// does. The code that touches a watched mapping therefore runs to its end
// after a fault, on data that is no longer the object's (which code that
// treats shared memory as untrusted survives), but nothing it does from
// the fault on reaches another process, as nothing does when a fault
// unwinds a guarded call; it looks at Hit before it returns what it read,
// and Reconnect gives it back the object's header for the clean-up a
// guarded call does after a fault. Should the kernel refuse the private
// pages (an address-space or memory limit), the fault goes on to the
// runtime, which kills the process.
//
// The handler is installed once and stays; it costs nothing while nothing
// faults. The watched mappings live in a table of fixed size (the handler
// may take no lock and allocate nothing), so Start can fail: its callers
// fall back to SetPanicOnFault.

// A Watch registers a mapping with the SIGBUS handler (Start) until Stop.
// A fault in the mapping sets its hit flag (Hit) and puts private zero
// pages over the whole mapping, so that the faulting code runs on and
// nothing it stores reaches the object; Reconnect maps the object's
// header back for the clean-up after. Its zero value watches nothing and
// never reports a hit.
type Watch struct {
	slot *watchSlot
	base unsafe.Pointer // the mapping's first byte
}

// watchSlot is one entry of the table of watched mappings: the addresses
// [start, end) and whether a fault struck there. A start of 0 marks a free
// slot. The handler reads it: on amd64 its layout is in watch_linux_amd64.s.
type watchSlot struct {
	start, end atomic.Uintptr
	hit        atomic.Uint32
	_          uint32
}

// Hit reports whether a fault struck the watched mapping since Start.
// The handler sets the flag on the thread that faulted, before the
// faulting access completes, so a goroutine sees its own faults at once.
func (w *Watch) Hit() bool {
	return w.slot != nil && w.slot.hit.Load() != 0
}
