package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/shmkit/shm/internal/shmtest"
	"github.com/shmkit/shm/queue"
	"github.com/shmkit/shm/topic"
)

// The test binary runs as shm-bridge in the child role "shm-bridge", its
// command line in the argument "args" (JSON): the tests run the command as
// a real process.
func init() {
	shmtest.Role("shm-bridge", func(a shmtest.Args) int {
		var args []string
		if err := json.Unmarshal([]byte(a["args"]), &args); err != nil {
			panic(err)
		}
		return run(args, os.Stdout, os.Stderr)
	})
}

func TestMain(m *testing.M) { shmtest.Main(m) }

// command returns shm-bridge with args as a process, not yet started.
func command(t *testing.T, args ...string) *exec.Cmd {
	t.Helper()
	js, err := json.Marshal(args)
	if err != nil {
		t.Fatal(err)
	}
	return shmtest.Command(t, "shm-bridge", shmtest.Args{"args": string(js)})
}

// runCommand runs shm-bridge to the end (at most two minutes) and returns
// its exit status and stderr.
func runCommand(t *testing.T, args ...string) (int, string) {
	t.Helper()
	cmd := command(t, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	timer := time.AfterFunc(2*time.Minute, func() { cmd.Process.Kill() })
	defer timer.Stop()
	cmd.Wait()
	return cmd.ProcessState.ExitCode(), stderr.String()
}

// startServer runs an embedded NATS server with JetStream on 127.0.0.1
// with a stream CMD on cmd.>, and returns its URL.
func startServer(t *testing.T) (string, *nats.Conn) {
	t.Helper()
	srv, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true, JetStream: true, StoreDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	srv.Start()
	t.Cleanup(func() { srv.Shutdown(); srv.WaitForShutdown() })
	if !srv.ReadyForConnections(30 * time.Second) {
		t.Fatal("the embedded NATS server is not ready after 30 s")
	}
	url := fmt.Sprintf("nats://127.0.0.1:%d", srv.Addr().(*net.TCPAddr).Port)
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "CMD", Subjects: []string{"cmd.>"}}); err != nil {
		t.Fatal(err)
	}
	return url, nc
}

func TestUsage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"frob"}, `unknown command "frob"`},
		{[]string{"out"}, "wants 1 argument (QUEUE, or TOPIC with --topic), got 0"},
		{[]string{"in", "--topic", "--subject", "s"}, "wants 1 argument (QUEUE, or TOPIC with --topic), got 0"},
		{[]string{"out", "q"}, "--subject is required"},
		{[]string{"out", "q", "--subject", "s", "--oversize", "drop"}, `--oversize "drop": want stop or skip`},
		{[]string{"in", "--subject", "s", "q", "--window", "0"}, "--window 0: must be at least 1"},
		{[]string{"in", "--subject", "s", "q", "-n", "-1"}, "-n -1: must not be negative"},
		{[]string{"out", "--subject", "s", "q", "--spin", "-1us"}, "--spin -1µs: must not be negative"},
		{[]string{"in", "--subject", "s", "q", "--bogus"}, "unknown flag: --bogus"},
	} {
		t.Run(strings.Join(tc.args, "_"), func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if code := run(tc.args, &stdout, &stderr); code != 2 || !strings.Contains(stderr.String(), tc.want) || !strings.HasPrefix(stderr.String(), "shm-bridge: ") {
				t.Errorf("exit %d, stderr %q; want 2 and %q", code, stderr.String(), tc.want)
			}
		})
	}
}

// TestOutThenIn: out moves a closed queue's messages into the stream and
// ends; in moves them into another queue with -n and closes it.
func TestOutThenIn(t *testing.T) {
	url, _ := startServer(t)
	src, dst := shmtest.Name(t, ""), shmtest.Name(t, "")
	p, err := queue.Create(src, 1<<16)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 100 {
		if err := p.TrySend(fmt.Appendf(nil, "message %d", i)); err != nil {
			t.Fatal(err)
		}
	}
	p.Close()
	code, stderr := runCommand(t, "out", src, "--nats", url, "--subject", "cmd.x", "--status", "0")
	if code != 0 || !strings.Contains(stderr, "into JetStream stream CMD") || !strings.Contains(stderr, "done: moved 100,") {
		t.Fatalf("out: exit %d, stderr:\n%s", code, stderr)
	}
	q, err := queue.Create(dst, 1<<16)
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	code, stderr = runCommand(t, "in", "--nats", url, "--subject", "cmd.x", dst, "-n", "100", "--seq", "--status", "0", "--spin", "0s")
	if code != 0 || !strings.Contains(stderr, "done: moved 100,") {
		t.Fatalf("in: exit %d, stderr:\n%s", code, stderr)
	}
	for i := range 100 {
		m, err := q.TryReceive(nil)
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		if seq := binary.LittleEndian.Uint64(m); seq != uint64(i+1) || string(m[8:]) != fmt.Sprintf("message %d", i) {
			t.Fatalf("message %d is sequence %d, %q", i, seq, m[8:])
		}
	}
	if _, err := q.TryReceive(nil); err != io.EOF {
		t.Fatalf("after -n 100: %v, want end of file (the queue closed for sending)", err)
	}
}

