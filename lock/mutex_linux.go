package lock

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
	"weak"

	"github.com/shmkit/shm"
	"github.com/shmkit/shm/internal/futex"
	"github.com/shmkit/shm/internal/live"
	"github.com/shmkit/shm/internal/mem"
	"github.com/shmkit/shm/internal/racehint"
)

// Mutex layout: MutexSize bytes at a MutexAlign-aligned offset. All zero
// bytes are an unlocked mutex, so a new segment needs no initialisation.
//
//	offset 0                          8              12             16
//	       +--------------------------+--------------+--------------+
//	       | lock word (uint64)       | wake (uint32)| reserved     |
//	       +--------------------------+--------------+--------------+
//
// The lock word holds the state and the owner together, so that one
// compare-and-swap both takes the mutex and records who took it:
//
//	 63                                      6   5   4   3   2   1     0
//	+-----------------------------------------+---+---+---+---+-------+
//	| owner token (58 bits, not 0)            | 0 | 0 | 0 | I | state |
//	+-----------------------------------------+---+---+---+---+-------+
//
//	state 0  unlocked; then the whole word is 0
//	state 1  locked, nobody sleeps
//	state 2  locked, sleepers may wait on the wake word
//	state 3  not recoverable; then the whole word is 3 (terminal)
//	I        inconsistent: the owner took the mutex from a dead owner and
//	         has not called MarkConsistent yet
//
// The owner is a token: a number from 1 to 2^58-1 that the owning process
// holds, as an open file description lock on byte live.TokenBase+token of
// the segment's file (internal/live), for as long as the segment stays open
// (for MutexIn: the descriptor given with File). The token is taken once,
// when the first Mutex is attached through the segment, never per Lock. Whether the owner lives is whether its token is held, which any
// process that has the file open can ask the kernel (F_OFD_GETLK) from
// any PID namespace; the kernel drops the lock when the owner dies, however
// it dies. Tokens are random, so one a dead owner left in a lock word is
// held again only by chance (one in 2^58), and no pid is involved: a
// reused pid cannot pass for a dead owner, nor one process for another in
// another PID namespace. Any other word is corrupt (ErrCorrupt): state 0
// or 3 with other bits, bit 3, 4 or 5 set, or a locked word with token 0.
//
// Legal transitions, all by compare-and-swap ("me" is the caller's owner
// token in place, "dead" a token no live process holds, "s" a locked state
// 1 or 2, "[I]" the flag as it was):
//
//	from           to         by
//	0              me|1       Lock, TryLock: the fast path
//	0              me|2       Lock after it spun or slept (others may sleep)
//	X|1[I]         X|2[I]     a waiter, before it sleeps
//	me|s           0          Unlock; it wakes one sleeper if s was 2
//	me|s|I         3          Unlock without MarkConsistent; it wakes all
//	me|s|I         me|s       MarkConsistent
//	dead|s[I]      me|2|I     Lock taking over from a dead owner
//	dead|s[I]      me|s|I     TryLock taking over from a dead owner
//	anything       0          Reset (only while nobody uses the mutex)
//
// A takeover is a compare-and-swap from the exact word that named the dead
// owner, so of several lockers that found it dead exactly one wins and gets
// ErrOwnerDead; the others see the new owner, who is alive.
//
// The wake word is the futex word. It is a wake sequence, not a state:
// Unlock bumps it (atomic add) before FUTEX_WAKE when the state was 2, and a
// waiter reads it before it looks at the lock word and sleeps only while it
// is unchanged, so a wake between its check and its sleep is never lost.
// Any value is legal, so garbage there only causes a spurious wake-up. (A
// futex word has 32 bits and the lock word needs 64 to hold the owner;
// sleeping on half of it would mix 32- and 64-bit atomics on the same
// memory, which Go's memory model does not describe.) The reserved bytes
// are ignored.
//
// Why the owner goes into the lock word: if it were written after the
// acquiring CAS, a crash between the two would leave a mutex that is locked
// by nobody in particular, and a waiter could not tell a dead owner from one
// that was merely descheduled between the two stores. With one CAS there is
// no such window: whenever the word says locked, it says by whom.
//
// Why a token held as a lock, and not another identity. The owner must be
// recognisable from every process that maps the file, whatever its PID
// namespace (containers share /dev/shm without sharing pids), and its death
// must be seen without trusting anything it wrote. A pid with its start
// time (read from /proc/PID/stat) names another process, or none, in
// another namespace, and needs /proc. The kernel's robust-futex list
// (set_robust_list) marks a dead owner's word, but it is per thread and
// identifies the owner by its thread id, while a Go mutex is owned by a
// process whose goroutines move between threads, and thread ids repeat
// across namespaces. A pidfd needs a pid that means the owner in the
// asker's namespace. An open file description lock has none of these
// limits: it belongs to the file, is seen from every namespace, goes with
// the owner's last descriptor however the owner dies, and costs a system
// call only when it is taken (once per segment) or asked about (on the
// slow paths below).
//
// Waiters never sleep longer than pollInterval at a time. After each such
// interval they check the owner (one F_OFD_GETLK on its token), so a dead
// owner's mutex is taken over within about pollInterval plus the time to
// be scheduled; the promised bound is one second. The check is on the slow
// path only: the uncontended Lock and Unlock make no system call.
//
// Which tokens are this process's own is kept in the process (ownToken):
// F_OFD_GETLK does not report locks of the asking descriptor's own open
// file description, and any Mutex of the process may unlock what another
// locked, as the owner is the process. A Mutex attached through a
// shm.Segment shares the segment's token with every other Mutex attached
// through it (one lock per open segment, however many mutexes). Once the
// segment is closed its token is no longer the process's: the lock went
// with the descriptor, and a mutex it held is a dead owner's for everyone.
const (
	offWord = 0
	offWake = 8

	stateMask      = 3
	stateUnlocked  = 0
	stateLocked    = 1
	stateContended = 2
	notRecoverable = 3 // the whole word
	flagInconsist  = 1 << 2
	reservedBits   = 7 << 3
	tokenShift     = 6
	ownerMask      = 1<<64 - 1<<tokenShift
)

