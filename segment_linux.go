package shm

import (
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"sync"
	"unsafe"

	"github.com/shmkit/shm/internal/fault"
	"github.com/shmkit/shm/internal/nameless"
	"golang.org/x/sys/unix"
)

// Segment is a named shared-memory object mapped into this process. Its
// methods are safe for concurrent use; Close and Resize wait for ReadAt and
// WriteAt calls in flight.
type Segment struct {
	name string // as the caller gave it, for errors; Name trims the slashes
	path string

	mu       sync.RWMutex
	fd       int // -1 once closed
	data     []byte
	offset   int64 // of the window in the object
	wantLen  int64 // window length asked for, 0 = to the end
	readOnly bool
	prot     int
	flags    int
	addr     uintptr
	// sparse says that the object had pages without space when it was
	// mapped or last resized (an object sized with ftruncate alone, as C
	// and Python make them): WriteAt then reserves its range before it
	// copies. An object this package created or resized is not sparse.
	sparse bool
}

// Create makes a new object of size bytes and maps it. It fails with an error
// matching fs.ErrExist when the name is taken (O_EXCL), and with ErrNoSpace
// when the file system cannot hold size bytes: the space is reserved now, so
// a full /dev/shm can never raise SIGBUS later. The mode is DefaultMode unless
// the Mode option says otherwise, whatever the umask.
func Create(name string, size int64, opts ...Option) (*Segment, error) {
	c := newConfig(opts)
	s, _, err := create(name, size, &c)
	return s, wrap("create", name, err)
}

// Open maps an existing object. It fails with an error matching
// fs.ErrNotExist when there is none.
func Open(name string, opts ...Option) (*Segment, error) {
	c := newConfig(opts)
	s, err := open(name, &c)
	return s, wrap("open", name, err)
}

// OpenOrCreate is the flow of most C examples (shm_open with O_CREAT,
// ftruncate on creation): it opens the object if it exists,
// or else creates it with size bytes, and reports whether it created it. If
// another process creates the object between the two steps, it is opened.
func OpenOrCreate(name string, size int64, opts ...Option) (seg *Segment, created bool, err error) {
	c := newConfig(opts)
	for range 3 {
		seg, err = open(name, &c)
		if !errors.Is(err, os.ErrNotExist) {
			return seg, false, wrap("open", name, err)
		}
		// Only a name taken by the exclusive open means "someone else
		// created it": an EEXIST from MAP_FIXED_NOREPLACE (the AddrHint range
		// is in use) must not send us round the loop again.
		var taken bool
		seg, taken, err = create(name, size, &c)
		if !taken {
			return seg, err == nil, wrap("create", name, err)
		}
	}
	return nil, false, wrap("open", name, err)
}

// Unlink removes the name. Processes that have the object mapped keep their
// mapping; the memory is freed when the last one closes it.
func Unlink(name string, opts ...Option) error {
	c := newConfig(opts)
	p, err := Path(c.dir, name)
	if err == nil {
		err = unix.Unlink(p)
	}
	return wrap("unlink", name, err)
}

// create makes and maps a new object. taken reports that the name exists (a
// symbolic link or FIFO planted under the name counts: neither is followed
// or opened).
//
// The object appears under its name only when it is complete: it is made
// nameless (O_TMPFILE), given its mode and its space, mapped, and only then
// linked under the name, which fails if the name was taken meanwhile. So a
// concurrent Open or OpenOrCreate never finds an object of size 0 that is
// still being made, and a failure (ENOSPC) leaves no trace. A file system
// without O_TMPFILE falls back to an exclusive open and removes the new file
// on failure.
func create(name string, size int64, c *config) (s *Segment, taken bool, err error) {
	if err := c.check(); err != nil {
		return nil, false, err
	}
	if c.readOnly {
		return nil, false, fmt.Errorf("%w: cannot create an object read-only", ErrInvalid)
	}
	if size <= 0 {
		return nil, false, fmt.Errorf("%w: size %d is not positive", ErrInvalid, size)
	}
	p, err := Path(c.dir, name)
	if err != nil {
		return nil, false, err
	}
	// Report a taken name before reserving any space; the link below is
	// what settles a race.
	var st unix.Stat_t
	if err := unix.Lstat(p, &st); err == nil {
		return nil, true, unix.EEXIST
	}
	fd, err := nameless.Open(c.dir, uint32(c.mode))
	switch err {
	case nil:
		return createNameless(fd, p, name, size, c)
	case nameless.ErrUnsupported:
		return createNamed(p, name, size, c)
	}
	return nil, false, err
}

