package topic

import (
	"github.com/shmkit/shm/internal/racehint"
	"golang.org/x/sys/unix"
)

// Race builds tell the race detector about each commit and close (a
// release) and each message and end of file seen (an acquire), as channels
// do (see internal/racehint), on a key shared by every handle on the same
// object: its device and inode, since two handles map one object at
// different addresses.

type objectID struct{ dev, ino uint64 }

func raceKey(fd int) *byte {
	if !racehint.Enabled {
		return nil
	}
	var st unix.Stat_t
	if unix.Fstat(fd, &st) != nil {
		return racehint.Key(new(byte))
	}
	return racehint.Key(objectID{uint64(st.Dev), st.Ino})
}
