//go:build race

package chaos

// raceEnabled: the race detector mishandles atomics on memory mapped outside
// the Go heap (golang/go#16206): it reports races between processes' words
// that it cannot see ordered, or crashes on addresses it has no shadow for.
// Tests that hammer mapped atomics from several goroutines of the test
// process skip under -race; tests whose shared-memory work happens only in
// child processes (which are the test binary too, so also race-instrumented)
// keep running.
const raceEnabled = true
