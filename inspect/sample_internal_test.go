//go:build linux

package inspect

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/shmkit/shm/internal/shmtest"
	"github.com/shmkit/shm/queue"
	"github.com/shmkit/shm/topic"
)

// TestSamplerRates: the rates of a queue between two samples, on a clock
// the test sets: bytes from the cursors, messages by the mean record size.
func TestSamplerRates(t *testing.T) {
	name := shmtest.Name(t, "")
	q, err := queue.Create(name, 4096)
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	clock := time.Unix(1000, 0)
	s := NewSampler(&Options{Prefix: name})
	s.now = func() time.Time { return clock }

	first, err := s.Sample()
	if err != nil || len(first) != 1 || first[0].Rate != nil || first[0].Kind != KindQueue {
		t.Fatalf("first sample: %+v, %v; want the queue without a rate", first, err)
	}
	// Ten messages of 24 bytes: records of 32 bytes with their headers.
	for range 10 {
		if err := q.Send(context.Background(), make([]byte, 24)); err != nil {
			t.Fatal(err)
		}
	}
	clock = clock.Add(2 * time.Second)
	second, err := s.Sample()
	if err != nil || len(second) != 1 || second[0].Rate == nil {
		t.Fatalf("second sample: %+v, %v", second, err)
	}
	r := second[0].Rate
	if r.InBytes != 160 || r.OutBytes != 0 || r.InMessages != 5 || r.OutMessages != 0 {
		t.Errorf("after 10 sends in 2 s: %+v; want 160 B/s and 5 msg/s in, nothing out", *r)
	}
	// Receive them all (the consumer publishes head once it caught up): the
	// ring is empty, the mean record size is kept.
	buf := make([]byte, 64)
	for range 10 {
		if _, err := q.Receive(context.Background(), buf); err != nil {
			t.Fatal(err)
		}
	}
	clock = clock.Add(time.Second)
	third, _ := s.Sample()
	r = third[0].Rate
	if r == nil || r.OutBytes != 320 || r.OutMessages != 10 || third[0].Queue.Messages != 0 {
		t.Errorf("after 10 receives in 1 s: %+v, %+v; want 320 B/s and 10 msg/s out", r, third[0].Queue)
	}

	// A queue never seen with messages has no message rate.
	if got := rate(queueSample{at: clock, meanRecord: math.NaN()}, queueSample{at: clock.Add(time.Second), tail: 64, meanRecord: math.NaN()}); got.InBytes != 64 || !math.IsNaN(got.InMessages) {
		t.Errorf("rate without a mean record size: %+v", got)
	}
}

// TestSamplerTopicRates: a topic's rates between two samples, on a clock
// the test sets: what the publisher wrote in, what the subscribers read
// out (summed over them), messages counted exactly; and the subscribers'
// lag.
func TestSamplerTopicRates(t *testing.T) {
	name := shmtest.Name(t, "")
	pub, err := topic.Create(name, 4096)
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	var subs []*topic.Topic
	for range 2 {
		sub, err := topic.Open(name)
		if err != nil {
			t.Fatal(err)
		}
		defer sub.Close()
		if err := sub.Subscribe(); err != nil {
			t.Fatal(err)
		}
		subs = append(subs, sub)
	}
	clock := time.Unix(1000, 0)
	s := NewSampler(&Options{Prefix: name})
	s.now = func() time.Time { return clock }

	first, err := s.Sample()
	if err != nil || len(first) != 1 || first[0].Rate != nil || first[0].Kind != KindTopic || first[0].Topic == nil {
		t.Fatalf("first sample: %+v, %v; want the topic without a rate", first, err)
	}
	// Ten messages of 16 bytes: records of 32 bytes with their headers.
	for range 10 {
		if err := pub.Publish(context.Background(), make([]byte, 16)); err != nil {
			t.Fatal(err)
		}
	}
	// The first subscriber reads four of them, the second none.
	buf := make([]byte, 64)
	for range 4 {
		if _, err := subs[0].Receive(context.Background(), buf); err != nil {
			t.Fatal(err)
		}
	}
	clock = clock.Add(2 * time.Second)
	second, err := s.Sample()
	if err != nil || len(second) != 1 || second[0].Rate == nil {
		t.Fatalf("second sample: %+v, %v", second, err)
	}
	r := second[0].Rate
	if r.InBytes != 160 || r.InMessages != 5 || r.OutBytes != 64 || r.OutMessages != 2 {
		t.Errorf("after 10 published and 4 read in 2 s: %+v; want 160 B/s and 5 msg/s in, 64 B/s and 2 msg/s out", *r)
	}
	lags := map[int64]bool{}
	for _, sub := range second[0].Topic.Subscribers {
		lags[sub.Lag] = true
	}
	if len(lags) != 2 || !lags[6] || !lags[10] || second[0].Undelivered() != 10 {
		t.Errorf("lags %v, undelivered %d; want 6 and 10, 10", lags, second[0].Undelivered())
	}
	// Both read the rest: 6 + 10 messages out in one second, nothing in.
	for i, n := range []int{6, 10} {
		for range n {
			if _, err := subs[i].Receive(context.Background(), buf); err != nil {
				t.Fatal(err)
			}
		}
	}
	clock = clock.Add(time.Second)
	third, _ := s.Sample()
	r = third[0].Rate
	if r == nil || r.InMessages != 0 || r.OutMessages != 16 || r.OutBytes != 16*32 || third[0].Topic.Fill() != 0 {
		t.Errorf("after 16 reads in 1 s: %+v, fill %v; want 16 msg/s out, fill 0", r, third[0].Topic.Fill())
	}
}
