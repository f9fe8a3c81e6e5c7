package lock

import (
	"context"
	"fmt"
	"reflect"
	"runtime"
	"sync/atomic"
	"time"

	"github.com/shmkit/shm"
	"github.com/shmkit/shm/internal/mem"
)

// Seqlock layout: SeqlockSize(n) bytes at a SeqlockAlign-aligned offset.
// All zero bytes are a seqlock whose payload is all zero, with no writer
// recorded and nobody waiting.
//
//	offset 0        8            12             16              24      24+roundup(n, 8)
//	       +--------+------------+--------------+---------------+-----------------+
//	       | seq    | wake       | sleepers     | writer word   | payload: n bytes |
//	       | uint64 | uint32     | uint32       | uint64        | as 8-byte words  |
//	       +--------+------------+--------------+---------------+-----------------+
//
// seq is even while the payload is stable and odd while a write is in
// progress; only the writer changes it: even s -> s+1 (begin), then the
// payload words, then s+1 -> s+2 (end). A writer that finds seq odd (its
// predecessor died mid-write) keeps it odd and ends it, which repairs it.
// A reader loads seq (s, even), loads the payload words, and loads seq
// again; the copy is a snapshot when the second load is s too. The even
// seq of a snapshot is its Version.
//
// wake and sleepers serve readers that Wait for a new version (wait.go
// tells how no wake-up is lost): sleepers is non-zero while a reader sleeps
// or is about to, wake is the futex word, bumped by a writer that found
// sleepers set. Any values are legal there; garbage only causes spurious
// or late (within a poll interval) wake-ups.
//
// The writer word says who writes, so that a reader can tell a value whose
// writer died (orphaned) from one whose writer is merely quiet:
//
//	 63                                      2   1     0
//	+-----------------------------------------+---------+
//	| writer token (58 bits), bits 2-5 zero   | state   |
//	+-----------------------------------------+---------+
//
//	0                 no writer recorded: never written, or written by a
//	                  writer with no identity (SeqlockIn without File)
//	token|1 (open)    the process holding token writes; it is alive while
//	                  the token is held (see "Liveness" in wait.go)
//	token|2 (closed)  that process closed the value: no more writes come;
//	                  token 0 here means a writer with no identity closed it
//
// A Write stores token|1 when the word holds anything else (one load and
// no store on every later Write); Close stores token|2. Any other word is
// corrupt (ErrCorrupt from Writer and Wait).
//
// Why a snapshot is never torn. The sequence loads and stores are Go's
// atomics, sequentially consistent; the payload words are copied with
// mem.CopyRelease (each store a release store) and mem.CopyAcquire (each
// load an acquire load), which on amd64 are plain MOVQs and elsewhere Go's
// atomics. Suppose a reader's payload load returned a word stored by a
// write that began with the odd value b. The begin store comes before that
// word's release store, so it is visible to whoever reads the word; the
// reader's acquire load of the word comes before its second seq load,
// which therefore returns at least b. If both seq loads returned the same
// even s, then b < s, and that write also ended (s >= b+1) before the
// first seq load: the end store is a release after all its payload stores,
// and the first seq load an acquire, so every later payload load sees
// those stores or newer ones. Hence every word the reader saw comes from
// writes that had finished before its first seq load and nothing later:
// the words of the last of them, which is one consistent value. Copying
// the payload with plain Go loads instead would let the compiler move
// them past the second seq load (the copy functions are calls it cannot
// see into); typed loads of T could also tear a word. Release and acquire
// are all the payload needs: a sequentially consistent store per word (an
// XCHG on amd64) costs a 1 MiB Write several times as much.
const (
	// SeqlockAlign is the alignment a Seqlock's or Value's offset (and
	// address) must have.
	SeqlockAlign = 8
	// SeqlockHeader is the number of bytes in front of a Seqlock's (or
	// Value's) payload: the sequence, the wake and sleepers words and the
	// writer word.
	SeqlockHeader = 24

	offSeq      = 0
	offSeqWake  = 8
	offSleepers = 12
	offWriter   = 16

	writerStateMask = 3
	writerOpen      = 1
	writerClosed    = 2
	writerReserved  = 0xf << 2
	writerShift     = 6
)

// SeqlockSize is the number of bytes a Seqlock with an n-byte payload
// occupies: SeqlockHeader (24) plus n rounded up to a multiple of 8. A
// region sized for a payload behind an 8-byte sequence alone is refused by
// SeqlockIn and SeqlockAt with an error naming both sizes.
func SeqlockSize(n int) int { return SeqlockHeader + (n+7)/8*8 }

// spinReads is how many read attempts go without yielding or looking at the
// clock.
const spinReads = 16

