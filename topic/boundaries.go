package topic

// boundaries is a lossless publisher's own note of where the records it
// wrote begin: a record's position and sequence about every passAhead
// bytes, oldest first, in a ring buffer that never grows.
//
// Moving oldest needs a record boundary at or after the room the next
// record takes. Found by walking the records from oldest, it costs a load
// of every record's header just before the publisher writes over it, and
// that load shares the line with the subscriber, which read it a lap
// earlier, so the store that follows must take the line back: on one
// 2-vCPU VM the walk made the 64-byte stream of a topic half as fast as a
// queue's, which never reads the ring to send. A boundary the publisher
// noted as it wrote is its own fact, read from private memory, and needs
// no check: a hostile peer can change the ring, not this note.
//
// Boundaries come from the records this handle published; after it takes
// the role over, the records of its predecessor have none, and the walk
// still serves them.
type boundaries struct {
	marks []boundary // a ring buffer: len(marks) slots
	first int        // index of the oldest mark
	n     int        // marks held
	every uint64     // least distance between two marks
	next  uint64     // the first position the next mark may take
}

// boundary is a record's position and the sequence its header carries.
type boundary struct{ pos, seq uint64 }

// newBoundaries holds the marks of a ring of capacity bytes, one every
// bytes or more apart (at least a record header). The publisher keeps
// the records from oldest to tail, at most capacity bytes, so it never
// needs more than capacity/every+2 marks at once.
func newBoundaries(capacity, every uint64) boundaries {
	every = max(every, recordHeader)
	return boundaries{marks: make([]boundary, capacity/every+2), every: every}
}

// note records that a record begins at pos with sequence seq, if pos is
// every or more past the last mark. There is always room while drop is
// told each time oldest moves.
func (b *boundaries) note(pos, seq uint64) {
	if pos < b.next || b.n == len(b.marks) {
		return
	}
	b.marks[(b.first+b.n)%len(b.marks)] = boundary{pos, seq}
	b.n++
	b.next = pos + b.every
}

// at returns the i-th mark, oldest first.
func (b *boundaries) at(i int) boundary { return b.marks[(b.first+i)%len(b.marks)] }

// atOrAfter returns the first mark at or after pos.
func (b *boundaries) atOrAfter(pos uint64) (boundary, bool) {
	for i := range b.n {
		if m := b.at(i); m.pos >= pos {
			return m, true
		}
	}
	return boundary{}, false
}

// lastBefore returns the last mark below pos.
func (b *boundaries) lastBefore(pos uint64) (boundary, bool) {
	i := 0
	for i < b.n && b.at(i).pos < pos {
		i++
	}
	if i == 0 {
		return boundary{}, false
	}
	return b.at(i - 1), true
}

// drop forgets the marks below oldest, which no later move needs.
func (b *boundaries) drop(oldest uint64) {
	for b.n > 0 && b.at(0).pos < oldest {
		b.first = (b.first + 1) % len(b.marks)
		b.n--
	}
}
