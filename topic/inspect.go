package topic

import (
	"errors"

	"github.com/shmkit/shm"
)

// opStat names the errors of Stat.
const opStat = "topic stat"

// Stat tells whether the named object is a topic and describes it, read
// only and without taking any role: the policy, the messages published and
// kept, the publisher and every subscriber with whether it lives, its
// position and its lag. It is the one entry point for anything that shows
// topics by name, such as a directory listing; Probe describes a header
// already in hand. It reads the header through the descriptor (pread)
// first, so an object that is not a topic fails with ErrNotTopic without
// being mapped and without a page of a sparse object being allocated; only
// a topic is then mapped, read-only. A corrupt topic (a
// damaged header, an object shorter than its header says, bad cursors, an
// end marker that does not fit the ring) gives what could be read with an
// error wrapping ErrCorrupt that says which field is wrong, and where;
// Part names the part for a one-word summary.
func Stat(name string, opts ...Option) (Stats, error) {
	// A live topic's cursors move while they are read, one after the
	// other, so a sound topic can look torn for a moment: read it again
	// while they move. A damaged one's cursors stay put (or the looks run
	// out), and its corruption is reported.
	var s Stats
	var err error
	for look := range statLooks {
		last := s
		s, err = statOnce(name, opts...)
		if errors.Is(err, errMoved) {
			continue
		}
		if !errors.Is(err, ErrCorrupt) || look > 0 && s.Tail == last.Tail && s.Oldest == last.Oldest {
			break
		}
	}
	return s, err
}

// statLooks bounds Stat's looks at a topic whose cursors keep moving.
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
		return Stats{}, wrapErr(opStat, name, err)
	}
	s, perr := probe(hdr, -1)
	if _, err := parseHeader(hdr, size); err != nil {
		return s, wrapErr(opStat, name, err)
	}
	if perr != nil {
		return s, wrapErr(opStat, name, perr)
	}
	return statMapped(name, opts...)
}

// The parts of a topic that Part names.
const (
	PartHeader  = "header"  // a field of the header's static line
	PartSize    = "size"    // the object is shorter than its header says
	PartCursors = "cursors" // the publisher's tail and oldest cursors, its closed word
	PartRing    = "ring"    // a record in the ring (the end marker at tail)
)

// partError marks a corruption error with the part of the topic it is in.
type partError struct {
	part string
	err  error
}

func (e *partError) Error() string { return e.err.Error() }
func (e *partError) Unwrap() error { return e.err }

// Part names the part of a topic that a corruption error from Stat,
// Stat or Probe is about (Open's checks of the header are marked too):
// PartHeader, PartSize, PartCursors or PartRing; "" for any other error,
// such as a damaged record met while receiving.
func Part(err error) string {
	var pe *partError
	if errors.As(err, &pe) {
		return pe.part
	}
	return ""
}
