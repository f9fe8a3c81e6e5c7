package queue

import (
	"errors"
	"fmt"
	"io/fs"

	"github.com/shmkit/shm"
)

// ErrMismatch is wrapped by OpenOrCreate's error when the queue that exists
// under the name is not the one asked for: another capacity, single- or
// multi-producer, or another maximum message size when MaxMessage was
// given. The error names the field, what the queue has and what was asked.
var ErrMismatch = errors.New("existing queue differs from the one asked for")

// OpenOrCreate opens the queue called name if it exists, or else creates
// it with capacity and opts (as Create), and reports whether it created
// it. It is for peers that start in any order: producers and the consumer
// may all call it, and of several that race, exactly one creates the
// queue and the others open that same queue (a queue appears under its
// name only once its header is complete, so an opener never sees one half
// made).
//
// The queue that exists wins, and must be the one asked for: its capacity
// must equal capacity, it must be multi-producer exactly when
// MultiProducer is given, and its maximum message size must equal
// MaxMessage's when that option is given (any size is accepted without
// it). Otherwise OpenOrCreate returns an error wrapping ErrMismatch and no
// queue. The Mode option applies only when it creates. Other errors are
// those of Create and Open: an object that is not a queue gives
// ErrNotQueue.
func OpenOrCreate(name string, capacity int64, opts ...Option) (q *Queue, created bool, err error) {
	c := newConfig(opts)
	// A queue unlinked between a failed create and the open sends us round
	// again; three rounds make a loop that a hostile peer cannot hold.
	for range 3 {
		q, err = openExisting(name, &c)
		if !errors.Is(err, fs.ErrNotExist) {
			break
		}
		q, err = create(name, capacity, &c)
		if err == nil {
			return q, true, nil
		}
		if !errors.Is(err, fs.ErrExist) {
			return nil, false, wrapErr("queue create", name, err)
		}
	}
	if err != nil {
		return nil, false, wrapErr("queue open", name, err)
	}
	if err := q.matches(capacity, &c); err != nil {
		q.Detach()
		return nil, false, wrapErr("queue open", name, err)
	}
	return q, false, nil
}

// openExisting is Open without the error's wrapping.
func openExisting(name string, c *config) (*Queue, error) {
	seg, err := shm.Open(name, shm.Dir(c.dir))
	if err != nil {
		return nil, unwrapShm(err)
	}
	q, err := attach(name, seg, c)
	if err != nil {
		seg.Close()
		return nil, err
	}
	return q, nil
}

// matches reports how the open queue differs from what OpenOrCreate asked.
func (q *Queue) matches(capacity int64, c *config) error {
	switch {
	case uint64(capacity) != q.capacity:
		return fmt.Errorf("%w: it has capacity %d, not %d", ErrMismatch, q.capacity, capacity)
	case c.multi != q.multi:
		return fmt.Errorf("%w: it is %s, not %s", ErrMismatch, producers(q.multi), producers(c.multi))
	case c.maxMsg != 0 && c.maxMsg != q.maxMsg:
		return fmt.Errorf("%w: it has max message %d, not %d", ErrMismatch, q.maxMsg, c.maxMsg)
	}
	return nil
}

func producers(multi bool) string {
	if multi {
		return "multi-producer"
	}
	return "single-producer"
}
