//go:build !unix

// Package objstat reads what a queue or a topic needs to know of the object
// behind a descriptor: its size (to tell a truncation from damage) and its
// identity (to key the race detector's hints by object, not by mapping).
package objstat

// ID is an object's identity: its device and inode.
type ID struct{ Dev, Ino uint64 }

// Of reports failure: no object is ever open on this system.
func Of(fd int) (size int64, id ID, ok bool) { return 0, ID{}, false }
