//go:build linux

package queue

import (
	"errors"
	"strings"
	"testing"

	"github.com/shmkit/shm/internal/shmtest"
)

// TestHeadPastTail: a head cursor near 2^64 over a small tail, where
// tail-head wraps around to a small number, is refused with ErrCorrupt
// naming the head by every reader of the cursors: Stat, a consumer and a
// single producer taking over, and a producer that loads head for room.
func TestHeadPastTail(t *testing.T) {
	const badHead = ^uint64(0) &^ 7 // 2^64 - 8
	for _, mode := range bothModes {
		for _, tc := range []struct {
			name string
			try  func(name string, w *Queue) error
		}{
			{"stat", func(name string, _ *Queue) error {
				_, err := Stat(name)
				return err
			}},
			{"consumer takes over", func(name string, _ *Queue) error {
				q, err := Open(name)
				if err != nil {
					return err
				}
				defer q.Close()
				_, err = q.TryReceive(nil)
				return err
			}},
			{"producer takes over", func(name string, _ *Queue) error {
				q, err := Open(name)
				if err != nil {
					return err
				}
				defer q.Detach()
				return q.TrySend([]byte("x"))
			}},
			{"producer loads head", func(_ string, w *Queue) error {
				// w became the producer before head was rewritten; it
				// reads head once its own view of the ring is full.
				msg := make([]byte, 64)
				for range 1 + w.capacity/recSize(len(msg)) {
					if err := w.TrySend(msg); err != nil {
						return err
					}
				}
				return nil
			}},
		} {
			t.Run(mode.name+"/"+tc.name, func(t *testing.T) {
				name := shmtest.Name(t, "")
				q, err := Create(name, 4096, mode.opts...)
				if err != nil {
					t.Fatal(err)
				}
				defer q.Close()
				// Four records, then the producer leaves: tail is 288,
				// published.
				for range 4 {
					if err := q.TrySend(make([]byte, 64)); err != nil {
						t.Fatal(err)
					}
				}
				if err := q.Detach(); err != nil {
					t.Fatal(err)
				}
				w, err := Open(name)
				if err != nil {
					t.Fatal(err)
				}
				defer w.Detach()
				if tc.name == "producer loads head" {
					if err := w.TrySend(nil); err != nil {
						t.Fatal(err)
					}
				}
				if tl := w.tail.Load(); tl < 288 || tl > 300 {
					t.Fatalf("tail %d, want 288 or one record more", tl)
				}
				w.head.Store(badHead)
				err = tc.try(name, w)
				if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "head") {
					t.Fatalf("got %v, want ErrCorrupt naming the head cursor", err)
				}
				t.Log(err)
			})
		}
	}
}
