package topic

import (
	"context"
	"errors"
	"strconv"
	"testing"

	"github.com/shmkit/shm/internal/shmtest"
	"github.com/shmkit/shm/queue"
)

// BenchmarkStream compares the throughput of a topic with one subscriber
// to a queue's, both with a 4 MiB ring: a publisher (producer) goroutine
// sends until the benchmark ends while the benchmark loop receives, one
// message per iteration. Run it on an idle machine:
//
//	go test -run '^$' -bench Stream -count 5 ./topic/
func BenchmarkStream(b *testing.B) {
	for _, n := range []int{64, 1 << 10, 64 << 10} {
		size := strconv.Itoa(n) + "B"
		b.Run("topic/"+size, func(b *testing.B) {
			name, pub := newTopic(b, 4<<20)
			sub := subscribe(b, name)
			stream(b, n,
				func(ctx context.Context, msg []byte) error { return pub.Publish(ctx, msg) },
				func(ctx context.Context, buf []byte) ([]byte, error) { return sub.Receive(ctx, buf) })
		})
		b.Run("queue/"+size, func(b *testing.B) {
			name := shmtest.Name(b, "")
			p, err := queue.Create(name, 4<<20)
			if err != nil {
				b.Fatal(err)
			}
			defer p.Close()
			c, err := queue.Open(name)
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			stream(b, n,
				func(ctx context.Context, msg []byte) error { return p.Send(ctx, msg) },
				func(ctx context.Context, buf []byte) ([]byte, error) { return c.Receive(ctx, buf) })
		})
	}
}

// stream runs send in a goroutine until the benchmark ends while the
// benchmark loop receives with recv.
func stream(b *testing.B, n int, send func(context.Context, []byte) error, recv func(context.Context, []byte) ([]byte, error)) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		msg := make([]byte, n)
		for {
			if err := send(ctx, msg); err != nil {
				if errors.Is(err, context.Canceled) {
					err = nil
				}
				done <- err
				return
			}
		}
	}()
	buf := make([]byte, 0, n)
	b.SetBytes(int64(n))
	b.ReportAllocs()
	var err error
	for b.Loop() {
		if buf, err = recv(ctx, buf); err != nil {
			b.Fatal(err)
		}
	}
	cancel()
	if err := <-done; err != nil {
		b.Fatal(err)
	}
}
