package queue

import (
	"errors"
	"fmt"
	"runtime/debug"

	"github.com/shmkit/shm"
	"github.com/shmkit/shm/internal/fault"
	"github.com/shmkit/shm/internal/objstat"
)

// Memory faults.
//
// A queue works in place on its mapping, and another process with write
// access may shrink the object under it (ftruncate): the next access to a
// page past the new end raises SIGBUS, which kills a Go program (as does
// a page that a full file system cannot allocate). A handle catches these
// faults in one of two ways.
//
// Where the platform has it (fault.Watch: Linux on amd64, outside race
// builds), the handle registers its mapping with a SIGBUS handler that
// sets the watch's hit flag and maps private zero pages over the whole
// mapping, and the call runs on to its end on them (the ring is untrusted
// data anyway: zeros are one more thing it may hold). What it stores from
// the fault on reaches no other process, as with a guard that unwinds the
// call at the fault: no record whose payload was lost, no tail, head,
// closed mark or lock. Each sending and receiving call ends with struck
// (the fast paths of the per-message calls look at the flag themselves
// and call hitErr), which turns a hit into the fault's error and breaks
// the handle; broke maps the header back (Reconnect) so that a broken
// handle gives up its lock at once and its roles at Close as a guarded
// one does. That costs a load or two per call where the guard below costs
// a few nanoseconds: the sending and receiving calls of a watched handle
// go without the guard (unguarded).
//
// Otherwise, and on the calls that are not per message in any case,
// every exported method that touches the mapping runs with
// runtime/debug.SetPanicOnFault(true), which makes the runtime turn such a
// fault into a panic whose value has an Addr method, and recovers it in
// one deferred call at its top (catch also looks at the watch's flag,
// since a watched fault does not panic). The sending and receiving calls
// (Send, TrySend, SendBatch, Reserve, Commit and their receiving peers),
// one per message, use the cheapest form of that guard: a deferred
// closure that restores the flag and calls recover only when the body did
// not finish, around an unexported body that has no guard. All but the
// batch calls keep it in a function of its own, so that their own frame,
// the one an unguarded handle runs in, has no deferred call to set up
// (every store counts on that path; see sendOne):
//
//	func (q *Queue) TrySend(msg []byte) error {
//		if !q.unguarded {
//			return q.sendGuarded(context.Background(), msg, false)
//		}
//		return q.sendOne(context.Background(), msg, false)
//	}
//
//	func (q *Queue) sendGuarded(ctx context.Context, msg []byte, block bool) (err error) {
//		old, finished := debug.SetPanicOnFault(true), false
//		defer func() {
//			debug.SetPanicOnFault(old)
//			if !finished {
//				q.caught(recover(), opSend, &err)
//			}
//		}()
//		err = q.sendOne(ctx, msg, block)
//		finished = true
//		return err
//	}
//
// A fault unwinds the body without setting finished, so the closure
// recovers it; a body that returned has no panic to recover, and skipping
// recover and the call of catch saves about 20 instructions per call
// (about 75 for the form below, 55 for this one; callgrind). The other
// exported methods, not per message, keep the shorter form:
//
//	defer q.catch(debug.SetPanicOnFault(true), opSend, &err) // BecomeProducer
//
// That is one guard per exported call and none in the loops below it.
// The guard keeps the small methods (Commit, Release) from being inlined
// into the caller. catch and caught turn the fault into an error wrapping
// shm.ErrFault and re-panic anything else. A handle opened with
// NoFaultGuard has no watch and skips the guard on the sending and
// receiving calls, and keeps it on the others.

// A fault can strike between any two stores of an operation, so the
// handle's own cursors may no longer match the ring: the handle is broken
// from then on. Every later call returns an error wrapping shm.ErrFault
// without touching the mapping, except Close and Detach, which release what
// they can (the reserve lock, the role claims: header words only, each
// access guarded) and then the mapping.
//
// A waiter notices the truncation too: its futex word either faults on the
// next look (futex(2) on a page that is gone fails with EFAULT, which
// internal/futex reports as a spurious wake-up; the waiter's next store to
// the word then faults, and a watched waiter, whose loop looks at the hit
// flag after each look at the ring, returns at once), or, when the page
// that holds it survived a shrinking to a smaller but non-zero size, the
// size check that comes with every peer check (every 100 ms of waiting)
// finds the object shorter than the queue and fails with shm.ErrFault.
//
// Race builds (which have no watch) are the exception: there each atomic
// operation on the mapping runs inside the race runtime's C code, after a
// touch of the word from Go. A truncation that lands between the two
// faults in C, where the runtime cannot make a panic of it, and the
// process dies. The tests that truncate while calls run skip under -race
// for this reason.

// handleState says what a handle may still do.
type handleState uint8

const (
	stateOpen   handleState = iota // usable
	stateBroken                    // a call faulted: only Close is left
	stateClosed                    // Close was called
)

