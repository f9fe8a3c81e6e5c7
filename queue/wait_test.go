package queue

import (
	"testing"
	"time"

	"github.com/shmkit/shm/internal/mem"
)

// TestWakeUpPaysOneBarrier puts a consumer to sleep on an empty queue again
// and again and wakes it with a message each time. Going to sleep costs a
// membarrier (mem.Heavy, tens of microseconds on some VMs); a waiter that
// the message woke must take the message without paying for another.
func TestWakeUpPaysOneBarrier(t *testing.T) {
	if !mem.Asymmetric() {
		t.Skip("membarrier is not available: waiters do not use it")
	}
	const wakeUps = 20
	_, p, c := pair(t, 4096, SpinTime(time.Microsecond))
	ctx := ctxT(t)
	got := make(chan error)
	before := mem.HeavyCalls()
	go func() {
		for range wakeUps {
			_, err := c.Receive(ctx, nil)
			got <- err
		}
	}()
	for i := range wakeUps {
		// The consumer advertises that it sleeps before its barrier and
		// its futex wait; give it time to get into the wait.
		for c.consWait.Load() == 0 {
			if ctx.Err() != nil {
				t.Fatalf("wake-up %d: the consumer never went to sleep", i)
			}
			time.Sleep(100 * time.Microsecond)
		}
		time.Sleep(2 * time.Millisecond)
		if err := p.Send(ctx, []byte{byte(i)}); err != nil {
			t.Fatal(err)
		}
		if err := <-got; err != nil {
			t.Fatalf("wake-up %d: %v", i, err)
		}
	}
	// One barrier per sleep; a few more if the futex wait returned early
	// (a signal) and the waiter went round again.
	if n := mem.HeavyCalls() - before; n < wakeUps || n > wakeUps+wakeUps/4 {
		t.Errorf("%d barriers for %d sleeps and wake-ups, want %d (a few more at most)", n, wakeUps, wakeUps)
	}
}
