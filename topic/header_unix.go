//go:build unix

package topic

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// readHeader reads the header of the file at p through its descriptor
// (pread), without mapping it: the first page, and when that page holds a
// topic header whose subscriber table goes on past it, the rest of the
// table (fewer bytes if the file is shorter). It returns the bytes with
// the file's size. Anything but a regular file is not a topic.
func readHeader(p string) ([]byte, int64, error) {
	fd, err := unix.Open(p, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err == unix.ELOOP {
		return nil, 0, fmt.Errorf("%w: a symbolic link", ErrNotTopic)
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
		return nil, 0, fmt.Errorf("%w: not a regular file", ErrNotTopic)
	}
	b, err := pread(fd, make([]byte, min(st.Size, minHeader)), 0)
	if err != nil {
		return nil, 0, err
	}
	if g, err := parseHeader(b, -1); err == nil && g.header > len(b) && st.Size > int64(len(b)) {
		rest, err := pread(fd, make([]byte, min(st.Size, int64(g.header))-int64(len(b))), int64(len(b)))
		if err != nil {
			return nil, 0, err
		}
		b = append(b, rest...)
	}
	return b, st.Size, nil
}

// pread fills b from offset off of fd, or as much of it as the file holds.
func pread(fd int, b []byte, off int64) ([]byte, error) {
	n := 0
	for n < len(b) {
		m, err := unix.Pread(fd, b[n:], off+int64(n))
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, err
		}
		if m == 0 {
			break
		}
		n += m
	}
	return b[:n], nil
}
