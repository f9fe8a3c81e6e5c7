package lock

// pauseSteps is how many steps pause takes: about 130 ns on the AMD EPYC
// VM of docs/BENCHMARKS.md.
const pauseSteps = 256

// pause busy-waits for about a tenth of a microsecond without touching
// shared memory or calling the scheduler: a spinning waiter's wait between
// two looks at a shared word. runtime.Gosched would let other goroutines
// run meanwhile, but a goroutine locked to its thread
// (runtime.LockOSThread, as latency-sensitive programs lock theirs) pays
// for a Gosched with two context switches, tens of microseconds: with a
// Gosched between looks, a Mutex hand-off between two such processes took
// about 30 µs instead of under 1 µs (BenchmarkMutexHandoffLocked). Each
// step depends on the one before, so the loop's time does not shrink with
// the CPU's width.
//
//go:noinline
func pause() uint64 {
	x := uint64(1)
	for i := range uint64(pauseSteps) {
		x = x*3 + i
	}
	return x
}