// Seqlock protects a payload in shared memory written by one writer and read
// by any number of readers, in this process or others. Readers never block
// the writer; Read and TryRead never write to shared memory (they may use a
// read-only mapping); they retry while a write is in progress. Wait blocks
// until a newer version is written, and tells a reader whose writer died or
// closed the seqlock. Only one Write may run at a time: several writers
// must serialise, with a Mutex for instance.
type Seqlock struct {
	seq         *atomic.Uint64
	wake        *atomic.Uint32
	sleepers    *atomic.Uint32
	writer      *atomic.Uint64
	words       []atomic.Uint64
	n           int
	name        string
	readTimeout time.Duration
	readOnly    bool   // from a ReadOnly segment: Write would fault
	me          uint64 // the writer word this process stores when it writes: token|writerOpen, or 0 without an identity
	fd          int    // the descriptor writers' tokens are asked through; -1 when unknown
}

// SeqlockIn returns the seqlock with an n-byte payload held in
// b[:SeqlockSize(n)], which must be aligned to SeqlockAlign. All zero bytes
// are a seqlock whose payload is all zero. With the File option (the
// descriptor of the file b is mapped from) the writer records its identity
// and readers can tell whether it lives; without it Writer reports
// NoWriter for this process's writes and cannot ask about others'.
func SeqlockIn(b []byte, n int, opts ...Option) (*Seqlock, error) {
	c := newConfig(opts)
	s, err := newSeqlock(b, n, c)
	if err == nil && c.fd >= 0 {
		err = s.fileIdentity(c.fd)
	}
	return s, wrap("seqlock open", c.name, err)
}

// SeqlockAt returns the seqlock with an n-byte payload at offset off of seg
// (see SeqlockIn). Errors name it SEGMENT+OFFSET unless the Name option
// says otherwise. On a segment opened ReadOnly, Read and Wait work and
// Write returns shm.ErrReadOnly. On a writable segment the writer's
// identity is the segment's owner token (shared with every Mutex attached
// through it), taken here once per segment.
func SeqlockAt(seg *shm.Segment, off, n int, opts ...Option) (*Seqlock, error) {
	c := newConfig(append([]Option{Name(segName(seg, off))}, opts...))
	b, err := mapping(seg, off)
	if err != nil {
		return nil, wrap("seqlock open", c.name, err)
	}
	s, err := newSeqlock(b[off:], n, c)
	if err == nil {
		err = s.segmentIdentity(seg)
	}
	if err != nil {
		return nil, wrap("seqlock open", c.name, err)
	}
	return s, nil
}

func newSeqlock(b []byte, n int, c config) (*Seqlock, error) {
	if n < 0 || n > len(b) || SeqlockSize(n) > len(b) {
		return nil, fmt.Errorf("%w: a seqlock with a %d-byte payload does not fit in %d bytes: it needs SeqlockSize(%d) = %d (a %d-byte header and the payload in 8-byte words)",
			shm.ErrInvalid, n, len(b), max(n, 0), SeqlockSize(max(n, 0)), SeqlockHeader)
	}
	if !mem.Aligned(b, SeqlockAlign) {
		return nil, fmt.Errorf("%w: a seqlock must start at an address that is a multiple of %d (SeqlockAlign); at an offset into a segment, a multiple of %d", shm.ErrInvalid, SeqlockAlign, SeqlockAlign)
	}
	seq, err := mem.Uint64(b, offSeq)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", shm.ErrInvalid, err)
	}
	words, err := mem.Uint64s(b, SeqlockHeader, (n+7)/8)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", shm.ErrInvalid, err)
	}
	return &Seqlock{
		seq:         seq,
		wake:        mem.MustUint32(b, offSeqWake),
		sleepers:    mem.MustUint32(b, offSleepers),
		writer:      mem.MustUint64(b, offWriter),
		words:       words,
		n:           n,
		name:        c.name,
		readTimeout: c.readTimeout,
		fd:          -1,
	}, nil
}

// Len returns the payload's size in bytes.
func (s *Seqlock) Len() int { return s.n }

// Write replaces the payload with p, which must be Len() bytes long. It
// never waits, and makes a system call only when a reader sleeps in Wait
// (to wake it). Only one writer may write at a time. On a Seqlock from a
// ReadOnly segment it returns shm.ErrReadOnly. A Write after Close opens
// the seqlock again.
func (s *Seqlock) Write(p []byte) error {
	if s.readOnly {
		return wrap("seqlock write", s.name, shm.ErrReadOnly)
	}
	if len(p) != s.n {
		return wrap("seqlock write", s.name, fmt.Errorf("%w: %d bytes for a %d-byte payload", shm.ErrInvalid, len(p), s.n))
	}
	s.write(p)
	return nil
}

func (s *Seqlock) write(p []byte) {
	q := s.begin()
	mem.CopyRelease(s.words, p)
	s.end(q)
}

