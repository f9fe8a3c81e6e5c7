package inspect

import (
	"math"
	"time"

	"github.com/shmkit/shm/queue"
)

// Rate is a queue's traffic between two samples, per second.
type Rate struct {
	// InBytes and OutBytes are ring bytes written by producers and
	// released by the consumer (records with their headers and padding),
	// from the movement of the tail and head cursors: exact, though the
	// consumer publishes head only now and then, so OutBytes comes in
	// bursts.
	InBytes, OutBytes float64
	// InMessages and OutMessages are estimates: the byte rates divided by
	// the mean record size seen in the ring so far (the layout keeps no
	// message counters). NaN until a sample has found messages waiting.
	InMessages, OutMessages float64
}

// Sample is one object in one sample of a Sampler.
type Sample struct {
	Object
	// Rate is the queue's traffic since the previous sample; nil for other
	// kinds, and for a queue seen for the first time.
	Rate *Rate
}

// Sampler takes successive samples of a directory's objects, for live
// views such as "shm top": each sample lists and classifies the objects
// (as List does) and gives queues their rates since the previous sample.
// An object is followed by device and inode, so a new object under an old
// name starts afresh. A Sampler is not safe for concurrent use.
type Sampler struct {
	opts Options
	prev map[objectKey]queueSample
	now  func() time.Time
}

type objectKey struct{ dev, ino uint64 }

type queueSample struct {
	at         time.Time
	head, tail uint64
	meanRecord float64 // bytes per record, NaN when not yet known
}

// NewSampler returns a Sampler of the objects that opts selects.
func NewSampler(opts *Options) *Sampler {
	s := &Sampler{prev: map[objectKey]queueSample{}, now: time.Now}
	if opts != nil {
		s.opts = *opts
	}
	return s
}

// Sample lists the objects now, with rates for the queues seen before.
func (s *Sampler) Sample() ([]Sample, error) {
	objs, err := List(&s.opts)
	if err != nil {
		return nil, err
	}
	at := s.now()
	next := make(map[objectKey]queueSample, len(s.prev))
	out := make([]Sample, 0, len(objs))
	for _, o := range objs {
		smp := Sample{Object: o}
		if o.Queue != nil {
			k := objectKey{o.Device, o.Inode}
			cur := queueSample{at: at, head: o.Queue.Head, tail: o.Queue.Tail, meanRecord: meanRecord(o.Queue)}
			prev, seen := s.prev[k]
			if math.IsNaN(cur.meanRecord) && seen {
				cur.meanRecord = prev.meanRecord
			}
			if seen {
				smp.Rate = rate(prev, cur)
			}
			next[k] = cur
		}
		out = append(out, smp)
	}
	s.prev = next
	return out, nil
}

// meanRecord is the mean ring bytes per message waiting in q, or NaN.
func meanRecord(q *queue.Stats) float64 {
	if q.Messages <= 0 || q.Bytes <= 0 {
		return math.NaN()
	}
	return float64(q.Bytes) / float64(q.Messages)
}

func rate(prev, cur queueSample) *Rate {
	dt := cur.at.Sub(prev.at).Seconds()
	if dt <= 0 {
		return nil
	}
	delta := func(a, b uint64) float64 {
		if b < a { // cursors only grow: a queue re-created in place
			return 0
		}
		return float64(b - a)
	}
	r := &Rate{InBytes: delta(prev.tail, cur.tail) / dt, OutBytes: delta(prev.head, cur.head) / dt}
	r.InMessages, r.OutMessages = r.InBytes/cur.meanRecord, r.OutBytes/cur.meanRecord
	return r
}
