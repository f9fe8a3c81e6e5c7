package futex

import (
	"context"
	"math"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Shared futex operations. The runtime and x/sys only define the private
// variants or none at all; these never set FUTEX_PRIVATE_FLAG (128), which
// would key the wait on this process's address space alone.
const (
	opWait = 0 // FUTEX_WAIT
	opWake = 1 // FUTEX_WAKE
)

// cancelSlice bounds one sleep of a cancellable wait: the cancellation
// itself wakes the word, and this catches a cancellation that lands between
// the check and the sleep.
const cancelSlice = 100 * time.Millisecond

// Wait sleeps while *addr == val, until a Wake on the same word, or until ctx
// is done, in which case it returns ctx.Err(). A nil return means only that
// the caller should look at the word again.
func Wait(ctx context.Context, addr *atomic.Uint32, val uint32) error {
	done := ctx.Done()
	if done == nil {
		return sleep(addr, val, -1)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	stop := context.AfterFunc(ctx, func() { Wake(addr, math.MaxInt32) })
	defer stop()
	// A cancellation while the wake-up was being registered woke nobody:
	// look again, so that only one landing in the few instructions before
	// the system call is left to cancelSlice.
	if err := ctx.Err(); err != nil {
		return err
	}
	d := cancelSlice
	if dl, ok := ctx.Deadline(); ok {
		d = min(d, time.Until(dl))
	}
	sleep(addr, val, max(d, 0))
	return ctx.Err()
}

// WaitTimeout sleeps while *addr == val, until a Wake or until d has passed,
// in which case it returns ErrTimeout. A negative d waits without limit.
func WaitTimeout(addr *atomic.Uint32, val uint32, d time.Duration) error {
	return sleep(addr, val, d)
}

// sleep makes one FUTEX_WAIT, retrying EINTR with the time that is left.
func sleep(addr *atomic.Uint32, val uint32, d time.Duration) error {
	var deadline time.Time
	if d >= 0 {
		deadline = time.Now().Add(d)
	}
	for {
		var ts *unix.Timespec
		if d >= 0 {
			left := time.Until(deadline)
			if left <= 0 {
				return ErrTimeout
			}
			t := unix.NsecToTimespec(left.Nanoseconds())
			ts = &t
		}
		_, _, errno := unix.Syscall6(unix.SYS_FUTEX, uintptr(unsafe.Pointer(addr)), opWait, uintptr(val), uintptr(unsafe.Pointer(ts)), 0, 0)
		switch errno {
		case unix.EINTR:
			continue
		case unix.ETIMEDOUT:
			return ErrTimeout
		default: // 0 (woken), EAGAIN (the word had changed), or spurious
			return nil
		}
	}
}

// Wake wakes up to n processes or threads sleeping on addr and returns how
// many it woke.
func Wake(addr *atomic.Uint32, n int) int {
	for {
		r, _, errno := unix.Syscall6(unix.SYS_FUTEX, uintptr(unsafe.Pointer(addr)), opWake, uintptr(n), 0, 0, 0)
		if errno == unix.EINTR {
			continue
		}
		if errno != 0 {
			return 0
		}
		return int(r)
	}
}

// WakeAll wakes every sleeper on addr.
func WakeAll(addr *atomic.Uint32) int { return Wake(addr, math.MaxInt32) }
