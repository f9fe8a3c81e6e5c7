//go:build linux

package sem

import (
	"bytes"
	"context"
	"encoding/binary"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/shmkit/shm/internal/shmtest"
)

// These tests run glibc's semaphores in C processes (testdata/peer.c)
// against this package on the same semaphore.

func named(t testing.TB, value uint32) (string, *Semaphore) {
	t.Helper()
	name := shmtest.Name(t, "")
	s, err := Create(name, value)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return name, s
}

// peerCmd returns the C peer as a command whose output is collected.
func peerCmd(t testing.TB, out *bytes.Buffer, args ...string) *exec.Cmd {
	cmd := exec.Command(cPeer(t), args...)
	cmd.Stdout, cmd.Stderr = out, out
	return cmd
}

func TestCPostWakesGoWait(t *testing.T) {
	name, s := named(t, 0)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- s.Wait(ctx) }()
	waitFor(t, "the Go wait registered", func() bool { return waiters(t, s) == 1 })
	run(t, "post", "/"+name, "1")
	if err := <-done; err != nil {
		t.Fatalf("Go Wait after C sem_post: %v", err)
	}
	if v, w := value(t, s), waiters(t, s); v != 0 || w != 0 {
		t.Errorf("value %d, waiters %d; want 0, 0", v, w)
	}
}

func TestGoPostWakesCTimedwait(t *testing.T) {
	name, s := named(t, 0)
	var out bytes.Buffer
	cmd := peerCmd(t, &out, "timedwait", "/"+name, "20000")
	start(t, cmd)
	waitFor(t, "the C sem_timedwait registered", func() bool { return waiters(t, s) == 1 })
	if err := s.Post(); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil || strings.TrimSpace(out.String()) != "took" {
		t.Fatalf("C sem_timedwait after Go Post: %v, output %q", err, out.String())
	}
	if v, w := value(t, s), waiters(t, s); v != 0 || w != 0 {
		t.Errorf("value %d, waiters %d; want 0, 0", v, w)
	}
}

func TestCCreatesGoOpens(t *testing.T) {
	name := shmtest.Name(t, "")
	run(t, "create", "/"+name, "2")
	s, err := Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if v := value(t, s); v != 2 {
		t.Fatalf("Go sees value %d of a semaphore C created with 2", v)
	}
	if err := s.Post(); err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(run(t, "value", "/"+name)); got != "3" {
		t.Fatalf("C sem_getvalue = %s after a Go Post, want 3", got)
	}
	if _, err := Create(name, 0); err == nil {
		t.Fatal("exclusive Create of the semaphore C made succeeded")
	}
}

// TestPingPongNoLostWakeups passes a token back and forth between a C
// process and Go 1000 times. Both sides wait with a timeout and without
// polling, so a single lost wake-up fails the test.
func TestPingPongNoLostWakeups(t *testing.T) {
	const rounds = 1000
	pingName, ping := named(t, 0)
	pongName, pong := named(t, 0)
	var out bytes.Buffer
	cmd := peerCmd(t, &out, "pingpong", "/"+pingName, "/"+pongName, itoa(rounds), "10000")
	start(t, cmd)
	for i := range rounds {
		if err := ping.Post(); err != nil {
			t.Fatal(err)
		}
		if err := pong.WaitTimeout(10 * time.Second); err != nil {
			t.Fatalf("round %d: %v (C peer: %q)", i, err, out.String())
		}
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("C peer: %v, output %q", err, out.String())
	}
	for _, s := range []*Semaphore{ping, pong} {
		if v, w := value(t, s), waiters(t, s); v != 0 || w != 0 {
			t.Errorf("%s: value %d, waiters %d; want 0, 0", s.Name(), v, w)
		}
	}
}

