//go:build linux

package lock_test

// Multi-process tests re-execute this test binary in a child role of
// runChild (see shmtest.Role). The children map the segment named by the
// argument "seg"; the mutex lives at offset 0 and the plain counter it
// protects at offCounter. The argument "arg" is the role's own.

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
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

func init() {
	for _, role := range []string{"count", "hammer", "hold", "wait", "pingpong",
		"dwrite", "dread", "dloan-hang", "vwrite", "vwrite-loop", "vwait", "write", "read"} {
		shmtest.Role(role, func(a shmtest.Args) int {
			return shmtest.ExitStatus(runChild(role, a["seg"], a["arg"]))
		})
	}
}

func TestMain(m *testing.M) { shmtest.Main(m) }

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
	case "pingpong": // the other side of BenchmarkMutexHandoff; arg: lock the thread
		if arg == "true" {
			runtime.LockOSThread()
		}
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

// child is a re-executed test binary running one role of runChild.
type child struct{ *shmtest.Child }

func startChild(t testing.TB, role, seg, arg string) *child {
	t.Helper()
	return startChildIn(t, false, role, seg, arg)
}

// startChildIn is startChild, in a new PID namespace of its own when newNS
// is set (as root only: see needNewNS).
func startChildIn(t testing.TB, newNS bool, role, seg, arg string) *child {
	t.Helper()
	var opts []shmtest.Option
	if newNS {
		opts = append(opts, shmtest.NewPIDNamespace())
	}
	return &child{shmtest.Spawn(t, role, shmtest.Args{"seg": seg, "arg": arg}, opts...)}
}

// line returns the child's next line of output.
func (c *child) line(t testing.TB, timeout time.Duration) string {
	t.Helper()
	l, ok := c.Next(timeout)
	if !ok {
		t.Fatalf("child %s (pid %d): no line of output within %v; output:\n%s", c.Role, c.Pid(), timeout, c.Output())
	}
	return l
}

func (c *child) kill(t testing.TB) {
	t.Helper()
	if err := c.Cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
}

// killed checks that the child died of SIGKILL, not of its own accord.
func (c *child) killed(t testing.TB) {
	t.Helper()
	if code := c.ExitCode(10 * time.Second); code == shmtest.StillRunning {
		t.Fatalf("child %s (pid %d) still running 10 s after SIGKILL", c.Role, c.Pid())
	}
	if sig, ok := c.Signal(); !ok || sig != syscall.SIGKILL {
		t.Fatalf("child %s (pid %d): exit status %d, want death by SIGKILL; output:\n%s", c.Role, c.Pid(), c.Cmd.ProcessState.ExitCode(), c.Output())
	}
}

// wait waits up to timeout for the child to exit and returns nil if it
// exited with status 0.
func (c *child) wait(t testing.TB, timeout time.Duration) error {
	t.Helper()
	return c.Wait(timeout)
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
