package lock

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"time"

	"github.com/shmkit/shm"
)

// Waiting for a new version, and why no wake-up is lost.
//
// A reader that waits (Seqlock.Wait) and the writer share two words of the
// header (layout in seqlock.go): sleepers, which the reader sets to 1 when
// it is about to sleep, and wake, the futex word. The reader runs:
//
//	g := wake.Load()            // 0. the wake sequence before it looks
//	q := seq.Load() ...         //    a snapshot: new? return it
//	sleepers.Store(1)           // 1. advertise
//	if seq.Load() != q { retry } // 2. re-check
//	futex_wait(wake, g)         // 3. sleeps only while wake == g
//
// and the writer, at the end of every Write:
//
//	seq.Store(q+2)              // a. end the write
//	if sleepers.Load() != 0 {   // b. look for a sleeper
//	    sleepers.Store(0); wake.Add(1); futex_wake_all(wake)
//	}
//
// Every step is a sequentially consistent atomic (Go's sync/atomic on the
// mapping), so there is one order of them all. Take a write whose end (a)
// the reader's snapshot missed: its seq load came before a. If b comes
// before 1 in that order, then a came before 2, and 2 sees seq changed: the
// reader does not sleep. If b comes after 1, either b sees the 1 and the
// writer bumps wake after the reader's step 1 (so after its load at 0), or b
// sees 0, which only a waker can have stored after 1, followed by its own
// bump of wake. Either way wake was bumped after g was read: the futex wait
// at 3 finds wake != g and returns at once, or it was queued before the
// bump's futex_wake and is woken by it (the kernel compares the word and
// queues the sleeper under the same lock that the wake takes). So a sleeping
// reader always wakes for a write it has not seen. The writer's cost when
// nobody waits is the load at b: no store to the sleepers word (which shares
// a line with seq) and no system call.
//
// Only the reader sets sleepers and only the writer clears it, so with
// several readers the writer wakes them all (FUTEX_WAKE of every sleeper);
// each re-advertises before it sleeps again. Garbage in the two words is
// harmless: a non-zero sleepers costs the writer a spurious wake call, a
// cleared one delays a reader until its sleep slice (writerCheck) ends.
// A reader on a read-only mapping cannot advertise, and polls the sequence
// every readOnlyPoll instead of sleeping on the futex.
//
// Liveness of the writer.
//
// A writer records its owner token in the writer word (the token a
// Mutex's owner has: an open file description lock on byte
// live.TokenBase+token of the segment's file, held while the segment is
// open; see mutex_linux.go). A reader that finds nothing new asks the
// kernel whether that token is held (F_OFD_GETLK) before it sleeps and
// then every writerCheck while it sleeps, so the death of the writer,
// however it died and in whatever PID namespace it ran, is reported
// within writerCheck plus scheduling: ErrWriterDead, the value is
// orphaned. The check happens only on the waiting path; Read and Load
// never make it. A reader that cannot ask (no descriptor, a kernel without
// open file description locks) takes the writer for alive and waits until
// its context ends.

const (
	// writerCheck bounds one sleep of Wait; after it the writer's
	// liveness is checked again. The promised bound is one second.
	writerCheck = 100 * time.Millisecond
	// readOnlyPoll is how often Wait looks at the sequence when it cannot
	// advertise its sleep (a read-only mapping).
	readOnlyPoll = time.Millisecond
	// busySleep is how long Wait sleeps while a write is in progress after
	// spinning, as Read does.
	busySleep = 50 * time.Microsecond
	// minWait keeps a nearly expired deadline from turning into a busy loop.
	minWait = 50 * time.Microsecond
)

// Version identifies a snapshot of a Seqlock or Value: it changes with
// every write (it is the even sequence number of the write that made the
// snapshot). The zero Version is that of a seqlock nobody wrote yet.
type Version uint64

// WriterState is what a reader can know about the writer of a Seqlock or
// Value.
type WriterState int

const (
	// NoWriter: no writer has recorded itself. Nobody wrote the value
	// yet, or its last writer has no identity (SeqlockIn or ValueIn
	// without the File option).
	NoWriter WriterState = iota
	// WriterAlive: the process that wrote last still has the value open.
	WriterAlive
	// WriterClosed: the process that wrote last closed the value: no more
	// writes come unless a writer opens it again by writing.
	WriterClosed
	// WriterDead: the process that wrote last died (or closed its segment)
	// without closing the value. The value is orphaned: it stays as it was
	// last written until another writer writes.
	WriterDead
)

// String names the state: "no writer", "alive", "closed" or "dead".
func (w WriterState) String() string {
	switch w {
	case NoWriter:
		return "no writer"
	case WriterAlive:
		return "alive"
	case WriterClosed:
		return "closed"
	case WriterDead:
		return "dead"
	}
	return fmt.Sprintf("WriterState(%d)", int(w))
}

