package inspect

import (
	"math"
	"time"

	"github.com/shmkit/shm/queue"
	"github.com/shmkit/shm/topic"
)

// Rate is a queue's or a topic's traffic between two samples, per second.
//
// For a queue, InBytes and OutBytes are ring bytes written by producers
// and released by the consumer (records with their headers and padding),
// from the movement of the tail and head cursors: exact, though the
// consumer publishes head only now and then, so OutBytes comes in bursts.
// InMessages and OutMessages are estimates: the byte rates divided by the
// mean record size seen in the ring so far (the layout keeps no message
// counters), NaN until a sample has found messages waiting.
//
// For a topic, "in" is what the publisher wrote: ring bytes from the tail
// cursor, messages from the number the next message will have (exact).
// "Out" is what the subscribers read, summed over them (two subscribers
// reading every message make OutMessages twice InMessages): their
// positions and message numbers, exact, counted for each subscriber entry
// held by the same process in both samples, and not behind the oldest
// record at the first (a lagged subscriber's jump is not reading). A
// subscriber caught in the few instructions of its join, where its entry
// says position 0, counts its start as read when the ring never wrapped.
type Rate struct {
	InBytes, OutBytes       float64
	InMessages, OutMessages float64
}

// Sample is one object in one sample of a Sampler.
type Sample struct {
	Object
	// Rate is the queue's or topic's traffic since the previous sample;
	// nil for other kinds, and for an object seen for the first time.
	Rate *Rate
}

// Sampler takes successive samples of a directory's objects, for live
// views such as "shm top": each sample lists and classifies the objects
// (as List does) and gives queues and topics their rates since the
// previous sample.
// An object is followed by device and inode, so a new object under an old
// name starts afresh. A Sampler is not safe for concurrent use.
type Sampler struct {
	opts   Options
	prev   map[objectKey]queueSample
	topics map[objectKey]topicSample
	now    func() time.Time
}

type objectKey struct{ dev, ino uint64 }

type queueSample struct {
	at         time.Time
	head, tail uint64
	meanRecord float64 // bytes per record, NaN when not yet known
}

type topicSample struct {
	at        time.Time
	tail      uint64
	oldest    uint64
	published int64               // -1 when the ring could not be read
	subs      map[int]topicReader // by slot
}

// topicReader is where a subscriber entry stood at a sample.
type topicReader struct {
	pid                int
	position, sequence uint64
}

// NewSampler returns a Sampler of the objects that opts selects.
func NewSampler(opts *Options) *Sampler {
	s := &Sampler{prev: map[objectKey]queueSample{}, topics: map[objectKey]topicSample{}, now: time.Now}
	if opts != nil {
		s.opts = *opts
	}
	return s
}

// Sample lists the objects now, with rates for the queues and topics seen
// before.
func (s *Sampler) Sample() ([]Sample, error) {
	objs, err := List(&s.opts)
	if err != nil {
		return nil, err
	}
	at := s.now()
	next := make(map[objectKey]queueSample, len(s.prev))
	nextTopics := make(map[objectKey]topicSample, len(s.topics))
	out := make([]Sample, 0, len(objs))
	for _, o := range objs {
		smp := Sample{Object: o}
		if o.Topic != nil {
			k := objectKey{o.Device, o.Inode}
			cur := sampleTopic(at, o.Topic)
			if prev, seen := s.topics[k]; seen {
				smp.Rate = topicRate(prev, cur)
			}
			nextTopics[k] = cur
		}
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
	s.prev, s.topics = next, nextTopics
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

func sampleTopic(at time.Time, st *topic.Stats) topicSample {
	cur := topicSample{at: at, tail: st.Tail, oldest: st.Oldest, published: st.Published, subs: make(map[int]topicReader, len(st.Subscribers))}
	for _, sub := range st.Subscribers {
		cur.subs[sub.Slot] = topicReader{pid: sub.PID, position: sub.Position, sequence: sub.Sequence}
	}
	return cur
}

func topicRate(prev, cur topicSample) *Rate {
	dt := cur.at.Sub(prev.at).Seconds()
	if dt <= 0 {
		return nil
	}
	delta := func(a, b uint64) float64 {
		if b < a { // cursors only grow: a topic re-created in place
			return 0
		}
		return float64(b - a)
	}
	r := &Rate{InBytes: delta(prev.tail, cur.tail) / dt, InMessages: math.NaN()}
	if prev.published >= 0 && cur.published >= 0 {
		r.InMessages = delta(uint64(prev.published), uint64(cur.published)) / dt
	}
	var outBytes, outMessages float64
	for slot, now := range cur.subs {
		was, ok := prev.subs[slot]
		// Behind oldest, a position is not where the subscriber reads: it
		// is joining (at 0 until it chose its start) or lagged (it moves
		// to oldest), and its jump is no reading.
		if !ok || was.pid != now.pid || was.position < prev.oldest {
			continue
		}
		outBytes += delta(was.position, now.position)
		outMessages += delta(was.sequence, now.sequence)
	}
	r.OutBytes, r.OutMessages = outBytes/dt, outMessages/dt
	return r
}
