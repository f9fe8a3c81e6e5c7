//go:build linux

package sem

import (
	"fmt"
	"runtime/debug"

	"github.com/shmkit/shm"
	"github.com/shmkit/shm/internal/fault"
)

// Memory faults.
//
// A semaphore works in place on a shared mapping, and another process with
// write access may truncate the file under it (a named semaphore's
// sem.NAME to 0 bytes, or an unnamed one's segment below the page that
// holds it): the next access to the page that is gone raises SIGBUS,
// which kills a Go program. Every method that touches the words therefore
// runs with runtime/debug.SetPanicOnFault(true), which makes the runtime
// turn such a fault into a panic, and recovers it in one deferred call at
// its top:
//
//	func (s *Semaphore) Post() (err error) {
//		defer s.catch(debug.SetPanicOnFault(true), "sem post", &err)
//		...
//
// The call returns an error wrapping shm.ErrFault instead. A Wait that
// sleeps on a page that is gone is woken (futex(2) fails with EFAULT,
// which internal/futex reports as a spurious wake-up) and faults on its
// next look at the value. A fault can come between two steps of a
// transition (a wait registered, not yet unregistered); the semaphore's
// words are gone with their page, so nothing is left to repair. The guard
// costs a few nanoseconds per call.
//
// Race builds are the exception: there each atomic operation on the
// mapping runs inside the race runtime's C code, where the runtime cannot
// make a panic of the fault, and the process dies. The tests that truncate
// a semaphore skip under -race for this reason.

// catch ends the guard of a method (see above). It is the deferred call
// itself, so that recover works: old is what SetPanicOnFault returned at
// the call's start, op the operation for the error, err the method's
// error result. A fault becomes the error; any other panic goes on.
func (s *Semaphore) catch(old bool, op string, err *error) {
	debug.SetPanicOnFault(old)
	if r := recover(); r != nil {
		if _, ok := fault.Addr(r); !ok {
			panic(r)
		}
		*err = s.opError(op, s.faultErr())
	}
}

// faultErr says why the semaphore's page faulted: the object that holds
// it was truncated (to how many bytes), or it is whole and the page could
// not be allocated.
func (s *Semaphore) faultErr() error {
	size, known := int64(0), false
	if s.size != nil {
		size, known = s.size()
	}
	return fmt.Errorf("%w: %s", shm.ErrFault, fault.Why(size, s.had, known))
}
