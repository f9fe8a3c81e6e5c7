package lock

import (
	"encoding/binary"
	"fmt"
	"reflect"
	"runtime"
	"sync/atomic"
	"time"

	"github.com/shmkit/shm"
	"github.com/shmkit/shm/internal/mem"
)

// Seqlock layout: SeqlockSize(n) bytes at a SeqlockAlign-aligned offset.
//
//	offset 0               8                                8+roundup(n, 8)
//	       +---------------+-------------------------------+
//	       | seq (uint64)  | payload: n bytes, as words     |
//	       +---------------+-------------------------------+
//
// seq is even while the payload is stable and odd while a write is in
// progress; only the writer changes it: even s -> s+1 (begin), then the
// payload words, then s+1 -> s+2 (end). A writer that finds seq odd (its
// predecessor died mid-write) keeps it odd and ends it, which repairs it.
// A reader loads seq (s, even), loads the payload words, and loads seq
// again; the copy is a snapshot when the second load is s too.
//
// Why a snapshot is never torn: every access to seq and to the payload is an
// atomic 64-bit load or store, and Go's atomics are sequentially consistent
// (there is one total order of them that agrees with each thread's program
// order; the hardware instructions behind them give that to any threads
// sharing the memory, in this process or another). Suppose a reader's
// payload load returned a word stored by a write that began with the odd
// value b. That begin comes before the word's store, which comes before the
// load that read it, which comes before the reader's second seq load: so
// that load returns at least b. If both seq loads returned the same even s,
// then b < s, and that write also ended (s >= b+1) before the first seq
// load. Hence every word the reader saw comes from writes that had finished
// before its first seq load and nothing later: the words of the last of them,
// which is one consistent value. Copying the payload with plain loads instead
// would let the compiler or CPU move them past the second seq load; typed
// loads of T could also tear a word.
const (
	// SeqlockAlign is the alignment a Seqlock's or Value's offset (and
	// address) must have.
	SeqlockAlign = 8
	seqHeader    = 8
)

// SeqlockSize is the number of bytes a Seqlock with an n-byte payload
// occupies.
func SeqlockSize(n int) int { return seqHeader + (n+7)/8*8 }

// spinReads is how many read attempts go without yielding or looking at the
// clock.
const spinReads = 16

// Seqlock protects a payload in shared memory written by one writer and read
// by any number of readers, in this process or others. Readers never block
// the writer and never write to shared memory (they may use a read-only
// mapping); they retry while a write is in progress. Only one Write may run
// at a time: several writers must serialise, with a Mutex for instance.
type Seqlock struct {
	seq         *atomic.Uint64
	words       []atomic.Uint64
	n           int
	name        string
	readTimeout time.Duration
	readOnly    bool // from a ReadOnly segment: Write would fault
}

// NewSeqlock returns the seqlock with an n-byte payload held in
// b[:SeqlockSize(n)], which must be aligned to SeqlockAlign. All zero bytes
// are a seqlock whose payload is all zero.
func NewSeqlock(b []byte, n int, opts ...Option) (*Seqlock, error) {
	c := newConfig(opts)
	s, err := newSeqlock(b, n, c)
	return s, wrap("seqlock open", c.name, err)
}

// SeqlockAt returns the seqlock with an n-byte payload at offset off of seg
// (see NewSeqlock). Errors name it SEGMENT+OFFSET unless the Name option
// says otherwise. On a segment opened ReadOnly, Read works and Write
// returns shm.ErrReadOnly.
func SeqlockAt(seg *shm.Segment, off, n int, opts ...Option) (*Seqlock, error) {
	c := newConfig(append([]Option{Name(segName(seg, off))}, opts...))
	b, err := mapping(seg, off)
	if err != nil {
		return nil, wrap("seqlock open", c.name, err)
	}
	s, err := newSeqlock(b[off:], n, c)
	if err != nil {
		return nil, wrap("seqlock open", c.name, err)
	}
	s.readOnly = readOnly(seg)
	return s, nil
}

func newSeqlock(b []byte, n int, c config) (*Seqlock, error) {
	if n < 0 || len(b) < seqHeader || n > len(b)-seqHeader || SeqlockSize(n) > len(b) {
		return nil, fmt.Errorf("%w: a seqlock with a %d-byte payload does not fit in %d bytes", shm.ErrInvalid, n, len(b))
	}
	seq, err := mem.Uint64(b, 0)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", shm.ErrInvalid, err)
	}
	words, err := mem.Uint64s(b, seqHeader, (n+7)/8)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", shm.ErrInvalid, err)
	}
	return &Seqlock{seq: seq, words: words, n: n, name: c.name, readTimeout: c.readTimeout}, nil
}

