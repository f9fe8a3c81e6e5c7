//go:build race

package chaos

// raceEnabled: the race detector mishandles atomics on memory mapped outside
// the Go heap (golang/go#16206): it cannot see the ordering they give, so it
// would report data handed between goroutines through a mapping as raced.
// No test here hands data that way inside one process: every shared word
// lives in a segment that each process (the test and its children, which
// are this race-enabled binary too) touches from one goroutine, or the
// packages tell the detector about the ordering themselves. So the whole
// suite runs under -race; raceEnabled only drops the queue trials of
// TestSegmentPeerFaults, which truncate a queue under a call.
const raceEnabled = true
