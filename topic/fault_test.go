package topic

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/shmkit/shm"
)

// truncateTo shrinks the topic's object to size, as a hostile peer with
// write access may.
func truncateTo(t *testing.T, name string, size int64) {
	t.Helper()
	if err := os.Truncate(filepath.Join(shm.DefaultDir, name), size); err != nil {
		t.Fatal(err)
	}
}

// TestTruncateBetweenCalls: after the object is shrunk, every call of the
// publisher and of the subscriber returns shm.ErrFault, the handles stay
// broken, and Close works, whatever the new size.
func TestTruncateBetweenCalls(t *testing.T) {
	if raceEnabled {
		t.Skip("under the race detector a fault in its C code kills the process (see package queue's fault.go)")
	}
	for _, tc := range []struct {
		name string
		size func(tp *Topic) int64
	}{
		{"to zero", func(*Topic) int64 { return 0 }},
		{"to the header", func(tp *Topic) int64 { return int64(tp.header) }},
		{"inside the ring", func(tp *Topic) int64 { return int64(tp.header) + tp.Capacity()/2 + 100 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := ctxT(t)
			name, pub := newTopic(t, 1<<16)
			sub := subscribe(t, name)
			for i := range 40 { // less than the ring: the subscriber does not read yet
				if err := pub.Publish(ctx, make([]byte, 1000+i)); err != nil {
					t.Fatal(err)
				}
			}
			truncateTo(t, name, tc.size(pub))
			// Enough calls to reach the pages that are gone.
			var perr, serr error
			for range 200 {
				if perr == nil {
					perr = pub.TryPublish(make([]byte, 1000))
					if perr == ErrFull {
						perr = nil
					}
				}
				if serr == nil {
					_, serr = sub.TryReceive(nil)
				}
			}
			if !errors.Is(perr, shm.ErrFault) {
				t.Errorf("Publish after the truncation: %v, want shm.ErrFault", perr)
			}
			if !errors.Is(serr, shm.ErrFault) {
				t.Errorf("TryReceive after the truncation: %v, want shm.ErrFault", serr)
			}
			if err := pub.Publish(ctx, nil); !errors.Is(err, shm.ErrFault) {
				t.Errorf("the broken publisher's next call: %v, want shm.ErrFault", err)
			}
			pub.Close()
			sub.Close()
		})
	}
}

// TestTruncateWhileWaiting: a subscriber waiting on an empty topic
// returns shm.ErrFault soon after the object is shrunk under it.
func TestTruncateWhileWaiting(t *testing.T) {
	if raceEnabled {
		t.Skip("under the race detector a fault in its C code kills the process")
	}
	ctx := ctxT(t)
	name, pub := newTopic(t, 1<<16)
	sub := subscribe(t, name)
	if err := pub.Publish(ctx, []byte("x")); err != nil {
		t.Fatal(err)
	}
	if _, err := sub.Receive(ctx, nil); err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() {
		_, err := sub.Receive(ctx, nil)
		errc <- err
	}()
	time.Sleep(50 * time.Millisecond)
	truncateTo(t, name, int64(pub.header)+100)
	start := time.Now()
	select {
	case err := <-errc:
		if !errors.Is(err, shm.ErrFault) {
			t.Fatalf("Receive: %v, want shm.ErrFault", err)
		}
		t.Logf("%v after %v", err, time.Since(start))
	case <-time.After(2 * time.Second):
		t.Fatal("the waiting Receive has not returned 2 s after the truncation")
	}
}
