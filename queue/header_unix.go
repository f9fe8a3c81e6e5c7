//go:build unix

package queue

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// readHeader reads the first headerSize bytes of the file at p (fewer if it
// is shorter) and returns them with the file's size. Anything but a regular
// file is not a queue.
func readHeader(p string) ([]byte, int64, error) {
	fd, err := unix.Open(p, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err == unix.ELOOP {
		return nil, 0, fmt.Errorf("%w: a symbolic link", ErrNotQueue)
	}
	if err != nil {
		return nil, 0, err
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return nil, 0, err
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return nil, 0, fmt.Errorf("%w: not a regular file", ErrNotQueue)
	}
	b := make([]byte, min(st.Size, headerSize))
	n := 0
	for n < len(b) {
		m, err := unix.Pread(fd, b[n:], int64(n))
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, 0, err
		}
		if m == 0 {
			break
		}
		n += m
	}
	return b[:n], st.Size, nil
}
