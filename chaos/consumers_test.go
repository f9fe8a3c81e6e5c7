//go:build linux

package chaos

import (
	"context"
	"io"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shmkit/shm"
	"github.com/shmkit/shm/internal/mem"
	"github.com/shmkit/shm/internal/shmtest"
	"github.com/shmkit/shm/queue"
)

func init() { shmtest.Role("qc-consumer", qcConsumer) }

// competeLedger is a segment of one word per message sequence number,
// written by the competing consumers: the low 32 bits count the times the
// message was recorded (between Peek and Release), the high 32 bits hold
// the highest Deliveries seen for it.
const competeLedgerMsgs = 1 << 19

// qcConsumer is one of the competing consumers of queue a["name"]: it
// takes messages in place (Peek), checks each whole, records it in the
// ledger a["ledger"], works on it up to a["hold"] microseconds (a kill is
// likely to land here) and releases it. It prints its counts at io.EOF.
func qcConsumer(a shmtest.Args) int {
	q, err := queue.Open(a["name"])
	if err != nil {
		say("%v", err)
		return shmtest.ExitFail
	}
	lseg, err := shm.Open(a["ledger"])
	if err != nil {
		say("open ledger: %v", err)
		return shmtest.ExitFail
	}
	led, err := mem.Uint64s(lseg.Bytes(), 0, competeLedgerMsgs)
	if err != nil {
		say("ledger: %v", err)
		return shmtest.ExitFail
	}
	hold := a.Int("hold")
	r := roleRand()
	say("ready")
	got, again := 0, 0
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		b, err := q.Peek(ctx)
		cancel()
		if err == io.EOF {
			say("done got=%d again=%d", got, again)
			return shmtest.ExitOK
		}
		if err != nil {
			say("peek: %v", err)
			return shmtest.ExitFail
		}
		m, err := decodeMsg(b)
		if err != nil {
			say("TORN: %v", err)
			return shmtest.ExitFail
		}
		if m.seq >= competeLedgerMsgs {
			say("message %d: past the ledger", m.seq)
			return shmtest.ExitFail
		}
		d := uint64(q.Deliveries())
		if d > 1 {
			again++
		}
		w := &led[m.seq]
		for {
			old := w.Load()
			if w.CompareAndSwap(old, (uint64(uint32(old))+1)|max(old>>32, d)<<32) {
				break
			}
		}
		spin(r.IntN(hold + 1))
		if err := q.Release(); err != nil {
			say("release: %v", err)
			return shmtest.ExitFail
		}
		got++
	}
}

// TestQueueKillCompetingConsumers: three competing consumer processes take
// checked messages in place while one of them at a time is SIGKILLed at a
// random moment (mostly between Peek and Release) and replaced. Nothing is
// lost or torn, a message is recorded again only after a kill, each kill
// adds at most one delivery, Deliveries counts every delivery a receiver
// recorded, and the consumers end with io.EOF once the queue is drained.
func TestQueueKillCompetingConsumers(t *testing.T) { testQueueKillCompetingConsumers(t, false) }

// TestQueueKillCompetingConsumersPIDNamespace is
// TestQueueKillCompetingConsumers with every consumer in a PID namespace
// of its own: a dead consumer is found by its slot's lock, not its pid.
func TestQueueKillCompetingConsumersPIDNamespace(t *testing.T) {
	testQueueKillCompetingConsumers(t, true)
}

func testQueueKillCompetingConsumers(t *testing.T, otherNS bool) {
	nsOpts, where := victimsIn(t, otherNS)
	n := trials(10, 100)
	r := newRand(t)
	qname, q := newQueue(t, 16<<10, queue.Consumers(3))
	lname := shmtest.Name(t, "")
	lseg, err := shm.Create(lname, 8*competeLedgerMsgs)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lseg.Close(); shm.Unlink(lname) })
	led, err := mem.Uint64s(lseg.Bytes(), 0, competeLedgerMsgs)
	if err != nil {
		t.Fatal(err)
	}
	consumer := func() *shmtest.Child {
		p := shmtest.Spawn(t, "qc-consumer", shmtest.Args{"name": qname, "ledger": lname, "hold": "50"}, nsOpts...)
		if _, ok := p.Expect("ready", 10*time.Second); !ok {
			t.Fatalf("consumer not ready: %s", p.Output())
		}
		return p
	}
	// The producer: checked messages until told to stop (or the ledger is
	// full), then Close.
	var sent atomic.Uint64
	stop := make(chan struct{})
	sendErr := make(chan error, 1)
	go func() {
		buf := make([]byte, msgHeader+200)
		seq := uint64(0)
		defer func() { sent.Store(seq) }()
		for ; seq < competeLedgerMsgs; seq++ {
			select {
			case <-stop:
				sendErr <- q.Close()
				return
			default:
			}
			ctx, cancel := withTimeout(10 * time.Second)
			err := q.Send(ctx, encodeMsg(buf, 0, seq, int(seq%201)))
			cancel()
			if err != nil {
				sendErr <- err
				return
			}
			sent.Store(seq + 1)
		}
		sendErr <- q.Close()
	}()
	live := []*shmtest.Child{consumer(), consumer(), consumer()}
	for range n {
		time.Sleep(time.Duration(1+r.IntN(20)) * time.Millisecond)
		i := r.IntN(len(live))
		live[i].KillWait()
		live[i] = consumer()
	}
	close(stop)
	if err := <-sendErr; err != nil {
		t.Fatalf("producer: %v", err)
	}
	for _, p := range live {
		if !p.Finish(60 * time.Second) {
			return
		}
	}
	total := sent.Load()
	var recorded, extraRecords, extraDeliveries uint64
	for seq := range total {
		w := led[seq].Load()
		seen, top := uint64(uint32(w)), w>>32
		if seen == 0 {
			t.Fatalf("message %d of %d lost", seq, total)
		}
		if top < seen {
			t.Fatalf("message %d recorded %d times, but its highest Deliveries is %d", seq, seen, top)
		}
		recorded += seen
		extraRecords += seen - 1
		extraDeliveries += top - 1
	}
	if extraDeliveries > uint64(n) {
		t.Fatalf("%d extra deliveries for %d kills: a kill may add one", extraDeliveries, n)
	}
	if total < competeLedgerMsgs && led[total].Load() != 0 {
		t.Fatalf("message %d recorded but never sent", total)
	}
	if n >= 10 && extraDeliveries == 0 {
		t.Errorf("no kill in %d landed with a message in flight: the test exercised nothing", n)
	}
	t.Logf("SUMMARY competing consumers%s: kills=%d, %d messages sent, %d recorded, lost=0 torn=0; messages delivered again after a kill: %d (at most one per kill); recorded twice: %d",
		where, n, total, recorded, extraDeliveries, extraRecords)
}
