package main

import (
	"encoding/json"
	"testing"

	"github.com/shmkit/shm/internal/shmtest"
	"github.com/shmkit/shm/queue"
)

// TestQueueCreateDefaultCapacity creates queues without --capacity: the
// ring is queue.DefaultCapacity, or with --max-message the recommended
// capacity for it; an explicit --capacity still wins.
func TestQueueCreateDefaultCapacity(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want int64
	}{
		{nil, queue.DefaultCapacity},
		{[]string{"--max-message", "1K"}, queue.DefaultCapacity},
		{[]string{"--max-message", "1M"}, queue.RecommendedCapacity(1 << 20)},
		{[]string{"--capacity", "64K"}, 64 << 10},
		{[]string{"--capacity", "64K", "--max-message", "1K"}, 64 << 10},
	} {
		name := shmtest.Name(t, "")
		ok(t, "", append([]string{"queue", "create", name}, tc.args...)...)
		var st struct {
			Capacity int64 `json:"capacity"`
		}
		out := ok(t, "", "queue", "stat", name, "--json")
		ok(t, "", "rm", name)
		if err := json.Unmarshal([]byte(out), &st); err != nil {
			t.Fatalf("queue stat --json: %v\n%s", err, out)
		}
		if st.Capacity != tc.want {
			t.Errorf("queue create %v: capacity %d, want %d", tc.args, st.Capacity, tc.want)
		}
	}
}
