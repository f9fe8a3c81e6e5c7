package lock

import (
	"context"
	"encoding/binary"
	"fmt"
	"runtime"
	"time"

	"github.com/shmkit/shm"
	"github.com/shmkit/shm/internal/mem"
)

// DoubleBuffer layout: DoubleBufferSize(n) bytes at a SeqlockAlign-aligned
// offset, three seqlocks one after the other. All zero bytes are a buffer
// whose frame 0 is n zero bytes.
//
//	offset 0                 frontSize            frontSize+slotSize(n)
//	       +-----------------+--------------------+--------------------+
//	       | front: Seqlock  | slot 0: Seqlock    | slot 1: Seqlock    |
//	       | payload: frame  | payload: frame f,  | payload: frame f,  |
//	       | number f (u64)  | then n data bytes  | then n data bytes  |
//	       +-----------------+--------------------+--------------------+
//
//	frontSize = SeqlockSize(8) = 32    slotSize(n) = SeqlockSize(8+n)
//
// Frame f lives in slot f%2, whose payload begins with f. The writer
// writes frame f+1 into slot (f+1)%2, the back slot, under that slot's
// sequence (odd while it writes), and then publishes it by writing f+1 to
// the front seqlock; the front's header is the one readers wait on and
// that records the writer (Wait, Close, Writer). A reader reads the front
// (f), then slot f%2, and keeps the copy when the slot's sequence did not
// move and the slot holds frame f. The slot it reads is rewritten only
// for frame f+2, which the writer begins after it published f+1: so a
// reader's copy is lost only when the writer finishes a frame and begins
// the next one during that copy, where a single seqlock loses it to any
// write that overlaps it.
//
// Memory order. Write stores the payload as a Seqlock does. A loaned frame
// is written by the caller with plain stores after the slot's sequence was
// made odd by a read-modify-write (Seqlock.begin). On amd64 (and 386) stores
// become visible in program order, so the slot's sequence check is enough.
// A weakly ordered CPU (arm64) may let those plain stores be seen before
// the odd sequence; but they also follow the store of the front that
// published the frame before, so a reader that finds the front unchanged
// after its copy saw none of them. There the reader keeps a copy only if
// the front did not move during it.

const frontSize = SeqlockHeader + 8

// DoubleBufferSize is the number of bytes a DoubleBuffer with n-byte frames
// occupies: SeqlockSize(8) for the front and SeqlockSize(8+n) for each of
// the two slots.
func DoubleBufferSize(n int) int { return frontSize + 2*SeqlockSize(8+n) }

// DoubleBuffer is a value of n bytes in shared memory, such as an image,
// with two slots: one writer writes the next frame in the back slot, in
// place if it likes (Loan, Publish), while readers copy the front one
// (Read, Wait). It has the Seqlock's guarantees (a reader never gets a
// torn frame, never delays the writer, and tells a closed buffer from an
// orphaned one) and lets a reader's copy overlap one whole write: the
// copy is retried only when the writer publishes a frame and also begins
// the next during it. Only one writer may write at a time.
type DoubleBuffer struct {
	front  *Seqlock
	slots  [2]*Seqlock
	data   [2][]byte // each slot's n data bytes, for Loan
	n      int
	loaned bool
	frame  uint64 // the frame being loaned
}

// DoubleBufferIn returns the DoubleBuffer with n-byte frames held in
// b[:DoubleBufferSize(n)], aligned to SeqlockAlign (see SeqlockIn, whose
// options it takes).
func DoubleBufferIn(b []byte, n int, opts ...Option) (*DoubleBuffer, error) {
	c := newConfig(opts)
	d, err := newDoubleBuffer(b, n, c)
	if err == nil && c.fd >= 0 {
		err = d.front.fileIdentity(c.fd)
	}
	if err != nil {
		return nil, wrap("double buffer open", c.name, err)
	}
	d.shareIdentity()
	return d, nil
}

