package topic

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/shmkit/shm"
	"github.com/shmkit/shm/internal/shmtest"
)

// truncateTo shrinks the topic's object to size, as a hostile peer with
// write access may.
func truncateTo(t *testing.T, name string, size int64) {
	t.Helper()
	if err := os.Truncate(filepath.Join(shm.DefaultDir, name), size); err != nil {
		t.Fatal(err)
	}
}

// forCatchers runs test once for each way a handle catches faults: with
// the SIGBUS watch, where the platform has one (elsewhere this is the
// guard again), and with SetPanicOnFault's guard.
func forCatchers(t *testing.T, test func(t *testing.T)) {
	shmtest.Both(t, &watchFaults, "watch", "guard", test)
}

// TestTruncateBetweenCalls: after the object is shrunk, every call of the
// publisher and of the subscriber returns shm.ErrFault, the handles stay
// broken, and Close works, whatever the new size.
func TestTruncateBetweenCalls(t *testing.T) { forCatchers(t, testTruncateBetweenCalls) }

func testTruncateBetweenCalls(t *testing.T) {
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
func TestTruncateWhileWaiting(t *testing.T) { forCatchers(t, testTruncateWhileWaiting) }

func testTruncateWhileWaiting(t *testing.T) {
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

// TestFaultPublishesNothing: a publisher whose message runs past the end
// of a truncated object must not commit it. The object is then grown back
// (its lost pages return as zeros, as pages a full file system could not
// allocate read): the subscriber must find no message, not one whose tail
// is zeros. With the watch the publisher's call runs to its end, commit
// included, on the private pages that replaced the mapping.
func TestFaultPublishesNothing(t *testing.T) { forCatchers(t, testFaultPublishesNothing) }

func testFaultPublishesNothing(t *testing.T) {
	name, pub := newTopic(t, 1<<16)
	if want := watchFaults && runtime.GOOS == "linux" && runtime.GOARCH == "amd64" && !raceEnabled; pub.unguarded != want {
		t.Fatalf("the handle skips the guard: %v, want %v", pub.unguarded, want)
	}
	sub := subscribe(t, name)
	if err := pub.BecomePublisher(); err != nil {
		t.Fatal(err)
	}
	const page = 4096
	truncateTo(t, name, int64(pub.header)+2*page)
	if err := pub.TryPublish(make([]byte, 4*page)); !errors.Is(err, shm.ErrFault) {
		t.Fatalf("TryPublish across the truncated end: %v, want shm.ErrFault", err)
	}
	truncateTo(t, name, int64(pub.header)+pub.Capacity())
	if m, err := sub.TryReceive(nil); err != ErrEmpty {
		t.Fatalf("TryReceive after the failed publish: %d bytes, %v; want ErrEmpty", len(m), err)
	}
	pub.Close()
	sub.Close()
}