const (
	// spinTries bounds the optimistic phase of Lock before it sleeps:
	// that many looks at the word, with a pause between two (about 4 µs
	// of pauses in all), or a yield while the word names this Mutex's
	// own token.
	spinTries = 30
	// pollInterval bounds one futex sleep; after it the owner's liveness is
	// checked again.
	pollInterval = 100 * time.Millisecond
	// minSleep keeps a nearly expired deadline from turning into a busy loop.
	minSleep = 50 * time.Microsecond
)

// Mutex is a mutual-exclusion lock in shared memory that works across
// processes, in any PID namespaces, and survives the death of its owner,
// with the semantics of a POSIX robust mutex. It is owned by a process, not
// a goroutine: any goroutine of the owning process may unlock it. Its
// methods are safe for concurrent use. A Mutex must not outlive the
// mapping it lives in, nor the file descriptor its token is held on (the
// segment's, for MutexAt): closing that counts as the owner's death.
type Mutex struct {
	word *atomic.Uint64
	wake *atomic.Uint32
	me   uint64 // this Mutex's owner token, shifted into owner position
	fd   int    // the descriptor the token is held on; owners' tokens are asked through it
	name string
	race *byte // the race detector's key for this lock word; nil unless -race
}

// holdToken and tokenHeld are live.HoldToken and live.TokenHeld; tests
// replace them to play a kernel without open file description locks.
var (
	holdToken = live.HoldToken
	tokenHeld = live.TokenHeld
)

// tokens keeps the owner tokens of this process: that of each segment a
// Mutex was attached through, and all of them with the segment each is
// held through (a zero weak pointer for MutexIn's).
var tokens struct {
	sync.Mutex
	bySegment map[weak.Pointer[shm.Segment]]uint64
	own       map[uint64]weak.Pointer[shm.Segment]
}

// ownToken reports whether owner token t is this process's and still
// held: a token of a segment that was closed since is not (its lock went
// with the descriptor, and other processes take such an owner for dead).
func ownToken(t uint64) bool {
	tokens.Lock()
	defer tokens.Unlock()
	seg, ok := tokens.own[t]
	if !ok {
		return false
	}
	if seg == (weak.Pointer[shm.Segment]{}) {
		return true
	}
	s := seg.Value()
	return s != nil && s.Fd() >= 0
}

// newToken holds a new owner token on fd and records it as this process's,
// held through seg (zero for MutexIn).
func newToken(fd int, seg weak.Pointer[shm.Segment]) (uint64, error) {
	t, err := holdToken(fd)
	if err != nil {
		if errors.Is(err, live.ErrUnsupported) {
			return 0, fmt.Errorf("%w: %w: the owner of a mutex is told alive by such a lock, in every PID namespace", errors.ErrUnsupported, err)
		}
		return 0, fmt.Errorf("cannot take an owner token: %w", err)
	}
	if tokens.own == nil {
		tokens.own = map[uint64]weak.Pointer[shm.Segment]{}
	}
	tokens.own[t] = seg
	return t, nil
}

