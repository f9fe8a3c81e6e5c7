package topic

import (
	"github.com/shmkit/shm/internal/objstat"
	"github.com/shmkit/shm/internal/racehint"
)

// Race builds tell the race detector about each commit and close (a
// release) and each message and end of file seen (an acquire), as channels
// do (see internal/racehint), on a key shared by every handle on the same
// object: its device and inode, since two handles map one object at
// different addresses.

func raceKey(fd int) *byte {
	if !racehint.Enabled {
		return nil
	}
	_, id, ok := objstat.Of(fd)
	if !ok {
		return racehint.Key(new(byte))
	}
	return racehint.Key(id)
}
