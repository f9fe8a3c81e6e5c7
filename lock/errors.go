package lock

import (
	"errors"
	"fmt"

	"github.com/shmkit/shm"
)

var (
	// ErrOwnerDead is returned by Lock and TryLock when they acquired the
	// mutex from an owner that died holding it. The caller holds the mutex;
	// the data it protects may be half-updated. Repair it, call
	// MarkConsistent, then Unlock. Unlocking without MarkConsistent makes
	// the mutex not recoverable.
	ErrOwnerDead = errors.New("previous owner died holding the mutex")

	// ErrNotRecoverable is returned by every call on a mutex whose owner
	// unlocked it after an owner death without calling MarkConsistent: the
	// protected state is presumed lost. Only Reset makes it usable again.
	ErrNotRecoverable = errors.New("mutex is not recoverable")

	// ErrCorrupt is returned when a lock word in shared memory holds a value
	// that no correct process writes. The mutex stays unusable until Reset.
	ErrCorrupt = errors.New("corrupt lock state")

	// ErrNotOwner is returned by Unlock and MarkConsistent when another
	// process holds the mutex.
	ErrNotOwner = errors.New("mutex is held by another process")

	// ErrNotLocked is returned by Unlock and MarkConsistent on an unlocked
	// mutex.
	ErrNotLocked = errors.New("mutex is not locked")

	// ErrBusy is returned by a seqlock read that found a write in progress on
	// every try until its ReadTimeout ran out: the writer is descheduled
	// for that long, writes without pause, or died in the middle of a write
	// (then the next write repairs the sequence).
	ErrBusy = errors.New("seqlock writer kept the value busy")
)

func wrap(op, name string, err error) error {
	if err == nil {
		return nil
	}
	return &shm.Error{Op: op, Name: name, Err: err}
}

var (
	// ErrWriterDead is returned by Wait when the process that wrote a
	// Seqlock or Value last died (or closed its segment) without closing
	// it, and nothing newer is there: the value is orphaned, and stays as
	// it was last written until another writer writes.
	ErrWriterDead = errors.New("writer died without closing the value: it is orphaned")

	// ErrWriterClosed is returned by Wait when the writer closed the
	// Seqlock or Value and the caller has its last write. (A closed handle
	// or segment gives shm.ErrClosed, as in every package.)
	ErrWriterClosed = errors.New("writer closed the value")

	// ErrNotWriter is returned by Close when another live process wrote
	// the value last.
	ErrNotWriter = errors.New("value is written by another live process")
)

// errNilContext is the cause of the error from a blocking call given a nil
// context: every blocking call takes one (context.Background() for a wait
// without limit), and a nil one is a caller's mistake to report, not to
// guess at.
var errNilContext = fmt.Errorf("%w: nil context (pass context.Background() to wait without a limit)", shm.ErrInvalid)
