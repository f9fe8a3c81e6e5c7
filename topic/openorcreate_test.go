//go:build linux

package topic

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/shmkit/shm"
	"github.com/shmkit/shm/internal/shmtest"
)

// TestOpenOrCreate: a missing topic is created, an existing one that is
// the one asked for is opened (the same topic: what one publishes, the
// other receives), and one that differs in any field is refused with
// ErrMismatch, naming the field.
func TestOpenOrCreate(t *testing.T) {
	name := shmtest.Name(t, "")
	a, created, err := OpenOrCreate(name, 4096, Subscribers(2))
	if err != nil || !created {
		t.Fatalf("OpenOrCreate of a missing topic: created %v, %v; want a new topic", created, err)
	}
	defer a.Close()
	b, created, err := OpenOrCreate(name, 4096, Subscribers(2))
	if err != nil || created {
		t.Fatalf("OpenOrCreate of an existing topic: created %v, %v; want it opened", created, err)
	}
	defer b.Close()
	if a.ID() != b.ID() {
		t.Fatalf("OpenOrCreate opened topic %x, not the existing %x", b.ID(), a.ID())
	}
	ctx := context.Background()
	if err := b.Subscribe(); err != nil {
		t.Fatal(err)
	}
	if err := a.Publish(ctx, []byte("hi")); err != nil {
		t.Fatal(err)
	}
	if m, err := b.Receive(ctx, nil); err != nil || string(m) != "hi" {
		t.Fatalf("Receive = %q, %v; want hi", m, err)
	}
	for _, tt := range []struct {
		what     string
		capacity int64
		opts     []Option
	}{
		{"capacity", 8192, []Option{Subscribers(2)}},
		{"policy", 4096, []Option{Subscribers(2), Overwrite()}},
		{"subscribers", 4096, nil},
		{"history", 4096, []Option{Subscribers(2), History(1)}},
		{"max message", 4096, []Option{Subscribers(2), MaxMessage(100)}},
	} {
		t.Run(tt.what, func(t *testing.T) {
			tp, created, err := OpenOrCreate(name, tt.capacity, tt.opts...)
			var e *shm.Error
			if !errors.Is(err, ErrMismatch) || !errors.As(err, &e) || e.Op != "topic open" || tp != nil || created {
				t.Errorf("got %v, %v, %v; want ErrMismatch from \"topic open\" and no topic", tp, created, err)
			}
		})
	}
}

// TestOpenOrCreateRace: goroutines released at once on a missing name end
// with one topic: exactly one says it created it, and all hold the same.
func TestOpenOrCreateRace(t *testing.T) {
	const rounds, racers = 10, 6
	for range rounds {
		name := shmtest.Name(t, "")
		var (
			wg      sync.WaitGroup
			mu      sync.Mutex
			created int
			ids     = map[ID]bool{}
			start   = make(chan struct{})
		)
		for range racers {
			wg.Go(func() {
				<-start
				tp, c, err := OpenOrCreate(name, 4096)
				if err != nil {
					t.Error(err)
					return
				}
				defer tp.Detach()
				mu.Lock()
				defer mu.Unlock()
				ids[tp.ID()] = true
				if c {
					created++
				}
			})
		}
		close(start)
		wg.Wait()
		if created != 1 || len(ids) != 1 {
			t.Fatalf("%d racers: %d created, %d distinct topics; want 1 and 1", racers, created, len(ids))
		}
		Unlink(name)
	}
}
