package queue

import (
	"errors"

	"github.com/shmkit/shm"
)

// opStat names the errors of Stat.
const opStat = "queue stat"

// Stat tells whether the named object is a queue and describes it, read
// only and without taking any role: the capacity, the cursors, the
// messages waiting in the ring (counted), and each peer with whether it
// lives. It is the one entry point for anything that shows queues by name,
// such as a directory listing; Probe describes a header already in hand.
// It reads the header through the descriptor (pread) first, so an object
// that is not a queue fails with ErrNotQueue without being mapped and
// without a page of a sparse object being allocated; only a queue is then
// mapped, read-only, to count its messages. A corrupt queue (a damaged
// header, an object shorter than its header says, bad cursors, a bad
// record in the ring) gives what could be read with an error wrapping
// ErrCorrupt that says which field is wrong, and where; Part names the part
// for a one-word summary.
func Stat(name string, opts ...Option) (Stats, error) {
	// A live queue's cursors move while they are read, one after the
	// other, so a sound queue can look torn for a moment: read it again
	// while they move. A damaged one's cursors stay put (or the looks run
	// out), and its corruption is reported.
	var s Stats
	var err error
	for look := range statLooks {
		last := s
		s, err = statOnce(name, opts...)
		if !errors.Is(err, ErrCorrupt) || look > 0 && s.Tail == last.Tail && s.Head == last.Head {
			break
		}
	}
	return s, err
}

// statLooks bounds Stat's looks at a queue whose cursors keep moving.
const statLooks = 100

// statOnce is one look of Stat's.
func statOnce(name string, opts ...Option) (Stats, error) {
	c := newConfig(opts)
	p, err := shm.Path(c.dir, name)
	if err != nil {
		return Stats{}, wrapErr(opStat, name, err)
	}
	hdr, size, err := readHeader(p)
	if err != nil {
		return Stats{}, wrapErr(opStat, name, err)
	}
	if _, err := parseHeader(hdr, -1); err != nil {
		if errors.Is(err, ErrCorrupt) {
			err = &partError{"header", err}
		}
		return Stats{}, wrapErr(opStat, name, err)
	}
	s, perr := probe(hdr, -1)
	if _, err := parseHeader(hdr, size); err != nil {
		return s, wrapErr(opStat, name, &partError{"size", err})
	}
	if perr != nil {
		return s, wrapErr(opStat, name, &partError{"cursors", perr})
	}
	s, err = statMapped(name, opts...)
	var se *shm.Error
	if errors.Is(err, ErrCorrupt) && errors.As(err, &se) {
		err = wrapErr(opStat, name, &partError{"ring", se.Err})
	}
	return s, err
}

// partError marks a corruption error with the part of the queue it is in.
type partError struct {
	part string
	err  error
}

func (e *partError) Error() string { return e.err.Error() }
func (e *partError) Unwrap() error { return e.err }

// Part names the part of a queue that a corruption error from Stat is
// about: "header" (a header field), "size" (the object is shorter than its
// header says), "cursors" (the head and tail cursors) or "ring" (a record
// in the ring); "" for any other error.
func Part(err error) string {
	var pe *partError
	if errors.As(err, &pe) {
		return pe.part
	}
	return ""
}
