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
// of each path (the plain publisher, the bridge, and for latency a relay;
// see path), each round starting one path further, each run with b.N
// messages on a stream of its own (file storage). A run's messages go to
// a subscriber of the subject, which times each one from the moment it
// was handed over: sent into the queue (bridge, relay), or published
// (plain).
//
// Each party is a process of its own, as where the bridge is deployed:
// the server (embedded in a child process of the test binary), the
// subscriber, and for the bridge and the relay the producer that sends
// into their queue; Out, the relay and the plain publisher run in the
// benchmark's process, one at a time. In one process the parties would
// share its Ps, and a goroutine asleep in a queue wait holds one until the
// runtime hands it off (see the queue package): with the producer and the
// server in the benchmark's process, plain/bridge at 64 KiB was 1.1 to 1.3
// on a 2-CPU VM, and 1.06 to 1.14 with GOMAXPROCS 3 or 4.
//
// Times cross processes as wall-clock nanoseconds (time.Now().UnixNano):
// a clock step during a run spoils it.
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
// capacity, then paces every path at a tenth of it, so that the times
// are what each path takes rather than queueing behind other messages
// (where wake-ups cost tens of microseconds a message may still be handed
// over before the one before it is delivered). Its rounds run a third
// path too, a relay: the bridge's queue and producer, read by a bare loop
// of Receive and publish that holds nothing and waits for
// acknowledgements only at the end, the least any bridge from a queue can
// take under the same load. It reports p50 and p99 of each path over all
// rounds' messages, bridge/plain and relay/plain at p50, and
// added-p50-µs, the bridge's p50 less the plain publisher's.

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
				var rate [2]float64 // by path: plain, bridge
				for _, p := range benchOrder(r, plainPath, bridgePath) {
					rate[p] = e.run(b, p, b.N, s.size, 0).rate()
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
			flood := e.run(b, plainPath, b.N, s.size, 0)
			interval := time.Duration(float64(time.Second) / flood.rate() * 10)
			var lat [3][]time.Duration // by path
			var rate [3][]float64
			for r := range benchRounds {
				for _, p := range benchOrder(r, plainPath, bridgePath, relayPath) {
					res := e.run(b, p, b.N, s.size, interval)
					lat[p] = append(lat[p], res.lat...)
					rate[p] = append(rate[p], res.rate())
				}
			}
			for i := range lat {
				slices.Sort(lat[i])
			}
			pct := func(p path, q int) float64 { return float64(lat[p][(len(lat[p])-1)*q/100].Nanoseconds()) / 1e3 }
			b.Logf("capacity %.0f msgs/s, paced at %v a message (%.0f msgs/s; runs reached %.0f plain, %.0f bridge, %.0f relay)",
				flood.rate(), interval, float64(time.Second)/float64(interval), median(rate[plainPath]), median(rate[bridgePath]), median(rate[relayPath]))
			b.Logf("p50 plain %.0f µs, bridge %.0f µs, relay %.0f µs; p99 plain %.0f µs, bridge %.0f µs, relay %.0f µs",
				pct(plainPath, 50), pct(bridgePath, 50), pct(relayPath, 50), pct(plainPath, 99), pct(bridgePath, 99), pct(relayPath, 99))
			for _, p := range []path{plainPath, bridgePath, relayPath} {
				b.ReportMetric(pct(p, 50), p.String()+"-p50-µs")
				b.ReportMetric(pct(p, 99), p.String()+"-p99-µs")
			}
			b.ReportMetric(pct(bridgePath, 50)-pct(plainPath, 50), "added-p50-µs")
			b.ReportMetric(pct(bridgePath, 50)/pct(plainPath, 50), "bridge/plain-p50")
			b.ReportMetric(pct(relayPath, 50)/pct(plainPath, 50), "relay/plain-p50")
			b.ReportMetric(0, "ns/op")
		})
	}
}

// path is the way a run's messages take to the server.
type path int

const (
	plainPath  path = iota // published by this process, with no queue
	bridgePath             // sent into a queue by a producer process, published by Out
	relayPath              // the same, published by relay
)

func (p path) String() string { return [...]string{"plain", "bridge", "relay"}[p] }

