//go:build linux

package futex

import (
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkBesideSleeper measures the work of one busy goroutine per CPU
// while one more goroutine sleeps 100 µs at a time: on a futex word that
// nobody wakes, in time.Sleep, or not at all. A goroutine asleep in a
// system call keeps its P until the runtime's monitor hands the P to
// another thread, so beside a futex sleeper the busy goroutines have one P
// fewer for much of the time; a goroutine in time.Sleep gives its P up at
// once. Compare ns/op across the three; -cpu sets GOMAXPROCS, and one P
// more than the CPUs gives the busy goroutines back what the futex
// sleeper holds.
//
//	go test -run '^$' -bench BesideSleeper -cpu 2,3 ./internal/futex
func BenchmarkBesideSleeper(b *testing.B) {
	for _, c := range []struct {
		name  string
		sleep func(*atomic.Uint32)
	}{
		{"none", nil},
		{"time.Sleep", func(*atomic.Uint32) { time.Sleep(100 * time.Microsecond) }},
		{"futex", func(w *atomic.Uint32) { WaitTimeout(w, 0, 100*time.Microsecond) }},
	} {
		b.Run(c.name, func(b *testing.B) {
			var word atomic.Uint32
			stop := make(chan struct{})
			sleeping := sync.WaitGroup{}
			if c.sleep != nil {
				sleeping.Go(func() {
					for {
						select {
						case <-stop:
							return
						default:
							c.sleep(&word)
						}
					}
				})
			}
			busy := runtime.NumCPU()
			var next atomic.Int64
			var working sync.WaitGroup
			b.ResetTimer()
			for range busy {
				working.Go(func() {
					x := uint64(1)
					for next.Add(1) <= int64(b.N) {
						x = spinWork(x)
					}
					sink.Store(x)
				})
			}
			working.Wait()
			b.StopTimer()
			close(stop)
			sleeping.Wait()
		})
	}
}

// spinWork is a unit of work on registers alone, about half a
// microsecond: the result only keeps the compiler from dropping it.
func spinWork(x uint64) uint64 {
	for i := range 1000 {
		x = x*6364136223846793005 + uint64(i)
	}
	return x
}

var sink atomic.Uint64