// begin records the writer and makes the sequence odd (keeping an odd one
// a dead writer left), and returns it. The odd store is a read-modify-write
// (Add): on every architecture no later store, atomic or plain (a
// DoubleBuffer's loan), is performed before it.
func (s *Seqlock) begin() uint64 {
	if s.writer.Load() != s.me {
		s.writer.Store(s.me)
	}
	q := s.seq.Load()
	if q&1 == 0 {
		q = s.seq.Add(1)
	}
	return q
}

// end makes the odd sequence q even again, after every store of the
// payload, and wakes the readers that sleep in Wait.
func (s *Seqlock) end(q uint64) {
	s.seq.Store(q + 1)
	if s.sleepers.Load() != 0 {
		s.wakeSleepers()
	}
}

// Read copies a consistent snapshot of the payload into p, which must be
// Len() bytes long. While a write is in progress it retries, yielding the
// processor, for up to the ReadTimeout option (default DefaultReadTimeout),
// then returns an error matching ErrBusy. It never writes to shared memory.
func (s *Seqlock) Read(p []byte) error {
	_, err := s.ReadVersion(p)
	return err
}

// ReadVersion is Read that also returns the snapshot's Version, for a
// later Wait.
func (s *Seqlock) ReadVersion(p []byte) (Version, error) {
	if len(p) != s.n {
		return 0, wrap("seqlock read", s.name, fmt.Errorf("%w: %d bytes for a %d-byte payload", shm.ErrInvalid, len(p), s.n))
	}
	q, ok := s.read(p)
	if !ok {
		return 0, wrap("seqlock read", s.name, ErrBusy)
	}
	return Version(q), nil
}

func (s *Seqlock) read(p []byte) (uint64, bool) {
	var start time.Time
	for i := 0; ; i++ {
		if q, ok := s.tryRead(p); ok {
			return q, true
		}
		if i < spinReads {
			continue
		}
		if i == spinReads {
			start = time.Now()
		} else if time.Since(start) >= s.readTimeout {
			return 0, false
		}
		if time.Since(start) < time.Millisecond {
			runtime.Gosched()
		} else {
			// The writer is descheduled or dead: stop burning a CPU it
			// may need.
			time.Sleep(50 * time.Microsecond)
		}
	}
}

// TryRead makes one attempt at Read: it reports whether p now holds a
// consistent snapshot, and false when a write was in progress or overlapped
// the copy (p then holds garbage). p must be Len() bytes long; TryRead
// panics otherwise, like copying past a slice's end would.
func (s *Seqlock) TryRead(p []byte) bool {
	if len(p) != s.n {
		panic(fmt.Sprintf("lock: TryRead of %d bytes from a %d-byte payload", len(p), s.n))
	}
	_, ok := s.tryRead(p)
	return ok
}

// tryRead copies one snapshot attempt into p and returns its sequence.
func (s *Seqlock) tryRead(p []byte) (uint64, bool) {
	q := s.seq.Load()
	if q&1 != 0 {
		return q, false
	}
	mem.CopyAcquire(p, s.words)
	return q, s.seq.Load() == q
}

// Value is a value of type T in shared memory behind a Seqlock: one process
// Stores, any number Load consistent snapshots. T must have a fixed size and
// no pointers: integers, floats, complex numbers, and arrays and structs of
// them. bool is refused too, because a peer could store a byte other than 0
// or 1, which Go code may not survive; use uint8.
type Value[T any] struct {
	s *Seqlock
}

// ValueSize returns the number of bytes a Value[T] occupies:
// SeqlockSize of T's size, so SeqlockHeader (24) plus T's size rounded up
// to a multiple of 8.
func ValueSize[T any]() int { return SeqlockSize(int(reflect.TypeFor[T]().Size())) }

// ValueIn returns the Value[T] held in b[:ValueSize[T]()], aligned to
// SeqlockAlign. All zero bytes hold T's zero value. A T that is not
// fixed-size and pointer-free is refused with an error matching
// shm.ErrInvalid that names the offending field. As with SeqlockIn, the
// File option lets the writer record its identity and readers ask whether
// it lives.
func ValueIn[T any](b []byte, opts ...Option) (*Value[T], error) {
	c := newConfig(opts)
	v, err := newValue[T](b, c)
	if err == nil && c.fd >= 0 {
		err = v.s.fileIdentity(c.fd)
	}
	if err != nil {
		return nil, wrap("value open", c.name, err)
	}
	return v, nil
}

// ValueAt returns the Value[T] at offset off of seg (see ValueIn). Errors
// name it SEGMENT+OFFSET unless the Name option says otherwise.
func ValueAt[T any](seg *shm.Segment, off int, opts ...Option) (*Value[T], error) {
	c := newConfig(append([]Option{Name(segName(seg, off))}, opts...))
	b, err := mapping(seg, off)
	if err != nil {
		return nil, wrap("value open", c.name, err)
	}
	v, err := newValue[T](b[off:], c)
	if err == nil {
		err = v.s.segmentIdentity(seg)
	}
	if err != nil {
		return nil, wrap("value open", c.name, err)
	}
	return v, nil
}

