package mem

import (
	"bytes"
	"encoding/binary"
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

// TestCopyReleaseAcquire round-trips payloads of every length around word
// and chunk boundaries through words, checking each word's bytes and the
// zero padding of a last partial word.
func TestCopyReleaseAcquire(t *testing.T) {
	for _, n := range []int{0, 1, 7, 8, 9, 15, 16, 100, copyChunk*8 - 1, copyChunk * 8, copyChunk*8 + 8, copyChunk*16 + 3} {
		src := make([]byte, n)
		for i := range src {
			src[i] = byte(i*131 + 7)
		}
		words := make([]atomic.Uint64, (n+7)/8+1)
		for i := range words {
			words[i].Store(^uint64(0))
		}
		CopyRelease(words, src)
		for i := 0; i < (n+7)/8; i++ {
			var want [8]byte
			copy(want[:], src[i*8:])
			if got := words[i].Load(); got != binary.NativeEndian.Uint64(want[:]) {
				t.Fatalf("n=%d: word %d = %#x, want %x", n, i, got, want)
			}
		}
		if words[len(words)-1].Load() != ^uint64(0) {
			t.Fatalf("n=%d: CopyRelease wrote past the payload", n)
		}
		dst := make([]byte, n+1)
		dst[n] = 0xa5
		CopyAcquire(dst[:n], words)
		if !bytes.Equal(dst[:n], src) || dst[n] != 0xa5 {
			t.Fatalf("n=%d: CopyAcquire gave other bytes, or wrote past dst", n)
		}
	}
}
