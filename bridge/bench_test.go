package natsbridge

import (
	"context"
	"encoding/binary"
	"slices"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/shmkit/shm/internal/shmtest"
	"github.com/shmkit/shm/queue"
)

// The bridge against a plain nats.go program, on the same embedded server
// (a JetStream stream on file storage) in the same run: messages per
// second, and the latency from the moment a message is handed over (sent
// into the queue, or published) to its arrival at a subscriber of the
// subject. Run with
//
//	cd bridge && go test -run '^$' -bench . -benchtime 200000x
//
// and compare BenchmarkOut with BenchmarkPlainPublish size for size.

var benchSizes = []struct {
	name string
	size int
}{{"64B", 64}, {"64KiB", 64 << 10}}

// BenchmarkOut sends b.N messages into a queue while Out publishes them.
func BenchmarkOut(b *testing.B) {
	for _, s := range benchSizes {
		b.Run(s.name, func(b *testing.B) {
			benchPublish(b, s.size, func(ctx context.Context, nc *nats.Conn, msgs func(func([]byte) error) error) error {
				name := shmtest.Name(b, "")
				q, err := queue.Create(name, 16<<20)
				if err != nil {
					return err
				}
				defer q.Close()
				sent := make(chan error, 1)
				go func() {
					sent <- msgs(func(m []byte) error { return q.Send(ctx, m) })
					q.Close()
				}()
				if err := Out(ctx, nc, Config{Queue: name, Subject: "bench.m"}); err != nil {
					return err
				}
				return <-sent
			})
		})
	}
}

// BenchmarkPlainPublish publishes b.N messages with nats.go's asynchronous
// JetStream publish, with the bridge's window, and waits for their
// acknowledgements.
func BenchmarkPlainPublish(b *testing.B) {
	for _, s := range benchSizes {
		b.Run(s.name, func(b *testing.B) {
			benchPublish(b, s.size, func(ctx context.Context, nc *nats.Conn, msgs func(func([]byte) error) error) error {
				js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(256))
				if err != nil {
					return err
				}
				err = msgs(func(m []byte) error {
					_, err := js.PublishAsync("bench.m", append([]byte(nil), m...), jetstream.WithStallWait(time.Minute))
					return err
				})
				if err != nil {
					return err
				}
				select {
				case <-js.PublishAsyncComplete():
					return nil
				case <-ctx.Done():
					return ctx.Err()
				}
			})
		})
	}
}

// benchPublish runs publish with a generator of b.N messages of size
// bytes, each stamped with the time it is handed over, and reports
// messages per second and the latency to a subscriber.
func benchPublish(b *testing.B, size int, publish func(ctx context.Context, nc *nats.Conn, msgs func(func([]byte) error) error) error) {
	srv := startServer(b, 0)
	nc := srv.connect(b, nil)
	makeStream(b, nc, "BENCH", "bench.>")
	subConn := srv.connect(b, nil)
	sub, err := subConn.SubscribeSync("bench.m")
	if err != nil {
		b.Fatal(err)
	}
	sub.SetPendingLimits(-1, -1)
	if err := subConn.Flush(); err != nil { // the server has the subscription
		b.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	n := b.N
	lat := make([]time.Duration, 0, n)
	got := make(chan error, 1)
	go func() {
		for range n {
			m, err := sub.NextMsg(time.Minute)
			if err != nil {
				got <- err
				return
			}
			lat = append(lat, time.Duration(time.Now().UnixNano()-int64(binary.LittleEndian.Uint64(m.Data))))
		}
		got <- nil
	}()
	buf := make([]byte, size)
	msgs := func(send func([]byte) error) error {
		for range n {
			binary.LittleEndian.PutUint64(buf, uint64(time.Now().UnixNano()))
			if err := send(buf); err != nil {
				return err
			}
		}
		return nil
	}
	b.SetBytes(int64(size))
	b.ResetTimer()
	start := time.Now()
	if err := publish(ctx, nc, msgs); err != nil {
		b.Fatal(err)
	}
	if err := <-got; err != nil {
		b.Fatal(err)
	}
	elapsed := time.Since(start)
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(n)/elapsed.Seconds(), "msgs/s")
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
}
