package sem

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/shmkit/shm"
	"github.com/shmkit/shm/internal/fault"
	"github.com/shmkit/shm/internal/futex"
	"github.com/shmkit/shm/internal/mem"
	"github.com/shmkit/shm/internal/objstat"
	"github.com/shmkit/shm/internal/racehint"
)

// Semaphore is a counting semaphore in shared memory with glibc's layout
// and protocol. Its methods are safe for concurrent use by many goroutines
// and processes, except that Close must not run while Post, TryWait or Value
// run on the same Semaphore (Wait calls that are blocked are woken and
// return shm.ErrClosed).
type Semaphore struct {
	name  string         // for errors: the name, or "segment+offset"
	data  *atomic.Uint64 // value | nwaiters<<32
	value *atomic.Uint32 // low half of data: the futex word

	mapping []byte // a named semaphore's own mapping; nil inside a segment

	// size reads the size of the object that holds the semaphore now, for
	// the message of a memory fault, and had is its size when mapped.
	size func() (int64, bool)
	had  int64

	race *byte // race detector key (race builds only; see internal/racehint)

	closed  atomic.Bool
	waiting atomic.Int32 // this Semaphore's Wait calls in progress
	closeMu sync.Mutex
}

// Init makes a new process-shared semaphore with the given value at offset
// in seg, as sem_init(sem, 1, value) would, and returns it. The offset must
// be a multiple of Align and leave Size bytes in the segment. Init must not
// race with other users of those bytes: call it before anyone else uses
// the semaphore. The Semaphore is valid while seg stays open and is not
// resized.
func Init(seg *shm.Segment, offset int, value uint32) (*Semaphore, error) {
	s, err := inSegment(seg, offset)
	if err != nil {
		return nil, &shm.Error{Op: "sem init", Name: segName(seg, offset), Err: err}
	}
	if value > ValueMax {
		return nil, s.opError("sem init", fmt.Errorf("%w: initial value %d exceeds SEM_VALUE_MAX %d", shm.ErrInvalid, value, ValueMax))
	}
	b := seg.Bytes()[offset:]
	if fault.Catch(func() {
		mem.MustUint32(b, offPrivate).Store(privateShared)
		mem.MustUint32(b, offPad).Store(0)
		s.data.Store(uint64(value))
	}) {
		return nil, s.opError("sem init", shm.ErrFault)
	}
	return s, nil
}

// At attaches to a semaphore that Init, or a C program's sem_init with
// pshared 1, made at offset in seg. It fails with ErrNotShared for a
// process-private semaphore and ErrCorrupt for bytes that hold no
// semaphore. The Semaphore is valid while seg stays open and is not resized.
func At(seg *shm.Segment, offset int) (*Semaphore, error) {
	s, err := inSegment(seg, offset)
	if err == nil && fault.Catch(func() { err = s.check(seg.Bytes()[offset:]) }) {
		err = shm.ErrFault
	}
	if err != nil {
		return nil, &shm.Error{Op: "sem attach", Name: segName(seg, offset), Err: err}
	}
	return s, nil
}

func segName(seg *shm.Segment, offset int) string {
	if seg == nil {
		return "+" + strconv.Itoa(offset)
	}
	return seg.Name() + "+" + strconv.Itoa(offset)
}

func inSegment(seg *shm.Segment, offset int) (*Semaphore, error) {
	if seg == nil {
		return nil, fmt.Errorf("%w: nil segment", shm.ErrInvalid)
	}
	// The semaphore's atomics would fault on a closed or read-only mapping.
	switch {
	case seg.Fd() < 0:
		return nil, shm.ErrClosed
	case !seg.Writable():
		return nil, shm.ErrReadOnly
	}
	b := seg.Bytes()
	if offset < 0 || offset%Align != 0 || offset > len(b)-Size {
		return nil, fmt.Errorf("%w: offset %d is not a multiple of %d with %d bytes after it in the %d-byte segment", shm.ErrInvalid, offset, Align, Size, len(b))
	}
	s, err := words(segName(seg, offset), b[offset:offset+Size])
	if err != nil {
		return nil, err
	}
	s.size = func() (int64, bool) {
		size, _, ok := objstat.Of(seg.Fd())
		return size, ok
	}
	s.had, _, _ = objstat.Of(seg.Fd())
	return s, nil
}

// words points a Semaphore at the Size bytes of b.
func words(name string, b []byte) (*Semaphore, error) {
	data, err := mem.Uint64(b, offData)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", shm.ErrInvalid, err)
	}
	return &Semaphore{name: name, data: data, value: mem.MustUint32(b, offValue), race: racehint.Key(data)}, nil
}

