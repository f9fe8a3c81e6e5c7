//go:build linux

package sem

import (
	"bufio"
	"io"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// BenchmarkPostTryWait is the uncontended path: a Post and a TryWait with
// nobody waiting, which must make no system call and no allocation.
// Compare with BenchmarkGlibcPostTryWait.
func BenchmarkPostTryWait(b *testing.B) {
	s := newSem(b, 0)
	b.ReportAllocs()
	for b.Loop() {
		if err := s.Post(); err != nil {
			b.Fatal(err)
		}
		if ok, err := s.TryWait(); !ok || err != nil {
			b.Fatal(ok, err)
		}
	}
}

// BenchmarkGlibcPostTryWait runs glibc's sem_post+sem_trywait in the C
// peer (at least a million times) and reports its ns/op, so that it sits
// next to BenchmarkPostTryWait in one run.
func BenchmarkGlibcPostTryWait(b *testing.B) {
	bin := cPeer(b)
	n := max(b.N, 1_000_000)
	out, err := exec.Command(bin, "bench", strconv.Itoa(n)).Output()
	if err != nil {
		b.Fatalf("peer bench: %v", err)
	}
	ns, err := strconv.ParseFloat(strings.TrimSpace(string(out)), 64)
	if err != nil {
		b.Fatalf("peer bench printed %q", out)
	}
	b.ReportMetric(ns, "ns/op")
}

// BenchmarkHandoff measures a round trip between this process and a child
// process: through a pair of semaphores (post ping, wait pong) and, for
// comparison, through a pair of pipes (write a byte, read it back).
func BenchmarkHandoff(b *testing.B) {
	b.Run("sem", func(b *testing.B) {
		pingName, ping := named(b, 0)
		pongName, pong := named(b, 0)
		cmd := child(b, "pingpong", pingName, pongName, strconv.Itoa(b.N+1))
		start(b, cmd)
		roundtrip := func() {
			if err := ping.Post(); err != nil {
				b.Fatal(err)
			}
			if err := pong.WaitTimeout(10 * time.Second); err != nil {
				b.Fatal(err)
			}
		}
		roundtrip() // the child is up
		t0 := time.Now()
		b.ResetTimer()
		for range b.N {
			roundtrip()
		}
		b.StopTimer()
		b.ReportMetric(float64(time.Since(t0).Nanoseconds())/float64(b.N), "ns/roundtrip")
		if err := cmd.Wait(); err != nil {
			b.Fatal(err)
		}
	})
	b.Run("pipe", func(b *testing.B) {
		cmd := child(b, "pipe")
		w, err := cmd.StdinPipe()
		if err != nil {
			b.Fatal(err)
		}
		rc, err := cmd.StdoutPipe()
		if err != nil {
			b.Fatal(err)
		}
		r := bufio.NewReader(rc)
		start(b, cmd)
		buf := []byte{'x'}
		roundtrip := func() {
			if _, err := w.Write(buf); err != nil {
				b.Fatal(err)
			}
			if _, err := io.ReadFull(r, buf); err != nil {
				b.Fatal(err)
			}
		}
		roundtrip()
		t0 := time.Now()
		b.ResetTimer()
		for range b.N {
			roundtrip()
		}
		b.StopTimer()
		b.ReportMetric(float64(time.Since(t0).Nanoseconds())/float64(b.N), "ns/roundtrip")
		w.Close()
		if err := cmd.Wait(); err != nil {
			b.Fatal(err)
		}
	})
}
