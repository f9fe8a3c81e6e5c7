//go:build linux

package lock_test

import (
	"context"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/shmkit/shm"
	"github.com/shmkit/shm/internal/shmtest"
	"github.com/shmkit/shm/lock"
)

// BenchmarkMutexUncontended compares an uncontended Lock+Unlock with
// sync.Mutex. Neither may allocate; the shm mutex makes no syscall here.
func BenchmarkMutexUncontended(b *testing.B) {
	b.Run("shm", func(b *testing.B) {
		seg, _ := newSeg(b)
		m := newMutex(b, seg)
		ctx := context.Background()
		b.ReportAllocs()
		for b.Loop() {
			if err := m.Lock(ctx); err != nil {
				b.Fatal(err)
			}
			if err := m.Unlock(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("sync", func(b *testing.B) {
		var m sync.Mutex
		b.ReportAllocs()
		for b.Loop() {
			m.Lock()
			m.Unlock()
		}
	})
}

// BenchmarkMutexHandoff measures a round trip between two processes that
// pass a turn flag back and forth under the mutex: each side takes the
// mutex, flips the flag when it is its turn, and releases it.
func BenchmarkMutexHandoff(b *testing.B) { benchmarkHandoff(b, false) }

// BenchmarkMutexHandoffLocked is BenchmarkMutexHandoff with each side's
// goroutine locked to its thread (runtime.LockOSThread), for which a yield
// to the scheduler costs two context switches.
func BenchmarkMutexHandoffLocked(b *testing.B) { benchmarkHandoff(b, true) }

func benchmarkHandoff(b *testing.B, locked bool) {
	if locked {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
	}
	seg, name := newSeg(b)
	m := newMutex(b, seg)
	mem := seg.Bytes()
	c := startChild(b, "pingpong", name, strconv.FormatBool(locked))
	defer func() {
		m.Lock(context.Background())
		mem[offStop] = 1
		m.Unlock()
		if err := c.wait(b, 10*time.Second); err != nil {
			b.Errorf("pingpong child: %v", err)
		}
	}()
	if l := c.line(b, 30*time.Second); l != "ready" {
		b.Fatalf("pingpong child said %q", l)
	}
	ctx := context.Background()
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		for {
			if err := m.Lock(ctx); err != nil {
				b.Fatal(err)
			}
			mine := mem[offTurn] == 0
			if mine {
				mem[offTurn] = 1
			}
			if err := m.Unlock(); err != nil {
				b.Fatal(err)
			}
			if mine {
				break
			}
		}
		n++
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n), "ns/roundtrip")
}

type point struct {
	X, Y, Z float64
	N       uint64
}

func BenchmarkValue(b *testing.B) {
	seg, _ := newSeg(b)
	v, err := lock.ValueIn[point](seg.Bytes()[offValue:])
	if err != nil {
		b.Fatal(err)
	}
	b.Run("Store", func(b *testing.B) {
		b.ReportAllocs()
		p := point{1, 2, 3, 0}
		for b.Loop() {
			p.N++
			v.Store(p)
		}
	})
	b.Run("Load", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := v.Load(); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkValue1MiB compares a 1 MiB Seqlock Write and Read, and a
// DoubleBuffer's, with a plain copy of the same bytes into and out of the
// same mapping: the figures the package documentation gives as ratios to
// Copy.
func BenchmarkValue1MiB(b *testing.B) {
	const n = 1 << 20
	name := shmtest.Name(b, "")
	seg, err := shm.Create(name, int64(lock.SeqlockSize(n)+lock.DoubleBufferSize(n)))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { seg.Close() })
	s, err := lock.SeqlockAt(seg, 0, n)
	if err != nil {
		b.Fatal(err)
	}
	src := make([]byte, n)
	for i := range src {
		src[i] = byte(i * 7)
	}
	dst := make([]byte, n)
	payload := seg.Bytes()[lock.SeqlockHeader:]
	copy(payload, src) // fault the pages in before anything is timed
	copy(dst, payload)
	b.Run("CopyIn", func(b *testing.B) {
		b.SetBytes(n)
		for b.Loop() {
			copy(payload, src)
		}
	})
	b.Run("CopyOut", func(b *testing.B) {
		b.SetBytes(n)
		for b.Loop() {
			copy(dst, payload)
		}
	})
	b.Run("Write", func(b *testing.B) {
		b.SetBytes(n)
		for b.Loop() {
			if err := s.Write(src); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Read", func(b *testing.B) {
		b.SetBytes(n)
		for b.Loop() {
			if err := s.Read(dst); err != nil {
				b.Fatal(err)
			}
		}
	})
	d, err := lock.DoubleBufferAt(seg, lock.SeqlockSize(n), n)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("DoubleWrite", func(b *testing.B) {
		b.SetBytes(n)
		for b.Loop() {
			if err := d.Write(src); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("DoubleRead", func(b *testing.B) {
		b.SetBytes(n)
		for b.Loop() {
			if _, err := d.Read(dst); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkValueContended loads a 248-byte Value while another process
// stores it at full speed, so that loads often overlap a store and try
// again. It runs with the loading goroutine free (locked=false) and locked
// to its thread with runtime.LockOSThread (locked=true), for which a
// yield to the scheduler costs two context switches.
func BenchmarkValueContended(b *testing.B) {
	for _, locked := range []bool{false, true} {
		b.Run("locked="+strconv.FormatBool(locked), func(b *testing.B) {
			seg, name := newSeg(b)
			v, err := lock.ValueIn[snap](seg.Bytes()[offValue:])
			if err != nil {
				b.Fatal(err)
			}
			w := startChild(b, "write", name, "1h")
			defer func() {
				w.kill(b)
				w.killed(b)
			}()
			for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(time.Millisecond) {
				if s, err := v.Load(); err == nil && s.Seq > 1000 {
					break
				}
				if time.Now().After(deadline) {
					b.Fatal("the writer made no progress in 30 s")
				}
			}
			if locked {
				runtime.LockOSThread()
				defer runtime.UnlockOSThread()
			}
			for b.Loop() {
				if _, err := v.Load(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkMutexGoroutines takes and releases the mutex in four goroutines
// per P of one process, each through the same Mutex. With -cpu 1 they
// share one P, and a waiter must let the holder have it.
func BenchmarkMutexGoroutines(b *testing.B) {
	seg, _ := newSeg(b)
	m := newMutex(b, seg)
	ctx := context.Background()
	counter := 0
	b.SetParallelism(4)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := m.Lock(ctx); err != nil {
				b.Error(err)
				return
			}
			counter++
			if err := m.Unlock(); err != nil {
				b.Error(err)
				return
			}
		}
	})
	if counter != b.N {
		b.Errorf("counter = %d after %d iterations", counter, b.N)
	}
}
