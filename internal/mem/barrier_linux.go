package mem

import (
	"sync"

	"golang.org/x/sys/unix"
)

// Commands of membarrier(2).
const (
	membarrierQuery                   = 0
	membarrierGlobalExpedited         = 1 << 1
	membarrierRegisterGlobalExpedited = 1 << 2
)

var asym struct {
	once sync.Once
	ok   bool
}

// Asymmetric registers this process for Heavy's barrier (membarrier(2),
// MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED) and reports whether that and
// one Heavy call worked. Only then may this process pair a StoreRelease64
// with a later load in a hand-off whose other side calls Heavy: a process
// that is not registered gets no barrier from Heavy. Registration is for
// the process's life; it costs an interrupt now and then, whenever some
// process calls Heavy while a thread of this one runs.
func Asymmetric() bool {
	asym.once.Do(func() {
		r, _, errno := unix.Syscall(unix.SYS_MEMBARRIER, membarrierQuery, 0, 0)
		if errno != 0 || r&membarrierGlobalExpedited == 0 || r&membarrierRegisterGlobalExpedited == 0 {
			return
		}
		if _, _, errno := unix.Syscall(unix.SYS_MEMBARRIER, membarrierRegisterGlobalExpedited, 0, 0); errno != 0 {
			return
		}
		asym.ok = Heavy() == nil
	})
	return asym.ok
}

// Heavy makes every running thread of every process registered by
// Asymmetric execute a full memory barrier (membarrier(2),
// MEMBARRIER_CMD_GLOBAL_EXPEDITED; a thread that is not running has passed
// one in its context switch). It costs an inter-processor interrupt per CPU
// that runs such a thread, and a wait for it: microseconds, tens of them on
// some VMs (docs/BENCHMARKS-LOG.md), for the rare side of a hand-off.
//
// The guarantee, for a light side that runs "StoreRelease64(cond); load
// flag" and a heavy side that runs "flag.Store(set); Heavy(); load cond":
// the light side's barrier falls somewhere in Heavy's call. If its flag
// load comes after that barrier, it sees the flag set (the heavy side's
// store was visible before the call); if before, its cond store, earlier
// still, was visible before Heavy returned, and the heavy side sees it.
// Either way one side sees the other's store, as with two full barriers.
func Heavy() error {
	heavyCalls.Add(1)
	if _, _, errno := unix.Syscall(unix.SYS_MEMBARRIER, membarrierGlobalExpedited, 0, 0); errno != 0 {
		return errno
	}
	return nil
}