func newValue[T any](b []byte, c config) (*Value[T], error) {
	t := reflect.TypeFor[T]()
	if err := checkPlain(t, t.String()); err != nil {
		return nil, err
	}
	s, err := newSeqlock(b, int(t.Size()), c)
	if err != nil {
		return nil, err
	}
	return &Value[T]{s: s}, nil
}

// checkPlain refuses types that hold pointers or whose bytes may not hold
// any bit pattern.
func checkPlain(t reflect.Type, path string) error {
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
		reflect.Float32, reflect.Float64, reflect.Complex64, reflect.Complex128:
		return nil
	case reflect.Array:
		return checkPlain(t.Elem(), path+"[i]")
	case reflect.Struct:
		for i := range t.NumField() {
			f := t.Field(i)
			if err := checkPlain(f.Type, path+"."+f.Name); err != nil {
				return err
			}
		}
		return nil
	case reflect.Bool:
		return fmt.Errorf("%w: %s is a bool, which may only hold 0 or 1 and so cannot live in shared memory a peer writes; use uint8", shm.ErrInvalid, path)
	}
	return fmt.Errorf("%w: %s is a %s, which is not fixed-size and pointer-free", shm.ErrInvalid, path, t.Kind())
}

// Store publishes x. It never waits. Only one process (and goroutine) may
// Store at a time. Store on a Value from a ReadOnly segment is a programming
// error and panics (the store would fault).
func (v *Value[T]) Store(x T) {
	if v.s.readOnly {
		panic("lock: Store on a Value in a read-only mapping")
	}
	v.s.write(mem.Bytes(&x))
}

// Load returns a consistent snapshot of the value. While a Store is in
// progress it retries for up to the ReadTimeout option (default
// DefaultReadTimeout), then returns T's zero value and an error matching
// ErrBusy.
func (v *Value[T]) Load() (T, error) {
	x, _, err := v.LoadVersion()
	return x, err
}

// LoadVersion is Load that also returns the snapshot's Version, for a
// later Wait.
func (v *Value[T]) LoadVersion() (T, Version, error) {
	var x T
	q, ok := v.s.read(mem.Bytes(&x))
	if !ok {
		var zero T
		return zero, 0, wrap("value load", v.s.name, ErrBusy)
	}
	return x, Version(q), nil
}

// TryLoad makes one attempt at Load, without retrying: ok is false when a
// Store was in progress or overlapped the copy.
func (v *Value[T]) TryLoad() (x T, ok bool) {
	if !v.s.TryRead(mem.Bytes(&x)) {
		var zero T
		return zero, false
	}
	return x, true
}

// Wait returns the first snapshot whose Version differs from after,
// sleeping until a Store makes one (see Seqlock.Wait, which it is). With
// after 0 on a value nobody stored yet it waits for the first Store.
func (v *Value[T]) Wait(ctx context.Context, after Version) (T, Version, error) {
	var x T
	q, err := v.s.wait(ctx, mem.Bytes(&x), after)
	if err != nil {
		var zero T
		return zero, after, wrap("value wait", v.s.name, err)
	}
	return x, q, nil
}

// Close tells readers that no more Stores come (see Seqlock.Close).
func (v *Value[T]) Close() error { return wrap("value close", v.s.name, v.s.close()) }

// Writer reports the state of the value's writer (see Seqlock.Writer).
func (v *Value[T]) Writer() (WriterState, error) {
	st, err := v.s.writerState()
	return st, wrap("value writer", v.s.name, err)
}

// readOnly reports whether seg is mapped read-only, where a store would
// fault.
func readOnly(seg *shm.Segment) bool { return !seg.Writable() }

// segName names the lock at offset off of seg for errors: "SEGMENT+OFFSET".
func segName(seg *shm.Segment, off int) string {
	if seg == nil {
		return fmt.Sprintf("+%d", off)
	}
	return fmt.Sprintf("%s+%d", seg.Name(), off)
}

// mapping returns seg's mapping for a lock at offset off, or why there is
// none: a nil or closed segment (whose mapping is gone: its Bytes are
// empty), or an offset outside the mapping.
func mapping(seg *shm.Segment, off int) ([]byte, error) {
	switch {
	case seg == nil:
		return nil, fmt.Errorf("%w: nil segment", shm.ErrInvalid)
	case seg.Fd() < 0:
		return nil, shm.ErrClosed
	}
	b := seg.Bytes()
	if off < 0 || off > len(b) {
		return nil, fmt.Errorf("%w: offset %d is outside the %d-byte mapping", shm.ErrInvalid, off, len(b))
	}
	return b, nil
}
