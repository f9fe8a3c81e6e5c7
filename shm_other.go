//go:build !linux

package shm

import (
	"errors"
	"fmt"
	"io"
	"runtime"
)

// This file keeps the package building on systems other than Linux, where
// every call fails with an error matching errors.ErrUnsupported.

func unsupported(op, name string) error {
	return wrap(op, name, fmt.Errorf("%w: package shm supports Linux only, not %s", errors.ErrUnsupported, runtime.GOOS))
}

// Segment is a named shared-memory object mapped into this process. On this
// system it cannot be made: every function returns errors.ErrUnsupported.
type Segment struct{ name string }

// Create is not supported on this system.
func Create(name string, size int64, opts ...Option) (*Segment, error) {
	return nil, unsupported("create", name)
}

// Open is not supported on this system.
func Open(name string, opts ...Option) (*Segment, error) {
	return nil, unsupported("open", name)
}

// OpenOrCreate is not supported on this system.
func OpenOrCreate(name string, size int64, opts ...Option) (*Segment, bool, error) {
	return nil, false, unsupported("open", name)
}

// Unlink is not supported on this system.
func Unlink(name string, opts ...Option) error { return unsupported("unlink", name) }

// Stat is not supported on this system.
func Stat(name string, opts ...Option) (Info, error) { return Info{}, unsupported("stat", name) }

// List is not supported on this system.
func List(opts ...Option) ([]Info, error) { return nil, unsupported("list", DefaultDir) }

// Name returns the object's name without a leading slash.
func (s *Segment) Name() string { return s.name }

// Path returns "".
func (s *Segment) Path() string { return "" }

// Size returns 0.
func (s *Segment) Size() int64 { return 0 }

// Bytes returns nil.
func (s *Segment) Bytes() []byte { return nil }

// Writable reports false.
func (s *Segment) Writable() bool { return false }

// Fd returns -1.
func (s *Segment) Fd() int { return -1 }

// ReadAt is not supported on this system.
func (s *Segment) ReadAt(p []byte, off int64) (int, error) { return 0, unsupported("read", s.name) }

// WriteAt is not supported on this system.
func (s *Segment) WriteAt(p []byte, off int64) (int, error) { return 0, unsupported("write", s.name) }

// NewReader returns a reader that fails: segments are not supported on
// this system.
func (s *Segment) NewReader(off, n int64) *io.SectionReader {
	return io.NewSectionReader(unsupportedReader{s.name}, off, n)
}

type unsupportedReader struct{ name string }

func (r unsupportedReader) ReadAt([]byte, int64) (int, error) { return 0, unsupported("read", r.name) }

// NewWriter is not supported on this system.
func (s *Segment) NewWriter(off, n int64) (io.Writer, error) {
	return nil, unsupported("write", s.name)
}

// Resize is not supported on this system.
func (s *Segment) Resize(size int64) error { return unsupported("resize", s.name) }

// Close does nothing.
func (s *Segment) Close() error { return nil }
