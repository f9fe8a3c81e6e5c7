package main

import (
	"context"
	"fmt"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/shmkit/shm/internal/shmtest"
	"github.com/shmkit/shm/queue"
)

// restartable is an embedded NATS server with JetStream that stops and
// starts again on the same port with the same store.
type restartable struct {
	t    *testing.T
	opts server.Options
	srv  *server.Server
}

func startRestartable(t *testing.T) *restartable {
	r := &restartable{t: t, opts: server.Options{Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true, JetStream: true, StoreDir: t.TempDir()}}
	r.start()
	r.opts.Port = r.srv.Addr().(*net.TCPAddr).Port
	t.Cleanup(r.stop)
	return r
}

func (r *restartable) start() {
	r.t.Helper()
	opts := r.opts
	srv, err := server.NewServer(&opts)
	if err != nil {
		r.t.Fatal(err)
	}
	srv.Start()
	if !srv.ReadyForConnections(30 * time.Second) {
		r.t.Fatal("the embedded NATS server is not ready after 30 s")
	}
	r.srv = srv
}

func (r *restartable) stop() {
	if r.srv != nil {
		r.srv.Shutdown()
		r.srv.WaitForShutdown()
		r.srv = nil
	}
}

func (r *restartable) url() string { return fmt.Sprintf("nats://127.0.0.1:%d", r.opts.Port) }

// waitFor waits up to a minute for stderr to contain want.
func waitFor(t *testing.T, stderr *syncBuffer, want string) {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); !strings.Contains(stderr.String(), want); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no %q in a minute; stderr:\n%s", want, stderr.String())
		}
	}
}

// TestOutReconnectsAndDrains: out on a queue that stays open shows its
// progress in the status line, says that it lost the server and
// reconnected, goes on after the restart, and on SIGTERM stops with exit
// 0, every message in the stream once and released from the queue.
func TestOutReconnectsAndDrains(t *testing.T) {
	srv := startRestartable(t)
	nc, err := nats.Connect(srv.url(), nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	stream, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "RC", Subjects: []string{"rc.>"}, Storage: jetstream.FileStorage})
	if err != nil {
		t.Fatal(err)
	}
	name := shmtest.Name(t, "")
	p, err := queue.Create(name, 1<<16)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close() // open for sending until the end: out runs until the signal
	send := func(from, to int) {
		for i := from; i < to; i++ {
			if err := p.Send(ctx, fmt.Appendf(nil, "message %d", i)); err != nil {
				t.Fatal(err)
			}
		}
	}
	send(0, 200)
	cmd := command(t, "out", name, "--nats", srv.url(), "--subject", "rc.m", "--status", "50ms", "--ack-timeout", "2s")
	var stderr syncBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	status := "out " + name + " -> rc.m: moved %d, in flight 0, redelivered 0, skipped 0, lag 0, restarts 0"
	waitFor(t, &stderr, fmt.Sprintf(status, 200))

	srv.stop()
	waitFor(t, &stderr, "disconnected from NATS")
	time.Sleep(300 * time.Millisecond)
	srv.start()
	waitFor(t, &stderr, "reconnected to nats://127.0.0.1:")
	send(200, 300)
	waitFor(t, &stderr, "out "+name+" -> rc.m: moved 300, in flight 0")

	cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil || !strings.Contains(stderr.String(), "stopped by signal: moved 300,") {
			t.Fatalf("after SIGTERM: %v, stderr:\n%s", err, stderr.String())
		}
	case <-time.After(time.Minute):
		t.Fatalf("still running a minute after SIGTERM; stderr:\n%s", stderr.String())
	}
	st, err := queue.Stat(name)
	if err != nil {
		t.Fatal(err)
	}
	if st.Messages != 0 {
		t.Errorf("the queue holds %d messages after the drain, want 0 (all released)", st.Messages)
	}
	waitConnected(t, nc)
	info, err := stream.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != 300 {
		t.Errorf("the stream holds %d messages, want 300", info.State.Msgs)
	}
}

// waitConnected waits until nc is connected to the server again.
func waitConnected(t *testing.T, nc *nats.Conn) {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); !nc.IsConnected(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("not connected again a minute after the server restarted (%v)", nc.Status())
		}
	}
}
