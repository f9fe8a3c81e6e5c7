//go:build linux

package interop

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/shmkit/shm/internal/shmtest"
	"github.com/shmkit/shm/queue"
)

func init() {
	shmtest.Role("go-bench-send", goBenchSendRole)
	shmtest.Role("go-bench-recv", goBenchRecvRole)
}

// goBenchSendRole sends a["count"] messages of a["size"] bytes to the queue
// a["name"] one at a time, then closes.
func goBenchSendRole(a shmtest.Args) int {
	q, err := queue.Open(a["name"])
	if err != nil {
		fmt.Println(err)
		return 1
	}
	msg := make([]byte, a.Int("size"))
	ctx := context.Background()
	for range a.Int("count") {
		if err := q.Send(ctx, msg); err != nil {
			fmt.Println(err)
			return 1
		}
	}
	q.Close()
	return 0
}

// goBenchRecvRole receives from the queue a["name"] until the end, saying
// "ready" once it holds the consumer role.
func goBenchRecvRole(a shmtest.Args) int {
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
// yardstick), C to Go, Go to C and C to C, at 64 B and 64 KiB, on a 1 MiB
// ring, unpinned. Every pair runs the same loop: the producer sends b.N
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
	q := createQueue(b, name, 1<<20)
	count := fmt.Sprint(b.N)
	b.SetBytes(int64(size))
	var recv, send *exec.Cmd
	switch pair {
	case "go-go":
		recv = child(b, "go-bench-recv", name)
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
