//go:build linux

package lock_test

// Multi-process tests re-execute this test binary: TestMain runs the child
// role named by the environment variable roleEnv instead of the tests. The
// children map the segment named by segEnv; the mutex lives at offset 0 and
// the plain counter it protects at offCounter.

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/shmkit/shm"
	"github.com/shmkit/shm/internal/mem"
	"github.com/shmkit/shm/internal/shmtest"
	"github.com/shmkit/shm/lock"
)

const (
	roleEnv = "SHM_LOCK_TEST_ROLE"
	segEnv  = "SHM_LOCK_TEST_SEG"
	argEnv  = "SHM_LOCK_TEST_ARG"

	offMutex   = 0
	offCounter = 64
	offTurn    = 72
	offStop    = 80
	offGo      = 88
	offScratch = 96
	offA       = 104 // the hammer role's pair, equal outside the critical section
	offB       = 112
	offValue   = 128
	offWait    = 1024 // the Value[uint64] of the vwrite and vwait roles
	segSize    = 4096
)

func TestMain(m *testing.M) {
	role := os.Getenv(roleEnv)
	if role == "" {
		os.Exit(m.Run())
	}
	if err := runChild(role, os.Getenv(segEnv), os.Getenv(argEnv)); err != nil {
		fmt.Fprintf(os.Stderr, "child %s: %v\n", role, err)
		os.Exit(1)
	}
	os.Exit(0)
}

func runChild(role, name, arg string) error {
	seg, err := shm.Open(name)
	if err != nil {
		return err
	}
	defer seg.Close()
	b := seg.Bytes()
	m, err := lock.MutexIn(b[offMutex:], lock.Name(name), lock.File(seg.Fd()))
	if err != nil {
		return err
	}
	ctx := context.Background()
	switch role {
	case "count": // arg: increments; starts when the word at offGo is set
		n, _ := strconv.Atoi(arg)
		start, err := mem.Uint32(b, offGo)
		if err != nil {
			return err
		}
		fmt.Println("ready")
		for start.Load() == 0 {
			runtime.Gosched()
		}
		for range n {
			if err := m.Lock(ctx); err != nil {
				return err
			}
			c := binary.NativeEndian.Uint64(b[offCounter:])
			// Stay in the critical section a while, so that a broken
			// mutex would let the processes overlap here and lose counts.
			x := c
			for j := range uint64(100) {
				x = x*31 + j
			}
			b[offScratch] = byte(x)
			binary.NativeEndian.PutUint64(b[offCounter:], c+1)
			if err := m.Unlock(); err != nil {
				return err
			}
		}
		return nil
	case "hammer":
		// Lock and unlock until killed, keeping the invariant a == b outside
		// the critical section: a mismatch on a normal acquisition means
		// the mutex let a half-done update through without ErrOwnerDead.
		fmt.Println("started")
		for {
			err := m.Lock(ctx)
			if errors.Is(err, lock.ErrOwnerDead) {
				repair(b)
				err = m.MarkConsistent()
			}
			if err != nil {
				return err
			}
			if !consistent(b) {
				return fmt.Errorf("inconsistent pair %d, %d under a normally acquired mutex", pairA(b), pairB(b))
			}
			binary.NativeEndian.PutUint64(b[offA:], pairA(b)+1)
			for j := range 50 {
				b[offScratch] = byte(j)
			}
			binary.NativeEndian.PutUint64(b[offB:], pairB(b)+1)
			if err := m.Unlock(); err != nil {
				return err
			}
		}
	case "hold": // take the mutex, say so, and hold it until killed
		if err := m.Lock(ctx); err != nil {
			return err
		}
		fmt.Println("locked")
		time.Sleep(time.Hour) // (select {} would die of "all goroutines are asleep")
		return nil
	case "wait": // arg: timeout; report how Lock ended, then release
		d, _ := time.ParseDuration(arg)
		ctx, cancel := context.WithTimeout(ctx, d)
		defer cancel()
		fmt.Println("waiting")
		err := m.Lock(ctx)
		switch {
		case err == nil:
			fmt.Println("ok")
		case errors.Is(err, lock.ErrOwnerDead):
			fmt.Println("ownerdead")
			if err := m.MarkConsistent(); err != nil {
				return err
			}
		case errors.Is(err, lock.ErrNotRecoverable):
			fmt.Println("notrecoverable")
			return nil
		default:
			fmt.Println("error", err)
			return nil
		}
		time.Sleep(5 * time.Millisecond)
		return m.Unlock()
	case "pingpong": // the other side of BenchmarkMutexHandoff
		fmt.Println("ready")
		for {
			if err := m.Lock(ctx); err != nil {
				return err
			}
			if b[offTurn] == 1 {
				b[offTurn] = 0
			}
			stop := b[offStop] != 0
			if err := m.Unlock(); err != nil {
				return err
			}
			if stop {
				return nil
			}
		}
	case "dwrite", "dread", "dloan-hang":
		return doubleChild(seg, role, arg)
	case "vwrite", "vwrite-loop", "vwait":
		return valueChild(seg, role, arg)
	case "write": // arg: duration; store snapshots at full speed
		return seqWriter(b, arg)
	case "read": // arg: duration; load and verify snapshots
		return seqReader(b, arg)
	}
	return fmt.Errorf("unknown role %q", role)
}

