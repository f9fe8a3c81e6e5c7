package queue

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/shmkit/shm/internal/live"
)

// withoutOFDLocks plays a kernel without open file description locks
// (Linux before 3.15, or a file system that refuses them) for the rest of
// the test: the seam is the queue's calls into package live, which fail as
// live does there. A real such kernel cannot be had in a test.
func withoutOFDLocks(t *testing.T, hold, held bool) {
	unsupported := fmt.Errorf("%w: fcntl: invalid argument", live.ErrUnsupported)
	savedHold, savedHeld := holdRole, roleHeld
	t.Cleanup(func() { holdRole, roleHeld = savedHold, savedHeld })
	if hold {
		holdRole = func(int, int64) error { return unsupported }
	}
	if held {
		roleHeld = func(int, int64) (bool, error) { return false, unsupported }
	}
}

// TestNoOFDLocksRefuses: where roles cannot be locked, taking one is
// refused with errors.ErrUnsupported and claims nothing; where locks cannot
// be asked about, Stat says the peers' liveness is unknown with that error,
// and a wait on a peer fails with it instead of declaring the peer dead.
func TestNoOFDLocksRefuses(t *testing.T) {
	for _, m := range bothModes {
		t.Run(m.name, func(t *testing.T) {
			name, p, c := pair(t, 4096, m.opts...)
			withoutOFDLocks(t, true, false)
			err := p.Send(context.Background(), []byte("x"))
			if !errors.Is(err, errors.ErrUnsupported) || !strings.Contains(err.Error(), "open file description locks") {
				t.Fatalf("Send: %v, want errors.ErrUnsupported naming open file description locks", err)
			}
			if _, err := c.TryReceive(nil); !errors.Is(err, errors.ErrUnsupported) {
				t.Fatalf("TryReceive: %v, want errors.ErrUnsupported", err)
			}
			st, err := Stat(name)
			if err != nil {
				t.Fatal(err)
			}
			if st.Consumer != nil || len(st.Producers) != 0 {
				t.Fatalf("a refused claim left peers: consumer %v, producers %v", st.Consumer, st.Producers)
			}
		})
	}
	t.Run("no lock queries", func(t *testing.T) {
		name, p, c := pair(t, 4096)
		if err := p.Send(context.Background(), []byte("x")); err != nil {
			t.Fatal(err)
		}
		if _, err := c.TryReceive(nil); err != nil {
			t.Fatal(err)
		}
		withoutOFDLocks(t, false, true)
		st, err := Stat(name)
		if !errors.Is(err, errors.ErrUnsupported) {
			t.Fatalf("Stat: %v, want errors.ErrUnsupported", err)
		}
		if st.Consumer == nil || !st.Consumer.LivenessUnknown || st.Consumer.Alive || len(st.Producers) != 1 || !st.Producers[0].LivenessUnknown {
			t.Fatalf("Stat's peers: consumer %v, producers %v; want both with liveness unknown", st.Consumer, st.Producers)
		}
		// The producer is this process's other handle, alive; the consumer
		// cannot tell and must say so, not call it dead.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, err = c.Receive(ctx, nil)
		if !errors.Is(err, errors.ErrUnsupported) || errors.Is(err, ErrPeerDead) {
			t.Fatalf("Receive on an empty queue: %v, want errors.ErrUnsupported", err)
		}
	})
}
