//go:build linux

package chaos

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shmkit/shm"
	"github.com/shmkit/shm/internal/mem"
	"github.com/shmkit/shm/internal/shmtest"
	"github.com/shmkit/shm/queue"
)

// A test message: a 24-byte header and a payload derived from the header,
// so that the consumer can tell a whole message from a torn or rewritten one.
//
//	0  uint32  producer id
//	4  uint32  CRC-32 (Castagnoli) of bytes 8 to the end
//	8  uint64  sequence number of this producer's message, from 0
//	16 int64   wall-clock send time, Unix nanoseconds
//	24 payload bytes: byte(seq*31 + i*7 + id)
const msgHeader = 24

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func encodeMsg(buf []byte, id uint32, seq uint64, n int) []byte {
	b := buf[:msgHeader+n]
	binary.LittleEndian.PutUint32(b[0:], id)
	binary.LittleEndian.PutUint64(b[8:], seq)
	binary.LittleEndian.PutUint64(b[16:], uint64(time.Now().UnixNano()))
	for i := range n {
		b[msgHeader+i] = byte(seq*31 + uint64(i)*7 + uint64(id))
	}
	binary.LittleEndian.PutUint32(b[4:], crc32.Checksum(b[8:], castagnoli))
	return b
}

type msgInfo struct {
	id   uint32
	seq  uint64
	sent time.Time
}

var errTorn = errors.New("torn or corrupt message")

func decodeMsg(b []byte) (msgInfo, error) {
	if len(b) < msgHeader {
		return msgInfo{}, fmt.Errorf("%w: %d bytes", errTorn, len(b))
	}
	if crc32.Checksum(b[8:], castagnoli) != binary.LittleEndian.Uint32(b[4:]) {
		return msgInfo{}, fmt.Errorf("%w: checksum mismatch (%d bytes)", errTorn, len(b))
	}
	m := msgInfo{
		id:   binary.LittleEndian.Uint32(b[0:]),
		seq:  binary.LittleEndian.Uint64(b[8:]),
		sent: time.Unix(0, int64(binary.LittleEndian.Uint64(b[16:]))),
	}
	for i, c := range b[msgHeader:] {
		if c != byte(m.seq*31+uint64(i)*7+uint64(m.id)) {
			return m, fmt.Errorf("%w: payload byte %d", errTorn, i)
		}
	}
	return m, nil
}

// order checks that each producer's messages arrive whole, in order, each
// exactly once: next[id] is the sequence number expected next from id.
type order struct {
	mu   sync.Mutex
	next map[uint32]uint64
	n    int
	sent map[uint32]time.Time // send time of the latest message per id
}

func newOrder() *order {
	return &order{next: map[uint32]uint64{}, sent: map[uint32]time.Time{}}
}