// check validates the state of an existing semaphore in b.
func (s *Semaphore) check(b []byte) error {
	if err := checkPrivate(mem.MustUint32(b, offPrivate).Load()); err != nil {
		return err
	}
	return checkData(s.data.Load())
}

func checkData(d uint64) error {
	if v := uint32(d); v > ValueMax {
		return corruptValue(v)
	}
	if n := d >> nwaitersShift; n > maxWaiters {
		return corruptWaiters(n)
	}
	return nil
}

// Name returns the semaphore's name, or for one inside a segment the
// segment's name and the offset ("jobs+64").
func (s *Semaphore) Name() string { return s.name }

// Post adds a token, waking one waiter if any may be sleeping: sem_post.
// It makes no system call when nobody waits. At ValueMax it fails with
// ErrOverflow and changes nothing.
func (s *Semaphore) Post() (err error) {
	defer s.catch(debug.SetPanicOnFault(true), "sem post", &err)
	if s.closed.Load() {
		return s.opError("sem post", shm.ErrClosed)
	}
	racehint.Release(s.race)
	for {
		d := s.data.Load()
		if v := uint32(d); v >= ValueMax {
			if v == ValueMax {
				return s.opError("sem post", ErrOverflow)
			}
			return s.opError("sem post", corruptValue(v))
		}
		if s.data.CompareAndSwap(d, d+1) {
			if d>>nwaitersShift != 0 {
				futex.Wake(s.value, 1)
			}
			return nil
		}
	}
}

// TryWait takes a token if one is available, without blocking: sem_trywait.
// It reports whether it took one; no token is (false, nil), not an error,
// so the common case costs no allocation.
func (s *Semaphore) TryWait() (_ bool, err error) {
	defer s.catch(debug.SetPanicOnFault(true), "sem trywait", &err)
	if s.closed.Load() {
		return false, s.opError("sem trywait", shm.ErrClosed)
	}
	ok, err := s.tryTake()
	if err != nil {
		return false, s.opError("sem trywait", err)
	}
	return ok, nil
}

func (s *Semaphore) tryTake() (bool, error) {
	for {
		d := s.data.Load()
		v := uint32(d)
		if v == 0 {
			return false, nil
		}
		if v > ValueMax {
			return false, corruptValue(v)
		}
		if s.data.CompareAndSwap(d, d-1) {
			racehint.Acquire(s.race)
			return true, nil
		}
	}
}

// Wait takes a token, sleeping until one is available or ctx is done:
// sem_wait. A token that is available is taken even when ctx is already
// done. A cancelled wait returns ctx.Err() (wrapped) promptly and leaves
// the waiter count as it found it. A nil ctx is an error wrapping
// shm.ErrInvalid: use context.Background() to wait without a limit.
func (s *Semaphore) Wait(ctx context.Context) error {
	if ctx == nil {
		return s.opError("sem wait", errNilContext)
	}
	return s.wait("sem wait", ctx, time.Time{})
}

// WaitTimeout is Wait with a time limit instead of a context:
// sem_timedwait. When d passes without a token it returns an error wrapping
// ErrTimeout; d <= 0 only tries.
func (s *Semaphore) WaitTimeout(d time.Duration) error {
	return s.wait("sem wait", nil, time.Now().Add(d))
}

func (s *Semaphore) wait(op string, ctx context.Context, deadline time.Time) (err error) {
	defer s.catch(debug.SetPanicOnFault(true), op, &err)
	// Counted before closed is checked, and Close sets closed before it
	// looks at the count: either this wait sees closed, or Close waits for
	// it to leave before unmapping.
	s.waiting.Add(1)
	defer s.waiting.Add(-1)
	if s.closed.Load() {
		return s.opError(op, shm.ErrClosed)
	}
	if ok, err := s.tryTake(); ok || err != nil {
		return s.opError(op, err)
	}
	return s.opError(op, s.waitSlow(ctx, deadline))
}

// waitSlow is glibc's __new_sem_wait_slow64: register as a waiter, then
// sleep on the value word while it is 0 and take a token together with the
// registration when there is one.
func (s *Semaphore) waitSlow(ctx context.Context, deadline time.Time) error {
	d, err := s.register()
	if err != nil {
		return err
	}
	for {
		if s.closed.Load() {
			s.unregister()
			return shm.ErrClosed
		}
		v := uint32(d)
		switch {
		case v > ValueMax:
			s.unregister()
			return corruptValue(v)
		case v == 0:
			if err := s.sleep(ctx, deadline); err != nil {
				s.unregister()
				return err
			}
			d = s.data.Load()
		default:
			next := d - 1
			if d>>nwaitersShift != 0 {
				next -= oneWaiter
			} // else someone reset the count under us: take the token only
			if s.data.CompareAndSwap(d, next) {
				racehint.Acquire(s.race)
				return nil
			}
			d = s.data.Load()
		}
	}
}

