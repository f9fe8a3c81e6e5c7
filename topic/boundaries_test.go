package topic

import (
	"math/rand/v2"
	"testing"
)

// TestBoundaries writes records of random sizes into a model ring, keeps
// oldest as far behind tail as a full ring allows, and checks every answer
// of the marks against the record starts themselves.
func TestBoundaries(t *testing.T) {
	for _, tc := range []struct {
		name            string
		capacity, every uint64
		maxRec          uint64
	}{
		{"small ring, every record", 256, 0, 64},
		{"4 KiB apart", 1 << 20, 4 << 10, 1 << 10},
		{"records larger than the spacing", 1 << 20, 4 << 10, 64 << 10},
		{"tiny records", 64 << 10, 1 << 10, 16},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(1, uint64(len(tc.name))))
			b := newBoundaries(tc.capacity, tc.every)
			var starts []boundary // every record start from oldest on
			var tail, seq uint64
			for range 20000 {
				rec := (1 + rng.Uint64N(tc.maxRec/recordHeader)) * recordHeader
				// Make room the way a publisher does: oldest moves to the
				// first start at or after the room the record needs.
				if need := tail + rec; need > tc.capacity {
					i := 0
					for i < len(starts) && starts[i].pos < need-tc.capacity {
						i++
					}
					if i == len(starts) {
						starts = nil
						b.drop(tail)
					} else {
						starts = starts[i:]
						b.drop(starts[0].pos)
					}
				}
				b.note(tail, seq)
				starts = append(starts, boundary{tail, seq})
				tail += rec
				seq++

				at := starts[0].pos + rng.Uint64N(tail-starts[0].pos+1)
				m, ok := b.atOrAfter(at)
				if ok && !isStart(starts, m) {
					t.Fatalf("atOrAfter(%d) = %+v, not a record start", at, m)
				}
				if ok && m.pos < at {
					t.Fatalf("atOrAfter(%d) = %d, below it", at, m.pos)
				}
				// A mark exists within every (and a record) of any start
				// from the first noted one on, or the note missed one.
				if first, any := b.atOrAfter(0); any && at >= first.pos && tail-at > max(tc.every, recordHeader)+tc.maxRec {
					if !ok || m.pos-at >= max(tc.every, recordHeader)+tc.maxRec {
						t.Fatalf("atOrAfter(%d) = %+v, %v: the marks leave a gap", at, m, ok)
					}
				}
				if l, ok := b.lastBefore(at); ok && (l.pos >= at || !isStart(starts, l)) {
					t.Fatalf("lastBefore(%d) = %+v", at, l)
				}
			}
			if b.n == 0 {
				t.Fatal("no mark held at the end")
			}
		})
	}
}

func isStart(starts []boundary, m boundary) bool {
	for _, s := range starts {
		if s == m {
			return true
		}
	}
	return false
}
