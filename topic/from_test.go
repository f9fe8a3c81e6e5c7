package topic

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	"github.com/shmkit/shm"
)

// TestID: Create gives every topic its own random identity, which every
// handle on it reads the same.
func TestID(t *testing.T) {
	name, a := newTopic(t, 4096)
	_, b := newTopic(t, 4096)
	if a.ID() == (ID{}) || a.ID() == b.ID() {
		t.Fatalf("identities %s and %s: want two different, not zero", a.ID(), b.ID())
	}
	if got := open(t, name).ID(); got != a.ID() {
		t.Fatalf("Open reads identity %s, Create gave %s", got, a.ID())
	}
	if s := a.ID().String(); len(s) != 2*idSize {
		t.Fatalf("ID().String() = %q, want %d hex digits", s, 2*idSize)
	}
}

// TestSubscribeFrom: a subscriber starts at the message number it asks
// for while the ring holds it, at the oldest kept (with the exact count
// missed) when it does not, and not at all for a number not yet published.
func TestSubscribeFrom(t *testing.T) {
	msg := func(i int) []byte { return []byte(fmt.Sprintf("message %03d", i)) }
	for _, tc := range []struct {
		name      string
		capacity  int64
		opts      []Option
		published int
		from      uint64
		first     int    // the first message received
		missed    uint64 // in the LaggedError of SubscribeFrom
		invalid   bool
	}{
		{"from the first", 4096, nil, 10, 0, 0, 0, false},
		{"from the middle", 4096, nil, 10, 4, 4, 0, false},
		{"from the last", 4096, nil, 10, 9, 9, 0, false},
		{"from the next", 4096, nil, 10, 10, 10, 0, false},
		{"past the next", 4096, nil, 10, 11, 0, 0, true},
		{"nothing published", 4096, nil, 0, 0, 0, 0, false},
		// 256 bytes hold 7 records of 32 bytes and the end marker: of
		// 20 messages, 13 were written over (lossless: nobody held them).
		{"written over, lossless", 256, nil, 20, 5, 13, 8, false},
		{"written over, overwrite", 256, []Option{Overwrite()}, 20, 0, 13, 13, false},
		{"kept, overwrite", 256, []Option{Overwrite()}, 20, 15, 15, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			name, pub := newTopic(t, tc.capacity, tc.opts...)
			ctx := ctxT(t)
			for i := range tc.published {
				if err := pub.Publish(ctx, msg(i)); err != nil {
					t.Fatal(err)
				}
			}
			s := open(t, name)
			err := s.SubscribeFrom(tc.from)
			var lag *LaggedError
			switch {
			case tc.invalid:
				if !errors.Is(err, shm.ErrInvalid) || s.Sequence() != 0 {
					t.Fatalf("SubscribeFrom(%d) after %d messages: %v, Sequence %d; want shm.ErrInvalid, not a subscriber", tc.from, tc.published, err, s.Sequence())
				}
				return
			case tc.missed > 0:
				if !errors.As(err, &lag) || lag.Missed != tc.missed {
					t.Fatalf("SubscribeFrom(%d): %v, want a LaggedError missing %d", tc.from, err, tc.missed)
				}
			case err != nil:
				t.Fatalf("SubscribeFrom(%d): %v", tc.from, err)
			}
			if got := s.Sequence(); got != uint64(tc.first) {
				t.Fatalf("Sequence() = %d after SubscribeFrom, want %d", got, tc.first)
			}
			var buf []byte
			for i := tc.first; i <= tc.published; i++ {
				if i == tc.published {
					// The ring is read: one more goes in without waiting
					// or writing over anything unread.
					if err := pub.Publish(ctx, msg(i)); err != nil {
						t.Fatal(err)
					}
				}
				if buf, err = s.Receive(ctx, buf); err != nil {
					t.Fatalf("receiving message %d: %v", i, err)
				}
				if !bytes.Equal(buf, msg(i)) || s.Sequence() != uint64(i+1) {
					t.Fatalf("received %q with Sequence %d, want %q and %d", buf, s.Sequence(), msg(i), i+1)
				}
			}
			if err := s.SubscribeFrom(0); !errors.Is(err, shm.ErrInvalid) {
				t.Fatalf("SubscribeFrom on a subscriber: %v, want shm.ErrInvalid", err)
			}
		})
	}
}
