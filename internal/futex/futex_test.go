//go:build linux

package futex

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shmkit/shm"
	"github.com/shmkit/shm/internal/mem"
	"github.com/shmkit/shm/internal/shmtest"
)

// The child role "wait" is the waiting child of TestCrossProcess: it waits
// on the word at offset 0 of the segment a["seg"] until the word is no
// longer 0.
func init() {
	shmtest.Role("wait", func(a shmtest.Args) int {
		seg, err := shm.Open(a["seg"])
		if err == nil {
			w := mem.MustUint32(seg.Bytes(), 0)
			for w.Load() == 0 && err == nil {
				err = WaitTimeout(w, 0, 20*time.Second)
			}
		}
		return shmtest.ExitStatus(err)
	})
}

func TestMain(m *testing.M) { shmtest.Main(m) }

// word returns a 32-bit word in a fresh shared segment.
func word(t *testing.T) (*atomic.Uint32, *shm.Segment) {
	t.Helper()
	seg, err := shm.Create(shmtest.Name(t, ""), 4096)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { seg.Close() })
	return mem.MustUint32(seg.Bytes(), 0), seg
}

// wakeOne wakes a sleeper on w, retrying until one was asleep to be woken:
// proof that the waiter really slept on this word.
func wakeOne(t *testing.T, w *atomic.Uint32) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); Wake(w, 1) != 1; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("nobody slept on the word within 10s")
		}
	}
}

func TestWaitReturnsAtOnceOnAnotherValue(t *testing.T) {
	w, _ := word(t)
	w.Store(7)
	if err := WaitTimeout(w, 0, 10*time.Second); err != nil {
		t.Fatalf("WaitTimeout on a word that differs = %v, want nil", err)
	}
	if err := Wait(context.Background(), w, 0); err != nil {
		t.Fatalf("Wait on a word that differs = %v, want nil", err)
	}
}

func TestWake(t *testing.T) {
	for _, tc := range []struct {
		name string
		wait func(*atomic.Uint32) error
	}{
		{"Wait", func(w *atomic.Uint32) error { return Wait(context.Background(), w, 0) }},
		{"WaitCancellable", func(w *atomic.Uint32) error {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			return Wait(ctx, w, 0)
		}},
		{"WaitTimeout", func(w *atomic.Uint32) error { return WaitTimeout(w, 0, 20*time.Second) }},
		{"WaitTimeoutForever", func(w *atomic.Uint32) error { return WaitTimeout(w, 0, -1) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w, _ := word(t)
			done := make(chan error, 1)
			go func() {
				var err error
				for w.Load() == 0 && err == nil {
					err = tc.wait(w)
				}
				done <- err
			}()
			wakeOne(t, w)
			w.Store(1)
			WakeAll(w)
			select {
			case err := <-done:
				if err != nil {
					t.Fatal(err)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("waiter not woken")
			}
		})
	}
}

func TestWaitTimeout(t *testing.T) {
	w, _ := word(t)
	start := time.Now()
	if err := WaitTimeout(w, 0, 30*time.Millisecond); !errors.Is(err, ErrTimeout) {
		t.Fatalf("WaitTimeout = %v, want ErrTimeout", err)
	}
	if d := time.Since(start); d < 30*time.Millisecond {
		t.Errorf("returned after %v, before the 30ms were up", d)
	}
	if err := WaitTimeout(w, 0, 0); !errors.Is(err, ErrTimeout) {
		t.Errorf("WaitTimeout(0) = %v, want ErrTimeout", err)
	}
}

func TestWaitContext(t *testing.T) {
	for _, tc := range []struct {
		name   string
		ctx    func() (context.Context, context.CancelFunc)
		cancel bool
		want   error
	}{
		{"cancelled", func() (context.Context, context.CancelFunc) { return context.WithCancel(context.Background()) }, true, context.Canceled},
		{"deadline", func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(context.Background(), 250*time.Millisecond)
		}, false, context.DeadlineExceeded},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w, _ := word(t)
			ctx, cancel := tc.ctx()
			defer cancel()
			done := make(chan error, 1)
			go func() {
				var err error
				for err == nil {
					err = Wait(ctx, w, 0) // the word never changes
				}
				done <- err
			}()
			if tc.cancel {
				wakeOne(t, w) // it sleeps; the wake is spurious and it sleeps again
				cancel()
			}
			select {
			case err := <-done:
				if !errors.Is(err, tc.want) {
					t.Fatalf("Wait = %v, want %v", err, tc.want)
				}
			case <-time.After(time.Second + 250*time.Millisecond):
				t.Fatal("Wait did not return within one second of its context ending")
			}
		})
	}
	w, _ := word(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := Wait(ctx, w, 0); !errors.Is(err, context.Canceled) {
		t.Errorf("Wait with a done context = %v", err)
	}
}

// TestCrossProcess checks that the operations are the shared ones: a child
// process sleeping on a word of a segment is woken from this process.
func TestCrossProcess(t *testing.T) {
	w, seg := word(t)
	c := shmtest.Spawn(t, "wait", shmtest.Args{"seg": seg.Name()})
	wakeOne(t, w) // proves the child sleeps on the same futex key
	w.Store(1)
	WakeAll(w)
	if err := c.Wait(time.Minute); err != nil {
		t.Fatal(err)
	}
}