// benchOrder is the order of the paths in round r: each round starts one
// further along, so that no path always runs on the freshest server.
func benchOrder(r int, paths ...path) []path {
	k := r % len(paths)
	return append(paths[k:len(paths):len(paths)], paths[:k]...)
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
	prefix string // a random queue-like identity for the message ids of plain and relay
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

// run moves n messages of size bytes by path p to a stream of its own,
// handing them over one every interval (0: as fast as they are taken),
// and returns the time from the first hand-over to the last delivery and
// each message's latency.
func (e *benchEnv) run(b *testing.B, p path, n, size int, interval time.Duration) benchResult {
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
	switch p {
	case plainPath:
		start, err = e.plain(ctx, subject, n, size, interval)
	case bridgePath:
		start, err = e.viaQueue(ctx, b, n, size, interval, func(ctx context.Context, name string) error {
			return Out(ctx, e.nc, Config{Queue: name, Subject: subject, Window: benchWindow})
		})
	case relayPath:
		start, err = e.viaQueue(ctx, b, n, size, interval, func(ctx context.Context, name string) error {
			return e.relay(ctx, name, subject)
		})
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
	go func() {
		// The benchmark closes standard input only by dying.
		io.Copy(io.Discard, os.Stdin)
		os.Exit(shmtest.ExitFail)
	}()
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

// viaQueue has a producer process send the messages into a new queue that
// publish publishes, and returns when the producer started sending.
// publish must return when the queue is closed and drained, or when ctx
// ends.
func (e *benchEnv) viaQueue(ctx context.Context, b *testing.B, n, size int, interval time.Duration, publish func(ctx context.Context, name string) error) (time.Time, error) {
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
	// publish ends when the producer closes the queue, or when it failed.
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
	err = publish(octx, name)
	// A failed producer is the cause of whatever publish saw.
	if perr := <-produced; perr != nil {
		return time.Time{}, perr
	}
	if err != nil {
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
// prints "listening on" and its URL, and serves until its standard input
// ends: when the benchmark closes it or dies, however it dies.
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
	io.Copy(io.Discard, os.Stdin)
	srv.Shutdown()
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
	p, err := e.publisher(subject)
	if err != nil {
		return time.Time{}, err
	}
	defer p.js.CleanupPublisher()
	var pos uint64
	start := time.Now()
	err = handOver(n, size, interval, func(m []byte) error {
		pos += uint64(size + 8) // a record's size, as the queue's positions go
		return p.publish(ctx, m, pos)
	})
	if err != nil {
		return start, err
	}
	return start, p.acknowledged(ctx)
}

// relay publishes the messages of queue name as the plain publisher does,
// each as soon as it is received, until the queue is closed and drained
// and every publish is acknowledged. It takes the next message without
// waiting for the last one's acknowledgement (up to the window), holds
// nothing in the queue and cannot restart where it stopped: the least a
// bridge from a queue does.
func (e *benchEnv) relay(ctx context.Context, name, subject string) error {
	q, err := queue.Open(name)
	if err != nil {
		return err
	}
	defer q.Close()
	p, err := e.publisher(subject)
	if err != nil {
		return err
	}
	defer p.js.CleanupPublisher()
	var buf []byte
	for {
		m, err := q.Receive(ctx, buf)
		if err == io.EOF {
			return p.acknowledged(ctx)
		}
		if err != nil {
			return err
		}
		buf = m
		if err := p.publish(ctx, m, uint64(q.Position())); err != nil {
			return err
		}
	}
}

// benchPublisher publishes as the plain publisher and the relay do:
// nats.go's asynchronous JetStream publish, at most benchWindow
// unacknowledged, with a Nats-Msg-Id of the bridge's form.
type benchPublisher struct {
	js      jetstream.JetStream
	subject string
	prefix  string
}

func (e *benchEnv) publisher(subject string) (*benchPublisher, error) {
	js, err := jetstream.New(e.nc, jetstream.WithPublishAsyncMaxPending(benchWindow))
	if err != nil {
		return nil, err
	}
	return &benchPublisher{js: js, subject: subject, prefix: e.prefix}, nil
}

// publish publishes a copy of m, which nats.go keeps until it is
// acknowledged, as the message at position pos. It uses no publish
// options (they cost nats.go a pass per publish), and tries again a
// publish that waited the default 200 ms for room in the window, until ctx
// ends.
func (p *benchPublisher) publish(ctx context.Context, m []byte, pos uint64) error {
	msg := &nats.Msg{
		Subject: p.subject,
		Data:    append([]byte(nil), m...),
		Header:  nats.Header{jetstream.MsgIDHeader: {p.prefix + strconv.FormatUint(pos, 10)}},
	}
	for {
		_, err := p.js.PublishMsgAsync(msg)
		if !errors.Is(err, jetstream.ErrTooManyStalledMsgs) {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
	}
}

// acknowledged waits until every publish is acknowledged, or ctx ends.
func (p *benchPublisher) acknowledged(ctx context.Context) error {
	select {
	case <-p.js.PublishAsyncComplete():
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
