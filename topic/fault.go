package topic

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
// A topic works in place on its mapping, and another process with write
// access may shrink the object under it (ftruncate): the next access to a
// page past the new end raises SIGBUS, which kills a Go program. As in
// package queue (see its fault.go), a handle catches such faults in one of
// two ways. Where the platform has it (fault.Watch), a SIGBUS handler maps
// private zero pages over the whole of a watched mapping and flags the hit;
// the call runs on to its end on them, reaching no other process from the
// fault on, each per-message call ends with struck or, on the fast paths
// of Publish and Receive, a look at the flag and hitErr (the hit becomes
// the fault's error and breaks the handle), and broke maps the header back
// for Close. Otherwise, and on the calls that are not per message in any
// case, every exported method that touches the mapping runs with
// runtime/debug.SetPanicOnFault(true) and recovers the fault in one
// deferred call at its top (catch also looks at the watch's flag). The
// calls made once per message (Publish, TryPublish, PublishBatch, Reserve,
// Commit, Receive, TryReceive, ReceiveBatch, Peek, Release) use the cheaper
// form: a deferred closure that restores the flag and calls recover only
// when the body did not finish, since a fault unwinds the body before it
// sets finished. Publish, TryPublish, Receive and TryReceive keep it in a
// function of its own, so that their own frame, the one an unguarded
// handle runs in, sets up no deferred call (every store counts there):
//
//	func (t *Topic) TryPublish(msg []byte) error {
//		if !t.unguarded {
//			return t.publishGuarded(context.Background(), msg, false)
//		}
//		return t.publishMsg(context.Background(), msg, false)
//	}
//
//	func (t *Topic) publishGuarded(ctx context.Context, msg []byte, block bool) (err error) {
//		old, finished := debug.SetPanicOnFault(true), false
//		defer func() {
//			debug.SetPanicOnFault(old)
//			if !finished {
//				t.caught(recover(), opPublish, &err)
//			}
//		}()
//		err = t.publishMsg(ctx, msg, block)
//		finished = true
//		return err
//	}
//
// The other exported methods keep the shorter form:
//
//	defer t.catch(debug.SetPanicOnFault(true), opSubscribe, &err)
//
// catch and caught turn the fault into an error wrapping shm.ErrFault and
// re-panic anything else. A fault can strike between any two stores of an
// operation, so the handle is broken from then on: every later call
// returns shm.ErrFault without touching the mapping, except Close and
// Detach, which give up the roles (header words only, each access
// guarded) and the mapping. A waiter notices a truncation that spares the
// page it watches by the size check that comes with every peer check.

// handleState says what a handle may still do.
type handleState uint8

const (
	stateOpen   handleState = iota // usable
	stateBroken                    // a call faulted: only Close is left
	stateClosed                    // Close was called
)

// Operation names, as *shm.Error prints them.
const (
	opPublish   = "topic publish"
	opCommit    = "topic commit"
	opSubscribe = "topic subscribe"
	opReceive   = "topic receive"
	opRelease   = "topic release"
	opClose     = "topic close"
	opDetach    = "topic detach"
	opAbort     = "topic abort"
)

// watchFaults says whether handles watch their mappings (fault.Watch)
// where the platform allows it; tests turn it off to run the guard.
var watchFaults = true

// errBroken is the cause of every call on a broken handle.
var errBroken = fmt.Errorf("%w (an earlier call on this handle faulted; only Close is left)", shm.ErrFault)

// catch ends the guard of an exported call: old is what SetPanicOnFault
// returned at the call's start, op the operation for the error, err the
// call's error result. A fault breaks the handle and becomes the error;
// any other panic goes on.
func (t *Topic) catch(old bool, op string, err *error) {
	debug.SetPanicOnFault(old)
	if r := recover(); r != nil {
		if _, ok := fault.Addr(r); !ok {
			panic(r)
		}
		t.broke()
		*err = wrapErr(op, t.name, t.faultErr())
		return
	}
	t.struck(op, err)
}

// caught is the end of the per-message guard (see above) when its body
// did not finish: r is what recover returned, nil for a runtime.Goexit,
// which goes on. A fault breaks the handle and becomes the error; any
// other panic goes on.
func (t *Topic) caught(r any, op string, err *error) {
	if r == nil {
		return
	}
	if _, ok := fault.Addr(r); !ok {
		panic(r)
	}
	t.broke()
	*err = wrapErr(op, t.name, t.faultErr())
}

// struck ends a call during which the watch may have caught a fault in
// the mapping: if it did, struck breaks the handle, sets *err to the
// fault's error and reports true. Calls on a broken handle keep their
// errBroken.
func (t *Topic) struck(op string, err *error) bool {
	if t.state != stateOpen || !t.watch.Hit() {
		return false
	}
	*err = t.hitErr(op)
	return true
}

// hitErr breaks the open handle of a call that found the watch hit, and
// returns the fault's error: struck's work, for the fast paths of Publish
// and Receive, which look at the flag themselves.
func (t *Topic) hitErr(op string) error {
	t.broke()
	return wrapErr(op, t.name, t.faultErr())
}

// broke marks the handle broken after a fault. After a watched fault the
// whole mapping is private zero pages: the header comes back for Close to
// give up the roles, or they stay as a header page that is gone leaves
// them.
func (t *Topic) broke() {
	t.state = stateBroken
	t.watch.Reconnect(t.fd, int(t.header))
}

// faultErr says why the mapping faulted: the object was truncated (to how
// many bytes), or it is whole and a page could not be allocated.
func (t *Topic) faultErr() error {
	size, _, ok := objstat.Of(t.fd)
	return fmt.Errorf("%w: %s", shm.ErrFault, fault.Why(size, t.seg.Size(), ok))
}

// stateErr is the error of a call on a handle that is not open.
func (t *Topic) stateErr() error {
	if t.state == stateClosed {
		return shm.ErrClosed
	}
	return errBroken
}

// checkSize fails with shm.ErrFault, and breaks the handle as a fault
// does, when the object is now shorter than the topic: another process
// truncated it.
func (t *Topic) checkSize() error {
	if t.watch.Hit() {
		t.broke()
		return t.faultErr()
	}
	size, _, ok := objstat.Of(t.fd)
	if !ok {
		return nil
	}
	if need := int64(uint64(t.header) + t.capacity); size < need {
		t.broke()
		return fmt.Errorf("%w: the object was truncated to %d bytes; the topic needs %d", shm.ErrFault, size, need)
	}
	return nil
}

// truncated replaces an ErrCorrupt error with the ErrFault one when the
// object was truncated: shrinking to a size inside a page zeroes the rest
// of that page, which stays mapped.
func (t *Topic) truncated(err error) error {
	if errors.Is(err, ErrCorrupt) {
		if serr := t.checkSize(); serr != nil {
			return serr
		}
	}
	return err
}