// Wait copies into p the first consistent snapshot whose Version differs
// from after, and returns that Version; p must be Len() bytes long. When
// the seqlock holds nothing newer it sleeps on a futex until a Write
// (without polling, and without any cost to the writer while nobody
// waits). It returns, with after and p unspecified:
//
//   - an error matching ErrWriterClosed when nothing is newer and the writer
//     closed the seqlock (every write made before Close is returned first);
//   - an error matching ErrWriterDead when nothing is newer and the
//     process that wrote last died without closing it (the value is
//     orphaned), within one second of the death; also when that writer
//     died in the middle of a write;
//   - ctx.Err() when ctx is done first;
//   - ErrCorrupt when the writer word holds a value no writer stores.
//
// Wait on a seqlock from a ReadOnly segment looks every millisecond instead
// of sleeping on the futex (it cannot advertise its sleep); on raw bytes
// (SeqlockIn) it writes to the header's sleepers word, so the mapping must
// be writable.
func (s *Seqlock) Wait(ctx context.Context, p []byte, after Version) (Version, error) {
	if len(p) != s.n {
		return after, wrap("seqlock wait", s.name, fmt.Errorf("%w: %d bytes for a %d-byte payload", shm.ErrInvalid, len(p), s.n))
	}
	q, err := s.wait(ctx, p, after)
	return q, wrap("seqlock wait", s.name, err)
}

func (s *Seqlock) wait(ctx context.Context, p []byte, after Version) (Version, error) {
	if ctx == nil {
		return after, errNilContext
	}
	var checked time.Time // the last liveness check; zero: none yet
	busy := 0
	for {
		g := s.wake.Load()
		q, ok := s.tryRead(p)
		if ok && Version(q) != after {
			return Version(q), nil
		}
		if !ok {
			// A write is in progress or overlapped the copy: the next try
			// is likely clean.
			busy++
			if busy <= spinReads {
				continue
			}
		}
		if err := ctx.Err(); err != nil {
			return after, err
		}
		w := s.writer.Load()
		if w&writerReserved == 0 && w&writerStateMask == writerClosed {
			if s.seq.Load() == q {
				return after, ErrWriterClosed
			}
			continue
		}
		now := time.Now()
		if checked.IsZero() || now.Sub(checked) >= writerCheck {
			checked = now
			st, err := s.judge(w)
			if errors.Is(err, ErrCorrupt) {
				return after, err
			}
			if err == nil && st == WriterDead && s.seq.Load() == q {
				return after, ErrWriterDead
			}
		}
		if !ok {
			// Writes keep overlapping the copy. One ends within
			// microseconds unless its writer is descheduled or died (seen
			// by the check above): yield a few times, then sleep briefly
			// between tries, as Read does.
			if busy < 4*spinReads {
				runtime.Gosched()
			} else {
				time.Sleep(busySleep)
			}
			continue
		}
		d := writerCheck - now.Sub(checked)
		if dl, has := ctx.Deadline(); has {
			d = min(d, dl.Sub(now))
		}
		d = max(d, minWait)
		if s.readOnly {
			time.Sleep(min(d, readOnlyPoll))
			continue
		}
		s.sleepers.Store(1)
		if s.seq.Load() != q {
			continue
		}
		sleepOn(ctx, s.wake, g, d)
	}
}

// Writer reports the state of the writer that wrote the seqlock last:
// alive, closed, dead (the value is orphaned), or NoWriter when none
// recorded itself. Telling alive from dead costs one system call
// (F_OFD_GETLK) and needs the descriptor of the mapped file (SeqlockAt, or
// the File option); without it, or on a kernel without open file
// description locks, Writer returns WriterAlive with an error saying it
// could not ask. A corrupt writer word gives ErrCorrupt.
func (s *Seqlock) Writer() (WriterState, error) {
	st, err := s.writerState()
	return st, wrap("seqlock writer", s.name, err)
}

func (s *Seqlock) writerState() (WriterState, error) { return s.judge(s.writer.Load()) }

// judge tells the writer state that the writer word w says.
func (s *Seqlock) judge(w uint64) (WriterState, error) {
	t := w >> writerShift
	switch {
	case w == 0:
		return NoWriter, nil
	case w&writerReserved != 0, w&writerStateMask == 0, w&writerStateMask == 3,
		w&writerStateMask == writerOpen && t == 0:
		return NoWriter, fmt.Errorf("%w: writer word %#016x", ErrCorrupt, w)
	case w&writerStateMask == writerClosed:
		return WriterClosed, nil
	}
	alive, err := s.writerAlive(t)
	if err != nil {
		return WriterAlive, fmt.Errorf("cannot tell whether the writer lives: %w", err)
	}
	if alive {
		return WriterAlive, nil
	}
	return WriterDead, nil
}

// Close tells readers that no more writes come: Wait returns ErrWriterClosed to
// every reader once it has the last write, and Writer reports
// WriterClosed (not WriterDead, which a writer that exits without Close
// leaves behind). A later Write opens the seqlock again. Close is the
// writer's: it returns an error matching ErrNotWriter when another live
// process wrote last, and shm.ErrReadOnly on a ReadOnly segment. It makes
// one system call, to wake the readers that sleep.
func (s *Seqlock) Close() error { return wrap("seqlock close", s.name, s.close()) }

func (s *Seqlock) close() error {
	if s.readOnly {
		return shm.ErrReadOnly
	}
	closed := s.me&^writerStateMask | writerClosed
	for {
		w := s.writer.Load()
		if w&writerStateMask == writerOpen && w != s.me && !s.ownsToken(w>>writerShift) {
			if st, err := s.judge(w); err == nil && st == WriterAlive {
				return fmt.Errorf("%w: writer token %#x", ErrNotWriter, w>>writerShift)
			}
		}
		if s.writer.CompareAndSwap(w, closed) {
			break
		}
	}
	s.wakeSleepers()
	return nil
}

// wakeSleepers wakes every reader asleep in Wait (see the argument above).
func (s *Seqlock) wakeSleepers() {
	s.sleepers.Store(0)
	s.wake.Add(1)
	wakeAll(s.wake)
}
