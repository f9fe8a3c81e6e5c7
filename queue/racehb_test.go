package queue

import (
	"io"
	"testing"
)

// TestHappensBefore hands plain Go memory back and forth between two
// goroutines through a pair of queues, with every way of receiving, and
// through end of file. Under the race detector it fails unless commits and
// receives tell the detector about the ordering they give, which it cannot
// see in atomics on mapped memory (golang/go#16206).
func TestHappensBefore(t *testing.T) {
	for _, mode := range bothModes {
		t.Run(mode.name, func(t *testing.T) {
			ctx := ctxT(t)
			_, pingP, pingC := pair(t, 1024, mode.opts...)
			_, pongP, pongC := pair(t, 1024, mode.opts...)
			recv := []func(q *Queue) error{
				func(q *Queue) error { _, err := q.Receive(ctx, nil); return err },
				func(q *Queue) error {
					for {
						if _, err := q.TryReceive(nil); err != ErrEmpty {
							return err
						}
					}
				},
				func(q *Queue) error {
					if _, err := q.Peek(ctx); err != nil {
						return err
					}
					return q.Release()
				},
			}
			const rounds = 300
			shared := 0 // plain memory, ordered only by the queues
			done := make(chan error, 1)
			go func() {
				for i := range rounds {
					if err := recv[i%3](pingC); err != nil {
						done <- err
						return
					}
					shared++
					if err := pongP.Send(ctx, nil); err != nil {
						done <- err
						return
					}
				}
				shared++
				done <- pongP.Close()
			}()
			for i := range rounds {
				shared++
				if err := pingP.Send(ctx, []byte("x")); err != nil {
					t.Fatal(err)
				}
				if err := recv[(i+1)%3](pongC); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := pongC.Receive(ctx, nil); err != io.EOF {
				t.Fatalf("after the peer's Close: %v, want io.EOF", err)
			}
			if shared != 2*rounds+1 {
				t.Errorf("shared = %d, want %d", shared, 2*rounds+1)
			}
			if err := <-done; err != nil {
				t.Fatal(err)
			}
		})
	}
}