// Len returns the payload's size in bytes.
func (s *Seqlock) Len() int { return s.n }

// Write replaces the payload with p, which must be Len() bytes long. It
// never waits. Only one writer may write at a time. On a Seqlock from a
// ReadOnly segment it returns shm.ErrReadOnly.
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
	q := s.seq.Load()
	if q&1 == 0 {
		q++
		s.seq.Store(q)
	}
	w := s.words
	i := 0
	for ; len(p)-i*8 >= 8; i++ {
		w[i].Store(binary.NativeEndian.Uint64(p[i*8:]))
	}
	if i*8 < len(p) {
		var t [8]byte
		copy(t[:], p[i*8:])
		w[i].Store(binary.NativeEndian.Uint64(t[:]))
	}
	s.seq.Store(q + 1)
}

// Read copies a consistent snapshot of the payload into p, which must be
// Len() bytes long. While a write is in progress it retries, yielding the
// processor, for up to the ReadTimeout option (default DefaultReadTimeout),
// then returns an error matching ErrBusy. It never writes to shared memory.
func (s *Seqlock) Read(p []byte) error {
	if len(p) != s.n {
		return wrap("seqlock read", s.name, fmt.Errorf("%w: %d bytes for a %d-byte payload", shm.ErrInvalid, len(p), s.n))
	}
	if !s.read(p) {
		return wrap("seqlock read", s.name, ErrBusy)
	}
	return nil
}

func (s *Seqlock) read(p []byte) bool {
	var start time.Time
	for i := 0; ; i++ {
		if s.TryRead(p) {
			return true
		}
		if i < spinReads {
			continue
		}
		if i == spinReads {
			start = time.Now()
		} else if time.Since(start) >= s.readTimeout {
			return false
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
	q := s.seq.Load()
	if q&1 != 0 {
		return false
	}
	w := s.words
	i := 0
	for ; len(p)-i*8 >= 8; i++ {
		binary.NativeEndian.PutUint64(p[i*8:], w[i].Load())
	}
	if i*8 < len(p) {
		var t [8]byte
		binary.NativeEndian.PutUint64(t[:], w[i].Load())
		copy(p[i*8:], t[:])
	}
	return s.seq.Load() == q
}

// Value is a value of type T in shared memory behind a Seqlock: one process
// Stores, any number Load consistent snapshots. T must have a fixed size and
// no pointers: integers, floats, complex numbers, and arrays and structs of
// them. bool is refused too, because a peer could store a byte other than 0
// or 1, which Go code may not survive; use uint8.
type Value[T any] struct {
	s *Seqlock
}

// ValueSize returns the number of bytes a Value[T] occupies.
func ValueSize[T any]() int { return SeqlockSize(int(reflect.TypeFor[T]().Size())) }

// NewValue returns the Value[T] held in b[:ValueSize[T]()], aligned to
// SeqlockAlign. All zero bytes hold T's zero value. A T that is not
// fixed-size and pointer-free is refused with an error matching
// shm.ErrInvalid that names the offending field.
func NewValue[T any](b []byte, opts ...Option) (*Value[T], error) {
	c := newConfig(opts)
	v, err := newValue[T](b, c)
	return v, wrap("value open", c.name, err)
}

// ValueAt returns the Value[T] at offset off of seg (see NewValue). Errors
// name it SEGMENT+OFFSET unless the Name option says otherwise.
func ValueAt[T any](seg *shm.Segment, off int, opts ...Option) (*Value[T], error) {
	c := newConfig(append([]Option{Name(segName(seg, off))}, opts...))
	b, err := mapping(seg, off)
	if err != nil {
		return nil, wrap("value open", c.name, err)
	}
	v, err := newValue[T](b[off:], c)
	if err != nil {
		return nil, wrap("value open", c.name, err)
	}
	v.s.readOnly = readOnly(seg)
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
	var x T
	if !v.s.read(mem.Bytes(&x)) {
		var zero T
		return zero, wrap("value load", v.s.name, ErrBusy)
	}
	return x, nil
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
