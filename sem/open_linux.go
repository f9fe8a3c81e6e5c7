package sem

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"

	"golang.org/x/sys/unix"

	"github.com/shmkit/shm"
	"github.com/shmkit/shm/internal/fault"
	"github.com/shmkit/shm/internal/nameless"
)

// maxOpenAttempts bounds OpenOrCreate's loop between "open it" and "create
// it" when other processes keep creating and removing the same name under
// it.
const maxOpenAttempts = 16

// Create makes the named semaphore, glibc's /dev/shm/sem.NAME, with the
// given initial value (at most ValueMax) and opens it, like sem_open with
// O_CREAT|O_EXCL: an existing semaphore is an error matching fs.ErrExist.
// The name follows shm.CleanName's rules (leading slashes are stripped) and
// "sem." plus the name must fit in 255 bytes. The semaphore is made the way
// glibc makes it: the initialized 32 bytes are written to a file without a
// name that is then linked to the name, so nobody ever sees a half-made
// semaphore.
func Create(name string, value uint32, opts ...Option) (*Semaphore, error) {
	c := newConfig(opts)
	c.create, c.exclusive, c.initial = true, true, value
	s, _, err := open(name, &c)
	if err != nil {
		return nil, &shm.Error{Op: "sem create", Name: name, Err: err}
	}
	return s, nil
}

// Open opens the existing named semaphore, like sem_open without O_CREAT:
// a missing one is an error matching fs.ErrNotExist. The file must be a
// regular file of at least Size bytes holding a process-shared semaphore in
// a sane state; it is never followed if it is a symbolic link.
func Open(name string, opts ...Option) (*Semaphore, error) {
	c := newConfig(opts)
	s, _, err := open(name, &c)
	if err != nil {
		return nil, &shm.Error{Op: "sem open", Name: name, Err: err}
	}
	return s, nil
}

// OpenOrCreate opens the named semaphore, creating it with the given
// initial value when it is missing, like sem_open with O_CREAT, and reports
// whether it created it. Of processes that race to create the same name,
// one creates it and the others open theirs; an existing semaphore keeps
// its value.
func OpenOrCreate(name string, value uint32, opts ...Option) (s *Semaphore, created bool, err error) {
	c := newConfig(opts)
	c.create, c.initial = true, value
	s, created, err = open(name, &c)
	if err != nil {
		op := "sem open"
		if created {
			op = "sem create"
		}
		return nil, false, &shm.Error{Op: op, Name: name, Err: err}
	}
	return s, created, nil
}

// Unlink removes the named semaphore, like sem_unlink. Processes that have
// it open keep using it; it is freed when the last one closes it.
func Unlink(name string, opts ...Option) error {
	c := newConfig(opts)
	p, err := semPath(c.dir, name)
	if err == nil {
		err = unix.Unlink(p)
	}
	if err != nil {
		return &shm.Error{Op: "sem unlink", Name: name, Err: err}
	}
	return nil
}

// open opens the semaphore or creates it, as c says, and reports whether
// it created it or, on failure, whether creating it failed.
func open(name string, c *config) (*Semaphore, bool, error) {
	if c.mode&^0o777 != 0 {
		return nil, c.create, fmt.Errorf("%w: mode %#o has bits outside 0777", shm.ErrInvalid, uint32(c.mode))
	}
	if c.create && c.initial > ValueMax {
		return nil, true, fmt.Errorf("%w: initial value %d exceeds SEM_VALUE_MAX %d", shm.ErrInvalid, c.initial, ValueMax)
	}
	p, err := semPath(c.dir, name)
	if err != nil {
		return nil, false, err
	}
	for range maxOpenAttempts {
		if !c.exclusive {
			s, err := openExisting(name, p)
			if !c.create || !errors.Is(err, unix.ENOENT) {
				return s, false, err
			}
		}
		s, err := create(name, p, c)
		if c.exclusive || !errors.Is(err, unix.EEXIST) {
			return s, true, err
		}
		// Someone else created it after we looked: open theirs.
	}
	return nil, false, fmt.Errorf("%w: the name kept appearing and disappearing", unix.EAGAIN)
}

