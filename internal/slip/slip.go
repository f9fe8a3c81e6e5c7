// Package slip holds the rule by which a reader of a ring that has caught
// up with its writer in mid-stream holds back before it looks again. The
// queue's consumer and the topic's subscriber follow it, and so does the C
// library (c/shmq.c).
//
// Caught up, a reader looks at the header word of the next record, on the
// line that the writer is writing that record into, and every look moves
// the line between the CPUs while the writer still writes it: a reader
// faster than its writer then slows both down to about a line transfer per
// message. A reader that took two or more messages since its last wait is
// in a stream: it spins on the clock for a few microseconds, touching
// nothing shared, and then finds a run of finished records. One that took
// a single message, as each side of a request and reply does, looks at
// once, and so pays nothing in latency. A queue's consumer (Go and C)
// also watches one word while it holds back, the one a producer sets
// when the ring is full and it wants head, and stops at once when it is
// set; a topic's subscriber watches the position a lossless publisher
// waits for: in a small ring the writer fills the ring before the
// hold-back is out.
package slip

import "time"

// Max is how long a reader in a stream holds back.
const Max = 6 * time.Microsecond

// For returns how long a reader that took taken messages since its last
// wait, and may spin for at most spin before it sleeps, holds back: Max,
// but at most spin, and nothing after fewer than two messages.
func For(taken uint64, spin time.Duration) time.Duration {
	if !InStream(taken) {
		return 0
	}
	return max(min(Max, spin), 0)
}

// InStream reports whether a reader that took taken messages since its
// last wait is in a stream, and so holds back: two or more.
func InStream(taken uint64) bool { return taken >= 2 }

// Wait spins on the clock for d, and ends early, reporting true, when stop
// does: a reader's stop looks at the one word by which its writer says
// that it waits for the reader (a full ring), and at nothing else shared.
func Wait(d time.Duration, stop func() bool) bool {
	for start := time.Now(); time.Since(start) < d; {
		if stop() {
			return true
		}
	}
	return false
}
