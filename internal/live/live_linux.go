package live

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// ErrHeld is returned by Hold when another open file description holds the
// byte: the role is taken by a live process.
var ErrHeld = errors.New("held by a live process")

// ErrUnsupported is returned when the kernel has no open file description
// locks (Linux before 3.15) or the file system refuses them.
var ErrUnsupported = errors.New("open file description locks are not supported here")

// Hold locks the byte at off of the file open as fd for this open file
// description, without waiting. It returns ErrHeld when another open file
// description (another process, or another open of the same file) holds
// it. Holding it again through the same open file description succeeds.
// fd must be open for writing.
func Hold(fd int, off int64) error {
	lk := unix.Flock_t{Type: unix.F_WRLCK, Whence: 0, Start: off, Len: 1}
	err := unix.FcntlFlock(uintptr(fd), unix.F_OFD_SETLK, &lk)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, unix.EAGAIN), errors.Is(err, unix.EACCES):
		return ErrHeld
	case errors.Is(err, unix.EINVAL), errors.Is(err, unix.ENOLCK):
		return fmt.Errorf("%w: %v", ErrUnsupported, err)
	}
	return os.NewSyscallError("fcntl F_OFD_SETLK", err)
}

// Release unlocks the byte at off that this open file description holds.
// Closing the last descriptor of the description releases it too.
func Release(fd int, off int64) error {
	lk := unix.Flock_t{Type: unix.F_UNLCK, Whence: 0, Start: off, Len: 1}
	if err := unix.FcntlFlock(uintptr(fd), unix.F_OFD_SETLK, &lk); err != nil {
		return os.NewSyscallError("fcntl F_OFD_SETLK", err)
	}
	return nil
}

// Held reports whether an open file description other than fd's holds a
// write lock on the byte at off: whether the role there has a live holder.
// A lock held through fd's own description does not count, so a process
// asking about its own role gets false. Nor does a read lock, which anyone
// who can open the file read-only may take: it makes Hold fail (the role
// looks taken) but cannot make a dead holder look alive. fd may be
// read-only.
func Held(fd int, off int64) (bool, error) {
	lk := unix.Flock_t{Type: unix.F_WRLCK, Whence: 0, Start: off, Len: 1}
	if err := unix.FcntlFlock(uintptr(fd), unix.F_OFD_GETLK, &lk); err != nil {
		if errors.Is(err, unix.EINVAL) {
			return false, fmt.Errorf("%w: %v", ErrUnsupported, err)
		}
		return false, os.NewSyscallError("fcntl F_OFD_GETLK", err)
	}
	return lk.Type == unix.F_WRLCK, nil
}

// ReadLocked reports whether an open file description other than fd's
// holds a read lock, and no write lock, on the byte at off: a process with
// read access to the file that blocks Hold there without holding the role.
// It is for an error message that says why Hold keeps failing.
func ReadLocked(fd int, off int64) (bool, error) {
	lk := unix.Flock_t{Type: unix.F_WRLCK, Whence: 0, Start: off, Len: 1}
	if err := unix.FcntlFlock(uintptr(fd), unix.F_OFD_GETLK, &lk); err != nil {
		if errors.Is(err, unix.EINVAL) {
			return false, fmt.Errorf("%w: %v", ErrUnsupported, err)
		}
		return false, os.NewSyscallError("fcntl F_OFD_GETLK", err)
	}
	return lk.Type == unix.F_RDLCK, nil
}

// Namespace returns an identifier of the calling process's PID namespace
// (the inode of /proc/self/ns/pid), or 0 when /proc does not say. Two
// processes with the same non-zero Namespace see the same pids.
func Namespace() uint64 {
	var st unix.Stat_t
	if err := unix.Stat("/proc/self/ns/pid", &st); err != nil {
		return 0
	}
	return st.Ino
}

// TokenBase is where token bytes start: far beyond any object's data
// (locks may lie past the end of a file), so a token never overlaps a role
// that a layout places inside the object.
const TokenBase = 1 << 62

// tokenBits bounds a token: TokenBase+token stays a valid file offset.
const tokenBits = 58

// HoldToken picks a token no live open file description of the file holds,
// and holds the byte TokenBase+token through fd: an identity for this
// holder, unique among the live holders of the file in every PID namespace.
// A token is random, so one that a dead holder left in shared memory (a
// mutex's owner) is taken again only by chance, one in 2^58 per holder.
func HoldToken(fd int) (uint64, error) {
	for range 64 {
		var b [8]byte
		if _, err := rand.Read(b[:]); err != nil {
			return 0, err
		}
		t := binary.LittleEndian.Uint64(b[:]) & (1<<tokenBits - 1)
		if t == 0 {
			continue
		}
		err := Hold(fd, TokenBase+int64(t))
		if err == nil {
			return t, nil
		}
		if !errors.Is(err, ErrHeld) {
			return 0, err
		}
	}
	return 0, errors.New("live: no free token after 64 tries")
}

// TokenHeld reports whether a live open file description other than fd's
// holds token t of the file.
func TokenHeld(fd int, t uint64) (bool, error) {
	if t == 0 || t >= 1<<tokenBits {
		return false, fmt.Errorf("live: token %#x out of range", t)
	}
	return Held(fd, TokenBase+int64(t))
}
