package bench

import (
	"math"
	"runtime"
	"sync/atomic"
	"time"
)

// The probe of the link between the run's two CPUs (see link.go for what a
// run does with it): two threads of the driver process, pinned to the two
// CPUs, bounce one cache line between them, linkBatches batches of
// linkBatch round trips, and the probe is the fastest batch's mean. A
// batch that the scheduler or the host interrupted is slower, and says
// nothing about the link, so the fastest is the link's.
const (
	linkBatch   = 256
	linkBatches = 16
	// linkTimeout bounds a probe whose other side never answers (its
	// thread could not be scheduled): the probe then reports nothing.
	linkTimeout = 100 * time.Millisecond
	// linkStop in the word ends the answering side.
	linkStop = math.MaxUint64
)

// linkLine is the cache line the probe bounces, alone on its line.
type linkLine struct {
	_    [64]byte
	word atomic.Uint64
	_    [56]byte
}

// probeLink returns the round trip of a cache line between the run's two
// CPUs in nanoseconds, or 0 when the two sides are not pinned to two CPUs,
// the runtime has fewer than two Ps to run both probe threads at once, a
// thread could not be pinned, or a side did not answer in linkTimeout.
func probeLink(place Placement) uint64 {
	if !place.Pinned() || runtime.GOMAXPROCS(0) < 2 {
		return 0
	}
	line := new(linkLine)
	deadline := time.Now().Add(linkTimeout)
	result := make(chan uint64, 1)
	// Both goroutines end locked to their pinned threads, which the
	// runtime then destroys instead of reusing (see pinThread).
	go func() {
		if pinThread(place.Peer) != nil {
			line.word.Store(linkStop)
			return
		}
		answerLink(line, deadline)
	}()
	go func() {
		if pinThread(place.Driver) != nil {
			line.word.Store(linkStop)
			result <- 0
			return
		}
		rtt := driveLink(line, deadline)
		line.word.Store(linkStop)
		result <- rtt
	}()
	return <-result
}

// driveLink stores odd values and waits for each to come back one higher.
func driveLink(line *linkLine, deadline time.Time) uint64 {
	best := uint64(math.MaxUint64)
	v := uint64(1)
	for range linkBatches {
		start := time.Now()
		for range linkBatch {
			line.word.Store(v)
			if !awaitLink(line, v+1, deadline) {
				return 0
			}
			v += 2
		}
		best = min(best, uint64(time.Since(start))/linkBatch)
	}
	return best
}

// answerLink answers every odd value with the next one until linkStop or
// the deadline.
func answerLink(line *linkLine, deadline time.Time) {
	for spins := 1; ; spins++ {
		switch v := line.word.Load(); {
		case v == linkStop:
			return
		case v%2 == 1:
			line.word.Store(v + 1)
		case spins%4096 == 0 && time.Now().After(deadline):
			return
		}
	}
}

// awaitLink waits for the word to hold want; false when linkStop or the
// deadline came first.
func awaitLink(line *linkLine, want uint64, deadline time.Time) bool {
	for spins := 1; ; spins++ {
		switch line.word.Load() {
		case want:
			return true
		case linkStop:
			return false
		}
		if spins%4096 == 0 && time.Now().After(deadline) {
			return false
		}
	}
}