// createNameless completes the nameless object fd and links it under p.
func createNameless(fd int, p, name string, size int64, c *config) (*Segment, bool, error) {
	if err := unix.Fchmod(fd, uint32(c.mode)); err != nil {
		unix.Close(fd)
		return nil, false, err
	}
	if err := reserve(fd, size); err != nil {
		unix.Close(fd)
		return nil, false, err
	}
	s, err := newSegment(fd, p, name, c)
	if err != nil {
		unix.Close(fd)
		return nil, false, err
	}
	if c.init != nil {
		if err := c.init(s.data); err != nil {
			s.Close()
			return nil, false, err
		}
	}
	if err := nameless.Link(fd, p); err != nil {
		s.Close()
		if err == nameless.ErrUnsupported {
			// No /proc: create the classic way.
			return createNamed(p, name, size, c)
		}
		return nil, err == unix.EEXIST, err
	}
	return s, false, nil
}

// createNamed creates the object under its name with O_EXCL, the way
// shm_open does, and removes it again if it cannot be completed.
func createNamed(p, name string, size int64, c *config) (*Segment, bool, error) {
	fd, err := unix.Open(p, unix.O_RDWR|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, uint32(c.mode))
	if err != nil {
		return nil, err == unix.EEXIST, err
	}
	fail := func(err error) (*Segment, bool, error) {
		unix.Unlink(p)
		unix.Close(fd)
		return nil, false, err
	}
	if err := unix.Fchmod(fd, uint32(c.mode)); err != nil {
		return fail(err)
	}
	if err := reserve(fd, size); err != nil {
		return fail(err)
	}
	s, err := newSegment(fd, p, name, c)
	if err != nil {
		return fail(err)
	}
	if c.init != nil {
		if err := c.init(s.data); err != nil {
			s.Close()
			unix.Unlink(p)
			return nil, false, err
		}
	}
	return s, false, nil
}

func open(name string, c *config) (*Segment, error) {
	if err := c.check(); err != nil {
		return nil, err
	}
	p, err := Path(c.dir, name)
	if err != nil {
		return nil, err
	}
	flags := unix.O_RDWR
	if c.readOnly {
		flags = unix.O_RDONLY
	}
	// O_NONBLOCK keeps a FIFO planted under the name from blocking the open;
	// the file type is checked right after.
	fd, err := unix.Open(p, flags|unix.O_NOFOLLOW|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
	if err != nil {
		if err == unix.ELOOP {
			return nil, fmt.Errorf("refusing to follow a symbolic link: %w", unix.ELOOP)
		}
		return nil, err
	}
	s, err := newSegment(fd, p, name, c)
	if err != nil {
		unix.Close(fd)
		return nil, err
	}
	return s, nil
}

// reserve sets the object's size to size, allocating the space now.
func reserve(fd int, size int64) error {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return err
	}
	if size < st.Size {
		return unix.Ftruncate(fd, size)
	}
	err := unix.Fallocate(fd, 0, 0, size)
	if err == unix.EOPNOTSUPP || err == unix.ENOSYS {
		// A file system that cannot reserve space still gets the right size.
		err = unix.Ftruncate(fd, size)
	}
	return err
}

func newSegment(fd int, path, name string, c *config) (*Segment, error) {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return nil, err
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return nil, fmt.Errorf("%w: %s is not a regular file", ErrInvalid, path)
	}
	s := &Segment{
		name:     name,
		path:     path,
		fd:       fd,
		offset:   c.offset,
		wantLen:  c.length,
		readOnly: c.readOnly,
		prot:     unix.PROT_READ | unix.PROT_WRITE,
		flags:    unix.MAP_SHARED,
		addr:     c.addr,
	}
	if c.readOnly {
		s.prot = unix.PROT_READ
	}
	if c.private {
		s.flags = unix.MAP_PRIVATE
	}
	if c.prefault {
		s.flags |= unix.MAP_POPULATE
	}
	s.sparse = isSparse(&st)
	if err := s.mapWindow(st.Size); err != nil {
		return nil, err
	}
	return s, nil
}

