//go:build !race

package fault

import (
	"runtime"
	"sync"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The table of watched mappings, read by sigbus (watch_linux_amd64.s).
var (
	watched    [256]watchSlot
	watchedLen = uintptr(len(watched))
	// next is the SIGBUS handler that was installed before sigbus (the Go
	// runtime's), to which sigbus passes every fault that is not its own.
	next uintptr
	// handling counts the handlers that may still read the table (sigbus
	// adds and takes 1 with locked instructions).
	handling uint32
)

// The slot layout sigbus assumes: start at 0, end at 8, hit at 16, 24
// bytes in all. These fail to compile when the struct changes.
const (
	_ = unsafe.Sizeof(watchSlot{}) - 24
	_ = 24 - unsafe.Sizeof(watchSlot{})
	_ = unsafe.Offsetof(watchSlot{}.end) - 8
	_ = 8 - unsafe.Offsetof(watchSlot{}.end)
	_ = unsafe.Offsetof(watchSlot{}.hit) - 16
	_ = 16 - unsafe.Offsetof(watchSlot{}.hit)
)

var (
	mu        sync.Mutex // guards the table's writers and the installation
	tried     bool       // install has run
	installed bool       // and put sigbus in place
)

// sigbus is the signal handler; the kernel calls it, never Go code.
func sigbus()

// sigbusPC returns sigbus's entry address.
func sigbusPC() uintptr

// sigaction is the kernel's struct sigaction on amd64.
type sigaction struct {
	handler  uintptr
	flags    uint64
	restorer uintptr
	mask     uint64
}

const (
	saSiginfo  = 0x4
	saRestorer = 0x04000000
)

// install puts sigbus in front of the SIGBUS handler in place, keeping that
// handler's flags, mask and return trampoline. It declines (reports false)
// when the handler in place is not one sigbus can pass faults on to.
func install() bool {
	var old sigaction
	if _, _, e := unix.RawSyscall6(unix.SYS_RT_SIGACTION, uintptr(unix.SIGBUS), 0, uintptr(unsafe.Pointer(&old)), 8, 0, 0); e != 0 {
		return false
	}
	if old.handler <= 1 || old.flags&saSiginfo == 0 || old.flags&saRestorer == 0 {
		return false // the default action or ignored: not the Go runtime's
	}
	next = old.handler
	act := old
	act.handler = sigbusPC()
	_, _, e := unix.RawSyscall6(unix.SYS_RT_SIGACTION, uintptr(unix.SIGBUS), uintptr(unsafe.Pointer(&act)), 0, 8, 0, 0)
	return e == 0
}

// Start registers the mapping b with the SIGBUS handler, installing the
// handler on the first call in the process, and reports whether it did: it
// does not when b is empty, the handler could not be installed, the table
// is full or w already watches a mapping. The caller keeps b mapped until
// it calls Stop.
func (w *Watch) Start(b []byte) bool {
	if len(b) == 0 || w.slot != nil {
		return false
	}
	mu.Lock()
	defer mu.Unlock()
	if !tried {
		tried, installed = true, install()
	}
	if !installed {
		return false
	}
	start := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	for i := range watched {
		s := &watched[i]
		if s.start.Load() != 0 {
			continue
		}
		// end before start: the handler takes a slot whose start it sees,
		// and then sees its end.
		s.hit.Store(0)
		s.end.Store(start + uintptr(len(b)))
		s.start.Store(start)
		w.slot, w.base = s, unsafe.Pointer(unsafe.SliceData(b))
		return true
	}
	return false
}

// Stop ends the watch, before the caller unmaps the mapping: a fault there
// afterwards is the runtime's again. It returns once no handler on another
// thread can still act on the slot, so that neither a later mapping at the
// same addresses nor the slot's next watch is taken for this one.
func (w *Watch) Stop() {
	if w.slot == nil {
		return
	}
	mu.Lock()
	w.slot.start.Store(0)
	for atomic.LoadUint32(&handling) != 0 {
		runtime.Gosched()
	}
	w.slot.end.Store(0)
	mu.Unlock()
	w.slot, w.base = nil, nil
}

// Reconnect maps the first n bytes of the watched mapping from the
// object's descriptor fd again, shared, after a hit put private zero pages
// over the whole mapping. A handle that faulted calls it to reach the
// header words it must still give back (a lock it holds, its role), as a
// handle whose fault left the header's page in place does. A header page
// that is gone faults again at the next touch, and is zeros again.
func (w *Watch) Reconnect(fd int, n int) error {
	if w.slot == nil || !w.Hit() {
		return nil
	}
	_, err := unix.MmapPtr(fd, 0, w.base, uintptr(n), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_FIXED)
	return err
}
