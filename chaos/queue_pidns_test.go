//go:build linux

package chaos

import (
	"errors"
	"testing"
	"time"

	"github.com/shmkit/shm/internal/shmtest"
	"github.com/shmkit/shm/queue"
)

func init() {
	shmtest.Role("q-reserve-hang", qReserveHang)
}

// qReserveHang sends a["count"] messages of producer a["id"] to the
// multi-producer queue a["name"], reserves one more, writes half of it,
// says "reserved" and sleeps until it is killed: a producer that dies
// between Reserve and Commit.
func qReserveHang(a shmtest.Args) int {
	id := uint32(a.Int("id"))
	q, _, err := openWithLedger(a, int(id))
	if err != nil {
		say("%v", err)
		return shmtest.ExitFail
	}
	buf := make([]byte, msgHeader+500)
	r := roleRand()
	for seq := range uint64(a.Int("count")) {
		ctx, cancel := withTimeout(10 * time.Second)
		err := q.Send(ctx, encodeMsg(buf, id, seq, r.IntN(501)))
		cancel()
		if err != nil {
			say("send %d: %v", seq, err)
			return shmtest.ExitFail
		}
	}
	m := encodeMsg(buf, id, uint64(a.Int("count")), r.IntN(501))
	ctx, cancel := withTimeout(10 * time.Second)
	slot, err := q.Reserve(ctx, len(m))
	cancel()
	if err != nil {
		say("reserve: %v", err)
		return shmtest.ExitFail
	}
	copy(slot, m[:len(m)/2])
	say("reserved")
	time.Sleep(time.Hour)
	return shmtest.ExitOK
}

// TestQueueKillInReservePIDNamespace: producers, each in a PID namespace of
// its own, are SIGKILLed between Reserve and Commit, one per trial, while a
// steady producer in this namespace sends on. The consumer (this process)
// must skip each dead producer's pending record, never deliver it, and get
// a message the steady producer sent after the kill within one second; it
// gets every message each victim committed before its Reserve.
func TestQueueKillInReservePIDNamespace(t *testing.T) {
	nsOpts, _ := victimsIn(t, true)
	n := trials(5, 100)
	r := newRand(t)
	qname, q := newQueue(t, 64<<10, queue.MultiProducer())
	lname, _ := newLedger(t)
	o := newOrder()
	var consErr error
	consDone := make(chan struct{})
	stop := make(chan struct{})
	go func() {
		defer close(consDone)
		buf := make([]byte, 0, 64<<10)
		for {
			select {
			case <-stop:
				return
			default:
			}
			ctx, cancel := withTimeout(5 * time.Second)
			m, err := q.Receive(ctx, buf)
			cancel()
			if err != nil {
				consErr = err
				return
			}
			if _, err := o.add(m); err != nil {
				consErr = err
				return
			}
		}
	}()
	const steadyID = 4000
	steady := shmtest.Spawn(t, "q-producer", shmtest.Args{"name": qname, "ledger": lname, "id": itoa(steadyID), "count": "0", "max": "500", "mode": "send", "pause": "1"})
	if _, ok := steady.Expect("ready", 10*time.Second); !ok {
		t.Fatalf("steady producer not ready: %s", steady.Output())
	}
	var stalls []time.Duration
	sent := map[int]uint64{}
	for trial := range n {
		count := r.IntN(20)
		p := shmtest.Spawn(t, "q-reserve-hang", shmtest.Args{"name": qname, "ledger": lname, "id": itoa(trial), "count": itoa(count)}, nsOpts...)
		if _, ok := p.Expect("reserved", 10*time.Second); !ok {
			t.Fatalf("trial %d: victim did not reserve: %s", trial, p.Output())
		}
		sent[trial] = uint64(count)
		p.KillWait()
		killed := time.Now()
		ok := waitUntil(2*time.Second, func() bool {
			o.mu.Lock()
			defer o.mu.Unlock()
			return o.sent[steadyID].After(killed)
		})
		stall := time.Since(killed)
		if !ok || stall > time.Second {
			t.Fatalf("trial %d: no message of the steady producer for %v after the victim died between Reserve and Commit (consumer: %v)", trial, stall, consErr)
		}
		stalls = append(stalls, stall)
	}
	// Everything the victims committed came, before the steady messages
	// that followed their kills; nothing of their pending records did.
	ok := waitUntil(5*time.Second, func() bool {
		for id, c := range sent {
			if o.got(uint32(id)) != c {
				return false
			}
		}
		return true
	})
	steady.KillWait()
	close(stop)
	<-consDone
	if consErr != nil && !errors.Is(consErr, queue.ErrPeerDead) {
		t.Fatalf("consumer: %v", consErr)
	}
	if !ok {
		for id, c := range sent {
			if got := o.got(uint32(id)); got != c {
				t.Errorf("victim %d: %d messages arrived, it committed %d before its Reserve", id, got, c)
			}
		}
	}
	sortDur(stalls)
	t.Logf("SUMMARY queue kill in reserve (MPSC, victims each in its own PID namespace): trials=%d producers killed between Reserve and Commit; %d messages checked: torn=0 lost=0 duplicated=0; every victim's committed messages arrived and none of its pending records; the steady producer's next message after a kill: median %v max %v (bound 1s)",
		n, o.n, pct(stalls, 50), pct(stalls, 100))
}