// segmentToken returns seg's owner token, taking it on seg's descriptor the
// first time. It is dropped from the table when seg is garbage.
func segmentToken(seg *shm.Segment) (uint64, error) {
	key := weak.Make(seg)
	tokens.Lock()
	defer tokens.Unlock()
	if t, ok := tokens.bySegment[key]; ok {
		return t, nil
	}
	t, err := newToken(seg.Fd(), key)
	if err != nil {
		return 0, err
	}
	if tokens.bySegment == nil {
		tokens.bySegment = map[weak.Pointer[shm.Segment]]uint64{}
	}
	tokens.bySegment[key] = t
	runtime.AddCleanup(seg, func(t uint64) {
		tokens.Lock()
		defer tokens.Unlock()
		delete(tokens.bySegment, key)
		delete(tokens.own, t)
	}, t)
	return t, nil
}

// MutexIn returns the mutex held in b[:MutexSize]. b must be at least
// MutexSize bytes of a shared, writable mapping of a file, at an address
// aligned to MutexAlign, and the File option must give that file's
// descriptor, open for writing: the mutex's owner token is held on it (see
// MutexAt). Without File, MutexIn fails with an error wrapping
// shm.ErrInvalid: an owner that cannot be told alive in every PID
// namespace is not made. All zero bytes are an unlocked mutex: a fresh
// segment needs no initialisation, and creating a Mutex writes nothing.
// Each call takes a new token; MutexAt shares one per segment.
func MutexIn(b []byte, opts ...Option) (*Mutex, error) {
	c := newConfig(opts)
	m, err := newMutex(b, c.name, func() (int, uint64, error) {
		if c.fd < 0 {
			return 0, 0, fmt.Errorf("%w: MutexIn needs the descriptor of the mapped file (option File) to tell whether an owner lives; or use MutexAt", shm.ErrInvalid)
		}
		tokens.Lock()
		defer tokens.Unlock()
		t, err := newToken(c.fd, weak.Pointer[shm.Segment]{})
		return c.fd, t, err
	})
	return m, wrap("mutex open", c.name, err)
}

// MutexAt returns the mutex at offset off of seg (see MutexIn). Errors name
// it SEGMENT+OFFSET unless the Name option says otherwise. A segment opened
// ReadOnly is refused with shm.ErrReadOnly: locking writes; a closed one
// with shm.ErrClosed, a nil one with shm.ErrInvalid. The owner token is held
// on seg's descriptor, taken by the first MutexAt on seg and shared by the
// later ones; a kernel without open file description locks (Linux before
// 3.15) is refused with an error wrapping errors.ErrUnsupported.
func MutexAt(seg *shm.Segment, off int, opts ...Option) (*Mutex, error) {
	c := newConfig(append([]Option{Name(segName(seg, off))}, opts...))
	b, err := mapping(seg, off)
	if err != nil {
		return nil, wrap("mutex open", c.name, err)
	}
	if readOnly(seg) {
		return nil, wrap("mutex open", c.name, shm.ErrReadOnly)
	}
	m, err := newMutex(b[off:], c.name, func() (int, uint64, error) {
		t, err := segmentToken(seg)
		return seg.Fd(), t, err
	})
	return m, wrap("mutex open", c.name, err)
}

// newMutex checks b and makes the Mutex in it, with the owner token that
// token returns, held on the descriptor it returns.
func newMutex(b []byte, name string, token func() (int, uint64, error)) (*Mutex, error) {
	if len(b) < MutexSize {
		return nil, fmt.Errorf("%w: a mutex needs %d bytes, have %d", shm.ErrInvalid, MutexSize, len(b))
	}
	if !mem.Aligned(b, MutexAlign) {
		return nil, fmt.Errorf("%w: a mutex must start at an address that is a multiple of %d (MutexAlign); at an offset into a segment, a multiple of %d", shm.ErrInvalid, MutexAlign, MutexAlign)
	}
	word, err := mem.Uint64(b, offWord)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", shm.ErrInvalid, err)
	}
	wake, err := mem.Uint32(b, offWake)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", shm.ErrInvalid, err)
	}
	fd, t, err := token()
	if err != nil {
		return nil, err
	}
	return &Mutex{word: word, wake: wake, me: t << tokenShift, fd: fd, name: name, race: racehint.Key(word)}, nil
}

