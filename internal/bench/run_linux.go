package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

func supported() error { return nil }

// peerSpec is what the driver passes to the peer in peerEnv.
type peerSpec struct {
	Case  Case   `json:"case"`
	Arg   string `json:"arg"`
	Files int    `json:"files"`
	CPU   int    `json:"cpu"`
}

// peerExitTimeout bounds the wait for a peer to exit after its last message.
const peerExitTimeout = 5 * time.Second

// peerGoneGrace is how long the driver may still take to receive the last
// message of a peer that has exited, before its wait is cancelled.
const peerGoneGrace = 500 * time.Millisecond

func runCase(ctx context.Context, c *config, t Transport, cs Case, d time.Duration, place Placement) (res Result) {
	res = Result{Transport: cs.Transport, Workload: cs.Workload, Size: cs.Size, DriverCPU: place.Driver, PeerCPU: place.Peer}
	if err := runCaseErr(ctx, c, t, cs, d, place, &res); err != nil {
		res.Error = err.Error()
	}
	return res
}

func runCaseErr(parent context.Context, c *config, t Transport, cs Case, d time.Duration, place Placement, res *Result) (err error) {
	// The watchdog bounds a case whose peer hangs without dying.
	ctx, cancel := context.WithTimeout(parent, 2*d+15*time.Second)
	defer cancel()

	conn, pi, err := t.Prepare(ctx, cs)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, conn.Close()) }()

	spec, err := json.Marshal(peerSpec{Case: cs, Arg: pi.Arg, Files: len(pi.Files), CPU: place.Peer})
	if err != nil {
		return err
	}
	cmd := exec.Command(c.exe, c.args...)
	cmd.Env = append(os.Environ(), peerEnv+"="+string(spec))
	cmd.ExtraFiles = pi.Files
	stderr := &headBuffer{}
	cmd.Stderr = stderr
	// The peer dies with the thread that started it (see startPeer).
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}

	exited, waitErr, err := startPeer(cmd, cancel)
	for _, f := range pi.Files {
		f.Close()
	}
	if err != nil {
		return fmt.Errorf("start peer: %w", err)
	}
	stopKill := context.AfterFunc(ctx, func() { cmd.Process.Kill() })
	defer func() {
		stopKill()
		cmd.Process.Kill()
		<-exited
	}()

	// The hot loop runs on a thread of its own, pinned, which the runtime
	// destroys when the goroutine returns still locked.
	type outcome struct {
		msgs    uint64
		elapsed time.Duration
		err     error
	}
	done := make(chan outcome, 1)
	h := &Histogram{}
	pid := cmd.Process.Pid
	win := &window{peerCPU: func() (time.Duration, error) { return processCPU(pid) }}
	go func() {
		if err := pinThread(place.Driver); err != nil {
			done <- outcome{err: err}
			return
		}
		var o outcome
		switch cs.Workload {
		case RTT, Wake:
			gap := time.Duration(0)
			if cs.Workload == Wake {
				gap = WakeGap
			}
			start := time.Now()
			o.err = driveRTT(ctx, conn, cs.Size, d, gap, h, win)
			o.elapsed = time.Since(start)
		default:
			o.msgs, o.elapsed, o.err = driveStream(ctx, conn, cs.Size, d, cs.Workload == Batch, win)
		}
		done <- o
	}()
	o := <-done

	// A peer that finished its part exits by itself; its status tells
	// whether it saw every message intact.
	select {
	case <-exited:
	case <-time.After(peerExitTimeout):
		cmd.Process.Kill()
		<-exited
		if o.err == nil {
			o.err = fmt.Errorf("peer did not exit within %v of the last message", peerExitTimeout)
		}
	}
	if parent.Err() != nil {
		return parent.Err()
	}
	if o.err != nil || *waitErr != nil {
		msg := strings.TrimSpace(stderr.String())
		switch {
		case o.err == nil:
			return fmt.Errorf("peer: %w: %s", *waitErr, msg)
		case msg != "":
			return fmt.Errorf("%w (peer: %s)", o.err, msg)
		case *waitErr != nil:
			return fmt.Errorf("%w (peer: %w)", o.err, *waitErr)
		}
		return o.err
	}

	res.DurationNS = int64(o.elapsed)
	cpu, percent, err := win.peerUse()
	if err != nil {
		return err
	}
	res.PeerCPUNS, res.PeerCPUPercent = int64(cpu), percent
	if cs.Workload == RTT || cs.Workload == Wake {
		res.setLatencies(h)
		if res.Samples == 0 {
			return errors.New("no round trip was timed")
		}
	} else {
		if o.msgs == 0 || o.elapsed <= 0 {
			return errors.New("no message was streamed")
		}
		res.setRate(o.msgs, o.elapsed)
	}
	return nil
}

// startPeer starts cmd from a goroutine locked to its thread until the peer
// has exited and been reaped: Pdeathsig fires when the thread that forked
// the child ends, and a Go thread ends when a goroutine exits while locked
// to it, as the pinned hot loops do. Locking keeps any such goroutine off
// this thread. When the peer has been gone for peerGoneGrace, cancel is
// called, which stops a driver waiting for a message that will never come.
func startPeer(cmd *exec.Cmd, cancel func()) (exited <-chan struct{}, waitErr *error, err error) {
	started := make(chan error, 1)
	ch := make(chan struct{})
	werr := new(error)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		if err := cmd.Start(); err != nil {
			started <- err
			close(ch)
			return
		}
		started <- nil
		*werr = cmd.Wait()
		close(ch)
		// A peer that exits normally has sent its last message, which the
		// driver is about to take; cancelling at once could make a wait
		// give up with the message already there.
		time.AfterFunc(peerGoneGrace, cancel)
	}()
	return ch, werr, <-started
}

// headBuffer keeps the first 4 KiB written to it: the peer's error message.
// exec.Cmd.Wait returns only after the last Write.
type headBuffer struct{ b []byte }

func (h *headBuffer) Write(p []byte) (int, error) {
	if n := 4096 - len(h.b); n > 0 {
		h.b = append(h.b, p[:min(n, len(p))]...)
	}
	return len(p), nil
}

func (h *headBuffer) String() string { return string(h.b) }

// processCPU returns the CPU time, user and system, that process pid has
// used so far in all its threads, those that ended included, to the
// nanosecond: the kernel's CPU-time clock of that process
// (clock_getcpuclockid(3) gives the same clock id). It fails once the
// process has been reaped.
func processCPU(pid int) (time.Duration, error) {
	// MAKE_PROCESS_CPUCLOCK(pid, CPUCLOCK_SCHED) in the kernel's
	// include/linux/posix-timers.h: the complemented pid above three bits
	// saying which clock; CPUCLOCK_SCHED (2) counts the time on a CPU.
	const cpuclockSched = 2
	// PID_MAX_LIMIT: no pid is larger, and the clock id of a larger one
	// would not fit in 32 bits.
	if pid <= 0 || pid > 1<<22 {
		return 0, fmt.Errorf("CPU clock of process %d: no such process id", pid)
	}
	var ts unix.Timespec
	if err := unix.ClockGettime(int32(^pid<<3|cpuclockSched), &ts); err != nil {
		return 0, fmt.Errorf("CPU clock of process %d: %w", pid, err)
	}
	return time.Duration(ts.Nano()), nil
}