func pairA(b []byte) uint64    { return binary.NativeEndian.Uint64(b[offA:]) }
func pairB(b []byte) uint64    { return binary.NativeEndian.Uint64(b[offB:]) }
func consistent(b []byte) bool { return pairA(b) == pairB(b) }
func repair(b []byte)          { binary.NativeEndian.PutUint64(b[offB:], pairA(b)) }

// child is a re-executed test binary running one role.
type child struct {
	cmd   *exec.Cmd
	lines chan string
	done  chan error
}

func startChild(t testing.TB, role, seg, arg string) *child {
	t.Helper()
	return startChildIn(t, false, role, seg, arg)
}

// startChildIn is startChild, in a new PID namespace of its own when newNS
// is set (as root only: see needNewNS).
func startChildIn(t testing.TB, newNS bool, role, seg, arg string) *child {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), roleEnv+"="+role, segEnv+"="+seg, argEnv+"="+arg)
	if newNS {
		cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWPID}
	}
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &child{cmd: cmd, lines: make(chan string, 100), done: make(chan error, 1)}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			c.lines <- sc.Text()
		}
		close(c.lines)
		c.done <- cmd.Wait()
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		for range c.lines {
		}
		c.done <- <-c.done // reaped; leave the result for later waits
	})
	return c
}

// line returns the child's next line of output.
func (c *child) line(t testing.TB, timeout time.Duration) string {
	t.Helper()
	select {
	case l, ok := <-c.lines:
		if !ok {
			t.Fatalf("child %d exited without output", c.cmd.Process.Pid)
		}
		return l
	case <-time.After(timeout):
		t.Fatalf("no output from child %d in %v", c.cmd.Process.Pid, timeout)
	}
	return ""
}

func (c *child) kill(t testing.TB) {
	t.Helper()
	if err := c.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
}

// killed checks that the child died of SIGKILL, not of its own accord.
func (c *child) killed(t testing.TB) {
	t.Helper()
	err := c.wait(t, 10*time.Second)
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		t.Fatalf("child %d: exit %v, want death by SIGKILL", c.cmd.Process.Pid, err)
	}
	if ws, ok := ee.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("child %d: %v, want death by SIGKILL", c.cmd.Process.Pid, err)
	}
}

// wait waits for the child to exit and returns its error.
func (c *child) wait(t testing.TB, timeout time.Duration) error {
	t.Helper()
	for range c.lines {
	}
	select {
	case err := <-c.done:
		c.done <- err
		return err
	case <-time.After(timeout):
		t.Fatalf("child %d still running after %v", c.cmd.Process.Pid, timeout)
	}
	return nil
}

// newSeg creates a uniquely named segment removed when the test ends.
func newSeg(t testing.TB) (*shm.Segment, string) {
	t.Helper()
	name := shmtest.Name(t, "")
	seg, err := shm.Create(name, segSize)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { seg.Close() })
	return seg, name
}

func newMutex(t testing.TB, seg *shm.Segment) *lock.Mutex {
	t.Helper()
	m, err := lock.MutexAt(seg, offMutex)
	if err != nil {
		t.Fatal(err)
	}
	return m
}