// isSparse reports whether a file has fewer blocks than its size needs:
// pages that a first write must still allocate, and that a full file
// system cannot give.
func isSparse(st *unix.Stat_t) bool { return st.Blocks*512 < st.Size }

// mapWindow maps the window of an object of objSize bytes. An empty window
// (an object that was created but not yet sized) maps nothing.
func (s *Segment) mapWindow(objSize int64) error {
	n, err := s.windowLen(objSize)
	if err != nil {
		return err
	}
	if n == 0 {
		s.data = nil
		return nil
	}
	if n != int64(int(n)) {
		return fmt.Errorf("%w: %d bytes do not fit in the address space", ErrInvalid, n)
	}
	data, err := mmap(s.fd, s.offset, int(n), s.prot, s.flags, s.addr)
	if err != nil {
		return err
	}
	s.data = data
	return nil
}

// windowLen returns how many bytes of an object of objSize bytes the window
// covers, or an error if the window does not lie inside the object. Only an
// empty object (made by a peer that has not sized it yet) gives an empty
// window: an offset at or past the end of a non-empty object is an error.
func (s *Segment) windowLen(objSize int64) (int64, error) {
	if s.offset > 0 && s.offset >= objSize {
		return 0, fmt.Errorf("%w: window offset %d is not inside the object's %d bytes", ErrInvalid, s.offset, objSize)
	}
	n := objSize - s.offset
	if s.wantLen > 0 {
		if s.wantLen > n {
			return 0, fmt.Errorf("%w: window of %d bytes at offset %d is beyond the object's %d bytes", ErrInvalid, s.wantLen, s.offset, objSize)
		}
		n = s.wantLen
	}
	return n, nil
}

// mmap maps length bytes of fd at offset. With a non-zero addr it asks for
// exactly that address with MAP_FIXED_NOREPLACE, and refuses to go on if an
// old kernel that does not know the flag put the mapping elsewhere.
func mmap(fd int, offset int64, length, prot, flags int, addr uintptr) ([]byte, error) {
	if addr != 0 {
		flags |= unix.MAP_FIXED_NOREPLACE
	}
	// unsafe: hint is an address outside the Go heap that the kernel only
	// reads; the pointer returned covers length bytes until munmap, which only
	// Close and Resize call, after dropping the slice.
	hint := *(*unsafe.Pointer)(unsafe.Pointer(&addr))
	p, err := unix.MmapPtr(fd, offset, hint, uintptr(length), prot, flags)
	if err != nil {
		if err == unix.EEXIST && addr != 0 {
			return nil, fmt.Errorf("address hint %#x: %d bytes there are already mapped: %w", addr, length, err)
		}
		return nil, err
	}
	if addr != 0 && uintptr(p) != addr {
		unix.MunmapPtr(p, uintptr(length))
		return nil, fmt.Errorf("%w: the kernel placed the mapping at %#x, not at %#x", unix.EEXIST, uintptr(p), addr)
	}
	return unsafe.Slice((*byte)(p), length), nil
}

func munmap(b []byte) error {
	if len(b) == 0 {
		return nil
	}
	return unix.MunmapPtr(unsafe.Pointer(unsafe.SliceData(b)), uintptr(len(b)))
}

// Name returns the object's name without a leading slash.
func (s *Segment) Name() string { return trimName(s.name) }

func trimName(n string) string {
	for len(n) > 0 && n[0] == '/' {
		n = n[1:]
	}
	return n
}

// Path returns the file that holds the object, such as /dev/shm/jobs.
func (s *Segment) Path() string { return s.path }

// Size returns the length of the mapping in bytes: the object's size, or the
// window's when the Window option was used.
func (s *Segment) Size() int64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return int64(len(s.data))
}

