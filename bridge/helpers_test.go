package natsbridge

import (
	"context"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"math/rand/v2"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// testServer is an embedded NATS server with JetStream on 127.0.0.1, on a
// random port that a restart keeps, storing in a temporary directory that
// a restart keeps too.
type testServer struct {
	t          testing.TB
	dir        string
	port       int
	maxPayload int32
	srv        *server.Server
}

func startServer(t testing.TB, maxPayload int32) *testServer {
	t.Helper()
	s := &testServer{t: t, dir: t.TempDir(), port: -1, maxPayload: maxPayload}
	s.start()
	t.Cleanup(s.stop)
	return s
}

func (s *testServer) start() {
	s.t.Helper()
	srv, err := server.NewServer(&server.Options{
		Host: "127.0.0.1", Port: s.port, NoLog: true, NoSigs: true,
		JetStream: true, StoreDir: s.dir, MaxPayload: s.maxPayload,
	})
	if err != nil {
		s.t.Fatal(err)
	}
	srv.Start()
	if !srv.ReadyForConnections(30 * time.Second) {
		s.t.Fatal("the embedded NATS server is not ready after 30 s")
	}
	s.srv = srv
	s.port = srv.Addr().(*net.TCPAddr).Port
}

func (s *testServer) stop() {
	if s.srv != nil {
		s.srv.Shutdown()
		s.srv.WaitForShutdown()
		s.srv = nil
	}
}

func (s *testServer) url() string { return fmt.Sprintf("nats://127.0.0.1:%d", s.port) }

// connect is a bridge connection (Connect) whose events go to the test
// log and to a log the test can read.
func (s *testServer) connect(t testing.TB, log *eventLog) *nats.Conn {
	t.Helper()
	nc, err := Connect(s.url(), t.Name(), log.logf(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// eventLog keeps a bridge's log lines.
type eventLog struct {
	mu    sync.Mutex
	lines []string
}

func (l *eventLog) logf(t testing.TB) func(string, ...any) {
	return func(format string, args ...any) {
		line := fmt.Sprintf(format, args...)
		t.Log(line)
		if l != nil {
			l.mu.Lock()
			l.lines = append(l.lines, line)
			l.mu.Unlock()
		}
	}
}

func (l *eventLog) count(substr string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, line := range l.lines {
		if strings.Contains(line, substr) {
			n++
		}
	}
	return n
}

func makeStream(t testing.TB, nc *nats.Conn, name string, subjects ...string) jetstream.Stream {
	t.Helper()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: name, Subjects: subjects, Storage: jetstream.FileStorage})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// Checked messages: an 8-byte index, bytes that depend on it, and a
// CRC-32 of everything before it. Sizes from 16 to 16+spread-1 bytes,
// from the index.
func checkedMsg(buf []byte, i uint64, spread int) []byte {
	r := rand.New(rand.NewPCG(i, 19))
	n := 16 + r.IntN(spread)
	b := append(buf[:0], make([]byte, n)...)
	binary.LittleEndian.PutUint64(b, i)
	for j := 8; j < n-4; j++ {
		b[j] = byte(i) ^ byte(j*7)
	}
	binary.LittleEndian.PutUint32(b[n-4:], crc32.ChecksumIEEE(b[:n-4]))
	return b
}

func checkMsg(b []byte) (uint64, error) {
	if len(b) < 16 {
		return 0, fmt.Errorf("a checked message of %d bytes: too short", len(b))
	}
	n := len(b)
	if got, want := binary.LittleEndian.Uint32(b[n-4:]), crc32.ChecksumIEEE(b[:n-4]); got != want {
		return 0, fmt.Errorf("checksum %#x, want %#x (message %d, %d bytes)", got, want, binary.LittleEndian.Uint64(b), n)
	}
	return binary.LittleEndian.Uint64(b), nil
}

// publishChecked publishes n checked messages to subject, asynchronously
// with a window, and waits for them all.
func publishChecked(t testing.TB, nc *nats.Conn, subject string, n int, spread int) {
	t.Helper()
	publishRange(t, nc, subject, 0, n, spread)
}

// publishRange publishes the checked messages from to before to.
func publishRange(t testing.TB, nc *nats.Conn, subject string, from, to int, spread int) {
	t.Helper()
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(1024))
	if err != nil {
		t.Fatal(err)
	}
	var buf []byte
	for i := uint64(from); i < uint64(to); i++ {
		buf = checkedMsg(buf, i, spread)
		if _, err := js.PublishAsync(subject, append([]byte(nil), buf...), jetstream.WithStallWait(time.Minute)); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case <-js.PublishAsyncComplete():
	case <-time.After(5 * time.Minute):
		t.Fatal("publishing the test messages took more than 5 minutes")
	}
}

// readStream reads every message of the stream in order and checks that
// they are the checked messages 0..n-1, each once.
func readStream(t testing.TB, nc *nats.Conn, stream string, n int) {
	t.Helper()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	s, err := js.Stream(ctx, stream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != uint64(n) {
		t.Errorf("the stream holds %d messages, want %d", info.State.Msgs, n)
	}
	c, err := s.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	next := uint64(0)
	for next < info.State.Msgs {
		batch, err := c.Fetch(1000, jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		got := 0
		for m := range batch.Messages() {
			got++
			i, err := checkMsg(m.Data())
			if err != nil {
				t.Fatalf("stream message %d: %v", next, err)
			}
			if i != next {
				t.Fatalf("stream message %d is checked message %d (lost, duplicated or reordered)", next, i)
			}
			next++
		}
		if got == 0 {
			t.Fatalf("reading the stream: nothing after %d messages: %v", next, batch.Error())
		}
	}
	if next != uint64(n) {
		t.Fatalf("the stream has checked messages 0..%d, want 0..%d", next, n)
	}
}
