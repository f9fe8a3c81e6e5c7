package shm

import (
	"errors"
	"io/fs"
	"syscall"
)

// Error records a failed operation on a named segment. It prints like
// *fs.PathError ("shm open /jobs: no such file or directory"), with the
// name as QuoteName gives it (so a name holding control characters cannot
// act on a terminal), and unwraps to its cause, so errors.Is(err, fs.ErrNotExist), fs.ErrExist,
// fs.ErrPermission and ErrNoSpace work on every error this package returns.
type Error struct {
	Op   string // "create", "open", "resize", "read", ...
	Name string // the object's name as the caller gave it
	Err  error  // the cause: an errno, or one of this package's sentinels
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

	// ErrClosed is returned by every method of a Segment after Close.
	ErrClosed = errors.New("segment is closed")

	// ErrInvalidName is wrapped by the error for a name that shm_open would
	// refuse or that would leave the shared-memory directory.
	ErrInvalidName = errors.New("invalid name")

	// ErrReadOnly is returned by WriteAt and Resize on a segment opened with
	// ReadOnly. It matches fs.ErrPermission.
	ErrReadOnly = &readOnlyError{}

	// ErrInvalid is wrapped by the error for a bad size, offset, mode or option.
	// It is fs.ErrInvalid.
	ErrInvalid = fs.ErrInvalid

	// ErrFault is wrapped by the error from ReadAt or WriteAt when the mapped
	// memory could not be accessed, typically because another process
	// truncated the object.
	ErrFault = errors.New("memory fault in the mapping (was the object truncated by another process?)")
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