// Bytes returns the mapping itself, for zero-copy use. The slice is valid
// until Close or Resize; touching it afterwards faults. Unlike ReadAt and
// WriteAt, a direct access to a page that another process truncated away
// raises SIGBUS; use debug.SetPanicOnFault where that matters.
func (s *Segment) Bytes() []byte {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.data
}

// Fd returns the open file descriptor of the object, or -1 after Close.
func (s *Segment) Fd() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.fd
}

// Writable reports whether the mapping may be written: false for a segment
// opened with the ReadOnly option.
func (s *Segment) Writable() bool { return !s.readOnly }

// ReadAt copies len(p) bytes at offset off of the mapping into p. It
// implements io.ReaderAt: reading past the end returns io.EOF with the bytes
// that were there. If another process truncated the object so that the
// mapped pages are gone, it returns an error instead of crashing.
func (s *Segment) ReadAt(p []byte, off int64) (n int, err error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.fd < 0 {
		return 0, wrap("read", s.name, ErrClosed)
	}
	if off < 0 {
		return 0, wrap("read", s.name, fmt.Errorf("%w: negative offset %d", ErrInvalid, off))
	}
	if off >= int64(len(s.data)) {
		return 0, io.EOF
	}
	n, addr, faulted := faultSafeCopy(p, s.data[off:])
	if faulted {
		return 0, wrap("read", s.name, s.faultAt(addr))
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// WriteAt copies p into the mapping at offset off. It implements
// io.WriterAt. A write that does not fit entirely is refused and writes
// nothing; a segment opened ReadOnly returns ErrReadOnly. On a sparse object
// (one sized with ftruncate alone, as C's shm_open users and Python make
// them, whose pages get their memory only when first written) WriteAt
// first reserves the pages it will write with fallocate, so that a full
// file system is ErrNoSpace with nothing written rather than a fault
// halfway through; the objects this package creates or resizes are
// reserved whole already and skip that step.
func (s *Segment) WriteAt(p []byte, off int64) (n int, err error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	switch {
	case s.fd < 0:
		return 0, wrap("write", s.name, ErrClosed)
	case s.readOnly:
		return 0, wrap("write", s.name, ErrReadOnly)
	case off < 0:
		return 0, wrap("write", s.name, fmt.Errorf("%w: negative offset %d", ErrInvalid, off))
	case off > int64(len(s.data)) || int64(len(p)) > int64(len(s.data))-off:
		return 0, wrap("write", s.name, fmt.Errorf("%w: %d bytes at offset %d do not fit in %d bytes", ErrInvalid, len(p), off, len(s.data)))
	}
	if s.sparse && s.flags&unix.MAP_PRIVATE == 0 && len(p) > 0 {
		if err := reserveRange(s.fd, s.offset+off, int64(len(p))); err != nil {
			return 0, wrap("write", s.name, err)
		}
	}
	n, addr, faulted := faultSafeCopy(s.data[off:], p)
	if faulted {
		return 0, wrap("write", s.name, s.faultAt(addr))
	}
	return n, nil
}

// NewReader returns a reader of n bytes of the segment from offset off
// (offsets are in the window, as for ReadAt) that reads through the
// object's descriptor with pread(2) rather than through the mapping. That
// is the way to read a whole object that may be sparse, or large: a hole
// reads as zeros without taking memory (reading a hole through a shared
// mapping makes tmpfs allocate its page, which fills the file system and
// adds the page to this process's resident memory), and memory stays
// bounded by the caller's buffer. An object that another process truncated
// meanwhile ends the read with an error wrapping io.ErrUnexpectedEOF that
// gives its new size, never a fault. For a Private segment it reads the
// object, not this process's own changes.
func (s *Segment) NewReader(off, n int64) *io.SectionReader {
	return io.NewSectionReader(fileReader{s}, off, n)
}

// fileReader reads a segment through its descriptor.
type fileReader struct{ s *Segment }

func (r fileReader) ReadAt(p []byte, off int64) (int, error) {
	s := r.s
	s.mu.RLock()
	defer s.mu.RUnlock()
	switch {
	case s.fd < 0:
		return 0, wrap("read", s.name, ErrClosed)
	case off < 0:
		return 0, wrap("read", s.name, fmt.Errorf("%w: negative offset %d", ErrInvalid, off))
	case off >= int64(len(s.data)):
		return 0, io.EOF
	}
	want := p[:min(int64(len(p)), int64(len(s.data))-off)]
	n := 0
	for n < len(want) {
		m, err := unix.Pread(s.fd, want[n:], s.offset+off+int64(n))
		switch {
		case err == unix.EINTR:
			continue
		case err != nil:
			return n, wrap("read", s.name, err)
		case m == 0:
			return n, wrap("read", s.name, s.shrunk(off+int64(n), io.ErrUnexpectedEOF))
		}
		n += m
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// shrunk is the error for an object found shorter than the window, at off
// in it: another process truncated it.
func (s *Segment) shrunk(off int64, cause error) error {
	var st unix.Stat_t
	if err := unix.Fstat(s.fd, &st); err != nil {
		return err
	}
	return fmt.Errorf("the object is now %d bytes (truncated by another process), it ends before offset %d: %w", st.Size, s.offset+off, cause)
}

// NewWriter reserves n bytes of the segment at offset off (in the window,
// as for WriteAt) and returns a writer that fills them in order, through the
// object's descriptor with pwrite(2) rather than through the mapping. The
// space is reserved first: a file system that cannot hold the pages is
// ErrNoSpace, and then nothing is written. Writing through the descriptor
// keeps the object's pages out of this process's resident memory, so a
// large copy into the segment costs no more memory than the caller's
// buffer. A write beyond the n bytes writes nothing and fails with
// ErrInvalid. NewWriter refuses a ReadOnly segment (ErrReadOnly) and a
// Private one (ErrInvalid: its changes live in the mapping; use WriteAt).
func (s *Segment) NewWriter(off, n int64) (io.Writer, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	switch {
	case s.fd < 0:
		return nil, wrap("write", s.name, ErrClosed)
	case s.readOnly:
		return nil, wrap("write", s.name, ErrReadOnly)
	case s.flags&unix.MAP_PRIVATE != 0:
		return nil, wrap("write", s.name, fmt.Errorf("%w: a Private segment's changes live in its mapping, not in the object", ErrInvalid))
	case off < 0 || n < 0 || off > int64(len(s.data)) || n > int64(len(s.data))-off:
		return nil, wrap("write", s.name, fmt.Errorf("%w: %d bytes at offset %d do not fit in %d bytes", ErrInvalid, n, off, len(s.data)))
	}
	if n > 0 {
		if err := reserveRange(s.fd, s.offset+off, n); err != nil {
			return nil, wrap("write", s.name, err)
		}
	}
	return &fileWriter{s: s, off: off, end: off + n}, nil
}

// fileWriter writes a reserved range of a segment through its descriptor.
type fileWriter struct {
	s        *Segment
	off, end int64 // next byte to write, end of the range (in the window)
}

func (w *fileWriter) Write(p []byte) (int, error) {
	s := w.s
	s.mu.RLock()
	defer s.mu.RUnlock()
	switch {
	case s.fd < 0:
		return 0, wrap("write", s.name, ErrClosed)
	case int64(len(p)) > w.end-w.off:
		return 0, wrap("write", s.name, fmt.Errorf("%w: %d bytes at offset %d go beyond the %d bytes reserved up to offset %d", ErrInvalid, len(p), w.off, w.end-w.off, w.end))
	}
	// pwrite past the end would grow the object again: look first.
	var st unix.Stat_t
	if err := unix.Fstat(s.fd, &st); err != nil {
		return 0, wrap("write", s.name, err)
	}
	if s.offset+w.off+int64(len(p)) > st.Size {
		return 0, wrap("write", s.name, s.shrunk(w.off+int64(len(p)), io.ErrShortWrite))
	}
	n := 0
	for n < len(p) {
		m, err := unix.Pwrite(s.fd, p[n:], s.offset+w.off)
		switch {
		case err == unix.EINTR:
			continue
		case err == unix.EINVAL && n == 0 && int64(len(s.data)) >= w.off+int64(len(p)):
			// hugetlbfs has no write(2): copy through the mapping.
			if _, addr, faulted := faultSafeCopy(s.data[w.off:], p); faulted {
				return 0, wrap("write", s.name, s.faultAt(addr))
			}
			w.off += int64(len(p))
			return len(p), nil
		case err != nil:
			return n, wrap("write", s.name, err)
		}
		n += m
		w.off += int64(m)
	}
	return n, nil
}

// reserveRange allocates the pages of n bytes at off in the object without
// changing its size (FALLOC_FL_KEEP_SIZE: if another process shrank the
// object meanwhile, the write faults and says so instead of growing it
// back). A file system that cannot reserve space is let through.
func reserveRange(fd int, off, n int64) error {
	err := unix.Fallocate(fd, unix.FALLOC_FL_KEEP_SIZE, off, n)
	switch err {
	case nil, unix.EOPNOTSUPP, unix.ENOSYS:
		return nil
	case unix.ENOSPC:
		return fmt.Errorf("reserving %d bytes at offset %d of a sparse object, nothing was written: %w", n, off, ErrNoSpace)
	}
	return fmt.Errorf("reserving %d bytes at offset %d: %w", n, off, err)
}

// faultAt says why an access to the mapping at addr faulted: the page is
// past the object's end, which another process truncated, or it is inside
// it and could not be given memory (a sparse object on a full tmpfs, or a
// memory limit). The caller holds s.mu.
func (s *Segment) faultAt(addr uintptr) error {
	base := uintptr(unsafe.Pointer(unsafe.SliceData(s.data)))
	fe := &FaultError{Offset: -1, Size: -1}
	if addr >= base && addr-base < uintptr(len(s.data)) {
		fe.Offset = s.offset + int64(addr-base)
	}
	var st unix.Stat_t
	if unix.Fstat(s.fd, &st) == nil {
		fe.Size = st.Size
	}
	return fe
}

// faultSafeCopy copies like copy, but turns a SIGBUS or SIGSEGV in the
// mapping into faulted, with the faulting address. It is fault.Catch written
// out, without the call through a closure, for ReadAt's and WriteAt's small
// copies.
func faultSafeCopy(dst, src []byte) (n int, addr uintptr, faulted bool) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			a, ok := fault.Addr(r)
			if !ok {
				panic(r)
			}
			n, addr, faulted = 0, a, true
		}
	}()
	return copy(dst, src), 0, false
}

// Resize changes the object's size to size bytes, reserving the space when it
// grows (ErrNoSpace if there is none), and maps it anew: slices from Bytes
// are invalid afterwards. A segment mapped through a Window keeps its window,
// and a size that would leave the window outside the object is refused
// before anything changes. The object itself is resized even for a Private
// mapping, whose private changes are lost with the old mapping. If the new
// mapping cannot be made (an AddrHint range now in use), the object keeps its
// new size and the segment is left unmapped (Size 0) until a later Resize
// succeeds.
func (s *Segment) Resize(size int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.fd < 0:
		return wrap("resize", s.name, ErrClosed)
	case s.readOnly:
		return wrap("resize", s.name, ErrReadOnly)
	case size <= 0:
		return wrap("resize", s.name, fmt.Errorf("%w: size %d is not positive", ErrInvalid, size))
	}
	// Refuse a size that would leave the window outside the object before
	// changing anything.
	if _, err := s.windowLen(size); err != nil {
		return wrap("resize", s.name, err)
	}
	if err := reserve(s.fd, size); err != nil {
		return wrap("resize", s.name, err)
	}
	var st unix.Stat_t
	s.sparse = unix.Fstat(s.fd, &st) != nil || isSparse(&st)
	old := s.data
	s.data = nil
	if err := munmap(old); err != nil {
		return wrap("resize", s.name, err)
	}
	return wrap("resize", s.name, s.mapWindow(size))
}

// Close unmaps the segment and closes its descriptor. The object itself stays
// until Unlink. Close is idempotent; other methods return ErrClosed after it.
func (s *Segment) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fd < 0 {
		return nil
	}
	err := errors.Join(munmap(s.data), unix.Close(s.fd))
	s.data, s.fd = nil, -1
	return wrap("close", s.name, err)
}
