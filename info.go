package shm

import (
	"fmt"
	"io/fs"
	"time"
)

// Kind tells what an object in the shared-memory directory holds, as far as
// its name tells: glibc names its semaphores sem.NAME.
type Kind string

const (
	// KindData is a plain segment.
	KindData Kind = "data"
	// KindSemaphore is a glibc named semaphore (/dev/shm/sem.NAME).
	KindSemaphore Kind = "semaphore"
	// KindOther is anything that is not a regular file.
	KindOther Kind = "other"
)

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
	Kind    Kind        `json:"kind"`     // data, semaphore or other
	Device  uint64      `json:"device"`   // the file system's device number (st_dev)
	Inode   uint64      `json:"inode"`    // the file's inode: with Device, the object itself, whatever its name
}

// String formats an Info as one line: name (as QuoteName gives it), size,
// mode, kind.
func (i Info) String() string {
	return fmt.Sprintf("%s %d %v %s", QuoteName(i.Name), i.Size, i.Mode, i.Kind)
}
