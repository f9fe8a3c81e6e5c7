package shm

import (
	"fmt"
	"io/fs"
	"time"
)

// Kind tells what an object in the shared-memory directory holds, as far as
// its name and its first bytes tell: glibc names its semaphores sem.NAME,
// and the objects this module's packages make begin with a magic number
// (see Magic). Kind only says what an object claims to be: the package
// that opens it checks the rest.
type Kind string

const (
	// KindData is a plain segment.
	KindData Kind = "data"
	// KindSemaphore is a glibc named semaphore (/dev/shm/sem.NAME).
	KindSemaphore Kind = "semaphore"
	// KindOther is anything that is not a regular file.
	KindOther Kind = "other"
	// KindQueue is a message queue of package queue (magic "SHMQUEUE").
	KindQueue Kind = "queue"
	// KindTopic is a publish-subscribe topic of package topic (magic
	// "SHMTOPIC").
	KindTopic Kind = "topic"
)

// Magic is the 8-byte magic number at offset 0 of an object of a kind that
// this module's packages make, as a string of those bytes, or "" for
// kinds without one. Stat and List read an object's first 8 bytes (with
// one pread, without mapping it) and report the kind whose magic they
// hold; an object they cannot read, or that is shorter than 8 bytes, is
// KindData. (That open and close of the file, like any, drops the
// classic POSIX record locks (F_SETLK) the calling process holds on it;
// open file description locks, which this module uses, are not affected.)
// Package shm cannot import the packages that make these
// objects (they import it), so the numbers are kept here, and each
// package's tests check that its layout's magic is the one listed.
func Magic(k Kind) string {
	for _, m := range magics {
		if m.kind == k {
			return m.magic
		}
	}
	return ""
}

// magics lists the module's kinds that begin with a magic number.
var magics = []struct {
	magic string
	kind  Kind
}{
	{"SHMQUEUE", KindQueue},
	{"SHMTOPIC", KindTopic},
}

// kindOfMagic returns the kind whose magic b holds, if any.
func kindOfMagic(b []byte) (Kind, bool) {
	for _, m := range magics {
		if string(b) == m.magic {
			return m.kind, true
		}
	}
	return "", false
}

// SemaphorePrefix starts the file name of every glibc named semaphore.
const SemaphorePrefix = "sem."

// Info describes an object in the shared-memory directory.
//
// ModTime is the file's modification time, which write(2), ftruncate and
// fallocate set. Writes through a mapping, the way shared memory is
// normally written (Bytes, WriteAt, and every queue, semaphore and lock
// operation), set it only when the kernel takes a write fault on a page,
// typically the first write to the page after it was mapped; later writes
// to the same page leave it as it was. So an object in constant use may
// show the time its users started writing: ModTime is a lower bound of the
// last write, not the last write.
type Info struct {
	Name    string      `json:"name"`     // without a leading slash
	Path    string      `json:"path"`     // the file, such as /dev/shm/jobs
	Size    int64       `json:"size"`     // in bytes (a symbolic link's: its target's length)
	Mode    fs.FileMode `json:"mode"`     // permission and type bits; a link is not followed
	UID     uint32      `json:"uid"`      // owner
	GID     uint32      `json:"gid"`      // group
	ModTime time.Time   `json:"modified"` // the file's mtime; Info's doc says when it changes
	Kind    Kind        `json:"kind"`     // data, semaphore, queue, topic or other
	Device  uint64      `json:"device"`   // the file system's device number (st_dev)
	Inode   uint64      `json:"inode"`    // the file's inode: with Device, the object itself, whatever its name
}

// String formats an Info as one line: name (as QuoteName gives it), size,
// mode, kind.
func (i Info) String() string {
	return fmt.Sprintf("%s %d %v %s", QuoteName(i.Name), i.Size, i.Mode, i.Kind)
}