func (o *order) add(b []byte) (msgInfo, error) {
	m, err := decodeMsg(b)
	if err != nil {
		return m, err
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	want := o.next[m.id]
	switch {
	case m.seq < want:
		return m, fmt.Errorf("DUPLICATE: producer %d message %d again (expected %d)", m.id, m.seq, want)
	case m.seq > want:
		return m, fmt.Errorf("LOST: producer %d message %d arrived, expected %d", m.id, m.seq, want)
	}
	o.next[m.id] = want + 1
	o.n++
	o.sent[m.id] = m.sent
	return m, nil
}

func (o *order) got(id uint32) uint64 {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.next[id]
}

func init() {
	shmtest.Role("q-producer", qProducer)
	shmtest.Role("q-consumer", qConsumer)
	extraModeCreators = append(extraModeCreators, modeCreator{"queue.Create", func(n string, mode *fs.FileMode) (string, error) {
		var opts []queue.Option
		if mode != nil {
			opts = append(opts, queue.Mode(*mode))
		}
		q, err := queue.Create(n, 4096, opts...)
		if err != nil {
			return "", err
		}
		q.Close()
		return filepath.Join(shm.DefaultDir, n), nil
	}})
	extraSymlinkCalls = append(extraSymlinkCalls, namedCall{"queue.Create", func(n string) error {
		q, err := queue.Create(n, 4096)
		if q != nil {
			q.Close()
		}
		return err
	}}, namedCall{"queue.Open", func(n string) error {
		q, err := queue.Open(n)
		if q != nil {
			q.Close()
		}
		return err
	}})
	extraPreCreation = append(extraPreCreation, namedCall{"queue.Create", func(n string) error {
		q, err := queue.Create(n, 4096)
		if err == nil {
			q.Close()
			return errors.New("created over a planted file")
		}
		if !errors.Is(err, fs.ErrExist) {
			return err
		}
		return nil
	}}, namedCall{"queue.Open", func(n string) error {
		// The planted object holds zeros, not a queue: Open must say so.
		q, err := queue.Open(n)
		if err == nil {
			q.Close()
			return errors.New("opened a planted non-queue")
		}
		if !errors.Is(err, queue.ErrNotQueue) && !errors.Is(err, queue.ErrCorrupt) {
			return err
		}
		return nil
	}})
	extraNameCalls = append(extraNameCalls, func(dir string) []namedCall {
		o := queue.Dir(dir)
		return []namedCall{
			{"queue.Create", func(n string) error {
				q, err := queue.Create(n, 4096, o)
				if q != nil {
					q.Close()
				}
				return err
			}},
			{"queue.Open", func(n string) error {
				q, err := queue.Open(n, o)
				if q != nil {
					q.Close()
				}
				return err
			}},
			{"queue.Unlink", func(n string) error { return queue.Unlink(n, o) }},
			{"queue.Stat", func(n string) error { _, err := queue.Stat(n, o); return err }},
		}
	})
}

// openWithLedger opens a queue role's queue a["name"] and its word slot of
// the ledger segment a["ledger"].
func openWithLedger(a shmtest.Args, slot int) (*queue.Queue, *atomic.Uint64, error) {
	q, err := queue.Open(a["name"])
	if err != nil {
		return nil, nil, fmt.Errorf("open: %w", err)
	}
	lseg, err := shm.Open(a["ledger"])
	if err != nil {
		q.Close()
		return nil, nil, fmt.Errorf("open ledger: %w", err)
	}
	return q, mem.MustUint64(lseg.Bytes(), 8*slot), nil
}

// qProducer sends messages 0, 1, 2, ... of producer a["id"] to queue
// a["name"], choosing Send, Reserve+Commit or SendBatch at random, and
// stores in its ledger word (a["ledger"], slot id) how many messages the
// calls that returned sent, shifted left by one; bit 0 is set while it holds
// a Reserve not yet committed. With a["count"] > 0 it stops after that many and closes.
func qProducer(a shmtest.Args) int {
	id := uint32(a.Int("id"))
	q, led, err := openWithLedger(a, int(id))
	if err != nil {
		say("%v", err)
		return shmtest.ExitFail
	}
	count, maxPay := uint64(a.Int("count")), a.Int("max")
	pause := a["pause"] == "1"
	hold := 3 // microseconds, at most, between the halves of a Reserve's copy
	if _, ok := a["hold"]; ok {
		hold = a.Int("hold")
	}
	mode := a["mode"]
	r := roleRand()
	bufs := make([][]byte, 8)
	for i := range bufs {
		bufs[i] = make([]byte, msgHeader+maxPay)
	}
	batch := make([][]byte, 0, 8)
	// Take the role before saying ready: a producer killed before its
	// first send would otherwise leave a queue that never had one, which
	// a consumer rightly waits on instead of reporting it dead.
	if err := q.BecomeProducer(); err != nil {
		say("become producer: %v", err)
		return shmtest.ExitFail
	}
	say("ready")
	for seq := uint64(0); count == 0 || seq < count; {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		how := mode
		if how == "mixed" {
			how = []string{"send", "reserve", "batch"}[r.IntN(3)]
		}
		n := 1
		var err error
		switch how {
		case "send":
			err = q.Send(ctx, encodeMsg(bufs[0], id, seq, r.IntN(maxPay+1)))
		case "reserve":
			m := encodeMsg(bufs[0], id, seq, r.IntN(maxPay+1))
			var slot []byte
			led.Store(seq<<1 | 1) // holding a reservation
			if slot, err = q.Reserve(ctx, len(m)); err == nil {
				// Copy in two halves with a pause: a kill lands mid-write.
				h := len(m) / 2
				copy(slot, m[:h])
				spin(r.IntN(hold))
				copy(slot[h:], m[h:])
				err = q.Commit()
			}
		case "batch":
			n = 1 + r.IntN(len(bufs))
			if count > 0 {
				n = int(min(uint64(n), count-seq))
			}
			batch = batch[:0]
			for i := range n {
				batch = append(batch, encodeMsg(bufs[i], id, seq+uint64(i), r.IntN(maxPay+1)))
			}
			err = q.SendBatch(ctx, batch)
		}
		cancel()
		if err != nil {
			say("send %d: %v", seq, err)
			return shmtest.ExitFail
		}
		seq += uint64(n)
		led.Store(seq << 1)
		if pause {
			spin(r.IntN(20))
		}
	}
	if err := q.Close(); err != nil {
		say("close: %v", err)
		return shmtest.ExitFail
	}
	say("done sent=%d", count)
	return shmtest.ExitOK
}

// qConsumer consumes queue a["name"] in place (Peek, check, record, Release)
// and keeps its progress in ledger word 0 of a["ledger"]: the sequence
// number it expects next, shared with the consumers before and after it. A
// message below that is a redelivery (the predecessor died before its read
// position was published), counted; one above it is a lost message, a
// failure. It prints its counts when the queue reports io.EOF.
func qConsumer(a shmtest.Args) int {
	q, led, err := openWithLedger(a, 0)
	if err != nil {
		say("%v", err)
		return shmtest.ExitFail
	}
	var got, redelivered int
	say("ready")
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		b, err := q.Peek(ctx)
		cancel()
		if err == io.EOF {
			say("done got=%d redelivered=%d next=%d", got, redelivered, led.Load())
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
		next := led.Load()
		switch {
		case m.seq < next:
			redelivered++
		case m.seq > next:
			say("LOST: message %d arrived, expected %d", m.seq, next)
			return shmtest.ExitFail
		default:
			led.Store(next + 1)
			got++
		}
		if err := q.Release(); err != nil {
			say("release: %v", err)
			return shmtest.ExitFail
		}
	}
}

func newQueue(t *testing.T, capacity int64, opts ...queue.Option) (string, *queue.Queue) {
	t.Helper()
	name := shmtest.Name(t, "")
	q, err := queue.Create(name, capacity, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { q.Close() })
	return name, q
}

// TestQueueKillProducer (one producer at a time): a producer is SIGKILLed at
// a random point of Send, Reserve/Commit or SendBatch; the consumer (this
// process, with Receive or ReceiveBatch) gets every message whole, in
// order, once; after the queue is
// drained it gets ErrPeerDead within a second of the death; what it got is
// what the producer's ledger says was sent (plus at most the one batch in
// flight); and the next producer takes over the role.
func TestQueueKillProducer(t *testing.T) { testQueueKillProducer(t, false) }

// TestQueueKillProducerPIDNamespace is TestQueueKillProducer with every
// producer in a PID namespace of its own.
func TestQueueKillProducerPIDNamespace(t *testing.T) { testQueueKillProducer(t, true) }

func testQueueKillProducer(t *testing.T, otherNS bool) {
	nsOpts, where := victimsIn(t, otherNS)
	n := trials(40, 400)
	r := newRand(t)
	qname, q := newQueue(t, 64<<10)
	lname, led := newLedger(t)
	o := newOrder()
	// Even trials receive with Receive, odd ones with ReceiveBatch.
	batch := make([][]byte, 16)
	var detect []time.Duration
	var exact, inflight int
	for trial := range n {
		id := uint32(trial)
		p := shmtest.Spawn(t, "q-producer", shmtest.Args{"name": qname, "ledger": lname, "id": itoa(trial), "count": "0", "max": "2000", "mode": "mixed", "pause": "1"}, nsOpts...)
		if _, ok := p.Expect("ready", 10*time.Second); !ok {
			t.Fatalf("producer not ready: %s", p.Output())
		}
		killAt := time.Now().Add(time.Duration(1+r.IntN(30)) * time.Millisecond)
		var killed time.Time
		for {
			if killed.IsZero() && time.Now().After(killAt) {
				p.Kill()
				killed = time.Now()
			}
			ctx, cancel := withTimeout(5 * time.Second)
			var n int
			var err error
			if trial%2 == 0 {
				batch[0], err = q.Receive(ctx, batch[0])
				n = 1
			} else {
				n, err = q.ReceiveBatch(ctx, batch)
			}
			cancel()
			if errors.Is(err, queue.ErrPeerDead) && !killed.IsZero() {
				detect = append(detect, time.Since(killed))
				break
			}
			if err != nil {
				t.Fatalf("trial %d: receive: %v (killed=%v)\n%s", trial, err, !killed.IsZero(), p.Output())
			}
			for _, m := range batch[:n] {
				if _, err := o.add(m); err != nil {
					t.Fatalf("trial %d: %v", trial, err)
				}
			}
		}
		if p.ExitCode(10*time.Second) != -1 {
			t.Fatalf("trial %d: producer was not killed: %s", trial, p.Output())
		}
		got, sent := o.got(id), led[id].Load()>>1
		if got < sent || got > sent+8 {
			t.Fatalf("trial %d: consumer got %d messages, the producer's ledger says %d returned", trial, got, sent)
		}
		if got == sent {
			exact++
		} else {
			inflight++
		}
	}
	sortDur(detect)
	if worst := pct(detect, 100); worst > time.Second+200*time.Millisecond {
		t.Errorf("ErrPeerDead came %v after the producer's death", worst)
	}
	t.Logf("SUMMARY queue kill producer (SPSC%s): trials=%d kills at random points of Send/Reserve+Commit/SendBatch; %d messages checked: torn=0 lost=0 duplicated=0 out-of-order=0; received == ledger in %d trials, ledger+in-flight (committed, kill came before the ledger store) in %d; ErrPeerDead after the death: median %v max %v (bound 1s); every next producer took over",
		where, n, o.n, exact, inflight, pct(detect, 50), pct(detect, 100))
}

// TestQueueKillProducersMPSC: four producers send at once; again and again
// one is SIGKILLed at a random point and replaced by a new one. The consumer
// (a goroutine of this process) checks every message; after each kill it must
// get messages the survivors sent after the kill within one second (a record
// the dead one reserved but never committed is skipped, not waited on); at
// the end every producer's count matches its ledger.
func TestQueueKillProducersMPSC(t *testing.T) { testQueueKillProducersMPSC(t, false) }

// TestQueueKillProducersMPSCPIDNamespace is TestQueueKillProducersMPSC with
// every producer in a PID namespace of its own.
func TestQueueKillProducersMPSCPIDNamespace(t *testing.T) { testQueueKillProducersMPSC(t, true) }

func testQueueKillProducersMPSC(t *testing.T, otherNS bool) {
	nsOpts, where := victimsIn(t, otherNS)
	const producers = 4
	n := trials(40, 400)
	r := newRand(t)
	qname, q := newQueue(t, 64<<10, queue.MultiProducer())
	lname, led := newLedger(t)
	o := newOrder()
	var consErr error
	consDone := make(chan struct{})
	var endDetect time.Duration
	var allKilled atomic.Int64 // wall time of the last kill at the end
	go func() {
		defer close(consDone)
		buf := make([]byte, 0, 64<<10)
		for {
			ctx, cancel := withTimeout(5 * time.Second)
			m, err := q.Receive(ctx, buf)
			cancel()
			if errors.Is(err, queue.ErrPeerDead) && allKilled.Load() != 0 {
				endDetect = time.Since(time.Unix(0, allKilled.Load()))
				return
			}
			if err != nil {
				consErr = fmt.Errorf("Receive: %w", err)
				return
			}
			if _, err := o.add(m); err != nil {
				consErr = err
				return
			}
		}
	}()
	nextID := 0
	start := func() (*shmtest.Child, uint32) {
		id := nextID
		nextID++
		p := shmtest.Spawn(t, "q-producer", shmtest.Args{"name": qname, "ledger": lname, "id": itoa(id), "count": "0", "max": "1000", "mode": "mixed", "pause": "1", "hold": "600"}, nsOpts...)
		if _, ok := p.Expect("ready", 10*time.Second); !ok {
			t.Fatalf("producer not ready: %s", p.Output())
		}
		return p, uint32(id)
	}
	procs := make([]*shmtest.Child, producers)
	ids := make([]uint32, producers)
	for i := range procs {
		procs[i], ids[i] = start()
	}
	var stalls []time.Duration
	var pendingSeen int
	for trial := range n {
		time.Sleep(time.Duration(2+r.IntN(20)) * time.Millisecond)
		v := r.IntN(producers)
		procs[v].KillWait()
		killed := time.Now()
		if led[ids[v]].Load()&1 == 1 {
			pendingSeen++
		}
		// A survivor's message sent after the death must arrive within 1 s.
		ok := waitUntil(2*time.Second, func() bool {
			o.mu.Lock()
			defer o.mu.Unlock()
			for i, id := range ids {
				if i != v && o.sent[id].After(killed) {
					return true
				}
			}
			return false
		})
		stall := time.Since(killed)
		if !ok || stall > time.Second {
			t.Fatalf("trial %d: no survivor's message arrived for %v after a producer's death (consumer: %v)", trial, stall, consErr)
		}
		stalls = append(stalls, stall)
		procs[v], ids[v] = start()
	}
	for _, p := range procs {
		p.KillWait()
	}
	allKilled.Store(time.Now().UnixNano())
	select {
	case <-consDone:
	case <-time.After(10 * time.Second):
		t.Fatal("consumer still waiting 10 s after every producer died")
	}
	if consErr != nil {
		t.Fatal(consErr)
	}
	var exact, inflight int
	for id := range nextID {
		got, sent := o.got(uint32(id)), led[id].Load()>>1
		if got < sent || got > sent+8 {
			t.Errorf("producer %d: consumer got %d, ledger says %d returned", id, got, sent)
		}
		if got == sent {
			exact++
		} else {
			inflight++
		}
	}
	sortDur(stalls)
	t.Logf("SUMMARY queue kill producers (MPSC, 4 at once%s): trials=%d kills (%d inside Reserve..Commit), %d producer processes, %d messages checked: torn=0 lost=0 duplicated=0 out-of-order=0; per producer received == ledger for %d, ledger+in-flight for %d; survivors' messages arrived after a death: median %v max %v (bound 1s); ErrPeerDead %v after the last producer died",
		where, n, pendingSeen, nextID, o.n, exact, inflight, pct(stalls, 50), pct(stalls, 100), endDetect.Round(time.Millisecond))
}

// TestQueueKillConsumer: consumers (Peek, record, Release) are SIGKILLed at
// random points and replaced while this process sends. No message may be
// lost; a successor may see again what its predecessor had not yet
// published as read (the documented bound: a quarter of the ring), and the
// producer's Send waiting for room on a dead consumer fails with ErrPeerDead
// within a second.
func TestQueueKillConsumer(t *testing.T) { testQueueKillConsumer(t, false) }

// TestQueueKillConsumerPIDNamespace is TestQueueKillConsumer with every
// consumer in a PID namespace of its own.
func TestQueueKillConsumerPIDNamespace(t *testing.T) { testQueueKillConsumer(t, true) }

func testQueueKillConsumer(t *testing.T, otherNS bool) {
	nsOpts, where := victimsIn(t, otherNS)
	n := trials(30, 300)
	r := newRand(t)
	const capacity = 64 << 10
	qname, q := newQueue(t, capacity)
	lname, led := newLedger(t)
	buf := make([]byte, msgHeader+1000)
	var seq uint64
	var detect []time.Duration
	var all []*shmtest.Child
	consumer := func() *shmtest.Child {
		p := shmtest.Spawn(t, "q-consumer", shmtest.Args{"name": qname, "ledger": lname}, nsOpts...)
		if _, ok := p.Expect("ready", 10*time.Second); !ok {
			t.Fatalf("consumer not ready: %s", p.Output())
		}
		all = append(all, p)
		// The consumer takes its role with its first Peek, after "ready".
		// Killed before that, it would leave a queue that never had a
		// consumer, which a Send rightly waits on: wait for the claim.
		for start := time.Now(); ; time.Sleep(time.Millisecond) {
			st, err := queue.Stat(qname)
			if err != nil {
				t.Fatal(err)
			}
			if st.Consumer != nil && st.Consumer.Alive {
				break
			}
			if time.Since(start) > 10*time.Second {
				t.Fatalf("the consumer did not take its role in 10s: %s", p.Output())
			}
		}
		return p
	}
	send := func() error {
		ctx, cancel := withTimeout(5 * time.Second)
		defer cancel()
		return q.Send(ctx, encodeMsg(buf, 0, seq, r.IntN(1001)))
	}
	for trial := range n {
		c := consumer()
		killAt := time.Now().Add(time.Duration(1+r.IntN(30)) * time.Millisecond)
		for time.Now().Before(killAt) {
			if err := send(); err != nil {
				t.Fatalf("trial %d: Send: %v\n%s", trial, err, c.Output())
			}
			seq++
		}
		c.KillWait()
		killed := time.Now()
		// Fill the ring: Send must then report the dead consumer.
		for {
			err := send()
			if errors.Is(err, queue.ErrPeerDead) {
				detect = append(detect, time.Since(killed))
				break
			}
			if err != nil {
				t.Fatalf("trial %d: Send after the consumer died: %v", trial, err)
			}
			seq++
		}
	}
	last := consumer()
	if err := q.Close(); err != nil {
		t.Fatal(err)
	}
	if !last.Finish(30 * time.Second) {
		return
	}
	var got, redelivered, next int
	for _, p := range all {
		var g, rd, nx int
		if _, err := sscanKV(lastLine(p.Output(), "done "), "got", &g, "redelivered", &rd, "next", &nx); err == nil {
			got, redelivered, next = got+g, redelivered+rd, nx
		}
	}
	if uint64(next) != seq || led[0].Load() != seq {
		t.Fatalf("the last consumer ends at message %d (ledger %d), %d were sent", next, led[0].Load(), seq)
	}
	sortDur(detect)
	if worst := pct(detect, 100); worst > time.Second+200*time.Millisecond {
		t.Errorf("ErrPeerDead came %v after the consumer's death", worst)
	}
	t.Logf("SUMMARY queue kill consumer%s: trials=%d consumer kills, %d messages sent, all %d processed once in order by the chain of consumers: lost=0 torn=0; redelivered to a successor (read position not yet published): %d; Send on a full ring with a dead consumer: ErrPeerDead after median %v max %v (bound 1s)",
		where, n, seq, seq, redelivered, pct(detect, 50), pct(detect, 100))
}

// TestQueueLoad: eight producer processes and one consumer (this process)
// move messages with checksums; every one arrives whole, in order per
// producer, exactly once, and the consumer gets io.EOF after the last
// producer closed. Full strength moves ten million messages.
func TestQueueLoad(t *testing.T) {
	const producers = 8
	total := trials(200_000, 10_000_000)
	per := total / producers
	qname, q := newQueue(t, 1<<20, queue.MultiProducer())
	lname, _ := newLedger(t)
	var procs []*shmtest.Child
	for i := range producers {
		mode := []string{"send", "batch"}[i%2]
		procs = append(procs, shmtest.Spawn(t, "q-producer", shmtest.Args{"name": qname, "ledger": lname, "id": itoa(i), "count": itoa(per), "max": "40", "mode": mode, "pause": "0"}))
	}
	for _, p := range procs {
		if _, ok := p.Expect("ready", 10*time.Second); !ok {
			t.Fatalf("producer not ready: %s", p.Output())
		}
	}
	o := newOrder()
	buf := make([]byte, 0, 4096)
	t0 := time.Now()
	var bytes int
	for {
		ctx, cancel := withTimeout(30 * time.Second)
		m, err := q.Receive(ctx, buf)
		cancel()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("Receive after %d messages: %v", o.n, err)
		}
		if _, err := o.add(m); err != nil {
			t.Fatal(err)
		}
		bytes += len(m)
	}
	el := time.Since(t0)
	for _, p := range procs {
		p.Finish(10 * time.Second)
	}
	for i := range producers {
		if got := o.got(uint32(i)); got != uint64(per) {
			t.Errorf("producer %d: got %d of %d", i, got, per)
		}
	}
	if o.n != per*producers {
		t.Fatalf("got %d messages, want %d", o.n, per*producers)
	}
	t.Logf("SUMMARY queue load: 8 producer processes -> 1 consumer, %d messages (%d payload bytes) with CRC-32C in %v (%.0f msg/s): lost=0 duplicated=0 torn=0 out-of-order=0, io.EOF after the last Close",
		o.n, bytes, el.Round(time.Millisecond), float64(o.n)/el.Seconds())
}

