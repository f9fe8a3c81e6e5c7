package topic

import (
	"errors"
	"fmt"
	"io/fs"

	"github.com/shmkit/shm"
)

// ErrMismatch is wrapped by OpenOrCreate's error when the topic that
// exists under the name is not the one asked for. The error names the
// field, what the topic has and what was asked.
var ErrMismatch = errors.New("existing topic differs from the one asked for")

// OpenOrCreate opens the topic called name if it exists, or else creates
// it with capacity and opts (as Create), and reports whether it created
// it. It is for peers that start in any order: the publisher and the
// subscribers may all call it with the same arguments, and of several that
// race, exactly one creates the topic and the others open that same topic
// (a topic appears under its name only once its header is complete, so an
// opener never sees one half made).
//
// The topic that exists wins, and must be the one asked for: its capacity
// must equal capacity, it must overwrite exactly when Overwrite is given,
// its subscriber table and history must be those that Subscribers and
// History ask for (or their defaults), and its maximum message size must
// equal MaxMessage's when that option is given. Otherwise OpenOrCreate
// returns an error wrapping ErrMismatch and no topic. The Mode option
// applies only when it creates. Other errors are those of Create and Open:
// an object that is not a topic gives ErrNotTopic.
func OpenOrCreate(name string, capacity int64, opts ...Option) (t *Topic, created bool, err error) {
	c := newConfig(opts)
	// A topic unlinked between a failed create and the open sends us round
	// again; three rounds make a loop that a hostile peer cannot hold.
	for range 3 {
		t, err = openExisting(name, &c)
		if !errors.Is(err, fs.ErrNotExist) {
			break
		}
		t, err = create(name, capacity, &c)
		if err == nil {
			return t, true, nil
		}
		if !errors.Is(err, fs.ErrExist) {
			return nil, false, wrapErr("topic create", name, err)
		}
	}
	if err != nil {
		return nil, false, wrapErr("topic open", name, err)
	}
	if err := t.matches(capacity, &c); err != nil {
		t.Detach()
		return nil, false, wrapErr("topic open", name, err)
	}
	return t, false, nil
}

// openExisting is Open without the error's wrapping.
func openExisting(name string, c *config) (*Topic, error) {
	seg, err := shm.Open(name, shm.Dir(c.dir))
	if err != nil {
		return nil, unwrapShm(err)
	}
	t, err := attach(name, seg, c)
	if err != nil {
		seg.Close()
		return nil, err
	}
	return t, nil
}

// matches reports how the open topic differs from what OpenOrCreate asked.
func (t *Topic) matches(capacity int64, c *config) error {
	switch {
	case uint64(capacity) != t.capacity:
		return fmt.Errorf("%w: it has capacity %d, not %d", ErrMismatch, t.capacity, capacity)
	case c.overwrite != t.overwrite:
		return fmt.Errorf("%w: it is %s, not %s", ErrMismatch, policy(t.overwrite), policy(c.overwrite))
	case c.nsubs != t.nsubs:
		return fmt.Errorf("%w: it has %d subscriber slots, not %d", ErrMismatch, t.nsubs, c.nsubs)
	case c.history != t.history:
		return fmt.Errorf("%w: it has history %d, not %d", ErrMismatch, t.history, c.history)
	case c.maxMsg != 0 && c.maxMsg != t.maxMsg:
		return fmt.Errorf("%w: it has max message %d, not %d", ErrMismatch, t.maxMsg, c.maxMsg)
	}
	return nil
}

func policy(overwrite bool) string {
	if overwrite {
		return "overwriting"
	}
	return "lossless"
}
