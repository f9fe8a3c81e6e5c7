//go:build linux

package queue

import (
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/shmkit/shm/internal/shmtest"
)

// TestFollowProducers: a consumer opened with FollowProducers takes the
// messages of two producer processes that run one after the other, each
// closing the queue at its end, and of a third that is SIGKILLed, without
// io.EOF or ErrPeerDead in between; between producers it waits (TryReceive
// says ErrEmpty, Receive ends with its context). A consumer without the
// option gets io.EOF from the same closed, drained queue.
func TestFollowProducers(t *testing.T) {
	shmtest.SkipShort(t)
	for _, m := range bothModes {
		t.Run(m.name, func(t *testing.T) {
			const count = 2000
			name, p, _ := pair(t, 1<<16, m.opts...)
			p.Close() // a producer that sent nothing: the queue is closed
			c, err := Open(name, FollowProducers())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			chk := &checker{next: map[uint32]uint64{}}
			receive := func(n int) {
				t.Helper()
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				var buf []byte
				for i := range n {
					if buf, err = c.Receive(ctx, buf); err != nil {
						t.Fatalf("message %d: %v", i, err)
					}
					if err := chk.check(buf); err != nil {
						t.Fatal(err)
					}
				}
			}
			between := func(what string) {
				t.Helper()
				if _, err := c.TryReceive(nil); err != ErrEmpty {
					t.Fatalf("TryReceive %s = %v, want ErrEmpty", what, err)
				}
				ctx, cancel := context.WithTimeout(context.Background(), 250*time.Millisecond)
				defer cancel()
				if _, err := c.Receive(ctx, nil); !errors.Is(err, context.DeadlineExceeded) {
					t.Fatalf("Receive %s = %v, want DeadlineExceeded", what, err)
				}
			}
			between("before any producer")
			for id := range 2 {
				pr := spawn(t, "produce", name, id, count)
				pr.ready(t)
				receive(count)
				if err := pr.wait(); err != nil {
					t.Fatalf("producer %d: %v", id, err)
				}
				between("after a producer closed")
			}

			// A producer that dies: what it committed arrives, then the
			// consumer waits for the next one.
			k := spawn(t, "producer-hang", name, 2, 0)
			k.ready(t)
			receive(1)
			k.kill()
			time.Sleep(150 * time.Millisecond) // past a liveness check
			between("after a producer died")
			pr := spawn(t, "produce", name, 3, count)
			pr.ready(t)
			receive(count)
			if err := pr.wait(); err != nil {
				t.Fatal(err)
			}
			between("after the last producer")

			// The same queue, drained and closed, to a consumer without it.
			c.Close()
			plain, err := Open(name)
			if err != nil {
				t.Fatal(err)
			}
			defer plain.Close()
			if _, err := plain.Receive(context.Background(), nil); err != io.EOF {
				t.Fatalf("Receive without FollowProducers = %v, want io.EOF", err)
			}
		})
	}
}
