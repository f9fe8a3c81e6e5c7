package main

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/shmkit/shm/internal/shmtest"
	"github.com/shmkit/shm/queue"
)

// TestQueuePeerInAnotherPIDNamespace: a consumer that runs in a PID
// namespace of its own ("shm queue recv" started with CLONE_NEWPID, where
// it is pid 1) is shown alive and in another PID namespace by "shm queue
// stat" and "shm stat", and a second consumer here is refused while it
// lives.
func TestQueuePeerInAnotherPIDNamespace(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("a new PID namespace needs root (CLONE_NEWPID); run the tests as root")
	}
	shmBin := buildShm(t)
	name := shmtest.Name(t, "")
	ok(t, "", "queue", "create", name, "--capacity", "4K")
	t.Cleanup(func() { shmRun(t, "", "rm", name) })
	recv := exec.Command(shmBin, "queue", "recv", name, "--follow")
	recv.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWPID}
	out, err := recv.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := recv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { recv.Process.Kill(); recv.Wait() })
	ok(t, "", "queue", "send", name, "--keep-open", "ping")
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || line != "ping\n" {
		t.Fatalf("the consumer printed %q, %v", line, err)
	}
	// It took the role: the queue's stat shows it alive, in another
	// namespace, where it is pid 1.
	st := ok(t, "", "queue", "stat", name)
	if want := "consumer:    pid 1 (alive, in another PID namespace)"; !strings.Contains(st, want) {
		t.Errorf("queue stat lacks %q:\n%s", want, st)
	}
	if want := "peers: consumer pid 1 (alive, in another PID namespace)"; !strings.Contains(strings.Join(strings.Fields(ok(t, "", "stat", name)), " "), want) {
		t.Errorf("stat lacks %q:\n%s", want, ok(t, "", "stat", name))
	}
	q, err := queue.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := q.Receive(ctx, nil); err == nil || !strings.Contains(err.Error(), "another live process holds this role: the queue has a live consumer (pid 1 in another PID namespace)") {
		t.Fatalf("a second consumer here: %v, want refused naming the consumer in another PID namespace", err)
	}
	recv.Process.Kill()
	recv.Wait()
	st = ok(t, "", "queue", "stat", name)
	if want := "consumer:    pid 1 (dead, in another PID namespace)"; !strings.Contains(st, want) {
		t.Errorf("queue stat after the kill lacks %q:\n%s", want, st)
	}
}
