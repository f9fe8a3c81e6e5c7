//go:build !linux || !amd64 || race

package fault

// Start reports false: on this platform, and in race builds, faults are
// caught with SetPanicOnFault alone.
func (w *Watch) Start(b []byte) bool { return false }

// Stop does nothing: no watch is ever started here.
func (w *Watch) Stop() {}

// Reconnect does nothing: no watch is ever hit here.
func (w *Watch) Reconnect(fd int, n int) error { return nil }
