//go:build linux

package chaos

import (
	"context"
	"fmt"
	"io"
	"testing"

	"github.com/shmkit/shm"
	"github.com/shmkit/shm/queue"
)

func FuzzHostileQueue(f *testing.F) {
	f.Add([]byte{0x80, 0x85, 0x01, 0x40, 0x00, 0x00, 0x10, 0, 0, 0, 0, 0, 0, 0x85})                               // tail pushed past the ring
	f.Add([]byte{0x80, 0x80, 0x00, 0x04, 0x80, 0xff, 0xff, 0xff, 0x7f, 0x00, 0x00, 0x00, 0x00, 0x85, 0x86, 0x87}) // a record length of 2^31
	f.Add([]byte{0x80, 0x00, 0x04, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x20, 0x85})                   // record state: pending, slot 0
	f.Add([]byte{0x01, 0x80, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x85, 0x80, 0x86})             // head = 2^64-1
	f.Add([]byte{0x00, 0x4c, 0x00, 0x01, 0, 0, 0, 0, 0, 0, 0, 0x85, 0x85})                                        // closed = 1
	f.Add([]byte{0x01, 0x00, 0x01, 0x41, 0, 0, 0, 0, 0, 0, 0, 0x80, 0x8a, 0x8c})                                  // a forged consumer claim
	f.Add([]byte{0x81, 0x81, 0x80, 0x83, 0x84, 0x85, 0x87, 0x86, 0x88, 0x89, 0x8a, 0x8b, 0x8c})                   // every operation, no attack
	f.Fuzz(func(t *testing.T, data []byte) { playQueueScript(t, data, false) })
}

// FuzzHostileCompetingQueue is FuzzHostileQueue on a queue with competing
// consumers (queue.Consumers(3)): a script's header offsets with bit 0x4000
// set aim at the take cursor, the consume lock and the consumer table
// (header offsets 1344 to 1599) instead of the first 512 bytes.
func FuzzHostileCompetingQueue(f *testing.F) {
	f.Add([]byte{0x81, 0x81, 0x80, 0x83, 0x84, 0x85, 0x87, 0x86, 0x88, 0x89, 0x8a, 0x8b, 0x8c}) // every operation, no attack
	f.Add([]byte{0x80, 0x80, 0x01, 0x00, 0x40, 0x04, 0, 0, 0, 0, 0, 0, 0, 0x85, 0x87})          // take cursor misaligned
	f.Add([]byte{0x80, 0x80, 0x01, 0x50, 0x40, 0x11, 0, 0, 0, 0, 0, 0, 0, 0x89, 0x85, 0x87})    // slot 0's in-flight word, then a new consumer
	f.Fuzz(func(t *testing.T, data []byte) { playQueueScript(t, data, true) })
}

// playQueueScript plays a fuzzed script (see script) against a
// multi-producer queue, with competing consumers when competing is set.
func playQueueScript(t *testing.T, data []byte, competing bool) {
	name := fuzzName(t)
	const capacity = 4096
	opts := []queue.Option{queue.MultiProducer()}
	if competing {
		opts = append(opts, queue.Consumers(3))
	}
	q, err := queue.Create(name, capacity, opts...)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { q.Close() }()
	seg, err := shm.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer seg.Close()
	b := seg.Bytes()
	where := func(o uint16) int {
		switch {
		case o&0x8000 != 0:
			return queueHeader + int(o&0x7fff)%capacity
		case competing && o&0x4000 != 0:
			return 1344 + int(o&0x3fff)%256
		}
		return int(o) % 512
	}
	c, err := queue.Open(name) // the consumer's handle; q produces
	if err != nil {
		t.Fatal(err)
	}
	defer func() { c.Close() }()
	allowed := []error{queue.ErrCorrupt, queue.ErrPeerDead, queue.ErrBusy, queue.ErrTooLarge,
		queue.ErrNotQueue, queue.ErrVersion, queue.ErrFull, queue.ErrEmpty, shm.ErrClosed, queue.ErrAborted, io.EOF,
		context.DeadlineExceeded}
	msg := make([]byte, capacity)
	buf := make([]byte, 0, capacity)
	maxMsg := q.MaxMessage()
	checkMsg := func(m []byte) error {
		if len(m) > maxMsg {
			return fmt.Errorf("a %d-byte message from a queue whose maximum is %d", len(m), maxMsg)
		}
		return nil
	}
	(&script{b: data}).play(t, b, where, allowed, func(op byte) (what string, call func(ctx context.Context) error) {
		switch op & 0x0f {
		case 0:
			what, call = "Send", func(ctx context.Context) error { return q.Send(ctx, msg[:16]) }
		case 1:
			what, call = "Send max", func(ctx context.Context) error { return q.Send(ctx, msg[:maxMsg]) }
		case 2:
			what, call = "TrySend", func(context.Context) error { return q.TrySend(msg[:100]) }
		case 3:
			what, call = "Reserve+Commit", func(ctx context.Context) error {
				r, err := q.Reserve(ctx, 40)
				if err != nil {
					return err
				}
				if len(r) != 40 {
					return fmt.Errorf("Reserve(40) gave %d bytes", len(r))
				}
				copy(r, msg)
				return q.Commit()
			}
		case 4:
			what, call = "SendBatch", func(ctx context.Context) error {
				return q.SendBatch(ctx, [][]byte{msg[:8], msg[:0], msg[:64]})
			}
		case 5:
			what, call = "Receive", func(ctx context.Context) error {
				m, err := c.Receive(ctx, buf)
				if err == nil {
					err = checkMsg(m)
				}
				return err
			}
		case 6:
			what, call = "TryReceive", func(context.Context) error {
				m, err := c.TryReceive(buf)
				if err == nil {
					err = checkMsg(m)
				}
				return err
			}
		case 7:
			what, call = "Peek+Release", func(ctx context.Context) error {
				m, err := c.Peek(ctx)
				if err != nil {
					return err
				}
				if err := checkMsg(m); err != nil {
					return err
				}
				for i := range m { // read all of it: it must be mapped
					_ = m[i]
				}
				return c.Release()
			}
		case 8:
			what, call = "producer Close+Open", func(context.Context) error {
				q.Close()
				var err error
				if q, err = queue.Open(name); err != nil {
					q, _ = queue.Create(fuzzName(t), capacity) // keep a usable handle
				}
				return err
			}
		case 9:
			what, call = "consumer Close+Open", func(context.Context) error {
				c.Close()
				var err error
				if c, err = queue.Open(name); err != nil {
					c, _ = queue.Create(fuzzName(t), capacity)
				}
				return err
			}
		case 10:
			what, call = "Stat", func(context.Context) error { _, err := queue.Stat(name); return err }
		case 11:
			what, call = "Probe", func(context.Context) error { _, err := queue.Probe(b); return err }
		default:
			what, call = "Open+TryReceive+Close", func(context.Context) error {
				o, err := queue.Open(name)
				if err != nil {
					return err
				}
				defer o.Close()
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
