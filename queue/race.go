//go:build race

package queue

import (
	"runtime"
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The race detector cannot see the happens-before edges of atomics on memory
// mapped outside the Go heap (golang/go#16206), so without help it reports
// Go memory handed from one goroutine to another through a queue as raced.
// Race builds tell it about each commit, close and head publication (a
// release) and each message, end of file and room seen (an acquire), as
// channels do, on a heap byte shared by every handle on the same object
// (device and inode: two handles map one object at different addresses).

type raceID struct{ dev, ino uint64 }

var raceKeys sync.Map // raceID -> *byte

func raceKey(fd int) *byte {
	var st unix.Stat_t
	if unix.Fstat(fd, &st) != nil {
		return new(byte)
	}
	k, _ := raceKeys.LoadOrStore(raceID{uint64(st.Dev), st.Ino}, new(byte))
	return k.(*byte)
}

func raceAcquire(k *byte) { runtime.RaceAcquire(unsafe.Pointer(k)) }
func raceRelease(k *byte) { runtime.RaceReleaseMerge(unsafe.Pointer(k)) }
