//go:build linux

package chaos

import (
	"context"
	"io"
	"testing"
	"time"

	"github.com/shmkit/shm"
	"github.com/shmkit/shm/internal/mem"
	"github.com/shmkit/shm/internal/shmtest"
	"github.com/shmkit/shm/queue"
)

func init() {
	for _, role := range []string{"hostile-q-producer", "hostile-q-consumer", "hostile-q-opener"} {
		shmtest.Role(role, func(a shmtest.Args) int { return hostileQueueVictim(role, a) })
	}
}

// The queue header fields the attacker aims at (offset, size), from the
// layout in package queue: magic, version, flags, capacity, max message,
// slots, tail, consumer wait, closed, head, producer wait, reserve lock,
// the consumer's claim and start time, and the first producer slots.
var queueFields = [][2]int{
	{0, 8}, {8, 4}, {12, 4}, {16, 8}, {24, 4}, {28, 4},
	{64, 8}, {72, 4}, {76, 4}, {128, 8}, {136, 4}, {192, 4},
	{256, 8}, {264, 8}, {320, 8}, {328, 8}, {336, 8}, {344, 8},
}

// competingFields are the fields of a queue with competing consumers
// (queue.Consumers): the consumer count, the take cursor, the consume lock
// and the first two consumer slots (claim, namespace, in flight,
// deliveries).
var competingFields = [][2]int{
	{48, 4}, {1344, 8}, {1352, 4},
	{1408, 8}, {1416, 8}, {1424, 8}, {1432, 8},
	{1472, 8}, {1480, 8}, {1488, 8}, {1496, 8},
}

const queueHeader = 4096 // the header page before the ring

// hostileQueueVictim plays its role (producer, consumer or a process that
// opens, peeks at and closes the queue over and over) on a["name"] for
// a["dur"], while the parent rewrites the queue. Messages the consumer gets
// are checked: a wrong one is counted (a hostile writer may forge data), an
// error must be one of the documented ones, and every call must return.
func hostileQueueVictim(role string, a shmtest.Args) int {
	canary := newCanary()
	r := roleRand()
	allowed := []error{queue.ErrCorrupt, queue.ErrPeerDead, queue.ErrBusy, queue.ErrTooLarge,
		queue.ErrNotQueue, queue.ErrVersion, queue.ErrFull, queue.ErrEmpty, queue.ErrAborted, io.EOF,
		context.DeadlineExceeded, shm.ErrInvalid}
	var v victimStats
	var wrong int
	var q *queue.Queue
	buf := make([]byte, 0, 64<<10)
	msg := make([]byte, msgHeader+512)
	var seq uint64
	say("ready")
	end := time.Now().Add(a.Duration("dur"))
	for time.Now().Before(end) {
		if q == nil || role == "hostile-q-opener" {
			if q != nil {
				q.Close()
				q = nil
			}
			if err := v.timed(func() error {
				var err error
				q, err = queue.Open(a["name"])
				return err
			}, allowed...); err != nil {
				say("UNEXPECTED open error: %v", err)
				return shmtest.ExitFail
			}
			if q == nil {
				continue
			}
		}
		var err error
		switch role {
		case "hostile-q-producer":
			err = v.timed(func() error {
				ctx, cancel := withTimeout(hostileOpTimeout)
				defer cancel()
				if r.IntN(2) == 0 {
					return q.Send(ctx, encodeMsg(msg, 1, seq, r.IntN(513)))
				}
				b, err := q.Reserve(ctx, msgHeader+r.IntN(513))
				if err != nil {
					return err
				}
				copy(b, encodeMsg(msg, 1, seq, len(b)-msgHeader))
				return q.Commit()
			}, allowed...)
			seq++
		case "hostile-q-consumer":
			err = v.timed(func() error {
				ctx, cancel := withTimeout(hostileOpTimeout)
				defer cancel()
				m, err := q.Receive(ctx, buf)
				if err == nil {
					if _, derr := decodeMsg(m); derr != nil {
						wrong++
					}
				}
				return err
			}, allowed...)
		case "hostile-q-opener":
			err = v.timed(func() error {
				ctx, cancel := withTimeout(hostileOpTimeout)
				defer cancel()
				if _, err := queue.Stat(a["name"]); err != nil {
					return err
				}
				b, err := q.Peek(ctx)
				if err != nil {
					return err
				}
				_ = len(b)
				return q.Release()
			}, allowed...)
		}
		if err != nil {
			say("UNEXPECTED error: %v", err)
			return shmtest.ExitFail
		}
		if r.IntN(64) == 0 { // start afresh now and then: Open checks the header again
			q.Close()
			q = nil
		}
	}
	if q != nil {
		q.Close()
	}
	say("wrong=%d", wrong)
	return v.end(canary)
}

