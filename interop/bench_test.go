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
// ring. The ratios to go-go in one run are what docs/BENCHMARKS.md
// reports. This process is the consumer when Go receives and the producer
// when Go sends; the peer is a child process.
func BenchmarkStream(b *testing.B) {
	for _, size := range []int{64, 64 << 10} {
		for _, pair := range []string{"go-go", "c-go", "go-c", "c-c"} {
			b.Run(fmt.Sprintf("%s/%s", pair, sizeName(size)), func(b *testing.B) {
				benchStream(b, pair, size)
			})
		}
	}
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
	var out strings.Builder
	if recv != nil {
		// Another process consumes: start it and wait until it holds the role.
		stdout, err := recv.StdoutPipe()
		if err != nil {
			b.Fatal(err)
		}
		recv.Stderr = &out
		if err := recv.Start(); err != nil {
			b.Fatal(err)
		}
		sc := bufio.NewScanner(stdout)
		if !sc.Scan() || sc.Text() != "ready" {
			b.Fatalf("consumer: %q %s", sc.Text(), out.String())
		}
		go func() {
			for sc.Scan() {
				out.WriteString(sc.Text() + "\n")
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
		if recv == nil { // this process consumes
			buf := make([]byte, 0, size)
			ctx, cancel := ctxFor(10 * time.Minute)
			defer cancel()
			for range b.N {
				var err error
				if buf, err = q.Receive(ctx, buf); err != nil {
					send.Process.Kill()
					send.Wait()
					b.Fatalf("%v (producer: %s)", err, sendOut.String())
				}
			}
		}
		if err := waitCmd(b, send, 10*time.Minute); err != nil {
			b.Fatalf("producer: %v\n%s", err, sendOut.String())
		}
	}
	if recv != nil {
		if err := waitCmd(b, recv, 10*time.Minute); err != nil {
			b.Fatalf("consumer: %v\n%s", err, out.String())
		}
	}
	b.StopTimer()
}
