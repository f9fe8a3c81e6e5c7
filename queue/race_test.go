//go:build race

package queue

// raceEnabled: the race detector is on. It does not see the ordering that
// atomics on memory mapped outside the Go heap give (golang/go#16206), so
// tests that hand data between goroutines through the ring skip under it.
const raceEnabled = true