func openExisting(name, path string) (*Semaphore, error) {
	// O_NONBLOCK keeps a FIFO planted under the name from blocking the open;
	// the file type is checked before the mapping.
	fd, err := unix.Open(path, unix.O_RDWR|unix.O_NOFOLLOW|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
	if err != nil {
		if err == unix.ELOOP {
			return nil, fmt.Errorf("%w: refusing to follow a symbolic link", unix.ELOOP)
		}
		return nil, err
	}
	defer unix.Close(fd)
	return mapFile(name, path, fd, true)
}

// create makes the semaphore file nameless (O_TMPFILE), initializes it and
// links it to path, so that a process killed on the way leaves nothing
// behind. Where the file system has no O_TMPFILE (or there is no /proc to
// link through) it falls back to a temporary name, as glibc's sem_open does,
// which a kill between its creation and its removal leaves behind. The
// error matches unix.EEXIST when path exists.
func create(name, path string, c *config) (*Semaphore, error) {
	fd, err := nameless.Open(filepath.Dir(path), uint32(c.mode))
	if err == nameless.ErrUnsupported {
		return createTemp(name, path, c)
	}
	if err != nil {
		return nil, err
	}
	defer unix.Close(fd)
	s, err := initFile(name, path, fd, c)
	if err != nil {
		return nil, err
	}
	if err := nameless.Link(fd, path); err != nil {
		s.Close()
		if err == nameless.ErrUnsupported {
			return createTemp(name, path, c) // no /proc
		}
		return nil, err
	}
	return s, nil
}

// initFile gives the new file fd its mode and its initial bytes and maps it.
func initFile(name, path string, fd int, c *config) (*Semaphore, error) {
	if err := unix.Fchmod(fd, uint32(c.mode)); err != nil {
		return nil, err
	}
	var init [Size]byte
	putState(init[:], uint64(c.initial), privateShared)
	if n, err := unix.Write(fd, init[:]); err != nil || n != Size {
		if err == nil {
			err = fmt.Errorf("short write of %d bytes", n)
		}
		return nil, err
	}
	return mapFile(name, path, fd, false)
}

// createTemp makes the semaphore file under a temporary name and links it
// to path, as glibc's sem_open does.
func createTemp(name, path string, c *config) (*Semaphore, error) {
	dir := filepath.Dir(path)
	var (
		fd  int
		tmp string
		err error
	)
	for range 50 { // glibc's NRETRIES
		tmp = filepath.Join(dir, shm.SemaphorePrefix+randomSuffix())
		fd, err = unix.Open(tmp, unix.O_RDWR|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, uint32(c.mode))
		if err != unix.EEXIST {
			break
		}
	}
	if err != nil {
		return nil, err
	}
	defer unix.Close(fd)
	defer unix.Unlink(tmp) // the name, not the file: after link, path keeps it
	s, err := initFile(name, path, fd, c)
	if err != nil {
		return nil, err
	}
	if err := unix.Link(tmp, path); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// putState writes a semaphore's initial bytes into b, which nobody else
// sees yet.
func putState(b []byte, data uint64, private uint32) {
	binary.NativeEndian.PutUint64(b[offData:], data)
	binary.NativeEndian.PutUint32(b[offPrivate:], private)
}

const suffixChars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

// randomSuffix returns six letters or digits, like mktemp's XXXXXX.
func randomSuffix() string {
	var b [6]byte
	for i := range b {
		b[i] = suffixChars[rand.IntN(len(suffixChars))]
	}
	return string(b[:])
}

// mapFile maps the semaphore in the open file fd, after checking that it is
// a regular file with room for a semaphore and, when existing is true, that
// the semaphore in it is sane.
func mapFile(name, path string, fd int, existing bool) (*Semaphore, error) {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return nil, err
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return nil, fmt.Errorf("%w: %s is not a regular file", ErrCorrupt, path)
	}
	if st.Size < Size {
		return nil, fmt.Errorf("%w: %s has %d bytes, a semaphore needs %d", ErrCorrupt, path, st.Size, Size)
	}
	b, err := unix.Mmap(fd, 0, Size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return nil, err
	}
	s, err := words(name, b)
	// The file may have been truncated since the Fstat.
	if err == nil && existing && fault.Catch(func() { err = s.check(b) }) {
		err = shm.ErrFault
	}
	if err != nil {
		unix.Munmap(b)
		return nil, err
	}
	s.mapping = b
	s.size = func() (int64, bool) {
		// The name may have been given to another file since: only the
		// same file's size says anything.
		var now unix.Stat_t
		if unix.Stat(path, &now) != nil || now.Dev != st.Dev || now.Ino != st.Ino {
			return 0, false
		}
		return now.Size, true
	}
	s.had = st.Size
	return s, nil
}

// Stat reads the named semaphore's value and waiter count without mapping
// it or opening it for writing, so it works on semaphores the caller may
// only read (for listings such as "shm ls"). It validates the file as Open
// does. The two numbers come from one read of the file but are a snapshot:
// they may change right after.
func Stat(name string, opts ...Option) (State, error) {
	c := newConfig(opts)
	st, err := stat(c.dir, name)
	if err != nil {
		return State{}, &shm.Error{Op: "sem stat", Name: name, Err: err}
	}
	return st, nil
}

func stat(dir, name string) (State, error) {
	p, err := semPath(dir, name)
	if err != nil {
		return State{}, err
	}
	fd, err := unix.Open(p, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
	if err != nil {
		return State{}, err
	}
	defer unix.Close(fd)
	var fst unix.Stat_t
	if err := unix.Fstat(fd, &fst); err != nil {
		return State{}, err
	}
	if fst.Mode&unix.S_IFMT != unix.S_IFREG {
		return State{}, fmt.Errorf("%w: %s is not a regular file", ErrCorrupt, p)
	}
	var b [Size]byte
	n, err := unix.Pread(fd, b[:], 0)
	if err != nil {
		return State{}, err
	}
	if n < Size {
		return State{}, fmt.Errorf("%w: %s has %d bytes, a semaphore needs %d", ErrCorrupt, p, n, Size)
	}
	if err := checkPrivate(binary.NativeEndian.Uint32(b[offPrivate:])); err != nil {
		return State{}, err
	}
	d := binary.NativeEndian.Uint64(b[offData:])
	if err := checkData(d); err != nil {
		return State{}, err
	}
	return State{Value: int(uint32(d)), Waiters: int(d >> nwaitersShift)}, nil
}
