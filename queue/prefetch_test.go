//go:build linux

package queue

import (
	"errors"
	"testing"

	"github.com/shmkit/shm/internal/mem"
)

// TestLinesAhead: a single producer takes a mid-size record's lines for
// writing while its consumer keeps up, and stops once a look at head finds
// the consumer behind, until a later look finds it caught up again.
func TestLinesAhead(t *testing.T) {
	_, p, c := pair(t, 128<<10, MaxMessage(mem.RepMovsbMin))
	// How much of an n-byte message's record at ring offset 0 is taken.
	ahead := func(n int) int { return len(p.linesAhead(n, 0, recSize(n))) }
	check := func(when string, want []struct{ n, lines int }) {
		t.Helper()
		for _, w := range want {
			if got := ahead(w.n); got != w.lines {
				t.Errorf("%s: %d-byte message: %d bytes taken ahead, want %d", when, w.n, got, w.lines)
			}
		}
	}
	// The header's line is bytes 0 to 63, the lines ahead start at 64 and
	// end with the record or prefetchLen later.
	check("fresh", []struct{ n, lines int }{
		{prefetchMin - 8, 0},
		{prefetchMin, recordHeader + prefetchMin - cacheLine},
		{1024, recordHeader + 1024 - cacheLine},
		{mem.RepMovsbMin - 8, prefetchLen},
		{mem.RepMovsbMin, 0},
	})

	msg := make([]byte, 1024)
	sent := 0
	for {
		err := p.TrySend(msg)
		if errors.Is(err, ErrFull) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		sent++
	}
	check("ring full, nothing taken", []struct{ n, lines int }{{1024, 0}})

	for range sent {
		if _, err := c.TryReceive(nil); err != nil {
			t.Fatal(err)
		}
	}
	// Nothing new is known until the producer looks at head again, when its
	// own view of the ring is full.
	check("drained, not yet seen", []struct{ n, lines int }{{1024, 0}})
	if err := p.TrySend(msg); err != nil {
		t.Fatal(err)
	}
	check("drained and seen", []struct{ n, lines int }{{1024, recordHeader + 1024 - cacheLine}})
}
