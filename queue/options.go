package queue

import (
	"fmt"
	"io/fs"
	"time"

	"github.com/shmkit/shm"
)

// An Option changes how Create or Open work. Options that do not apply to a
// call are ignored by it (MultiProducer means nothing to Open: the mode is
// read from the queue's header).
type Option func(*config)

type config struct {
	multi    bool
	cons     int // Consumers: 0 or 1 for the single consumer
	maxMsg   int // 0: the largest the capacity allows
	mode     fs.FileMode
	dir      string
	strategy WaitStrategy
	spin     time.Duration
	noGuard  bool
	err      error // an option's invalid value, for Create and Open to return
	follow   bool  // FollowProducers
}

func newConfig(opts []Option) config {
	c := config{mode: shm.DefaultMode, dir: shm.DefaultDir, spin: DefaultSpin}
	for _, o := range opts {
		if o != nil {
			o(&c)
		}
	}
	return c
}

func (c *config) shmOptions() []shm.Option {
	return []shm.Option{shm.Dir(c.dir), shm.Mode(c.mode)}
}

// MultiProducer makes Create build a queue that many processes (or handles)
// may send to at once. Without it a queue has one producer at a time.
func MultiProducer() Option { return func(c *config) { c.multi = true } }

// Consumers makes Create build a queue that up to n consumer processes
// (or handles) receive from at once, each message going to one of them:
// a work queue (see "Competing consumers" in the package documentation).
// n is from 1 to MaxConsumers; 1 is the default, a queue with a single
// consumer. Any other value makes Create fail with an error wrapping
// shm.ErrInvalid.
func Consumers(n int) Option {
	return func(c *config) {
		if n < 1 || n > MaxConsumers {
			c.err = fmt.Errorf("%w: consumers %d is not from 1 to %d", shm.ErrInvalid, n, MaxConsumers)
			return
		}
		c.cons = n
	}
}

// MaxMessage sets the largest message, in bytes, that Create's queue
// accepts. The default and the upper bound is capacity/2 - 8, so that a
// message always fits whatever the ring's fill.
func MaxMessage(n int) Option { return func(c *config) { c.maxMsg = n } }

// Mode sets the permission bits of a new queue (default shm.DefaultMode).
func Mode(perm fs.FileMode) Option { return func(c *config) { c.mode = perm } }

// Dir places the queue in another directory than /dev/shm.
func Dir(path string) Option { return func(c *config) { c.dir = path } }

// NoFaultGuard makes the handle's sending and receiving calls run without
// what turns a memory fault into an error (see the package's caveats).
// Where the platform has the SIGBUS handler, which costs nothing while
// nothing faults, that gains nothing; elsewhere it saves
// SetPanicOnFault's guard, a few nanoseconds per call, about a third of
// the rate of small messages sent one at a time. Use it only when every
// process that can open the queue's object for writing is trusted not to
// shrink it: a truncation then kills this process with SIGBUS, as it
// would a C program (and as it does a user of package sem or lock). Every
// other check stays: a corrupt ring still gives ErrCorrupt, and a waiter
// still notices a truncation within about 100 ms. Close, Detach, Abort,
// Stat and Probe keep their guard.
func NoFaultGuard() Option { return func(c *config) { c.noGuard = true } }

// WaitStrategy says how a blocked Send or Receive waits for the other side.
type WaitStrategy int

const (
	// SpinThenSleep spins for the spin time (SpinTime, DefaultSpin) and then
	// sleeps on a futex until the other side wakes it. It is the default.
	SpinThenSleep WaitStrategy = iota
	// Spin never sleeps: lowest latency, one busy CPU per waiter.
	Spin
	// Block goes to sleep on the futex at once: no CPU while idle, each
	// hand-off costs a wake-up.
	Block
)

// String names the strategy as the command line does.
func (s WaitStrategy) String() string {
	switch s {
	case SpinThenSleep:
		return "default"
	case Spin:
		return "spin"
	case Block:
		return "block"
	}
	return "WaitStrategy(?)"
}

// DefaultSpin is how long SpinThenSleep spins before it sleeps.
const DefaultSpin = 20 * time.Microsecond

// Wait sets the wait strategy of the handle: SpinThenSleep, Spin or Block.
// Any other value makes Create and Open fail with an error wrapping
// shm.ErrInvalid.
func Wait(s WaitStrategy) Option {
	return func(c *config) {
		if s < SpinThenSleep || s > Block {
			c.err = fmt.Errorf("%w: wait strategy %d is not SpinThenSleep (%d), Spin (%d) or Block (%d)", shm.ErrInvalid, int(s), SpinThenSleep, Spin, Block)
			return
		}
		c.strategy = s
	}
}

// SpinTime sets how long SpinThenSleep spins before sleeping. A negative
// duration makes Create and Open fail with an error wrapping
// shm.ErrInvalid.
func SpinTime(d time.Duration) Option {
	return func(c *config) {
		if d < 0 {
			c.err = fmt.Errorf("%w: spin time %v is negative", shm.ErrInvalid, d)
			return
		}
		c.spin = d
	}
}

// peerCheck is how often a waiter looks whether its peer still lives: a
// dead peer is reported within about this time, well under one second.
const peerCheck = 100 * time.Millisecond
