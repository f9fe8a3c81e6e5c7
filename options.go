package shm

import (
	"fmt"
	"io/fs"
	"os"
)

// DefaultMode is the permission of a new object unless Mode says otherwise:
// read and write for the owner only.
const DefaultMode fs.FileMode = 0o600

// An Option changes how Create, Open, OpenOrCreate, Unlink, Stat and List
// work. Options that do not apply to a call are ignored by it (Mode means
// nothing to Unlink, for instance).
type Option func(*config)

type config struct {
	dir      string
	mode     fs.FileMode
	readOnly bool
	private  bool
	offset   int64
	length   int64
	addr     uintptr
	prefault bool
	init     func(b []byte) error
}

func newConfig(opts []Option) config {
	c := config{dir: DefaultDir, mode: DefaultMode}
	for _, o := range opts {
		if o != nil {
			o(&c)
		}
	}
	return c
}

// Dir places objects in another directory than /dev/shm: another tmpfs
// mount, or a hugetlbfs mount for huge pages.
func Dir(path string) Option { return func(c *config) { c.dir = path } }

// Mode sets the permission bits of a new object (0 to 0777). The umask does
// not change them: the mode is set exactly with fchmod after creation.
func Mode(perm fs.FileMode) Option { return func(c *config) { c.mode = perm } }

// ReadOnly opens the object O_RDONLY and maps it PROT_READ. WriteAt and
// Resize then return ErrReadOnly; writing to Bytes() faults.
func ReadOnly() Option { return func(c *config) { c.readOnly = true } }

// Private maps the object MAP_PRIVATE: writes go to a copy-on-write copy
// that only this process sees, and the object itself is left unchanged.
func Private() Option { return func(c *config) { c.private = true } }

// Window maps only length bytes starting at offset, which must be a multiple
// of the page size (os.Getpagesize). A length of 0 maps to the end.
func Window(offset, length int64) Option {
	return func(c *config) { c.offset, c.length = offset, length }
}

// AddrHint asks for the mapping at a fixed, page-aligned address with
// MAP_FIXED_NOREPLACE: the safe form of MAP_FIXED, which fails with EEXIST
// instead of replacing whatever is mapped there already.
func AddrHint(addr uintptr) Option { return func(c *config) { c.addr = addr } }

// Initialize makes Create (and OpenOrCreate, when it creates) run init on
// the new object's mapping before the object gets its name, so that no other
// process ever sees it uninitialized and a process killed in the meantime
// leaves nothing behind: a format's header, for instance. If init returns
// an error, nothing is created and Create returns that error. Open ignores
// the option. (On a file system without O_TMPFILE the object is named
// before init runs, and removed again if init fails.)
func Initialize(init func(b []byte) error) Option { return func(c *config) { c.init = init } }

// Prefault populates the page tables at map time (MAP_POPULATE), so the first
// touch of each page does not fault.
func Prefault() Option { return func(c *config) { c.prefault = true } }

func (c *config) check() error {
	if c.mode&^fs.ModePerm != 0 {
		return fmt.Errorf("%w: mode %#o has bits outside 0777", ErrInvalid, uint32(c.mode))
	}
	page := int64(os.Getpagesize())
	if c.offset < 0 || c.offset%page != 0 {
		return fmt.Errorf("%w: window offset %d is not a non-negative multiple of the page size %d", ErrInvalid, c.offset, page)
	}
	if c.length < 0 {
		return fmt.Errorf("%w: window length %d is negative", ErrInvalid, c.length)
	}
	if c.addr%uintptr(page) != 0 {
		return fmt.Errorf("%w: address hint %#x is not page-aligned", ErrInvalid, c.addr)
	}
	if c.dir == "" {
		c.dir = DefaultDir
	}
	return nil
}