func init() {
	shmtest.Role("q-fill", qFill)
}

// qFill opens each queue named in a["names"] in a["dir"] and sends until it
// is full, so every page of every ring is written: a queue handed out
// without its memory would raise SIGBUS here (exit status 2).
func qFill(a shmtest.Args) int {
	var msgs int
	for _, n := range strings.Split(a["names"], ",") {
		if n == "" {
			continue
		}
		q, err := queue.Open(n, queue.Dir(a["dir"]))
		if err != nil {
			say("open %s: %v", n, err)
			return shmtest.ExitFail
		}
		m := make([]byte, q.MaxMessage()/4)
		for {
			err := q.TrySend(m)
			if err == queue.ErrFull {
				break
			}
			if err != nil {
				say("send %s: %v", n, err)
				return shmtest.ExitFail
			}
			msgs++
		}
		q.Close()
	}
	say("filled msgs=%d", msgs)
	return shmtest.ExitOK
}

// TestExhaustionQueues creates queues of random capacities on a 1 MiB tmpfs
// until Create fails: the failure must be ErrNoSpace and leave nothing
// behind, and every queue created must be fully usable (a child fills every
// ring).
func TestExhaustionQueues(t *testing.T) {
	dir := shmtest.Tmpfs(t, "1m")
	n := trials(20, 300)
	r := newRand(t)
	free0 := shmtest.FreeBytes(t, dir)
	var creates, full, msgs int
	for trial := range n {
		var qs []*queue.Queue
		var names []string
		for i := 0; ; i++ {
			name := fmt.Sprintf("q-%d-%d", trial, i)
			capacity := int64(4096) << r.IntN(7) // 4 KiB to 256 KiB
			q, err := queue.Create(name, capacity, queue.Dir(dir))
			if err != nil {
				if !errors.Is(err, shm.ErrNoSpace) {
					t.Fatalf("trial %d: queue.Create(%d) on a full tmpfs: %v; want ErrNoSpace", trial, capacity, err)
				}
				if _, err := os.Lstat(filepath.Join(dir, name)); !errors.Is(err, fs.ErrNotExist) {
					t.Errorf("trial %d: failed queue.Create left %s behind (%v)", trial, name, err)
				}
				full++
				break
			}
			creates++
			qs = append(qs, q)
			names = append(names, name)
		}
		p := shmtest.Spawn(t, "q-fill", shmtest.Args{"dir": dir, "names": strings.Join(names, ",")})
		if p.Finish(30 * time.Second) {
			var m int
			sscanKV(lastLine(p.Output(), "filled "), "msgs", &m)
			msgs += m
		}
		for i, q := range qs {
			q.Close()
			if err := queue.Unlink(names[i], queue.Dir(dir)); err != nil {
				t.Error(err)
			}
		}
		if left := entries(t, dir); len(left) != 0 {
			t.Fatalf("trial %d: left behind: %v", trial, left)
		}
		if free := shmtest.FreeBytes(t, dir); free != free0 {
			t.Fatalf("trial %d: %d bytes free after cleanup, %d before", trial, free, free0)
		}
	}
	t.Logf("SUMMARY exhaustion queues: trials=%d queue creates ok=%d create ENOSPC=%d (nothing left behind, no space leaked); every ring filled by a peer (%d messages): SIGBUS=0",
		n, creates, full, msgs)
}
