package natsbridge

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/shmkit/shm/internal/shmtest"
	"github.com/shmkit/shm/queue"
)

// The bridge against a plain nats.go program, on the same NATS server in
// the same run. Each benchmark runs benchRounds rounds; a round is one run
// of the plain publisher and one of the bridge, in alternating order, each
// with b.N messages on a stream of its own (file storage). A run's
// messages go to a subscriber of the subject, which times each one from
// the moment it was handed over: sent into the queue (bridge), or
// published (plain).
//
// Each party is a process of its own, as where the bridge is deployed:
// the server (embedded in a child process of the test binary), the
// subscriber, and for the bridge the producer that sends into its queue;
// Out and the plain publisher run in the benchmark's process, one at a
// time. In one process the parties would share its Ps, and a goroutine
// asleep in a queue wait holds one until the runtime hands it off (see
// the queue package): with the producer and the server in the benchmark's
// process, plain/bridge at 64 KiB was 1.1 to 1.3 on a 2-CPU VM, and 1.06
// to 1.14 with GOMAXPROCS 3 or 4.
//
// The plain publisher does the bridge's work minus the queue: nats.go's
// asynchronous JetStream publish with the same window (benchWindow
// publishes unacknowledged), a Nats-Msg-Id header of the bridge's form on
// every message, and waiting for every acknowledgement. It copies each
// message into a buffer of its own, as nats.go needs a message to stay
// unchanged until acknowledged; the bridge reuses its buffers once
// acknowledged.
//
//	cd bridge
//	go test -run '^$' -bench 'Throughput/64B$' -benchtime 100000x   # ~15 s
//	go test -run '^$' -bench 'Throughput/64KiB$' -benchtime 5000x   # ~10 s
//	go test -run '^$' -bench 'Latency/64B$' -benchtime 5000x        # ~10 s
//	go test -run '^$' -bench 'Latency/64KiB$' -benchtime 1000x      # ~30 s
//
// (times on an idle two-CPU machine; b.N is the messages of one run).
//
// Throughput reports messages per second of each (the median of the
// rounds) and plain/bridge, the median of the rounds' ratios: the bridge
// is within 1.2x of the plain publisher when it is at most 1.2. Latency
// first floods the plain publisher with b.N messages to measure its
// capacity, then paces both at a tenth of it, so that the times are what
// each path takes rather than queueing behind other messages (where
// wake-ups cost tens of microseconds a message may still be handed over
// before the one before it is delivered). It reports p50 and p99 of each
// over all rounds' messages, bridge/plain at p50, and the p50 of a queue
// hop alone (see hop): the plain publisher's p50 plus a hop's is the least
// the bridge's can be, and floor/plain-p50 is that over the plain p50.

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
			var hops []time.Duration
			for r := range benchRounds {
				for _, viaBridge := range benchOrder(r) {
					res := e.run(b, viaBridge, b.N, s.size, interval)
					lat[b2i(viaBridge)] = append(lat[b2i(viaBridge)], res.lat...)
					rate[b2i(viaBridge)] = append(rate[b2i(viaBridge)], res.rate())
				}
				hops = append(hops, hop(b, b.N, s.size, interval)...)
			}
			for i := range lat {
				slices.Sort(lat[i])
			}
			slices.Sort(hops)
			pct := func(l []time.Duration, p int) float64 { return float64(l[(len(l)-1)*p/100].Nanoseconds()) / 1e3 }
			b.Logf("capacity %.0f msgs/s, paced at %v a message (%.0f msgs/s; runs reached %.0f plain, %.0f bridge)",
				flood.rate(), interval, float64(time.Second)/float64(interval), median(rate[0]), median(rate[1]))
			b.Logf("p50 plain %.0f µs, bridge %.0f µs; p99 plain %.0f µs, bridge %.0f µs; p50 of a queue hop alone %.0f µs",
				pct(lat[0], 50), pct(lat[1], 50), pct(lat[0], 99), pct(lat[1], 99), pct(hops, 50))
			b.ReportMetric(pct(lat[0], 50), "plain-p50-µs")
			b.ReportMetric(pct(lat[1], 50), "bridge-p50-µs")
			b.ReportMetric(pct(lat[0], 99), "plain-p99-µs")
			b.ReportMetric(pct(lat[1], 99), "bridge-p99-µs")
			b.ReportMetric(pct(lat[1], 50)-pct(lat[0], 50), "added-p50-µs")
			b.ReportMetric(pct(lat[1], 50)/pct(lat[0], 50), "bridge/plain-p50")
			b.ReportMetric(pct(hops, 50), "hop-p50-µs")
			b.ReportMetric((pct(lat[0], 50)+pct(hops, 50))/pct(lat[0], 50), "floor/plain-p50")
			b.ReportMetric(0, "ns/op")
		})
	}
}

