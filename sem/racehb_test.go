//go:build linux

package sem

import (
	"context"
	"testing"
	"time"
)

// TestHappensBefore hands plain Go memory back and forth between two
// goroutines through a pair of semaphores, with every way of taking a
// token. Under the race detector it fails unless Post and a successful wait
// tell the detector about the ordering they give, which it cannot see in
// atomics on mapped memory (golang/go#16206).
func TestHappensBefore(t *testing.T) {
	seg := segment(t, 4096)
	ping, err := Init(seg, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	pong, err := Init(seg, 64, 0)
	if err != nil {
		t.Fatal(err)
	}
	take := []func(*Semaphore) error{
		func(s *Semaphore) error { return s.Wait(context.Background()) },
		func(s *Semaphore) error { return s.WaitTimeout(10 * time.Second) },
		func(s *Semaphore) error {
			for {
				if ok, err := s.TryWait(); ok || err != nil {
					return err
				}
			}
		},
	}
	const rounds = 300
	shared := 0 // plain memory, ordered only by the semaphores
	done := make(chan error, 1)
	go func() {
		for i := range rounds {
			if err := take[i%len(take)](ping); err != nil {
				done <- err
				return
			}
			shared++
			if err := pong.Post(); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	for i := range rounds {
		shared++
		if err := ping.Post(); err != nil {
			t.Fatal(err)
		}
		if err := take[(i+1)%len(take)](pong); err != nil {
			t.Fatal(err)
		}
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if shared != 2*rounds {
		t.Fatalf("shared = %d, want %d", shared, 2*rounds)
	}
}
