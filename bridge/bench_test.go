package natsbridge

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/shmkit/shm/internal/shmtest"
	"github.com/shmkit/shm/queue"
)

// The bridge against a plain nats.go program, on the same embedded server
// in the same run. Each benchmark runs benchRounds rounds; a round is one
// run of the plain publisher and one of the bridge, in alternating order,
// each with b.N messages on a stream of its own (file storage). A run's
// messages go to a subscriber of the subject, which times each one from
// the moment it was handed over: sent into the queue (bridge), or
// published (plain).
//
// The plain publisher does the bridge's work minus the queue: nats.go's
// asynchronous JetStream publish with the same window (benchWindow
// publishes unacknowledged), a Nats-Msg-Id header of the bridge's form on
// every message, and waiting for every acknowledgement. It copies each
// message into a buffer of its own, as nats.go needs a message to stay
// unchanged until acknowledged; the bridge reuses its buffers once
// acknowledged. The bridge's run includes a producer sending into the
// queue from the same process.
//
//	cd bridge
//	go test -run '^$' -bench 'Throughput/64B$' -benchtime 100000x   # ~15 s
//	go test -run '^$' -bench 'Throughput/64KiB$' -benchtime 5000x   # ~15 s
//	go test -run '^$' -bench 'Latency/64B$' -benchtime 5000x        # ~10 s
//	go test -run '^$' -bench 'Latency/64KiB$' -benchtime 1000x      # ~20 s
//
// (times on an idle two-CPU machine; b.N is the messages of one run).
//
// Throughput reports messages per second of each (the median of the
// rounds) and plain/bridge, the median of the rounds' ratios: the bridge
// is within 1.2x of the plain publisher when it is at most 1.2. Latency
// first floods the plain publisher with b.N messages to measure its
// capacity, then paces both at a tenth of it, so that a message rarely
// waits behind another and the times are what each path adds, not
// queueing; it reports p50 and p99 of each over all rounds' messages.

const (
	benchRounds = 5
	benchWindow = 256
)

var benchSizes = []struct {
	name string
	size int
}{{"64B", 64}, {"64KiB", 64 << 10}}

// BenchmarkThroughput floods the bridge and the plain publisher with b.N
// messages each per round.
func BenchmarkThroughput(b *testing.B) {
	for _, s := range benchSizes {
		b.Run(s.name, func(b *testing.B) {
			if b.N == 1 {
				return // the framework's first call: the runs need -benchtime Nx
			}
			e := newBenchEnv(b)
			var bridge, plain, ratio []float64
			for r := range benchRounds {
				var rate [2]float64 // plain, bridge
				for _, viaBridge := range benchOrder(r) {
					res := e.run(b, viaBridge, b.N, s.size, 0)
					rate[b2i(viaBridge)] = res.rate()
				}
				plain, bridge = append(plain, rate[0]), append(bridge, rate[1])
				ratio = append(ratio, rate[0]/rate[1])
				b.Logf("round %d: plain %.0f msgs/s, bridge %.0f msgs/s, plain/bridge %.2f", r+1, rate[0], rate[1], rate[0]/rate[1])
			}
			b.ReportMetric(median(plain), "plain-msgs/s")
			b.ReportMetric(median(bridge), "bridge-msgs/s")
			b.ReportMetric(median(ratio), "plain/bridge")
			b.ReportMetric(0, "ns/op") // a run is b.N messages each way, several times: ns/op means nothing
		})
	}
}

// BenchmarkLatency paces b.N messages per run at a tenth of the plain
// publisher's capacity and reports the time from hand-over to delivery.
func BenchmarkLatency(b *testing.B) {
	for _, s := range benchSizes {
		b.Run(s.name, func(b *testing.B) {
			if b.N == 1 {
				return // the framework's first call: the runs need -benchtime Nx
			}
			e := newBenchEnv(b)
			flood := e.run(b, false, b.N, s.size, 0)
			interval := time.Duration(float64(time.Second) / flood.rate() * 10)
			var lat [2][]time.Duration // plain, bridge
			var rate [2][]float64
			for r := range benchRounds {
				for _, viaBridge := range benchOrder(r) {
					res := e.run(b, viaBridge, b.N, s.size, interval)
					lat[b2i(viaBridge)] = append(lat[b2i(viaBridge)], res.lat...)
					rate[b2i(viaBridge)] = append(rate[b2i(viaBridge)], res.rate())
				}
			}
			for i := range lat {
				slices.Sort(lat[i])
			}
			pct := func(l []time.Duration, p int) float64 { return float64(l[(len(l)-1)*p/100].Nanoseconds()) / 1e3 }
			b.Logf("capacity %.0f msgs/s, paced at %v a message (%.0f msgs/s; runs reached %.0f plain, %.0f bridge)",
				flood.rate(), interval, float64(time.Second)/float64(interval), median(rate[0]), median(rate[1]))
			b.Logf("p50 plain %.0f µs, bridge %.0f µs; p99 plain %.0f µs, bridge %.0f µs",
				pct(lat[0], 50), pct(lat[1], 50), pct(lat[0], 99), pct(lat[1], 99))
			b.ReportMetric(pct(lat[0], 50), "plain-p50-µs")
			b.ReportMetric(pct(lat[1], 50), "bridge-p50-µs")
			b.ReportMetric(pct(lat[0], 99), "plain-p99-µs")
			b.ReportMetric(pct(lat[1], 99), "bridge-p99-µs")
			b.ReportMetric(pct(lat[1], 50)-pct(lat[0], 50), "added-p50-µs")
			b.ReportMetric(0, "ns/op")
		})
	}
}

