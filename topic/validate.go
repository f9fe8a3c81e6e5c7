package topic

import (
	"fmt"

	"github.com/shmkit/shm"
)

// Validate reports whether Create would accept capacity and opts, without
// creating anything: an error wrapping shm.ErrInvalid that names the rule
// broken (a capacity that is not a power of two in range, a maximum
// message too large for the capacity, a subscriber count or a history out
// of range), or nil. A program that takes these from its user (a command's
// flags) calls it to report a usage error before it touches the file
// system.
func Validate(capacity int64, opts ...Option) error {
	c := newConfig(opts)
	_, err := c.validate(capacity)
	return err
}

// MaxMessageFor returns the largest message a topic with a ring of
// capacity bytes accepts: the default and the upper bound of MaxMessage,
// capacity/2 - 32 and at most 2 GiB. It returns 0 for a capacity that
// Create refuses.
func MaxMessageFor(capacity int64) int {
	if capacity < MinCapacity || capacity > MaxCapacity || !isPow2(uint64(capacity)) {
		return 0
	}
	return int(maxMessageFor(uint64(capacity)))
}

// validate checks capacity and c for create and returns the largest
// message the topic will take.
func (c *config) validate(capacity int64) (uint64, error) {
	if capacity < MinCapacity || capacity > MaxCapacity || !isPow2(uint64(capacity)) {
		return 0, fmt.Errorf("%w: capacity %d is not a power of two from %d to %d", shm.ErrInvalid, capacity, MinCapacity, int64(MaxCapacity))
	}
	limit := maxMessageFor(uint64(capacity))
	mm := uint64(c.maxMsg)
	if c.maxMsg == 0 {
		mm = limit
	}
	if c.maxMsg < 0 || mm > limit {
		return 0, fmt.Errorf("%w: max message %d is not in [0, %d] for capacity %d", shm.ErrInvalid, c.maxMsg, limit, capacity)
	}
	if c.nsubs < 1 || c.nsubs > MaxSubscribers {
		return 0, fmt.Errorf("%w: %d subscribers is not in [1, %d]", shm.ErrInvalid, c.nsubs, MaxSubscribers)
	}
	if c.history < 0 || uint64(c.history) > uint64(capacity)/recordHeader {
		return 0, fmt.Errorf("%w: history %d is not in [0, %d], the records capacity %d holds", shm.ErrInvalid, c.history, capacity/recordHeader, capacity)
	}
	return mm, nil
}
