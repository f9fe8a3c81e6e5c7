package inspect

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/shmkit/shm/queue"
	"github.com/shmkit/shm/topic"
)

// TestRefuseUncountedQueues: a stale queue is removed without Discard only
// when its messages were counted and none is left; one whose count is
// unknown, or that is damaged (even with a count of 0 read before the
// damage), is kept with a reason that says so and names --discard, and
// Discard takes it.
func TestRefuseUncountedQueues(t *testing.T) {
	corrupt := fmt.Errorf("queue stat q: %w: record at position 0: length 99999, want at most 64", queue.ErrCorrupt)
	tests := []struct {
		name   string
		obj    Object
		reason string // "" for removable without Discard
	}{
		{"counted, empty", Object{Kind: KindQueue, Queue: &queue.Stats{Messages: 0}}, ""},
		{"counted, one", Object{Kind: KindQueue, Queue: &queue.Stats{Messages: 1}}, "holds 1 undelivered message (--discard"},
		{"counted, three", Object{Kind: KindQueue, Queue: &queue.Stats{Messages: 3}}, "holds 3 undelivered messages (--discard"},
		{"not counted", Object{Kind: KindQueue, Queue: &queue.Stats{Messages: -1}}, "could not be counted (--discard"},
		{"ring damaged at its head", Object{Kind: KindQueue, Queue: &queue.Stats{Messages: 0}, Err: corrupt}, "damaged (queue stat q: queue is corrupt"},
		{"header unreadable", Object{Kind: KindQueue, Err: corrupt}, "damaged ("},
		{"damaged topic", Object{Kind: KindTopic, Topic: &topic.Stats{}, Err: corrupt}, "damaged ("},
		{"topic", Object{Kind: KindTopic, Topic: &topic.Stats{}}, ""},
		{"data", Object{Kind: KindData}, ""},
	}
	now := time.Now()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := tt.obj
			o.State, o.Reason = Stale, "nobody attached"
			opts := &CleanOptions{AllUsers: true}
			got := opts.refuse(o, now)
			if tt.reason == "" && got != "" || tt.reason != "" && !strings.Contains(got, tt.reason) {
				t.Errorf("without Discard: %q; want %q", got, tt.reason)
			}
			opts.Discard = true
			if got := opts.refuse(o, now); got != "" {
				t.Errorf("with Discard: kept, %q", got)
			}
		})
	}
}