// benchOrder is the order of round r: plain first in even rounds, the
// bridge first in odd ones, so that neither always runs on a fresher
// server.
func benchOrder(r int) []bool {
	if r%2 == 0 {
		return []bool{false, true}
	}
	return []bool{true, false}
}

func b2i(v bool) int {
	if v {
		return 1
	}
	return 0
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}

// benchEnv is an embedded server with a connection that publishes (the
// bridge's, from Connect) and one that subscribes.
type benchEnv struct {
	srv    *testServer
	nc     *nats.Conn
	sub    *nats.Conn
	runs   int
	prefix string // a random queue-like identity for the plain publisher's message ids
}

func newBenchEnv(b *testing.B) *benchEnv {
	srv := startServer(b, 0)
	var id [16]byte
	rand.Read(id[:])
	e := &benchEnv{srv: srv, prefix: hex.EncodeToString(id[:]) + "-"}
	for _, c := range []**nats.Conn{&e.nc, &e.sub} {
		nc, err := Connect(srv.url(), "bench", nil)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(nc.Close)
		*c = nc
	}
	return e
}

type benchResult struct {
	n       int
	elapsed time.Duration
	lat     []time.Duration
}

func (r benchResult) rate() float64 { return float64(r.n) / r.elapsed.Seconds() }

// run moves n messages of size bytes through the bridge or the plain
// publisher to a stream of its own, handing them over one every interval
// (0: as fast as they are taken), and returns the time from the first
// hand-over to the last delivery and each message's latency.
func (e *benchEnv) run(b *testing.B, viaBridge bool, n, size int, interval time.Duration) benchResult {
	b.Helper()
	e.runs++
	subject := fmt.Sprintf("bench.%d", e.runs)
	js, err := jetstream.New(e.nc)
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	stream, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: fmt.Sprintf("BENCH%d", e.runs), Subjects: []string{subject}, Storage: jetstream.FileStorage})
	if err != nil {
		b.Fatal(err)
	}
	defer js.DeleteStream(ctx, stream.CachedInfo().Config.Name)
	sub, err := e.sub.SubscribeSync(subject)
	if err != nil {
		b.Fatal(err)
	}
	defer sub.Unsubscribe()
	sub.SetPendingLimits(-1, -1)
	if err := e.sub.Flush(); err != nil { // the server has the subscription
		b.Fatal(err)
	}
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
		next := time.Now()
		for range n {
			if interval > 0 {
				if d := time.Until(next); d > 0 {
					time.Sleep(d)
				}
				next = next.Add(interval)
			}
			binary.LittleEndian.PutUint64(buf, uint64(time.Now().UnixNano()))
			if err := send(buf); err != nil {
				return err
			}
		}
		return nil
	}
	start := time.Now()
	if viaBridge {
		err = e.bridge(ctx, b, subject, msgs)
	} else {
		err = e.plain(ctx, subject, size, msgs)
	}
	if err != nil {
		b.Fatal(err)
	}
	if err := <-got; err != nil {
		b.Fatal(err)
	}
	return benchResult{n: n, elapsed: time.Since(start), lat: lat}
}

// bridge sends the messages into a new queue that Out publishes.
func (e *benchEnv) bridge(ctx context.Context, b *testing.B, subject string, msgs func(func([]byte) error) error) error {
	name := shmtest.Name(b, "")
	q, err := queue.Create(name, 16<<20)
	if err != nil {
		return err
	}
	defer queue.Unlink(name)
	defer q.Close()
	sent := make(chan error, 1)
	go func() {
		sent <- msgs(func(m []byte) error { return q.Send(ctx, m) })
		q.Close()
	}()
	if err := Out(ctx, e.nc, Config{Queue: name, Subject: subject, Window: benchWindow}); err != nil {
		return err
	}
	return <-sent
}

// plain publishes the messages as the bridge does, without a queue.
func (e *benchEnv) plain(ctx context.Context, subject string, size int, msgs func(func([]byte) error) error) error {
	js, err := jetstream.New(e.nc, jetstream.WithPublishAsyncMaxPending(benchWindow))
	if err != nil {
		return err
	}
	defer js.CleanupPublisher()
	var pos uint64
	err = msgs(func(m []byte) error {
		pos += uint64(size + 8) // a record's size, as the queue's positions go
		msg := &nats.Msg{
			Subject: subject,
			Data:    append([]byte(nil), m...),
			Header:  nats.Header{jetstream.MsgIDHeader: {e.prefix + strconv.FormatUint(pos, 10)}},
		}
		for {
			// No options (they cost nats.go a pass per publish): a
			// publish that waited the default 200 ms for room in the
			// window is tried again.
			_, err := js.PublishMsgAsync(msg)
			if !errors.Is(err, jetstream.ErrTooManyStalledMsgs) {
				return err
			}
		}
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
}