// Lock acquires the mutex, waiting while another process (or goroutine)
// holds it. It spins briefly, then sleeps on the futex.
//
// It returns nil when it acquired the mutex normally; an error matching
// ErrOwnerDead when it acquired it from an owner that died holding it (the
// caller holds the mutex and must repair, MarkConsistent and Unlock);
// ErrNotRecoverable or ErrCorrupt without acquiring; or, without acquiring,
// ctx.Err() when ctx is done first. ctx bounds only the wait: a free mutex
// is taken even when ctx is already done.
func (m *Mutex) Lock(ctx context.Context) error {
	if ctx == nil {
		return wrap("mutex lock", m.name, errNilContext)
	}
	if m.word.CompareAndSwap(0, m.me|stateLocked) {
		racehint.Acquire(m.race)
		return nil
	}
	err := m.lockSlow(ctx)
	if err == nil || err == ErrOwnerDead {
		racehint.Acquire(m.race)
	}
	return wrap("mutex lock", m.name, err)
}

func (m *Mutex) lockSlow(ctx context.Context) error {
	first := m.word.Load()
	spun := true
	for range spinTries {
		v := m.word.Load()
		if v == 0 {
			if m.word.CompareAndSwap(0, m.me|stateLocked) {
				return nil
			}
			continue
		}
		if v&stateMask != stateLocked {
			// Others sleep already (or the word is not a plain locked
			// one): queue up behind them.
			spun = false
			break
		}
		if v&ownerMask == m.me {
			// The holder is a goroutine of this process (it took the word
			// with this Mutex's token), which may be waiting for this
			// goroutine's P: let it run. Another process's holder gains
			// nothing from a yield, which costs a goroutine locked to its
			// thread two context switches (see pause).
			runtime.Gosched()
		} else {
			pause()
		}
	}
	// A holder in this process may be a goroutine waiting for a P, which
	// it cannot have while this goroutine sleeps in the futex call: let
	// it run first.
	if v := m.word.Load(); v != 0 && m.heldHere(v) {
		runtime.Gosched()
	}

	// If the same owner held the mutex through the whole spin, it may be
	// dead: check now rather than after the first sleep.
	checkAt := time.Now()
	if !spun || m.word.Load() != first {
		checkAt = checkAt.Add(pollInterval)
	}
	// The cancellation wake-up runs in its own goroutine and touches the
	// mapping: if it has started, wait for it, so that nothing touches the
	// segment after Lock returns and the caller may close it at once.
	var stop func() bool
	var woken chan struct{}
	defer func() {
		if stop != nil && !stop() {
			<-woken
		}
	}()
	slept := false
	for {
		if err := ctx.Err(); err != nil {
			if slept && m.word.Load() == 0 {
				// We may have taken a wake meant for the next sleeper:
				// pass it on.
				m.wakeOne()
			}
			return err
		}
		g := m.wake.Load()
		v := m.word.Load()
		if v == 0 {
			if m.word.CompareAndSwap(0, m.me|stateContended) {
				return nil
			}
			continue
		}
		if err := check(v); err != nil {
			return err
		}
		if v&stateMask == stateLocked {
			nv := v&^stateMask | stateContended
			if !m.word.CompareAndSwap(v, nv) {
				continue
			}
			v = nv
		}
		now := time.Now()
		if !now.Before(checkAt) {
			if !m.alive(v) {
				if m.word.CompareAndSwap(v, m.me|stateContended|flagInconsist) {
					return ErrOwnerDead
				}
				continue
			}
			checkAt = now.Add(pollInterval)
		}
		if stop == nil && ctx.Done() != nil {
			// Cancellation bumps the wake word, so a waiter between its
			// ctx check and its sleep does not sleep through it.
			woken = make(chan struct{})
			stop = context.AfterFunc(ctx, func() {
				defer close(woken)
				m.wakeAll()
			})
		}
		d := checkAt.Sub(now)
		if dl, ok := ctx.Deadline(); ok {
			d = min(d, dl.Sub(now))
		}
		futex.WaitTimeout(m.wake, g, max(d, minSleep))
		slept = true
	}
}

// TryLock acquires the mutex if nobody holds it, or if its owner is dead, and
// never waits. It returns true, nil when it acquired the mutex; true and an
// error matching ErrOwnerDead when it took it from a dead owner (see Lock);
// false, nil when a live process holds it; false and ErrNotRecoverable or
// ErrCorrupt otherwise. Finding the mutex held by another process costs a
// system call (F_OFD_GETLK) to check that the owner lives.
func (m *Mutex) TryLock() (bool, error) {
	ok, err := m.tryLock()
	if ok {
		racehint.Acquire(m.race)
	}
	return ok, err
}