// hop has a producer process send n messages of size bytes into a queue,
// one every interval, and returns each one's time from hand-over to its
// Receive in this process: the wake-up of a sleeping reader that a bridge
// from a queue pays before it can publish, so that the plain publisher's
// latency plus a hop's is the least a bridge's can be.
func hop(b *testing.B, n, size int, interval time.Duration) []time.Duration {
	b.Helper()
	name := shmtest.Name(b, "")
	q, err := queue.Create(name, 16<<20)
	if err != nil {
		b.Fatal(err)
	}
	defer queue.Unlink(name)
	defer q.Close()
	producer := shmtest.Spawn(b, "bench-produce", shmtest.Args{
		"queue": name, "count": strconv.Itoa(n), "size": strconv.Itoa(size), "interval": interval.String(),
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	lat := make([]time.Duration, 0, n)
	buf := make([]byte, size)
	for {
		m, err := q.Receive(ctx, buf)
		if err == io.EOF {
			break
		}
		if err != nil {
			b.Fatalf("%v; the producer's output:\n%s", err, producer.Output())
		}
		lat = append(lat, time.Duration(time.Now().UnixNano()-int64(binary.LittleEndian.Uint64(m))))
	}
	if err := producer.Wait(time.Minute); err != nil {
		b.Fatal(err)
	}
	return lat
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

// benchEnv is a NATS server of its own process, and a connection to it
// that publishes (the bridge's, from Connect).
type benchEnv struct {
	url    string
	nc     *nats.Conn
	runs   int
	prefix string // a random queue-like identity for the plain publisher's message ids
}

func newBenchEnv(b *testing.B) *benchEnv {
	srv := shmtest.Spawn(b, "bench-server", shmtest.Args{"dir": b.TempDir()})
	line, ok := srv.Expect("listening on ", time.Minute)
	if !ok {
		b.Fatalf("the NATS server did not start; output:\n%s", srv.Output())
	}
	var id [16]byte
	rand.Read(id[:])
	e := &benchEnv{url: strings.TrimPrefix(line, "listening on "), prefix: hex.EncodeToString(id[:]) + "-"}
	nc, err := Connect(e.url, "bench", nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(nc.Close)
	e.nc = nc
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
	times := filepath.Join(b.TempDir(), "times")
	sub := shmtest.Spawn(b, "bench-subscribe", shmtest.Args{"url": e.url, "subject": subject, "count": strconv.Itoa(n), "times": times})
	if _, ok := sub.Expect("ready", time.Minute); !ok {
		b.Fatalf("the subscriber did not start; output:\n%s", sub.Output())
	}
	var start time.Time
	if viaBridge {
		start, err = e.bridge(ctx, b, subject, n, size, interval)
	} else {
		start, err = e.plain(ctx, subject, n, size, interval)
	}
	if err != nil {
		b.Fatal(err)
	}
	if err := sub.Wait(time.Minute); err != nil {
		b.Fatal(err)
	}
	last, lat, err := readTimes(times, n)
	if err != nil {
		b.Fatal(err)
	}
	return benchResult{n: n, elapsed: last.Sub(start), lat: lat}
}

// benchSubscriber receives count messages of subject (arguments url,
// subject, count and times), after printing "ready" once the server has
// the subscription, and writes to file times the wall-clock time of the
// last delivery and each message's latency, all little-endian int64
// nanoseconds.
func benchSubscriber(a shmtest.Args) int {
	nc, err := nats.Connect(a["url"])
	if err != nil {
		fmt.Println(err)
		return shmtest.ExitFail
	}
	defer nc.Close()
	sub, err := nc.SubscribeSync(a["subject"])
	if err == nil {
		sub.SetPendingLimits(-1, -1)
		err = nc.Flush()
	}
	if err != nil {
		fmt.Println(err)
		return shmtest.ExitFail
	}
	fmt.Println("ready")
	n := a.Int("count")
	out := make([]byte, 8, 8*(n+1))
	for range n {
		m, err := sub.NextMsg(time.Minute)
		if err != nil {
			fmt.Println(err)
			return shmtest.ExitFail
		}
		lat := time.Now().UnixNano() - int64(binary.LittleEndian.Uint64(m.Data))
		out = binary.LittleEndian.AppendUint64(out, uint64(lat))
	}
	binary.LittleEndian.PutUint64(out, uint64(time.Now().UnixNano()))
	if err := os.WriteFile(a["times"], out, 0o600); err != nil {
		fmt.Println(err)
		return shmtest.ExitFail
	}
	return shmtest.ExitOK
}

// readTimes reads what benchSubscriber wrote for n messages.
func readTimes(path string, n int) (last time.Time, lat []time.Duration, err error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return time.Time{}, nil, err
	}
	if len(b) != 8*(n+1) {
		return time.Time{}, nil, fmt.Errorf("%s: %d bytes, want %d", path, len(b), 8*(n+1))
	}
	last = time.Unix(0, int64(binary.LittleEndian.Uint64(b)))
	for i := 8; i < len(b); i += 8 {
		lat = append(lat, time.Duration(binary.LittleEndian.Uint64(b[i:])))
	}
	return last, lat, nil
}

// handOver calls send with n messages of size bytes, each stamped with the
// time it is handed over, one every interval (0: as fast as send takes
// them).
func handOver(n, size int, interval time.Duration, send func([]byte) error) error {
	buf := make([]byte, size)
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

// bridge has a producer process send the messages into a new queue that
// Out publishes, and returns when the producer started sending.
func (e *benchEnv) bridge(ctx context.Context, b *testing.B, subject string, n, size int, interval time.Duration) (time.Time, error) {
	name := shmtest.Name(b, "")
	q, err := queue.Create(name, 16<<20)
	if err != nil {
		return time.Time{}, err
	}
	defer queue.Unlink(name)
	defer q.Close()
	producer := shmtest.Spawn(b, "bench-produce", shmtest.Args{
		"queue": name, "count": strconv.Itoa(n), "size": strconv.Itoa(size), "interval": interval.String(),
	})
	// Out ends when the producer closes the queue, or when it failed.
	octx, stop := context.WithCancel(ctx)
	defer stop()
	produced := make(chan error, 1)
	go func() {
		err := producer.Wait(10 * time.Minute)
		if err != nil {
			stop()
		}
		produced <- err
	}()
	if err := Out(octx, e.nc, Config{Queue: name, Subject: subject, Window: benchWindow}); err != nil {
		return time.Time{}, err
	}
	if err := <-produced; err != nil {
		return time.Time{}, err
	}
	line, ok := producer.Expect("start ", 0)
	ns, err := strconv.ParseInt(strings.TrimPrefix(line, "start "), 10, 64)
	if !ok || err != nil {
		return time.Time{}, fmt.Errorf("the producer did not say when it started; output:\n%s", producer.Output())
	}
	return time.Unix(0, ns), nil
}

func init() {
	shmtest.Role("bench-server", benchServer)
	shmtest.Role("bench-produce", benchProducer)
	shmtest.Role("bench-subscribe", benchSubscriber)
}

// benchServer runs a NATS server with JetStream storing in directory dir,
// prints "listening on" and its URL, and serves until it is killed.
func benchServer(a shmtest.Args) int {
	srv, err := server.NewServer(&server.Options{
		Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true, JetStream: true, StoreDir: a["dir"],
	})
	if err != nil {
		fmt.Println(err)
		return shmtest.ExitFail
	}
	srv.Start()
	if !srv.ReadyForConnections(30 * time.Second) {
		fmt.Println("the NATS server is not ready after 30 s")
		return shmtest.ExitFail
	}
	fmt.Println("listening on", srv.ClientURL())
	srv.WaitForShutdown()
	return shmtest.ExitOK
}

// benchProducer sends the bridge benchmark's messages into the queue
// (arguments queue, count, size and interval), closes it and exits. It
// prints "start" and the wall-clock time in nanoseconds before the first.
func benchProducer(a shmtest.Args) int {
	q, err := queue.Open(a["queue"])
	if err != nil {
		fmt.Println(err)
		return shmtest.ExitFail
	}
	if err := q.BecomeProducer(); err != nil {
		fmt.Println(err)
		return shmtest.ExitFail
	}
	fmt.Println("start", time.Now().UnixNano())
	err = handOver(a.Int("count"), a.Int("size"), a.Duration("interval"), func(m []byte) error { return q.Send(context.Background(), m) })
	if err != nil {
		q.Abort()
		fmt.Println(err)
		return shmtest.ExitFail
	}
	if err := q.Close(); err != nil {
		fmt.Println(err)
		return shmtest.ExitFail
	}
	return shmtest.ExitOK
}

// plain publishes the messages as the bridge does, without a queue.
func (e *benchEnv) plain(ctx context.Context, subject string, n, size int, interval time.Duration) (time.Time, error) {
	js, err := jetstream.New(e.nc, jetstream.WithPublishAsyncMaxPending(benchWindow))
	if err != nil {
		return time.Time{}, err
	}
	defer js.CleanupPublisher()
	var pos uint64
	start := time.Now()
	err = handOver(n, size, interval, func(m []byte) error {
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
		return start, err
	}
	select {
	case <-js.PublishAsyncComplete():
		return start, nil
	case <-ctx.Done():
		return start, ctx.Err()
	}
}