// Operation names, as *shm.Error prints them.
const (
	opSend    = "queue send"
	opReceive = "queue receive"
	opCommit  = "queue commit"
	opRelease = "queue release"
	opClose   = "queue close"
	opDetach  = "queue detach"
	opAbort   = "queue abort"
)

// watchFaults says whether handles watch their mappings (fault.Watch)
// where the platform allows it; tests turn it off to run the guard.
var watchFaults = true

// errBroken is the cause of every call on a broken handle.
var errBroken = fmt.Errorf("%w (an earlier call on this handle faulted; only Close is left)", shm.ErrFault)

// catch ends the guard of an exported call (see above). It is the deferred
// call itself, so that recover works: old is what SetPanicOnFault returned
// at the call's start, op the operation for the error, err the call's
// error result. A fault breaks the handle and becomes the error; any other
// panic goes on.
func (q *Queue) catch(old bool, op string, err *error) {
	debug.SetPanicOnFault(old)
	if r := recover(); r != nil {
		if _, ok := fault.Addr(r); !ok {
			panic(r)
		}
		q.broke()
		*err = wrapErr(op, q.name, q.faultErr())
		return
	}
	q.struck(op, err)
}

// caught is the end of the per-message guard (see above) when its body
// did not finish: r is what recover returned, nil for a runtime.Goexit,
// which goes on. A fault breaks the handle and becomes the error; any
// other panic goes on.
func (q *Queue) caught(r any, op string, err *error) {
	if r == nil {
		return
	}
	if _, ok := fault.Addr(r); !ok {
		panic(r)
	}
	q.broke()
	*err = wrapErr(op, q.name, q.faultErr())
}

// struck ends a call during which the watch may have caught a fault in
// the mapping: if it did, struck breaks the handle, sets *err to the
// fault's error and reports true. Calls on a broken handle keep their
// errBroken.
func (q *Queue) struck(op string, err *error) bool {
	if q.state != stateOpen || !q.watch.Hit() {
		return false
	}
	*err = q.hitErr(op)
	return true
}

// hitErr breaks the open handle of a call that found the watch hit, and
// returns the fault's error: struck's work, for the fast paths of the
// per-message calls, which look at the flag themselves.
func (q *Queue) hitErr(op string) error {
	q.broke()
	return wrapErr(op, q.name, q.faultErr())
}

// faultErr says why the mapping faulted: the object was truncated (to how
// many bytes), or it is whole and a page could not be allocated.
func (q *Queue) faultErr() error {
	size, _, ok := objstat.Of(q.seg.Fd())
	return fmt.Errorf("%w: %s", shm.ErrFault, fault.Why(size, q.seg.Size(), ok))
}

// broke marks the handle broken after a fault and lets go of the reserve
// lock if this handle holds it, so that the other producers go on.
func (q *Queue) broke() {
	q.state = stateBroken
	// After a watched fault the whole mapping is private zero pages: the
	// header comes back for the lock here and the roles at Close. If it
	// cannot, they stay as a header page that is gone leaves them.
	q.watch.Reconnect(q.fd, headerSize)
	if q.p.active && q.multi {
		me := lockValue(q.p.slot, q.p.gen)
		fault.Catch(func() { q.lock.CompareAndSwap(me, 0) })
	}
	if q.c.active && q.cslots != nil {
		me := lockValue(q.c.slot, q.c.gen)
		fault.Catch(func() { q.consumeLock.CompareAndSwap(me, 0) })
	}
}

// stateErr is the error of a call on a handle that is not open.
func (q *Queue) stateErr() error {
	if q.state == stateClosed {
		return shm.ErrClosed
	}
	return errBroken
}

// checkSize fails with shm.ErrFault, and breaks the handle as a fault
// does, when the object is now shorter than the queue: another process
// truncated it. Waiters call it with their peer checks, since a truncation
// that spares the page they watch would otherwise go unnoticed.
func (q *Queue) checkSize() error {
	if q.watch.Hit() {
		q.broke()
		return q.faultErr()
	}
	size, _, ok := objstat.Of(q.seg.Fd())
	if !ok {
		return nil
	}
	if need := int64(headerSize + q.capacity); size < need {
		q.broke()
		return fmt.Errorf("%w: the object was truncated to %d bytes; the queue needs %d", shm.ErrFault, size, need)
	}
	return nil
}

// truncated replaces an ErrCorrupt error with the ErrFault one when the
// object was truncated: shrinking to a size inside a page zeroes the rest
// of that page, which stays mapped, so a consumer may meet zeros where
// records were before it meets a page that is gone.
func (q *Queue) truncated(err error) error {
	if errors.Is(err, ErrCorrupt) {
		if serr := q.checkSize(); serr != nil {
			return serr
		}
	}
	return err
}
