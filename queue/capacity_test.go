package queue

import (
	"testing"

	"github.com/shmkit/shm/internal/shmtest"
)

// TestCreateRecommendedCapacity creates queues with capacity 0: the ring
// is RecommendedCapacity for the MaxMessage option, DefaultCapacity
// without it, and the largest message is what was asked for.
func TestCreateRecommendedCapacity(t *testing.T) {
	for _, tc := range []struct {
		maxMsg      int
		capacity    int64
		largestFits int
	}{
		{0, DefaultCapacity, DefaultCapacity/2 - 8},
		{64, DefaultCapacity, 64},
		{1 << 20, 32 << 20, 1 << 20},
	} {
		var opts []Option
		if tc.maxMsg > 0 {
			opts = append(opts, MaxMessage(tc.maxMsg))
		}
		q, err := Create(shmtest.Name(t, ""), 0, opts...)
		if err != nil {
			t.Fatal(err)
		}
		if q.Capacity() != tc.capacity || q.MaxMessage() != tc.largestFits {
			t.Errorf("MaxMessage(%d), capacity 0: capacity %d, max message %d; want %d, %d", tc.maxMsg, q.Capacity(), q.MaxMessage(), tc.capacity, tc.largestFits)
		}
		q.Close()
	}
}

func TestRecommendedCapacity(t *testing.T) {
	prev := int64(0)
	for _, m := range []int{-1, 0, 1, 64, 4 << 10, 64 << 10, 256<<10 - 8, 256 << 10, 1 << 20, 1 << 31} {
		c := RecommendedCapacity(m)
		switch {
		case c < DefaultCapacity || c > MaxCapacity || !isPow2(uint64(c)):
			t.Errorf("RecommendedCapacity(%d) = %d: not a power of two from DefaultCapacity to MaxCapacity", m, c)
		case c < prev:
			t.Errorf("RecommendedCapacity(%d) = %d, below %d for a smaller message", m, c, prev)
		case m > 0 && c < recommendedMessages*(int64(m)+recordHeader):
			t.Errorf("RecommendedCapacity(%d) = %d holds fewer than %d such messages", m, c, recommendedMessages)
		case m > 0 && uint64(m) > maxMessageFor(uint64(c)):
			t.Errorf("RecommendedCapacity(%d) = %d cannot hold the message", m, c)
		}
		prev = c
	}
}
