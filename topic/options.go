package topic

import (
	"io/fs"
	"time"

	"github.com/shmkit/shm"
)

// An Option changes how Create or Open work. Options that do not apply to a
// call are ignored by it (Overwrite means nothing to Open: the policy is
// read from the topic's header).
type Option func(*config)

type config struct {
	maxMsg    int // 0: the largest the capacity allows
	nsubs     int
	history   int
	overwrite bool
	mode      fs.FileMode
	dir       string
	spin      time.Duration
	grace     time.Duration
	noGuard   bool
}

func newConfig(opts []Option) config {
	c := config{nsubs: DefaultSubscribers, mode: shm.DefaultMode, dir: shm.DefaultDir, spin: DefaultSpin}
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

// MaxMessage sets the largest message, in bytes, that Create's topic
// accepts. The default and the upper bound is capacity/2 - 32, so that a
// message always fits whatever the ring's state.
func MaxMessage(n int) Option { return func(c *config) { c.maxMsg = n } }

// Subscribers sets how many subscribers Create's topic can have at once,
// from 1 to MaxSubscribers (default DefaultSubscribers). Each takes 64
// bytes of the header.
func Subscribers(n int) Option { return func(c *config) { c.nsubs = n } }

// History makes Create's topic give a subscriber that joins the last n
// messages the ring still holds before the new ones (default 0: a joiner
// starts with the next message published). While the ring still holds the
// topic's first message, a joiner starts with that one whatever History
// says (see the package doc, Joining). The ring keeps as many recent
// messages as its capacity holds (a lossless topic's ring gives up to a
// 64th of itself, at most 4 KiB, of the oldest ones early, once every
// subscriber read them); history does not make it keep more.
func History(n int) Option { return func(c *config) { c.history = n } }

// Overwrite makes Create's topic never wait for a subscriber: the
// publisher writes over the oldest messages, and a subscriber that fell
// more than the ring behind gets a *LaggedError saying how many messages it
// missed. Without it a topic is lossless: the publisher waits for the
// slowest live subscriber.
func Overwrite() Option { return func(c *config) { c.overwrite = true } }

// Mode sets the permission bits of a new topic (default shm.DefaultMode).
func Mode(perm fs.FileMode) Option { return func(c *config) { c.mode = perm } }

// Dir places the topic in another directory than /dev/shm.
func Dir(path string) Option { return func(c *config) { c.dir = path } }

// SpinTime sets how long a waiting call spins before it sleeps on a futex
// (default DefaultSpin; 0 sleeps at once).
func SpinTime(d time.Duration) Option { return func(c *config) { c.spin = d } }

// StartGrace sets how long the handle, once it is the publisher of a
// lossless topic, keeps the topic's first message (number 0) in the ring at
// least (default 0: no longer than a subscriber needs it). It is an opt-in
// for a publisher whose subscribers start at the same time as it does, in
// a shell's background or from a supervisor, and may join after its first
// messages: subscribers that join while message 0 is kept start with it,
// so that they all get the whole stream (DefaultStartGrace suits a shell;
// "shm topic pub" uses it). While the grace lasts, a publisher that needs
// the first message's room waits (TryPublish returns ErrFull), even with
// no subscriber; after it, or once message 0 is written over, the option
// means nothing. A program that subscribes before it publishes needs no
// grace. Overwrite topics never wait and ignore it.
func StartGrace(d time.Duration) Option { return func(c *config) { c.grace = d } }

// NoFaultGuard makes the handle's publishing and receiving calls run
// without what turns a memory fault into an error (see the package's
// caveats): where the platform has the SIGBUS handler, which costs nothing
// while nothing faults, that gains nothing; elsewhere it saves a few
// nanoseconds per call. Use it only when every process that can open the
// topic's object for writing is trusted not to shrink it: a truncation
// then kills this process with SIGBUS.
func NoFaultGuard() Option { return func(c *config) { c.noGuard = true } }

// DefaultSpin is how long a waiting call spins before it sleeps.
const DefaultSpin = 20 * time.Microsecond

// DefaultStartGrace is a start grace (see StartGrace) long enough for the
// subscribers a shell or a supervisor starts together with a publisher to
// join; "shm topic pub" uses it. Without the option a publisher has none.
const DefaultStartGrace = time.Second

// peerCheck is how often a waiter looks whether its peers still live: a
// dead subscriber stops holding back a lossless publisher within about this
// time, well under one second.
const peerCheck = 100 * time.Millisecond