// DoubleBufferAt returns the DoubleBuffer with n-byte frames at offset off
// of seg (see SeqlockAt). Errors name it SEGMENT+OFFSET unless the Name
// option says otherwise.
func DoubleBufferAt(seg *shm.Segment, off, n int, opts ...Option) (*DoubleBuffer, error) {
	c := newConfig(append([]Option{Name(segName(seg, off))}, opts...))
	b, err := mapping(seg, off)
	if err != nil {
		return nil, wrap("double buffer open", c.name, err)
	}
	d, err := newDoubleBuffer(b[off:], n, c)
	if err == nil {
		err = d.front.segmentIdentity(seg)
	}
	if err != nil {
		return nil, wrap("double buffer open", c.name, err)
	}
	d.shareIdentity()
	return d, nil
}

// shareIdentity gives the slots the front's writer identity and mapping.
func (d *DoubleBuffer) shareIdentity() {
	for _, s := range d.slots {
		s.readOnly, s.me = d.front.readOnly, d.front.me
	}
}

func newDoubleBuffer(b []byte, n int, c config) (*DoubleBuffer, error) {
	if n < 0 || n > len(b) || DoubleBufferSize(n) > len(b) {
		return nil, fmt.Errorf("%w: a double buffer of %d-byte frames does not fit in %d bytes: it needs DoubleBufferSize(%d) = %d",
			shm.ErrInvalid, n, len(b), max(n, 0), DoubleBufferSize(max(n, 0)))
	}
	d := &DoubleBuffer{n: n}
	var err error
	if d.front, err = newSeqlock(b, 8, c); err != nil {
		return nil, err
	}
	for i := range d.slots {
		off := frontSize + i*SeqlockSize(8+n)
		if d.slots[i], err = newSeqlock(b[off:], 8+n, c); err != nil {
			return nil, err
		}
		d.data[i] = b[off+SeqlockHeader+8 : off+SeqlockHeader+8+n : off+SeqlockHeader+8+n]
	}
	return d, nil
}

// Len returns the frame size in bytes.
func (d *DoubleBuffer) Len() int { return d.n }

// Write publishes p, which must be Len() bytes long, as the next frame: it
// copies p into the back slot and makes it the front. It never waits, and
// makes a system call only to wake readers that sleep in Wait. On a
// ReadOnly segment it returns shm.ErrReadOnly.
func (d *DoubleBuffer) Write(p []byte) error {
	if d.front.readOnly {
		return wrap("double buffer write", d.front.name, shm.ErrReadOnly)
	}
	if len(p) != d.n {
		return wrap("double buffer write", d.front.name, fmt.Errorf("%w: %d bytes for %d-byte frames", shm.ErrInvalid, len(p), d.n))
	}
	mem.CopyRelease(d.back().words[1:], p)
	return d.Publish()
}

// Loan returns the back slot's n bytes, in the shared mapping, for the
// writer to fill with the next frame in place (no copy); Publish makes it
// the front. Readers never take the loaned bytes for a frame before
// Publish. Until then Loan returns the same bytes again, as they were
// left. The slice must not be used after Publish. On a ReadOnly segment
// it returns shm.ErrReadOnly.
func (d *DoubleBuffer) Loan() ([]byte, error) {
	if d.front.readOnly {
		return nil, wrap("double buffer loan", d.front.name, shm.ErrReadOnly)
	}
	d.back()
	return d.data[d.frame&1], nil
}

// back begins the next frame in the back slot, once until Publish, and
// returns the slot.
func (d *DoubleBuffer) back() *Seqlock {
	if !d.loaned {
		d.frame = d.front.words[0].Load() + 1
		s := d.slots[d.frame&1]
		s.begin()
		s.words[0].Store(d.frame)
		d.loaned = true
	}
	return d.slots[d.frame&1]
}

// Publish makes the loaned back slot the front frame, and wakes the readers
// that sleep in Wait. Without a Loan it returns an error matching
// shm.ErrInvalid.
func (d *DoubleBuffer) Publish() error {
	if !d.loaned {
		return wrap("double buffer publish", d.front.name, fmt.Errorf("%w: nothing loaned to publish", shm.ErrInvalid))
	}
	s := d.slots[d.frame&1]
	s.end(s.seq.Load())
	var f [8]byte
	binary.NativeEndian.PutUint64(f[:], d.frame)
	d.front.write(f[:])
	d.loaned = false
	return nil
}

