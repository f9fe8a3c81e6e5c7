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
	"github.com/shmkit/shm/topic"
)

func init() {
	for _, role := range []string{"hostile-t-publisher", "hostile-t-subscriber", "hostile-t-opener"} {
		shmtest.Role(role, func(a shmtest.Args) int { return hostileTopicVictim(role, a) })
	}
}

// The topic header fields the attacker aims at (offset, size), from the
// layout in package topic: magic, version, flags, capacity, max message,
// subscribers, history, tail, oldest, closed, subscriber wait, publisher
// wait, join gen, publisher state, pid and target, and the first subscriber
// entries' position, sequence, state and pid.
var topicFields = [][2]int{
	{0, 8}, {8, 4}, {12, 4}, {16, 8}, {24, 4}, {28, 4}, {32, 4},
	{64, 8}, {72, 8}, {80, 4}, {84, 4}, {128, 4}, {132, 4}, {136, 4}, {140, 4}, {144, 8},
	{256, 8}, {264, 8}, {272, 4}, {276, 4},
	{320, 8}, {328, 8}, {336, 4}, {340, 4},
	{384, 8}, {392, 8}, {400, 4}, {404, 4},
}

const topicHeader = 4096 // the header pages before the ring, with 8 subscriber entries

// topicAllowed are the errors a victim of a hostile topic may get.
var topicAllowed = []error{topic.ErrCorrupt, topic.ErrPeerDead, topic.ErrBusy, topic.ErrTooLarge,
	topic.ErrNotTopic, topic.ErrVersion, topic.ErrFull, topic.ErrEmpty, topic.ErrLagged, topic.ErrAborted, io.EOF,
	context.DeadlineExceeded, shm.ErrInvalid}

// hostileTopicVictim plays its role (publisher, subscriber, or a process
// that opens, subscribes, peeks and closes over and over) on a["name"]
// for a["dur"], while the parent rewrites the topic. Messages a subscriber
// gets are checked: a wrong one is counted (a hostile writer may forge
// data), an error must be one of the documented ones, and every call must
// return.
func hostileTopicVictim(role string, a shmtest.Args) int {
	canary := newCanary()
	r := roleRand()
	var v victimStats
	var wrong int
	var t *topic.Topic
	buf := make([]byte, 0, 64<<10)
	msg := make([]byte, msgHeader+512)
	var seq uint64
	say("ready")
	end := time.Now().Add(a.Duration("dur"))
	for time.Now().Before(end) {
		if t == nil || role == "hostile-t-opener" {
			if t != nil {
				t.Close()
				t = nil
			}
			if err := v.timed(func() error {
				var err error
				t, err = topic.Open(a["name"])
				return err
			}, topicAllowed...); err != nil {
				say("UNEXPECTED open error: %v", err)
				return shmtest.ExitFail
			}
			if t == nil {
				continue
			}
		}
		var err error
		switch role {
		case "hostile-t-publisher":
			err = v.timed(func() error {
				ctx, cancel := withTimeout(hostileOpTimeout)
				defer cancel()
				switch r.IntN(3) {
				case 0:
					return t.Publish(ctx, encodeMsg(msg, 1, seq, r.IntN(513)))
				case 1:
					return t.PublishBatch(ctx, [][]byte{encodeMsg(msg, 1, seq, r.IntN(513)), msg[:msgHeader]})
				}
				b, err := t.Reserve(ctx, msgHeader+r.IntN(513))
				if err != nil {
					return err
				}
				copy(b, encodeMsg(msg, 1, seq, len(b)-msgHeader))
				return t.Commit()
			}, topicAllowed...)
			seq++
		case "hostile-t-subscriber":
			err = v.timed(func() error {
				ctx, cancel := withTimeout(hostileOpTimeout)
				defer cancel()
				m, err := t.Receive(ctx, buf)
				if err == nil {
					if _, derr := decodeMsg(m); derr != nil {
						wrong++
					}
				}
				return err
			}, topicAllowed...)
		case "hostile-t-opener":
			err = v.timed(func() error {
				ctx, cancel := withTimeout(hostileOpTimeout)
				defer cancel()
				if _, err := topic.Stat(a["name"]); err != nil {
					return err
				}
				b, err := t.Peek(ctx)
				if err != nil {
					return err
				}
				_ = len(b)
				return t.Release()
			}, topicAllowed...)
		}
		if err != nil {
			say("UNEXPECTED error: %v", err)
			return shmtest.ExitFail
		}
		if r.IntN(64) == 0 { // start afresh now and then: Open checks the header again
			t.Close()
			t = nil
		}
	}
	if t != nil {
		t.Close()
	}
	say("wrong=%d", wrong)
	return v.end(canary)
}

// TestHostileTopic: a publisher, a subscriber and a process that keeps
// opening, subscribing and peeking use a topic (both policies, one after
// the other) while this process rewrites its header fields, cursors, wait
// words, subscriber entries and the records in the ring at random. Each
// victim gets errors or wrong data, stays alive, and no call outlives its
// deadline by more than the slack. Each trial starts from a fresh topic.
func TestHostileTopic(t *testing.T) {
	n := trials(6, 60)
	dur := 300 * time.Millisecond
	var writes, wrong int
	var tot victimStats
	r := newRand(t)
	for trial := range n {
		name := shmtest.Name(t, "")
		opts := []topic.Option{topic.Subscribers(8), topic.History(4)}
		if trial%2 == 1 {
			opts = append(opts, topic.Overwrite())
		}
		tp, err := topic.Create(name, 16<<10, opts...)
		if err != nil {
			t.Fatal(err)
		}
		seg, err := shm.Open(name)
		if err != nil {
			t.Fatal(err)
		}
		b := seg.Bytes()
		capacity := tp.Capacity()
		known := []uint64{0, 1, 2, 3, 16, 64, uint64(capacity), uint64(capacity) - 16, uint64(capacity) + 16, 1 << 32, 0x4349504f544d4853, 1 << 40, ^uint64(0)}
		var procs []*shmtest.Child
		for _, role := range []string{"hostile-t-publisher", "hostile-t-subscriber", "hostile-t-opener"} {
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
			if r.IntN(3) == 0 { // a record word, or anything, in the ring
				off, size = topicHeader+8*r.IntN(int(capacity)/8), []int{4, 8}[r.IntN(2)]
			} else {
				f := topicFields[r.IntN(len(topicFields))]
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
		tp.Close()
	}
	if tot.slowest > hostileOpTimeout+hostileSlack {
		t.Errorf("a victim's call took %v under attack (deadline %v)", tot.slowest, hostileOpTimeout)
	}
	t.Logf("SUMMARY hostile topic: trials=%d (fresh topic, lossless and overwrite in turn, 3 victim processes, %v each): %d random rewrites of header fields, cursors, wait words, subscriber entries and ring records; %d calls, %d ok, %d documented errors (%s), %d forged messages caught by checksum, 0 crashes, heap canaries intact, slowest call %v (deadline %v)",
		n, dur, writes, tot.ops, tot.ok, tot.errs, tot.kindsString(), wrong, tot.slowest.Round(time.Millisecond), hostileOpTimeout)
}