// TestSignalDrains: in, running without -n, stops cleanly on each of
// SIGINT, SIGTERM and SIGHUP: exit 0, what it sent acknowledged.
func TestSignalDrains(t *testing.T) {
	shmtest.SkipShort(t)
	url, nc := startServer(t)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for i := range 50 {
		if _, err := js.Publish(ctx, "cmd.sig", fmt.Appendf(nil, "m%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP} {
		t.Run(sig.String(), func(t *testing.T) {
			name := shmtest.Name(t, "")
			q, err := queue.Create(name, 1<<16)
			if err != nil {
				t.Fatal(err)
			}
			defer q.Close()
			cmd := command(t, "in", "--nats", url, "--subject", "cmd.sig", name, "--status", "50ms")
			var stderr syncBuffer
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			defer cmd.Process.Kill()
			for got := 0; got < 50; {
				m, err := q.Receive(ctx, nil)
				if err != nil {
					t.Fatalf("after %d messages: %v", got, err)
				}
				if string(m) != fmt.Sprintf("m%d", got) {
					t.Fatalf("message %d is %q", got, m)
				}
				got++
			}
			// The periodic status line shows them.
			status := "in cmd.sig -> " + name + ": moved 50, in flight 0, redelivered 0, skipped 0, lag 0, restarts 0"
			for deadline := time.Now().Add(time.Minute); !strings.Contains(stderr.String(), status); time.Sleep(10 * time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatalf("no status line %q in a minute; stderr:\n%s", status, stderr.String())
				}
			}
			cmd.Process.Signal(sig)
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			select {
			case err := <-done:
				if err != nil || !strings.Contains(stderr.String(), "stopped by signal: moved 50,") {
					t.Fatalf("after %v: %v, stderr:\n%s", sig, err, stderr.String())
				}
			case <-time.After(time.Minute):
				cmd.Process.Kill()
				<-done // reaped here, not by the harness's cleanup
				t.Fatalf("still running a minute after %v", sig)
			}
			c, err := js.Consumer(ctx, "CMD", "shm-bridge-"+name)
			if err != nil {
				t.Fatal(err)
			}
			info, err := c.Info(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if info.AckFloor.Stream != 50 {
				t.Errorf("acknowledged through stream sequence %d after the drain, want 50", info.AckFloor.Stream)
			}
		})
	}
}

// TestErrorLine: a failure is one line, "shm-bridge: OP QUEUE: reason",
// exit 1.
func TestErrorLine(t *testing.T) {
	url, _ := startServer(t)
	name := shmtest.Name(t, "")
	for _, args := range [][]string{{"out", name}, {"out", "--topic", name}, {"in", "--topic", name}} {
		code, stderr := runCommand(t, append(args, "--nats", url, "--subject", "cmd.x", "--status", "0")...)
		want := "shm-bridge: " + args[0] + " " + name + ": "
		if code != 1 || !strings.Contains(stderr, want) || !strings.Contains(stderr, "no such file or directory") {
			t.Fatalf("%v: exit %d, stderr:\n%s\nwant exit 1 and a line starting %q", args, code, stderr, want)
		}
	}
}

// TestTopicOutThenIn: out --topic moves a closed topic's messages (its
// history) into the stream and ends; in --topic publishes them to another
// topic with -n and closes it, and that topic's subscriber gets them all
// and then end of file.
func TestTopicOutThenIn(t *testing.T) {
	url, _ := startServer(t)
	src, dst := shmtest.Name(t, ""), shmtest.Name(t, "")
	p, err := topic.Create(src, 1<<16, topic.History(100))
	if err != nil {
		t.Fatal(err)
	}
	defer topic.Unlink(src)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for i := range 100 {
		if err := p.Publish(ctx, fmt.Appendf(nil, "message %d", i)); err != nil {
			t.Fatal(err)
		}
	}
	p.Close()
	code, stderr := runCommand(t, "out", "--topic", src, "--nats", url, "--subject", "cmd.t", "--status", "0")
	if code != 0 || !strings.Contains(stderr, "into JetStream stream CMD") || !strings.Contains(stderr, "done: moved 100,") {
		t.Fatalf("out: exit %d, stderr:\n%s", code, stderr)
	}
	s, err := topic.Create(dst, 1<<16)
	if err != nil {
		t.Fatal(err)
	}
	defer topic.Unlink(dst)
	defer s.Close()
	if err := s.Subscribe(); err != nil {
		t.Fatal(err)
	}
	code, stderr = runCommand(t, "in", "--nats", url, "--subject", "cmd.t", "--topic", dst, "-n", "100", "--status", "0")
	if code != 0 || !strings.Contains(stderr, "done: moved 100,") {
		t.Fatalf("in: exit %d, stderr:\n%s", code, stderr)
	}
	for i := range 100 {
		m, err := s.TryReceive(nil)
		if err != nil || string(m) != fmt.Sprintf("message %d", i) {
			t.Fatalf("message %d: %q, %v", i, m, err)
		}
	}
	if _, err := s.TryReceive(nil); err != io.EOF {
		t.Fatalf("after -n 100: %v, want end of file (the topic closed)", err)
	}
}

// syncBuffer is a bytes.Buffer that a process writes while a test reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
