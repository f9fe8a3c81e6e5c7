//go:build linux

package chaos

import (
	"context"
	"fmt"
	"testing"

	"github.com/shmkit/shm"
	"github.com/shmkit/shm/topic"
)

func FuzzHostileTopic(f *testing.F) {
	f.Add([]byte{0x81, 0x81, 0x01, 0x40, 0x00, 0x00, 0x10, 0, 0, 0, 0, 0, 0, 0x85})                         // tail pushed past the ring
	f.Add([]byte{0x80, 0x85, 0x01, 0x48, 0x00, 0x40, 0x00, 0, 0, 0, 0, 0, 0, 0x85, 0x80})                   // oldest past tail
	f.Add([]byte{0x80, 0x80, 0x00, 0x08, 0x80, 0xff, 0xff, 0xff, 0x7f, 0x01, 0x00, 0x00, 0x00, 0x85, 0x86}) // a record length of 2^31
	f.Add([]byte{0x80, 0x01, 0x00, 0x80, 0x05, 0, 0, 0, 0, 0, 0, 0, 0, 0x85, 0x87})                         // a record's sequence changed
	f.Add([]byte{0x80, 0x00, 0x50, 0x00, 0x01, 0, 0, 0, 0, 0, 0, 0, 0x85, 0x85})                            // closed = 1
	f.Add([]byte{0x89, 0x01, 0x00, 0x01, 0, 0, 0, 0, 0, 0, 0, 0, 0x80, 0x80})                               // a subscriber's position forged to 0
	f.Add([]byte{0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8a, 0x8b, 0x8c, 0x8d})       // every operation, no attack
	f.Fuzz(fuzzTopic)
}

// fuzzTopic plays one script against a topic: a publisher's and a
// subscriber's handle, and the attacker's mapping.
func fuzzTopic(t *testing.T, data []byte) {
	name := fuzzName(t)
	const capacity = 4096
	var opts []topic.Option
	if len(data) > 0 && data[0]&0x40 != 0 {
		opts = append(opts, topic.Overwrite())
	}
	p, err := topic.Create(name, capacity, append(opts, topic.Subscribers(4), topic.History(2))...)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { p.Close() }()
	seg, err := shm.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer seg.Close()
	b := seg.Bytes()
	where := func(o uint16) int {
		if o&0x8000 != 0 {
			return topicHeader + int(o&0x7fff)%capacity
		}
		return int(o) % 512
	}
	s, err := topic.Open(name) // the subscriber's handle; p publishes
	if err != nil {
		t.Fatal(err)
	}
	defer func() { s.Close() }()
	allowed := append(topicAllowed, shm.ErrClosed)
	msg := make([]byte, capacity)
	buf := make([]byte, 0, capacity)
	maxMsg := p.MaxMessage()
	checkMsg := func(m []byte) error {
		if len(m) > maxMsg {
			return fmt.Errorf("a %d-byte message from a topic whose maximum is %d", len(m), maxMsg)
		}
		return nil
	}
	reopen := func(h **topic.Topic) error {
		(*h).Close()
		var err error
		if *h, err = topic.Open(name); err != nil {
			*h, _ = topic.Create(fuzzName(t), capacity) // keep a usable handle
		}
		return err
	}
	(&script{b: data}).play(t, b, where, allowed, func(op byte) (what string, call func(ctx context.Context) error) {
		switch op & 0x0f {
		case 0:
			what, call = "Publish", func(ctx context.Context) error { return p.Publish(ctx, msg[:16]) }
		case 1:
			what, call = "Publish max", func(ctx context.Context) error { return p.Publish(ctx, msg[:maxMsg]) }
		case 2:
			what, call = "TryPublish", func(context.Context) error { return p.TryPublish(msg[:100]) }
		case 3:
			what, call = "Reserve+Commit", func(ctx context.Context) error {
				r, err := p.Reserve(ctx, 40)
				if err != nil {
					return err
				}
				if len(r) != 40 {
					return fmt.Errorf("Reserve(40) gave %d bytes", len(r))
				}
				copy(r, msg)
				return p.Commit()
			}
		case 4:
			what, call = "PublishBatch", func(ctx context.Context) error {
				return p.PublishBatch(ctx, [][]byte{msg[:8], msg[:0], msg[:64]})
			}
		case 5:
			what, call = "Receive", func(ctx context.Context) error {
				m, err := s.Receive(ctx, buf)
				if err == nil {
					err = checkMsg(m)
				}
				return err
			}
		case 6:
			what, call = "TryReceive", func(context.Context) error {
				m, err := s.TryReceive(buf)
				if err == nil {
					err = checkMsg(m)
				}
				return err
			}
		case 7:
			what, call = "Peek+Release", func(ctx context.Context) error {
				m, err := s.Peek(ctx)
				if err != nil {
					return err
				}
				if err := checkMsg(m); err != nil {
					return err
				}
				for i := range m { // read all of it: it must be mapped
					_ = m[i]
				}
				return s.Release()
			}
		case 8:
			what, call = "publisher Close+Open", func(context.Context) error { return reopen(&p) }
		case 9:
			what, call = "subscriber Close+Open", func(context.Context) error { return reopen(&s) }
		case 10:
			what, call = "Stat", func(context.Context) error { _, err := topic.Stat(name); return err }
		case 11:
			what, call = "Probe", func(context.Context) error { _, err := topic.Probe(b); return err }
		case 12:
			what, call = "ReceiveBatch", func(ctx context.Context) error {
				msgs := make([][]byte, 4)
				n, err := s.ReceiveBatch(ctx, msgs)
				for _, m := range msgs[:n] {
					if err := checkMsg(m); err != nil {
						return err
					}
				}
				return err
			}
		default:
			what, call = "Open+Subscribe+TryReceive+Close", func(context.Context) error {
				o, err := topic.Open(name)
				if err != nil {
					return err
				}
				defer o.Close()
				if err := o.Subscribe(); err != nil {
					return err
				}
				m, err := o.TryReceive(buf)
				if err == nil {
					err = checkMsg(m)
				}
				return err
			}
		}
		return
	})
}
