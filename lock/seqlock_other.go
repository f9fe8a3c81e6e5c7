//go:build !linux

package lock

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync/atomic"
	"time"

	"github.com/shmkit/shm"
)

// On systems other than Linux a Seqlock has no writer identity (no open
// file description locks here) and Wait sleeps in short slices instead of
// on a futex.

func (s *Seqlock) segmentIdentity(seg *shm.Segment) error {
	s.readOnly = readOnly(seg)
	return nil
}

func (s *Seqlock) fileIdentity(fd int) error { return nil }

func (s *Seqlock) ownsToken(t uint64) bool { return false }

func (s *Seqlock) writerAlive(t uint64) (bool, error) {
	return false, fmt.Errorf("%w: a writer's liveness is known on Linux only, not %s", errors.ErrUnsupported, runtime.GOOS)
}

func sleepOn(ctx context.Context, word *atomic.Uint32, g uint32, d time.Duration) {
	time.Sleep(min(d, readOnlyPoll))
}

func wakeAll(word *atomic.Uint32) {}