// sleep waits on the value word while it is 0, until a wake, ctx or the
// deadline.
//
// No single sleep lasts longer than sleepSlice: a poster killed between
// adding its token and its FUTEX_WAKE leaves a token that nobody announces,
// and the waiter finds it when it looks at the value again.
func (s *Semaphore) sleep(ctx context.Context, deadline time.Time) error {
	if ctx != nil {
		if ctx.Done() == nil {
			futex.WaitTimeout(s.value, 0, sleepSlice) // a timeout only means: look again
			return nil
		}
		return futex.Wait(ctx, s.value, 0) // sleeps at most 100 ms at a time
	}
	left := time.Until(deadline)
	if left <= 0 {
		return ErrTimeout
	}
	if err := futex.WaitTimeout(s.value, 0, min(left, sleepSlice)); err != nil {
		if errors.Is(err, futex.ErrTimeout) {
			if left <= sleepSlice {
				return ErrTimeout
			}
			return nil
		}
		return err
	}
	return nil
}

// sleepSlice bounds one futex sleep of a waiting Wait or WaitTimeout, and so
// how long a token that a dying poster added without a wake-up goes unseen.
const sleepSlice = 100 * time.Millisecond

// register adds this wait to nwaiters and returns the new data word.
func (s *Semaphore) register() (uint64, error) {
	for {
		d := s.data.Load()
		if err := checkData(d); err != nil {
			return 0, err
		}
		if n := d >> nwaitersShift; n == maxWaiters {
			return 0, corruptWaiters(n + 1)
		}
		if s.data.CompareAndSwap(d, d+oneWaiter) {
			return d + oneWaiter, nil
		}
	}
}

// unregister takes this wait off nwaiters when it gives up. A post may have
// woken this wait just as it gave up; if tokens and other waiters remain,
// the wake is passed on so that it is not lost.
func (s *Semaphore) unregister() {
	for {
		d := s.data.Load()
		if d>>nwaitersShift == 0 {
			return // reset under us: nothing to take back
		}
		next := d - oneWaiter
		if s.data.CompareAndSwap(d, next) {
			if uint32(next) != 0 && next>>nwaitersShift != 0 {
				futex.Wake(s.value, 1)
			}
			return
		}
	}
}

// Value returns the number of tokens: sem_getvalue.
func (s *Semaphore) Value() (_ int, err error) {
	defer s.catch(debug.SetPanicOnFault(true), "sem value", &err)
	if s.closed.Load() {
		return 0, s.opError("sem value", shm.ErrClosed)
	}
	v := uint32(s.data.Load())
	if v > ValueMax {
		return 0, s.opError("sem value", corruptValue(v))
	}
	return int(v), nil
}

// Waiters returns the waiter count glibc keeps in the semaphore: how many
// waits in any process registered to sleep. It is an upper bound (a waiter
// killed while waiting stays counted) meant for diagnostics.
func (s *Semaphore) Waiters() (_ int, err error) {
	defer s.catch(debug.SetPanicOnFault(true), "sem waiters", &err)
	if s.closed.Load() {
		return 0, s.opError("sem waiters", shm.ErrClosed)
	}
	n := s.data.Load() >> nwaitersShift
	if n > maxWaiters {
		return 0, s.opError("sem waiters", corruptWaiters(n))
	}
	return int(n), nil
}

// Close releases this process's handle: it wakes this handle's blocked
// Wait calls (they return shm.ErrClosed), then unmaps a named semaphore. The
// semaphore itself stays, for other processes and later Opens, until
// Unlink. Close is idempotent; other methods return shm.ErrClosed after it.
func (s *Semaphore) Close() error {
	s.closeMu.Lock()
	defer s.closeMu.Unlock()
	if s.closed.Swap(true) {
		return nil
	}
	// Waiters check closed after every wake; one that checked just before
	// Close and was not yet asleep misses a wake, so wake until all left.
	for s.waiting.Load() > 0 {
		futex.WakeAll(s.value)
		time.Sleep(time.Millisecond)
	}
	var err error
	if s.mapping != nil {
		err = unix.Munmap(s.mapping)
	}
	s.mapping, s.data, s.value = nil, nil, nil
	return s.opError("sem close", err)
}
