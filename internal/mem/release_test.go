package mem

import (
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
)

func TestStoreRelease32(t *testing.T) {
	var w [2]atomic.Uint32 // the neighbour shows a store that is too wide
	for _, v := range []uint32{1, 0xffffffff, 0x01020304, 0} {
		StoreRelease32(&w[0], v)
		if got := w[0].Load(); got != v || w[1].Load() != 0 {
			t.Errorf("StoreRelease32(%#x) then Load: %#x, neighbour %#x", v, got, w[1].Load())
		}
	}
}

func TestStoreRelease64(t *testing.T) {
	var w atomic.Uint64
	for _, v := range []uint64{1, 0xffffffffffffffff, 0x0102030405060708, 0} {
		StoreRelease64(&w, v)
		if got := w.Load(); got != v {
			t.Errorf("StoreRelease64(%#x) then Load: %#x", v, got)
		}
	}
}

// TestHeavyDekker runs the store-buffer litmus test that the queue's
// sleep/wake hand-off relies on, many times over: a light side stores with
// StoreRelease64 and then loads the other word, a heavy side stores (a
// sequentially consistent store), calls Heavy and loads. Both loads seeing
// zero is the lost wake-up, which amd64 allows without Heavy: without
// the Heavy call this test failed about one round in a thousand on the
// two-CPU development machine.
func TestHeavyDekker(t *testing.T) {
	if !Asymmetric() {
		t.Skip("membarrier(MEMBARRIER_CMD_GLOBAL_EXPEDITED) is not available")
	}
	if err := Heavy(); err != nil {
		t.Fatalf("Heavy after Asymmetric: %v", err)
	}
	const rounds = 20000
	var a, b, start, done, spin atomic.Uint64
	var r1s [rounds]uint64
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // the light side
		defer wg.Done()
		for i := uint64(1); i <= rounds; i++ {
			for j := 0; start.Load() < i; j++ {
				if j > 1000 {
					runtime.Gosched()
				}
			}
			StoreRelease64(&a, i)
			r1s[i-1] = b.Load()
			done.Add(1)
		}
	}()
	lost := 0
	for i := uint64(1); i <= rounds; i++ {
		start.Store(i)
		for k := uint64(0); k < i%128; k++ { // vary the timing to hit the window
			spin.Add(1)
		}
		b.Store(i)
		if err := Heavy(); err != nil {
			t.Fatal(err)
		}
		r2 := a.Load()
		for done.Load() < i {
			runtime.Gosched()
		}
		if r1s[i-1] < i && r2 < i {
			lost++
		}
	}
	wg.Wait()
	if lost != 0 {
		t.Errorf("%d of %d rounds: each side missed the other's store", lost, rounds)
	}
}
