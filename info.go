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
type Info struct {
	Name    string      `json:"name"`     // without a leading slash
	Path    string      `json:"path"`     // the file, such as /dev/shm/jobs
	Size    int64       `json:"size"`     // in bytes (a symbolic link's: its target's length)
	Mode    fs.FileMode `json:"mode"`     // permission and type bits; a link is not followed
	UID     uint32      `json:"uid"`      // owner
	GID     uint32      `json:"gid"`      // group
	ModTime time.Time   `json:"modified"` // last change of the contents
	Kind    Kind        `json:"kind"`     // data, semaphore or other
	Device  uint64      `json:"device"`   // the file system's device number (st_dev)
	Inode   uint64      `json:"inode"`    // the file's inode: with Device, the object itself, whatever its name
}

// String formats an Info as one line: name, size, mode, kind.
func (i Info) String() string {
	return fmt.Sprintf("%s %d %v %s", i.Name, i.Size, i.Mode, i.Kind)
}
