//go:build unix

package queue

import "golang.org/x/sys/unix"

// objectStat returns the size and the identity (device and inode) of the
// object open as fd; ok is false when fstat fails.
func objectStat(fd int) (size int64, id objectID, ok bool) {
	var st unix.Stat_t
	if unix.Fstat(fd, &st) != nil {
		return 0, objectID{}, false
	}
	return st.Size, objectID{uint64(st.Dev), st.Ino}, true
}