// TestHammer has two C and two Go processes use one semaphore as a lock
// around a plain counter in a segment: N wait/increment/post rounds each.
// The counter is exact only if no two processes were ever inside together,
// and the semaphore ends where it started.
func TestHammer(t *testing.T) {
	const n = 5000
	name, s := named(t, 1)
	seg := segment(t, 4096)
	var cmds []*exec.Cmd
	var outs []*bytes.Buffer
	for i := range 4 {
		var out bytes.Buffer
		var cmd *exec.Cmd
		if i%2 == 0 {
			cmd = peerCmd(t, &out, "hammer", "/"+name, "/"+seg.Name(), itoa(n))
		} else {
			cmd = child(t, "hammer", name, seg.Name(), itoa(n))
			cmd.Stdout, cmd.Stderr = &out, &out
		}
		start(t, cmd)
		cmds, outs = append(cmds, cmd), append(outs, &out)
	}
	for i, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			t.Fatalf("process %d: %v, output %q", i, err, outs[i].String())
		}
	}
	if got := binary.NativeEndian.Uint64(seg.Bytes()); got != 4*n {
		t.Errorf("counter = %d after 4 processes x %d locked increments, want %d", got, n, 4*n)
	}
	if v, w := value(t, s), waiters(t, s); v != 1 || w != 0 {
		t.Errorf("value %d, waiters %d; want 1, 0", v, w)
	}
}

// TestSegmentSemaphore uses an unnamed semaphore inside a segment from C
// and Go: made by Init and by sem_init, posted and waited by each side.
func TestSegmentSemaphore(t *testing.T) {
	seg := segment(t, 4096)
	segName := "/" + seg.Name()
	s, err := Init(seg, 64, 0)
	if err != nil {
		t.Fatal(err)
	}

	t.Run("GoPostWakesC", func(t *testing.T) {
		var out bytes.Buffer
		cmd := peerCmd(t, &out, "segwait", segName, "64", "20000")
		start(t, cmd)
		waitFor(t, "the C wait registered", func() bool { return waiters(t, s) == 1 })
		if err := s.Post(); err != nil {
			t.Fatal(err)
		}
		if err := cmd.Wait(); err != nil {
			t.Fatalf("C sem_timedwait in the segment: %v, output %q", err, out.String())
		}
	})

	t.Run("CPostWakesGo", func(t *testing.T) {
		done := make(chan error, 1)
		go func() { done <- s.WaitTimeout(20 * time.Second) }()
		waitFor(t, "the Go wait registered", func() bool { return waiters(t, s) == 1 })
		run(t, "segpost", segName, "64", "1")
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	})

	t.Run("CInitGoAttach", func(t *testing.T) {
		run(t, "seginit", segName, "128", "4")
		c, err := At(seg, 128)
		if err != nil {
			t.Fatal(err)
		}
		if v := value(t, c); v != 4 {
			t.Errorf("value of C's sem_init(4) = %d", v)
		}
	})

	if v, w := value(t, s), waiters(t, s); v != 0 || w != 0 {
		t.Errorf("value %d, waiters %d; want 0, 0", v, w)
	}
}

// TestKilledWaiter SIGKILLs a process asleep in Wait. Its registration stays
// in the waiter count (as with glibc), which must cost nothing but a
// needless wake: posts, waits and C peers go on working.
func TestKilledWaiter(t *testing.T) {
	name, s := named(t, 0)
	cmd := child(t, "wait", name)
	start(t, cmd)
	waitFor(t, "the child's wait registered", func() bool { return waiters(t, s) == 1 })
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	if n := waiters(t, s); n != 1 {
		t.Fatalf("waiter count %d after the waiter was killed, want the stale 1", n)
	}
	if err := s.Post(); err != nil {
		t.Fatal(err)
	}
	if ok, err := s.TryWait(); !ok || err != nil {
		t.Fatalf("TryWait after a post = %v, %v", ok, err)
	}
	// A live waiter in C is still woken by a Go post, and the reverse.
	var out bytes.Buffer
	c := peerCmd(t, &out, "timedwait", "/"+name, "20000")
	start(t, c)
	waitFor(t, "the C wait registered", func() bool { return waiters(t, s) == 2 })
	if err := s.Post(); err != nil {
		t.Fatal(err)
	}
	if err := c.Wait(); err != nil {
		t.Fatalf("C peer: %v, %q", err, out.String())
	}
	done := make(chan error, 1)
	go func() { done <- s.WaitTimeout(20 * time.Second) }()
	waitFor(t, "the Go wait registered", func() bool { return waiters(t, s) == 2 })
	run(t, "post", "/"+name, "1")
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if v, w := value(t, s), waiters(t, s); v != 0 || w != 1 {
		t.Errorf("value %d, waiters %d; want 0 and the stale 1", v, w)
	}
}
