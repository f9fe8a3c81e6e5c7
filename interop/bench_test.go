//go:build linux

package interop

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/shmkit/shm/internal/shmtest"
	"github.com/shmkit/shm/queue"
)

func init() {
	shmtest.Role("go-bench-recv", goBenchRecvRole)
}

// goBenchRecvRole receives from the queue a["name"] until the end, saying
// "ready" once it holds the consumer role, on CPU a["cpu"] (-1: any).
func goBenchRecvRole(a shmtest.Args) int {
	if _, err := pinThread(a.Int("cpu")); err != nil {
		fmt.Println(err)
		return 1
	}
	q, err := queue.Open(a["name"])
	if err != nil {
		fmt.Println(err)
		return 1
	}
	if _, err := q.TryReceive(nil); err != queue.ErrEmpty {
		fmt.Println("first receive:", err)
		return 1
	}
	fmt.Println("ready")
	buf := make([]byte, 0, q.MaxMessage())
	got := 0
	for {
		if buf, err = q.Receive(context.Background(), buf); err != nil {
			break
		}
		got++
	}
	if err != io.EOF {
		fmt.Println(err)
		return 1
	}
	fmt.Println("got", got)
	return 0
}

// BenchmarkStream streams messages one at a time (Send, Receive) between
// two processes, for each pair of implementations: Go to Go (the
// yardstick), C to Go, Go to C and C to C, at 64 B and 64 KiB, on a ring
// of the queue's default capacity, the producer and the consumer pinned to
// two different CPUs (see streamCPUs). Every pair runs the same loop: the producer sends b.N
// messages of one buffer and closes, the consumer receives into one buffer
// with a context that is never done (so neither side pays for watching a
// deadline) until the end, and the clock stops when both have finished and
// the consumer has counted b.N messages. Each row after go-go reports its
// time per message over go-go's at the same size in the same run (the mean
// of go-go's -count rounds) as the go-go-ratio metric: the figure
// docs/BENCHMARKS.md's targets are stated in. This process is
// the consumer when Go receives and the producer when Go sends; the peer is
// a child process.
func BenchmarkStream(b *testing.B) {
	for _, size := range []int{64, 64 << 10} {
		// go-go's ns per message at this size, one entry per -count round:
		// a round's ramp starts at b.N == 1 and its last run is the one
		// reported.
		var goGo []float64
		for _, pair := range []string{"go-go", "c-go", "go-c", "c-c"} {
			b.Run(fmt.Sprintf("%s/%s", pair, sizeName(size)), func(b *testing.B) {
				benchStream(b, pair, size)
				ns := float64(b.Elapsed().Nanoseconds()) / float64(b.N)
				switch {
				case pair != "go-go":
					if len(goGo) > 0 {
						b.ReportMetric(ns/mean(goGo), "go-go-ratio")
					}
				case b.N == 1 || len(goGo) == 0:
					goGo = append(goGo, ns)
				default:
					goGo[len(goGo)-1] = ns
				}
			})
		}
	}
}

func mean(xs []float64) float64 {
	var sum float64
	for _, x := range xs {
		sum += x
	}
	return sum / float64(len(xs))
}

func sizeName(n int) string {
	if n >= 1<<10 {
		return fmt.Sprintf("%dKiB", n>>10)
	}
	return fmt.Sprintf("%dB", n)
}

