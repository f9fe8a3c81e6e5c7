package nameless

import (
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// Open makes a file with no name in dir, with permission bits perm (which
// the umask may narrow: set them again with fchmod where that matters). It
// fails with ErrUnsupported when the file system cannot make one.
func Open(dir string, perm uint32) (fd int, err error) {
	fd, err = unix.Open(dir, unix.O_TMPFILE|unix.O_RDWR|unix.O_CLOEXEC, perm)
	switch err {
	case nil:
		return fd, nil
	case unix.EOPNOTSUPP, unix.EISDIR, unix.EINVAL:
		return -1, ErrUnsupported
	}
	return -1, err
}

// Link gives the nameless file fd the name path. It fails with unix.EEXIST
// when path exists, and with ErrUnsupported when there is no /proc to link
// through. (linkat with AT_EMPTY_PATH needs CAP_DAC_READ_SEARCH; through
// /proc it needs only the right to create in the directory.)
func Link(fd int, path string) error {
	err := unix.Linkat(unix.AT_FDCWD, "/proc/self/fd/"+strconv.Itoa(fd), unix.AT_FDCWD, path, unix.AT_SYMLINK_FOLLOW)
	if err == unix.ENOENT {
		if _, serr := os.Stat("/proc/self/fd"); serr != nil {
			return ErrUnsupported
		}
	}
	return err
}