// Read copies the front frame into p, which must be Len() bytes long, and
// returns its Version (the front's). It retries while the writer keeps
// overtaking the copy, for up to ReadTimeout, then returns ErrBusy. It
// never writes to shared memory.
func (d *DoubleBuffer) Read(p []byte) (Version, error) {
	if len(p) != d.n {
		return 0, wrap("double buffer read", d.front.name, fmt.Errorf("%w: %d bytes for %d-byte frames", shm.ErrInvalid, len(p), d.n))
	}
	v, ok := d.read(p)
	if !ok {
		return 0, wrap("double buffer read", d.front.name, ErrBusy)
	}
	return v, nil
}

func (d *DoubleBuffer) read(p []byte) (Version, bool) {
	var start time.Time
	for i := 0; ; i++ {
		if v, ok := d.tryRead(p); ok {
			return v, true
		}
		if i < spinReads {
			continue
		}
		if i == spinReads {
			start = time.Now()
		} else if time.Since(start) >= d.front.readTimeout {
			return 0, false
		}
		if time.Since(start) < time.Millisecond {
			runtime.Gosched()
		} else {
			time.Sleep(busySleep)
		}
	}
}

// tryRead makes one attempt: the front's frame number, then that frame
// from its slot, kept if the slot's sequence held still and the slot
// still holds that frame.
func (d *DoubleBuffer) tryRead(p []byte) (Version, bool) {
	var fb [8]byte
	v, ok := d.front.tryRead(fb[:])
	if !ok {
		return 0, false
	}
	f := binary.NativeEndian.Uint64(fb[:])
	s := d.slots[f&1]
	q := s.seq.Load()
	if q&1 != 0 {
		return 0, false
	}
	held := s.words[0].Load()
	mem.CopyAcquire(p, s.words[1:])
	if s.seq.Load() != q || held != f {
		return 0, false
	}
	// Where plain stores may pass the slot's odd sequence (weakly ordered
	// CPUs; see the layout), a loaned frame f+2 could hide from the slot
	// check; it is begun only after the front moved on.
	return Version(v), storesInOrder || d.front.seq.Load() == uint64(v)
}

// storesInOrder says whether this CPU makes every store visible in program
// order (TSO), so that a Loan's plain stores never pass the odd sequence
// stored before them.
const storesInOrder = runtime.GOARCH == "amd64" || runtime.GOARCH == "386"

// Wait copies into p the first frame whose Version differs from after and
// returns its Version, sleeping until the writer publishes one; it ends
// like Seqlock.Wait (ErrWriterClosed, ErrWriterDead, ctx.Err(), ErrCorrupt).
func (d *DoubleBuffer) Wait(ctx context.Context, p []byte, after Version) (Version, error) {
	if len(p) != d.n {
		return after, wrap("double buffer wait", d.front.name, fmt.Errorf("%w: %d bytes for %d-byte frames", shm.ErrInvalid, len(p), d.n))
	}
	var fb [8]byte
	if _, err := d.front.wait(ctx, fb[:], after); err != nil {
		return after, wrap("double buffer wait", d.front.name, err)
	}
	// The front moved past after; the frame read now is that or a later one.
	v, ok := d.read(p)
	if !ok {
		return after, wrap("double buffer wait", d.front.name, ErrBusy)
	}
	return v, nil
}

// Close tells readers that no more frames come (see Seqlock.Close).
func (d *DoubleBuffer) Close() error {
	return wrap("double buffer close", d.front.name, d.front.close())
}

// Writer reports the state of the buffer's writer (see Seqlock.Writer).
func (d *DoubleBuffer) Writer() (WriterState, error) {
	st, err := d.front.writerState()
	return st, wrap("double buffer writer", d.front.name, err)
}