func (m *Mutex) tryLock() (bool, error) {
	if m.word.CompareAndSwap(0, m.me|stateLocked) {
		return true, nil
	}
	for range 4 {
		v := m.word.Load()
		if v == 0 {
			if m.word.CompareAndSwap(0, m.me|stateLocked) {
				return true, nil
			}
			continue
		}
		if err := check(v); err != nil {
			return false, wrap("mutex trylock", m.name, err)
		}
		if m.alive(v) {
			return false, nil
		}
		if m.word.CompareAndSwap(v, m.me|v&stateMask|flagInconsist) {
			return true, wrap("mutex trylock", m.name, ErrOwnerDead)
		}
	}
	return false, nil
}

// Unlock releases the mutex, making the wake-up syscall only when a waiter
// sleeps. It returns an error matching ErrNotOwner when another process
// holds the mutex, ErrNotLocked when nobody does, ErrCorrupt for a corrupt
// word. Unlocking a mutex taken with ErrOwnerDead without MarkConsistent
// releases it for good: Unlock returns ErrNotRecoverable, and so does every
// later Lock and TryLock, including those already waiting.
func (m *Mutex) Unlock() error {
	racehint.Release(m.race)
	if m.word.CompareAndSwap(m.me|stateLocked, 0) {
		return nil
	}
	return wrap("mutex unlock", m.name, m.unlockSlow())
}

func (m *Mutex) unlockSlow() error {
	for {
		v, err := m.owned()
		if err != nil {
			return err
		}
		if v&flagInconsist != 0 {
			if !m.word.CompareAndSwap(v, notRecoverable) {
				continue
			}
			m.wakeAll()
			return ErrNotRecoverable
		}
		if !m.word.CompareAndSwap(v, 0) {
			continue
		}
		if v&stateMask == stateContended {
			m.wakeOne()
		}
		return nil
	}
}

// MarkConsistent declares the state the mutex protects repaired after Lock
// or TryLock returned ErrOwnerDead, so that Unlock releases the mutex
// normally. The caller must hold the mutex; on a consistent mutex it does
// nothing.
func (m *Mutex) MarkConsistent() error {
	for {
		v, err := m.owned()
		if err != nil {
			return wrap("mutex mark consistent", m.name, err)
		}
		if v&flagInconsist == 0 || m.word.CompareAndSwap(v, v&^flagInconsist) {
			return nil
		}
	}
}

// Reset makes the mutex unlocked and consistent, whatever its state: for a
// mutex that is not recoverable or corrupt. It is only safe when no other
// process uses the mutex, like re-initialising a pthread mutex.
func (m *Mutex) Reset() {
	m.word.Store(0)
	m.wakeAll()
}

// owned loads the lock word and checks that this process holds the mutex.
func (m *Mutex) owned() (uint64, error) {
	v := m.word.Load()
	switch {
	case v == 0:
		return 0, ErrNotLocked
	case check(v) != nil:
		return 0, check(v)
	case !m.heldHere(v):
		return 0, ErrNotOwner
	}
	return v, nil
}

// check validates a lock word that is not 0 (unlocked).
func check(v uint64) error {
	switch {
	case v == notRecoverable:
		return ErrNotRecoverable
	case v&stateMask == stateUnlocked, v&stateMask == notRecoverable,
		v&reservedBits != 0, v&ownerMask == 0:
		return fmt.Errorf("%w: lock word %#016x", ErrCorrupt, v)
	}
	return nil
}

// alive reports whether the owner recorded in the valid locked word v
// lives: whether its token is this process's or held by another open file
// description of the file. A failure to ask counts as alive: the mutex is
// never taken from an owner that may live (Lock then waits for its ctx).
func (m *Mutex) alive(v uint64) bool {
	if m.heldHere(v) {
		return true
	}
	held, err := tokenHeld(m.fd, v>>tokenShift)
	return held || err != nil
}

// heldHere reports whether lock word v names an owner in this process:
// this Mutex's token, or another one this process holds.
func (m *Mutex) heldHere(v uint64) bool {
	return v&ownerMask == m.me || ownToken(v>>tokenShift)
}

func (m *Mutex) wakeOne() {
	m.wake.Add(1)
	futex.Wake(m.wake, 1)
}

func (m *Mutex) wakeAll() {
	m.wake.Add(1)
	futex.WakeAll(m.wake)
}
