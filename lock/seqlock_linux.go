package lock

import (
	"context"
	"errors"
	"sync/atomic"
	"time"
	"weak"

	"github.com/shmkit/shm"
	"github.com/shmkit/shm/internal/futex"
	"golang.org/x/sys/unix"
)

// errNoFile is why a Seqlock from raw bytes without the File option cannot
// tell whether its writer lives.
var errNoFile = errors.New("no descriptor of the mapped file to ask through (use SeqlockAt, ValueAt or the File option)")

// segmentIdentity makes s ask writers' tokens through seg's descriptor and,
// on a writable segment, write as seg's owner token (shared with the
// Mutexes attached through seg). A kernel without open file description
// locks leaves s without an identity: it reads, writes and waits, but its
// writes record no writer.
func (s *Seqlock) segmentIdentity(seg *shm.Segment) error {
	s.fd = seg.Fd()
	if readOnly(seg) {
		s.readOnly = true
		return nil
	}
	t, err := segmentToken(seg)
	if err != nil {
		if errors.Is(err, errors.ErrUnsupported) {
			return nil
		}
		return err
	}
	s.me = t<<writerShift | writerOpen
	return nil
}

// fileIdentity is segmentIdentity for SeqlockIn's File option: a token of
// its own, held on fd. A descriptor open only for reading cannot hold one:
// s then reads and asks through it, and writes without an identity.
func (s *Seqlock) fileIdentity(fd int) error {
	s.fd = fd
	tokens.Lock()
	defer tokens.Unlock()
	t, err := newToken(fd, weak.Pointer[shm.Segment]{})
	if err != nil {
		if errors.Is(err, errors.ErrUnsupported) || errors.Is(err, unix.EBADF) {
			return nil
		}
		return err
	}
	s.me = t<<writerShift | writerOpen
	return nil
}

// ownsToken reports whether token t is this process's.
func (s *Seqlock) ownsToken(t uint64) bool { return t != 0 && ownToken(t) }

// writerAlive reports whether a live process holds writer token t.
func (s *Seqlock) writerAlive(t uint64) (bool, error) {
	if s.ownsToken(t) {
		return true, nil
	}
	if s.fd < 0 {
		return false, errNoFile
	}
	return tokenHeld(s.fd, t)
}

// sleepOn sleeps on the futex word while it holds g, for at most d or until
// ctx is done.
func sleepOn(ctx context.Context, word *atomic.Uint32, g uint32, d time.Duration) {
	if ctx.Done() == nil {
		futex.WaitTimeout(word, g, d)
		return
	}
	futex.Wait(ctx, word, g) // at most 100 ms, or until ctx's deadline
}

func wakeAll(word *atomic.Uint32) { futex.WakeAll(word) }
