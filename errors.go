package shm

import (
	"errors"
	"fmt"
	"io/fs"
	"syscall"
)

// Error records a failed operation on a named object. It prints like
// *fs.PathError, "shm OP NAME: cause" ("shm open /jobs: no such file or
// directory"), with the name as QuoteName gives it (so a name holding
// control characters cannot act on a terminal), and unwraps to its cause,
// so errors.Is(err, fs.ErrNotExist), fs.ErrExist, fs.ErrPermission and
// ErrNoSpace work on every error this module returns.
//
// Every package of the module returns its errors as *Error, spelled the
// same way: Op is the bare verb for a segment ("open", "resize") and the
// kind and the verb for anything built on one ("queue open", "sem wait",
// "mutex lock"); Name is the name as the caller gave it, leading slashes
// included, in the errors of the handle's methods too (the handle's Name
// method gives it without them), or SEGMENT+OFFSET for a semaphore or a
// lock inside a segment.
type Error struct {
	Op   string // "create", "open", "resize", "queue send", "sem wait", ...
	Name string // the object's name as the caller gave it
	Err  error  // the cause: an errno, or one of the module's sentinels
}

func (e *Error) Error() string {
	return "shm " + e.Op + " " + QuoteName(e.Name) + ": " + e.Err.Error()
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

var (
	// ErrNoSpace is the errno ENOSPC: the shared-memory file system has no room
	// for the requested size. Create, OpenOrCreate and Resize return it at call
	// time, because they reserve the space up front.
	ErrNoSpace error = syscall.ENOSPC

	// ErrClosed is wrapped by the error of every method of a handle
	// called after its Close, in every package of the module: a Segment's,
	// a queue's, a topic's, a semaphore's (and a Wait that Close
	// interrupted), and by the error of anything asked to attach to a
	// closed Segment (sem.At, lock.MutexAt, ...).
	ErrClosed = errors.New("handle is closed")

	// ErrInvalidName is wrapped by the error for a name that shm_open would
	// refuse or that would leave the shared-memory directory.
	ErrInvalidName = errors.New("invalid name")

	// ErrReadOnly is returned by WriteAt and Resize on a segment opened with
	// ReadOnly. It matches fs.ErrPermission.
	ErrReadOnly = &readOnlyError{}

	// ErrInvalid is wrapped by the error for a bad size, offset, mode or
	// option, in every package of the module, and for a nil context given
	// to a blocking call (which never panics on one). It is fs.ErrInvalid.
	ErrInvalid = fs.ErrInvalid

	// ErrFault is matched by the error from ReadAt or WriteAt when the mapped
	// memory could not be accessed: another process truncated the object,
	// or a page of a sparse object could not be given memory. That error
	// is a *FaultError, which says which.
	ErrFault = errors.New("memory fault in the mapping (the object was truncated, or a page of it could not be allocated)")
)

type readOnlyError struct{}

func (*readOnlyError) Error() string        { return "segment is mapped read-only" }
func (*readOnlyError) Is(target error) bool { return target == fs.ErrPermission }

func wrap(op, name string, err error) error {
	if err == nil {
		return nil
	}
	return &Error{Op: op, Name: name, Err: err}
}

// FaultError is the cause a Segment's ReadAt or WriteAt returns (inside an
// *Error) when the mapping faulted. It matches ErrFault, and ErrNoSpace too
// when the faulting byte lies inside the object: then the page could not be
// given memory (a sparse object on a full file system, or a memory limit),
// and nothing was truncated.
type FaultError struct {
	Offset int64 // of the faulting byte in the object; -1 if unknown
	Size   int64 // the object's size when the fault was looked at; -1 if unknown
}

// Truncated reports whether the faulting byte is past the object's end, or
// may be: another process shrank the object.
func (e *FaultError) Truncated() bool { return e.Offset < 0 || e.Size < 0 || e.Size <= e.Offset }

func (e *FaultError) Error() string {
	switch {
	case e.Offset < 0 || e.Size < 0:
		return ErrFault.Error()
	case e.Truncated():
		return fmt.Sprintf("memory fault in the mapping at offset %d: the object is now %d bytes (truncated by another process)", e.Offset, e.Size)
	}
	return fmt.Sprintf("memory fault in the mapping at offset %d, inside the object's %d bytes: no memory for the page (a full file system or a memory limit): %v", e.Offset, e.Size, ErrNoSpace)
}

// Is makes errors.Is match ErrFault, and ErrNoSpace for a fault inside the
// object.
func (e *FaultError) Is(target error) bool {
	return target == ErrFault || target == ErrNoSpace && !e.Truncated()
}
