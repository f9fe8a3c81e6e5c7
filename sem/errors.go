package sem

import (
	"errors"
	"fmt"

	"github.com/shmkit/shm"
)

var (
	// ErrCorrupt is wrapped by the error for a semaphore whose words hold an
	// impossible state: a value above ValueMax, a waiter count no system can
	// reach, an unknown private flag. The error says which word and what it
	// held. Post, Wait and the others refuse to work on such a state rather
	// than hang or make it worse.
	ErrCorrupt = errors.New("corrupt semaphore")

	// ErrNotShared is wrapped by the error from At or Open for a semaphore
	// that glibc initialized as process-private (sem_init with pshared 0):
	// its C users wait with private futex operations that no other process
	// can wake.
	ErrNotShared = errors.New("semaphore is process-private (sem_init with pshared 0)")

	// ErrOverflow is wrapped by the error from Post when the value is
	// already ValueMax (glibc's sem_post fails with EOVERFLOW there).
	ErrOverflow = errors.New("semaphore value would exceed SEM_VALUE_MAX")

	// ErrTimeout is wrapped by the error from WaitTimeout when the time ran
	// out before a token was available.
	ErrTimeout = errors.New("timed out")
)

// opError wraps err as *shm.Error. It allocates, so only error paths call it.
func (s *Semaphore) opError(op string, err error) error {
	if err == nil {
		return nil
	}
	return &shm.Error{Op: op, Name: s.name, Err: err}
}

func corruptValue(v uint32) error {
	return fmt.Errorf("%w: value %d (%#x) exceeds SEM_VALUE_MAX %d", ErrCorrupt, v, v, ValueMax)
}

func corruptWaiters(n uint64) error {
	return fmt.Errorf("%w: waiter count %d is more than any system can have (%d)", ErrCorrupt, n, maxWaiters)
}

func checkPrivate(p uint32) error {
	switch p {
	case privateShared:
		return nil
	case privatePrivate:
		return ErrNotShared
	}
	return fmt.Errorf("%w: private flag %#x is neither %d (shared) nor %d (private)", ErrCorrupt, p, privateShared, privatePrivate)
}

// errNilContext is the cause of the error from a blocking call given a nil
// context: every blocking call takes one (context.Background() for a wait
// without limit), and a nil one is a caller's mistake to report, not to
// guess at.
var errNilContext = fmt.Errorf("%w: nil context (pass context.Background() to wait without a limit)", shm.ErrInvalid)