// TestHostileQueue: a producer, a consumer and a process that keeps opening
// and peeking use a queue while this process rewrites its header fields,
// cursors, wait words, claims and the records in the ring at random. Each
// victim gets errors or wrong data, stays alive, and no call outlives its
// deadline by more than the slack. Each trial starts from a fresh queue.
func TestHostileQueue(t *testing.T) {
	n := trials(6, 60)
	dur := 300 * time.Millisecond
	var writes, wrong int
	var tot victimStats
	r := newRand(t)
	for trial := range n {
		// Every other trial, a queue with competing consumers: the consumer
		// and the opener are two of its three consumers.
		name := shmtest.Name(t, "")
		fields := queueFields
		var opts []queue.Option
		if trial%2 == 1 {
			fields = append(fields[:len(fields):len(fields)], competingFields...)
			opts = append(opts, queue.Consumers(3))
		}
		q, err := queue.Create(name, 16<<10, opts...)
		if err != nil {
			t.Fatal(err)
		}
		seg, err := shm.Open(name)
		if err != nil {
			t.Fatal(err)
		}
		b := seg.Bytes()
		capacity := q.Capacity()
		known := []uint64{0, 1, 2, 3, 4, 8, 64, uint64(capacity), uint64(capacity) - 8, uint64(capacity) + 8, 1 << 32, 0x45554555514d4853, 1 << 40, ^uint64(0)}
		var procs []*shmtest.Child
		for _, role := range []string{"hostile-q-producer", "hostile-q-consumer", "hostile-q-opener"} {
			procs = append(procs, shmtest.Spawn(t, role, shmtest.Args{"name": name, "dur": dur.String()}))
		}
		for _, p := range procs {
			if _, ok := p.Expect("ready", 10*time.Second); !ok {
				t.Fatalf("victim not ready: %s", p.Output())
			}
		}
		time.Sleep(20 * time.Millisecond) // a clean start
		end := time.Now().Add(dur - 20*time.Millisecond)
		for time.Now().Before(end) {
			var off, size int
			if r.IntN(3) == 0 { // a record header, or anything, in the ring
				off, size = queueHeader+8*r.IntN(int(capacity)/8), []int{4, 8}[r.IntN(2)]
			} else {
				f := fields[r.IntN(len(fields))]
				off, size = f[0], f[1]
			}
			val := hostileValue(r, known)
			if size == 8 {
				mem.MustUint64(b, off).Store(val)
			} else {
				mem.MustUint32(b, off).Store(uint32(val))
			}
			writes++
			time.Sleep(time.Duration(r.IntN(3000)) * time.Microsecond)
		}
		for _, p := range procs {
			if !p.Finish(dur + 10*time.Second) {
				continue
			}
			var ops, ok, errs, slow, w int
			sscanKV(lastLine(p.Output(), "wrong="), "wrong", &w)
			if _, err := sscanKV(lastLine(p.Output(), "done "), "ops", &ops, "ok", &ok, "errs", &errs, "slowest_us", &slow); err != nil {
				t.Errorf("victim summary: %v\n%s", err, p.Output())
			}
			tot.ops, tot.ok, tot.errs = tot.ops+ops, tot.ok+ok, tot.errs+errs
			tot.slowest = max(tot.slowest, time.Duration(slow)*time.Microsecond)
			tot.addKinds(p.Output())
			wrong += w
		}
		seg.Close()
		q.Close()
	}
	if tot.slowest > hostileOpTimeout+hostileSlack {
		t.Errorf("a victim's call took %v under attack (deadline %v)", tot.slowest, hostileOpTimeout)
	}
	t.Logf("SUMMARY hostile queue: trials=%d (fresh queue, every other one with competing consumers; 3 victim processes, %v each): %d random rewrites of header fields, cursors, wait words, claims, consumer tables and ring records; %d calls, %d ok, %d documented errors (%s), %d forged messages caught by checksum, 0 crashes, heap canaries intact, slowest call %v (deadline %v)",
		n, dur, writes, tot.ops, tot.ok, tot.errs, tot.kindsString(), wrong, tot.slowest.Round(time.Millisecond), hostileOpTimeout)
}
