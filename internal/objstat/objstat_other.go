//go:build !unix

// Package objstat reads what a queue or a topic needs to know of an object
// without mapping it: its size (to tell a truncation from damage), its
// identity (to key the race detector's hints by object, not by mapping),
// and its header, read with pread for a look by name (queue.Stat, topic.Stat).
package objstat

import (
	"errors"
	"runtime"
)

// ID is an object's identity: its device and inode.
type ID struct{ Dev, Ino uint64 }

// Of reports failure: no object is ever open on this system.
func Of(fd int) (size int64, id ID, ok bool) { return 0, ID{}, false }

// File is an object opened to read its header.
type File struct {
	Size int64
}

// Open fails: objects live on Unix systems only.
func Open(path string) (*File, error) {
	return nil, errors.New("not supported on " + runtime.GOOS)
}

// Read is never reached: Open fails.
func (f *File) Read(off, n int64) ([]byte, error) { return nil, nil }

// Close is never reached: Open fails.
func (f *File) Close() error { return nil }
