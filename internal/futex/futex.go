// Package futex waits and wakes on 32-bit words in shared memory with the
// shared (non-private) futex operations, so that waiters and wakers may be
// different processes mapping the same object.
//
// Wait returns when the word may have changed: after a wake, when the word
// did not hold the expected value to begin with, or spuriously. Callers
// therefore always re-check the word in a loop; EINTR and EAGAIN never reach
// them.
package futex

import "errors"

// ErrTimeout is returned by WaitTimeout when the time ran out.
var ErrTimeout = errors.New("futex: wait timed out")
