//go:build unix

// Package objstat reads what a queue or a topic needs to know of the object
// behind a descriptor: its size (to tell a truncation from damage) and its
// identity (to key the race detector's hints by object, not by mapping).
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
