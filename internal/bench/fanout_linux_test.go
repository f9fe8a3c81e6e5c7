package bench

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"
)

// TestFanOutRows runs the rows of several receivers in one short run, next
// to the queue's: the topic with 1, 2 and 4 subscribers, round trips and
// streams, and the queue shared by 2 consumers, streams only (its
// consumers check that their counts add up to every message sent). It
// asserts that each row ran and has figures, not what they are, and that
// the extra receiver processes left nothing behind.
func TestFanOutRows(t *testing.T) {
	ts, err := Lookup(Queue, Topic, TopicFanOut2, TopicFanOut4, QueueConsumers2)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := Run(context.Background(), Using(ts...), Workloads(RTT, Stream, Batch), Sizes(64), Capacities(64<<10), Duration(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{}
	for _, tr := range []string{Queue, Topic, TopicFanOut2, TopicFanOut4} {
		for _, w := range []Workload{RTT, Stream, Batch} {
			want[fmt.Sprintf("%s/%s", tr, w)] = true
		}
	}
	want[QueueConsumers2+"/"+string(Stream)] = true
	for _, r := range rep.Results {
		key := fmt.Sprintf("%s/%s", r.Transport, r.Workload)
		if !want[key] {
			t.Errorf("unexpected row %s", key)
			continue
		}
		delete(want, key)
		switch {
		case r.Error != "":
			t.Errorf("%s failed: %s", key, r.Error)
		case r.Workload == RTT && r.Samples == 0:
			t.Errorf("%s: no round trip timed", key)
		case r.Workload != RTT && (r.Messages == 0 || r.MsgsPerS <= 0):
			t.Errorf("%s: %d messages, %v msg/s", key, r.Messages, r.MsgsPerS)
		case r.Capacity != 64<<10:
			t.Errorf("%s: capacity %d, want 64 KiB", key, r.Capacity)
		}
	}
	for key := range want {
		t.Errorf("no row %s", key)
	}
	if left := leftovers(t, os.Getpid()); len(left) > 0 {
		t.Errorf("left in /dev/shm: %v", left)
	}
	if peers := peersOf(t, os.Getpid()); len(peers) > 0 {
		t.Errorf("peer processes still running: %v", peers)
	}
}