func benchStream(b *testing.B, pair string, size int) {
	peer := buildPeer(b, "-O2")
	name := shmtest.Name(b, "")
	q := createQueue(b, name, queue.DefaultCapacity)
	count := fmt.Sprint(b.N)
	sendCPU, recvCPU := streamCPUs()
	b.SetBytes(int64(size))
	var recv, send *exec.Cmd
	switch pair {
	case "go-go":
		recv = child(b, "go-bench-recv", name, strconv.Itoa(recvCPU))
	case "c-go":
		send = exec.Command(peer, "bench-send", name, fmt.Sprint(size), count)
	case "go-c":
		recv = exec.Command(peer, "bench-recv", name)
	case "c-c":
		recv = exec.Command(peer, "bench-recv", name)
		send = exec.Command(peer, "bench-send", name, fmt.Sprint(size), count)
	}
	var recvErr strings.Builder
	var recvOut []string
	recvDone := make(chan struct{})
	if recv != nil {
		// Another process consumes: start it and wait until it holds the role.
		stdout, err := recv.StdoutPipe()
		if err != nil {
			b.Fatal(err)
		}
		recv.Stderr = &recvErr
		if err := recv.Start(); err != nil {
			b.Fatal(err)
		}
		if pair != "go-go" { // the Go consumer pins itself
			pinProcess(b, recv, recvCPU)
		}
		sc := bufio.NewScanner(stdout)
		if !sc.Scan() || sc.Text() != "ready" {
			recv.Process.Kill()
			recv.Wait()
			b.Fatalf("consumer: %q %s", sc.Text(), recvErr.String())
		}
		go func() {
			defer close(recvDone)
			for sc.Scan() {
				recvOut = append(recvOut, sc.Text())
			}
		}()
	} else if _, err := q.TryReceive(nil); err != queue.ErrEmpty { // this process consumes
		b.Fatal(err)
	}
	// This process's side runs on a thread of its own, pinned.
	mine := sendCPU
	switch {
	case send != nil && recv != nil:
		mine = -1 // it only waits
	case send != nil:
		mine = recvCPU
	}
	unpin, err := pinThread(mine)
	if err != nil {
		b.Fatal(err)
	}
	defer unpin()
	b.ResetTimer()
	switch {
	case send == nil: // Go sends from this process
		msg := make([]byte, size)
		ctx := context.Background()
		for range b.N {
			if err := q.Send(ctx, msg); err != nil {
				b.Fatal(err)
			}
		}
		q.Close()
	default:
		var sendOut strings.Builder
		send.Stdout, send.Stderr = &sendOut, &sendOut
		if err := send.Start(); err != nil {
			b.Fatal(err)
		}
		pinProcess(b, send, sendCPU)
		if recv == nil { // this process consumes, as go-bench-recv does
			buf := make([]byte, 0, size)
			ctx := context.Background() // a dead producer ends a wait with ErrPeerDead
			for range b.N {
				var err error
				if buf, err = q.Receive(ctx, buf); err != nil {
					send.Process.Kill()
					send.Wait()
					b.Fatalf("%v (producer: %s)", err, sendOut.String())
				}
			}
			if _, err := q.Receive(ctx, buf); err != io.EOF {
				b.Fatalf("after %d messages: %v, want io.EOF (producer: %s)", b.N, err, sendOut.String())
			}
		}
		if err := waitCmd(b, send, 10*time.Minute); err != nil {
			b.Fatalf("producer: %v\n%s", err, sendOut.String())
		}
	}
	if recv != nil {
		select {
		case <-recvDone:
		case <-time.After(10 * time.Minute):
			recv.Process.Kill()
			<-recvDone
		}
		if err := waitCmd(b, recv, time.Minute); err != nil {
			b.Fatalf("consumer: %v\n%s%s", err, strings.Join(recvOut, "\n"), recvErr.String())
		}
		if want := fmt.Sprintf("got %d", b.N); len(recvOut) != 1 || recvOut[0] != want {
			b.Fatalf("consumer said %q, want %q\n%s", recvOut, want, recvErr.String())
		}
	}
	b.StopTimer()
}

// streamCPUs returns the CPUs a stream's sender and receiver run on: the
// first two this process may use, or -1 for both when it may use fewer.
// Unpinned, the two may share a CPU now and then, and a stream's figure
// then falls several times over for reasons that have nothing to do with
// either side's code.
func streamCPUs() (send, recv int) {
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err != nil {
		return -1, -1
	}
	var cpus []int
	for i := 0; i < len(set)*64 && len(cpus) < 2; i++ {
		if set.IsSet(i) {
			cpus = append(cpus, i)
		}
	}
	if len(cpus) < 2 {
		return -1, -1
	}
	return cpus[0], cpus[1]
}

// pinThread locks the calling goroutine to its thread and pins the thread
// to cpu (nothing for -1); unpin gives the thread its CPUs back and
// unlocks it.
func pinThread(cpu int) (unpin func(), err error) {
	if cpu < 0 {
		return func() {}, nil
	}
	runtime.LockOSThread()
	var old, set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &old); err != nil {
		runtime.UnlockOSThread()
		return nil, err
	}
	set.Set(cpu)
	if err := unix.SchedSetaffinity(0, &set); err != nil {
		runtime.UnlockOSThread()
		return nil, fmt.Errorf("pin to CPU %d: %w", cpu, err)
	}
	return func() {
		unix.SchedSetaffinity(0, &old)
		runtime.UnlockOSThread()
	}, nil
}

// pinProcess pins a started single-threaded child (the C peer) to cpu.
func pinProcess(t testing.TB, cmd *exec.Cmd, cpu int) {
	t.Helper()
	if cpu < 0 {
		return
	}
	var set unix.CPUSet
	set.Set(cpu)
	if err := unix.SchedSetaffinity(cmd.Process.Pid, &set); err != nil {
		t.Fatalf("pin pid %d to CPU %d: %v", cmd.Process.Pid, cpu, err)
	}
}
