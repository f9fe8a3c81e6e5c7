//go:build unix

// Package objstat reads what a queue or a topic needs to know of an object
// without mapping it: its size (to tell a truncation from damage), its
// identity (to key the race detector's hints by object, not by mapping),
// and its header, read with pread for a look by name (queue.Stat, topic.Stat).
package objstat

import "golang.org/x/sys/unix"

// ID is an object's identity: its device and inode.
type ID struct{ Dev, Ino uint64 }

// Of returns the size and the identity of the object open as fd; ok is
// false when fstat fails.
func Of(fd int) (size int64, id ID, ok bool) {
	var st unix.Stat_t
	if unix.Fstat(fd, &st) != nil {
		return 0, ID{}, false
	}
	return st.Size, ID{uint64(st.Dev), st.Ino}, true
}

// File is an object opened to read its header: never through a symbolic
// link, only a regular file, and read with pread, so that nothing is mapped
// and no page of a sparse object is allocated.
type File struct {
	fd   int
	Size int64 // the object's size when it was opened
}

// Open opens the object at path for reading its header. A symbolic link
// fails with ErrSymlink and anything but a regular file with ErrNotRegular.
func Open(path string) (*File, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err == unix.ELOOP {
		return nil, ErrSymlink
	}
	if err != nil {
		return nil, err
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return nil, err
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		unix.Close(fd)
		return nil, ErrNotRegular
	}
	return &File{fd: fd, Size: st.Size}, nil
}

// Read returns n bytes from offset off, or as many as the file holds.
func (f *File) Read(off, n int64) ([]byte, error) {
	b := make([]byte, max(0, min(n, f.Size-off)))
	done := 0
	for done < len(b) {
		m, err := unix.Pread(f.fd, b[done:], off+int64(done))
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, err
		}
		if m == 0 {
			break
		}
		done += m
	}
	return b[:done], nil
}

// Close closes the file.
func (f *File) Close() error { return unix.Close(f.fd) }
