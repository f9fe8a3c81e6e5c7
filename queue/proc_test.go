//go:build linux

package queue

// Multi-process tests: the test binary re-executes itself as the peer, in
// one of child's roles (see shmtest.Role).

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"maps"
	"math/rand/v2"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/shmkit/shm/internal/shmtest"
)

func init() {
	for _, role := range []string{"produce", "produce-stdin", "produce-loop", "reserve-hang",
		"lock-hang", "producer-hang", "consumer-hang", "produce-wait", "consume", "truncate",
		"send-truncated", "hold", "compete", "compete-lock-hang", "open-or-create",
		"echo", "stream", "pingpong", "rawring", "rawstream"} {
		shmtest.Role(role, func(a shmtest.Args) int { return shmtest.ExitStatus(child(role, a)) })
	}
}

func TestMain(m *testing.M) { shmtest.Main(m) }

// openChildQueue opens the queue a["name"] for a child role, with
// NoFaultGuard when a["noguard"] is set.
func openChildQueue(a shmtest.Args) (*Queue, error) {
	var opts []Option
	if a["noguard"] != "" {
		opts = append(opts, NoFaultGuard())
	}
	return Open(a["name"], opts...)
}

// child runs one peer role on the queue a["name"], as producer a["id"]
// where it sends, with the count a["count"]. Roles:
//
//	produce        take a producer slot, say "ready", send count checked
//	               messages as producer id, then Close
//	produce-stdin  send checked messages until stdin closes, then Close
//	produce-loop   send checked messages for ever (to be killed at random)
//	reserve-hang   send count messages, Reserve one more, write half
//	               of it, say "ready" and sleep (killed between reserve and commit)
//	lock-hang      (multi-producer) send one message, take the reserve lock,
//	               say "ready" and sleep (killed holding the lock)
//	producer-hang  send one message, say "ready" and sleep
//	consumer-hang  take the consumer role, say "ready" and sleep
//	produce-wait   take the producer slot, say "ready", wait for a line on
//	               stdin, then send count checked messages and Close
//	consume        take the consumer role (saying "busy" once if a live
//	               consumer holds it, and trying again every 2 ms), say
//	               "ready", receive and check messages until io.EOF and say
//	               "got N"
//	truncate       shrink the object (see truncateChild in fault_test.go)
//	send-truncated send, shrink the object, send again (TestNoFaultGuard)
//	open-or-create say "ready", wait for a line on stdin, OpenOrCreate the
//	               queue and say "created ID" or "opened ID", then send
//	               one message (see openorcreate_test.go)
//
// and the benchmark peers of bench_test.go (echo, stream, pingpong,
// rawring, rawstream).
func child(role string, a shmtest.Args) error {
	if role == "echo" || role == "stream" || role == "pingpong" || role == "rawring" || role == "rawstream" {
		return benchChild(role, a)
	}
	if role == "truncate" {
		return truncateChild(a)
	}
	if role == "send-truncated" {
		return sendTruncatedChild(a)
	}
	if role == "hold" {
		return holdChild(a)
	}
	if role == "compete" {
		return competeChild(a)
	}
	if role == "compete-lock-hang" {
		return competeLockHangChild(a)
	}
	if role == "open-or-create" {
		return openOrCreateChild(a)
	}
	ctx := context.Background()
	q, err := Open(a["name"])
	if err != nil {
		return err
	}
	id, count := a.Int("id"), a.Int("count")
	g := newGen(id, q.MaxMessage())
	ready := func() {
		fmt.Println("ready")
		time.Sleep(time.Hour)
	}
	switch role {
	case "produce":
		// Take the producer slot and say so before sending: with several
		// producers, the parent waits for all of them first, or one could
		// send everything and close (the last live producer) before the
		// others start, and the consumer would see io.EOF too early.
		if err := q.claimProducer(); err != nil {
			return err
		}
		fmt.Println("ready")
		for range count {
			if err := q.Send(ctx, g.next()); err != nil {
				return err
			}
		}
		return q.Close()
	case "produce-stdin":
		stop := make(chan struct{})
		go func() { io.Copy(io.Discard, os.Stdin); close(stop) }()
		for {
			select {
			case <-stop:
				return q.Close()
			default:
			}
			for range 10 {
				if err := q.Send(ctx, g.next()); err != nil {
					return err
				}
			}
			time.Sleep(time.Millisecond)
		}
	case "produce-loop":
		for {
			if err := q.Send(ctx, g.next()); err != nil {
				return err
			}
		}
	case "reserve-hang":
		for range count {
			if err := q.Send(ctx, g.next()); err != nil {
				return err
			}
		}
		msg := g.next()
		b, err := q.Reserve(ctx, len(msg))
		if err != nil {
			return err
		}
		copy(b, msg[:len(msg)/2])
		ready()
	case "lock-hang":
		if err := q.Send(ctx, g.next()); err != nil {
			return err
		}
		if err := q.lockReserve(ctx, true); err != nil {
			return err
		}
		ready()
	case "producer-hang":
		if err := q.Send(ctx, g.next()); err != nil {
			return err
		}
		ready()
	case "consumer-hang":
		if _, err := q.TryReceive(nil); err != ErrEmpty {
			return fmt.Errorf("TryReceive: %v", err)
		}
		ready()
	case "produce-wait":
		if err := q.claimProducer(); err != nil {
			return err
		}
		fmt.Println("ready")
		if _, err := bufio.NewReader(os.Stdin).ReadString('\n'); err != nil {
			return err
		}
		for range count {
			if err := q.Send(ctx, g.next()); err != nil {
				return err
			}
		}
		return q.Close()
	case "consume":
		for said := false; ; {
			err := q.claimConsumer()
			if err == nil {
				break
			}
			if !errors.Is(err, ErrBusy) {
				return err
			}
			if !said {
				fmt.Println("busy:", err)
				said = true
			}
			time.Sleep(2 * time.Millisecond)
		}
		fmt.Println("ready")
		chk := &checker{next: map[uint32]uint64{}}
		var buf []byte
		for n := 0; ; n++ {
			var err error
			buf, err = q.Receive(ctx, buf)
			if err == io.EOF {
				fmt.Println("got", n)
				return q.Close()
			}
			if err != nil {
				return fmt.Errorf("message %d: %w", n, err)
			}
			if err := chk.check(buf); err != nil {
				return fmt.Errorf("message %d: %w", n, err)
			}
		}
	}
	return fmt.Errorf("unknown role %q", role)
}

// gen makes checked messages: producer id (4 bytes), sequence number (8),
// random bytes, and a CRC-32 of everything before it (4). Sizes are random
// from 16 to max.
type gen struct {
	id  uint32
	seq uint64
	max int
	rnd *rand.Rand
	buf []byte
}

func newGen(id, max int) *gen {
	return &gen{id: uint32(id), max: min(max, 2048), rnd: rand.New(rand.NewPCG(uint64(id), 7)), buf: make([]byte, 4096)}
}

func (g *gen) next() []byte {
	n := 16 + g.rnd.IntN(g.max-16+1)
	b := g.buf[:n]
	binary.LittleEndian.PutUint32(b, g.id)
	binary.LittleEndian.PutUint64(b[4:], g.seq)
	for i := 12; i < n-4; i++ {
		b[i] = byte(g.seq) ^ byte(i)
	}
	binary.LittleEndian.PutUint32(b[n-4:], crc32.ChecksumIEEE(b[:n-4]))
	g.seq++
	return b
}

// checker verifies checked messages: whole (checksum), and per producer in
// order with nothing lost or duplicated.
type checker struct {
	next map[uint32]uint64
}

// drain receives from c until io.EOF, checking every message, and returns
// the checker and how many messages came. Errors that skip reports true for
// are passed over; any other error fails the test.
func drain(t testing.TB, ctx context.Context, c *Queue, skip func(error) bool) (*checker, int) {
	t.Helper()
	chk := &checker{next: map[uint32]uint64{}}
	var buf []byte
	for i := 0; ; i++ {
		var err error
		buf, err = c.Receive(ctx, buf)
		switch {
		case err == io.EOF:
			return chk, i
		case err != nil && skip != nil && skip(err):
			i--
			continue
		case err != nil:
			t.Fatalf("message %d: %v", i, err)
		}
		if err := chk.check(buf); err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
	}
}

func (c *checker) check(m []byte) error {
	if len(m) < 16 {
		return fmt.Errorf("%d-byte message, want at least 16", len(m))
	}
	if got, want := binary.LittleEndian.Uint32(m[len(m)-4:]), crc32.ChecksumIEEE(m[:len(m)-4]); got != want {
		return fmt.Errorf("torn %d-byte message: checksum %#x, want %#x", len(m), got, want)
	}
	id, seq := binary.LittleEndian.Uint32(m), binary.LittleEndian.Uint64(m[4:])
	if seq != c.next[id] {
		return fmt.Errorf("producer %d: message %d came when %d was due", id, seq, c.next[id])
	}
	c.next[id]++
	return nil
}

// childProc is a peer: the test binary in one of child's roles.
type childProc struct{ *shmtest.Child }

// spawn starts a peer in role on queue name as producer id with count
// (see child) and the role's further arguments in more. It is killed and
// reaped when the test ends.
func spawn(t testing.TB, role, name string, id, count int, more ...shmtest.Args) *childProc {
	t.Helper()
	return spawnIn(t, false, role, name, id, count, more...)
}

// spawnIn is spawn, in a new PID namespace of its own when newNS is set
// (the child is pid 1 there; see needNewNS).
func spawnIn(t testing.TB, newNS bool, role, name string, id, count int, more ...shmtest.Args) *childProc {
	t.Helper()
	a := shmtest.Args{"name": name, "id": strconv.Itoa(id), "count": strconv.Itoa(count)}
	for _, m := range more {
		maps.Copy(a, m)
	}
	var opts []shmtest.Option
	if newNS {
		opts = append(opts, shmtest.NewPIDNamespace())
	}
	return &childProc{shmtest.Spawn(t, role, a, opts...)}
}

// childTimeout bounds the waits for a peer's lines and its end: generous,
// for a loaded machine.
const childTimeout = 2 * time.Minute

// kill kills the child and reaps it.
func (c *childProc) kill() { c.KillWait() }

// wait waits for the child to end and returns nil if it exited with
// status 0, or an error with its output.
func (c *childProc) wait() error { return c.Wait(childTimeout) }

func (c *childProc) ready(t testing.TB) {
	t.Helper()
	if line, ok := c.Next(childTimeout); !ok || line != "ready" {
		t.Fatalf("child %s said %q, %v; want ready; output:\n%s", c.Role, line, ok, c.Output())
	}
}

// millionCount is the message count of the single-producer integrity test.
const millionCount = 1_000_000

func TestProcessIntegritySPSC(t *testing.T) {
	ctx := ctxT(t)
	count := millionCount
	switch {
	case raceEnabled:
		count /= 5 // the race detector slows the consumer down about tenfold
	case testing.Short():
		count /= 20
	}
	name, _, c := pair(t, 1<<16)
	ch := spawn(t, "produce", name, 1, count)
	if _, n := drain(t, ctx, c, nil); n != count {
		t.Fatalf("EOF after %d messages, want %d", n, count)
	}
	if err := ch.wait(); err != nil {
		t.Fatalf("producer: %v", err)
	}
}

func TestProcessIntegrityMPSC(t *testing.T) {
	ctx := ctxT(t)
	const producers = 4
	count := 50_000
	if raceEnabled {
		count /= 5
	}
	name, _, c := pair(t, 1<<16, MultiProducer())
	var kids []*childProc
	for id := range producers {
		kids = append(kids, spawn(t, "produce", name, id, count))
	}
	for _, k := range kids {
		k.ready(t)
	}
	chk, _ := drain(t, ctx, c, nil)
	for id, k := range kids {
		if err := k.wait(); err != nil {
			t.Fatalf("producer %d: %v", id, err)
		}
		if chk.next[uint32(id)] != uint64(count) {
			t.Errorf("producer %d: %d messages arrived, want %d", id, chk.next[uint32(id)], count)
		}
	}
}

// TestProcessCrashMPSC kills producer processes at random moments, many
// times, half of them between Reserve and Commit, while a steady producer
// goes on. The consumer must get only whole, committed messages in order
// per producer, all of the steady producer's, and never hang.
func TestProcessCrashMPSC(t *testing.T) {
	shmtest.SkipShort(t)
	ctx := ctxT(t)
	const trials, parallel = 100, 4
	name, _, c := pair(t, 1<<14, MultiProducer())
	steady := spawn(t, "produce-stdin", name, 1000, 0)

	type result struct {
		id   int
		sent int // messages committed for sure before the kill (reserve-hang)
	}
	results := make(chan result, trials)
	go func() {
		rnd := rand.New(rand.NewPCG(1, 2))
		sem := make(chan struct{}, parallel)
		var wg sync.WaitGroup
		for trial := range trials {
			sem <- struct{}{}
			wg.Add(1)
			go func(trial int, delay time.Duration, atReserve bool, count int) {
				defer func() { <-sem; wg.Done() }()
				if atReserve {
					k := spawn(t, "reserve-hang", name, trial, count)
					if line, ok := k.Next(childTimeout); !ok || line != "ready" {
						t.Errorf("trial %d: child said %q, %v; output:\n%s", trial, line, ok, k.Output())
					}
					k.kill()
					results <- result{trial, count}
					return
				}
				k := spawn(t, "produce-loop", name, trial, 0)
				time.Sleep(delay)
				k.kill()
				results <- result{trial, -1}
			}(trial, time.Duration(rnd.IntN(20_000))*time.Microsecond, trial%2 == 0, rnd.IntN(50))
		}
		wg.Wait()
		close(results)
		steady.Stdin.Close() // the steady producer closes; the queue ends
	}()

	chk, _ := drain(t, ctx, c, nil)
	if err := steady.wait(); err != nil {
		t.Fatalf("steady producer: %v", err)
	}
	if chk.next[1000] == 0 {
		t.Error("no message of the steady producer arrived")
	}
	n := 0
	for r := range results {
		n++
		if r.sent >= 0 && chk.next[uint32(r.id)] != uint64(r.sent) {
			t.Errorf("trial %d: %d messages arrived, the child committed %d before its Reserve", r.id, chk.next[uint32(r.id)], r.sent)
		}
	}
	if n != trials {
		t.Errorf("%d trials ran, want %d", n, trials)
	}
	total := uint64(0)
	for _, v := range chk.next {
		total += v
	}
	t.Logf("%d trials; %d messages, %d of them from the steady producer", n, total, chk.next[1000])
}

// TestProcessCrashSPSC kills single producers at random moments, one after
// the other, each taking over the ring from the dead one. The consumer must
// get whole messages only, each producer's in order without gaps, and all
// of the last producer's, which closes the queue.
func TestProcessCrashSPSC(t *testing.T) {
	shmtest.SkipShort(t)
	ctx := ctxT(t)
	const trials = 30
	name, _, c := pair(t, 1<<12)
	done := make(chan struct{})
	go func() {
		defer close(done)
		rnd := rand.New(rand.NewPCG(5, 6))
		for trial := range trials {
			k := spawn(t, "produce-loop", name, trial, 0)
			time.Sleep(time.Duration(rnd.IntN(20_000)) * time.Microsecond)
			k.kill()
		}
		spawn(t, "produce", name, trials, 1000).wait()
	}()
	// ErrPeerDead comes between two producers: the next one comes.
	chk, _ := drain(t, ctx, c, func(err error) bool { return errors.Is(err, ErrPeerDead) })
	<-done
	if chk.next[trials] != 1000 {
		t.Errorf("the last producer's messages: %d arrived, want 1000", chk.next[trials])
	}
}

// TestProcessTakeover: a producer killed between Reserve and Commit, or
// holding the multi-producer reserve lock, leaves a queue that the next
// producer writes to, and the consumer gets every committed message and the
// new ones, within a second.
func TestProcessTakeover(t *testing.T) {
	for _, tc := range []struct {
		name, role string
		opts       []Option
		committed  uint64
	}{
		{"spsc reserve", "reserve-hang", nil, 5},
		{"mpsc reserve", "reserve-hang", []Option{MultiProducer()}, 5},
		{"mpsc lock", "lock-hang", []Option{MultiProducer()}, 1},
	} {
		forEachNS(t, tc.name, func(t *testing.T, newNS bool) {
			ctx := ctxT(t)
			name, _, c := pair(t, 1<<16, tc.opts...) // room for what the child sends
			k := spawnIn(t, newNS, tc.role, name, 1, int(tc.committed))
			k.ready(t)
			k.kill()
			if tc.role == "lock-hang" && c.lock.Load() == 0 {
				t.Fatal("the child died without holding the reserve lock")
			}
			p, err := Open(name)
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			g := newGen(2, p.MaxMessage())
			start := time.Now()
			sent := make(chan error, 1)
			go func() {
				for range 3 {
					if err := p.Send(ctx, g.next()); err != nil {
						sent <- err
						return
					}
				}
				sent <- p.Close()
			}()
			chk, _ := drain(t, ctx, c, nil)
			if err := <-sent; err != nil {
				t.Fatal(err)
			}
			if chk.next[1] != tc.committed || chk.next[2] != 3 {
				t.Errorf("got %d of the dead producer's %d messages and %d of the new one's 3", chk.next[1], tc.committed, chk.next[2])
			}
			if d := time.Since(start); d > time.Second {
				t.Errorf("taking over took %v, want under a second", d)
			}
		})
	}
}

func TestProcessProducerDies(t *testing.T) {
	for _, mode := range []struct {
		name string
		opts []Option
	}{{"spsc", nil}, {"mpsc", []Option{MultiProducer()}}, {"spin", []Option{Wait(Spin)}}} {
		forEachNS(t, mode.name, func(t *testing.T, newNS bool) {
			ctx := ctxT(t)
			name, _, c := pair(t, 4096, mode.opts...)
			k := spawnIn(t, newNS, "producer-hang", name, 1, 0)
			k.ready(t)
			if _, err := c.Receive(ctx, nil); err != nil {
				t.Fatal(err)
			}
			errc := make(chan error, 1)
			go func() {
				_, err := c.Receive(ctx, nil)
				errc <- err
			}()
			killAndWantPeerDead(t, k, errc, "Receive", "producer")
		})
	}
}

func TestProcessConsumerDies(t *testing.T) {
	shmtest.SkipShort(t)
	for _, mode := range []struct {
		name string
		opts []Option
	}{{"spsc", nil}, {"mpsc", []Option{MultiProducer()}}, {"block", []Option{Wait(Block)}}} {
		forEachNS(t, mode.name, func(t *testing.T, newNS bool) {
			ctx := ctxT(t)
			name, p, _ := pair(t, 4096, mode.opts...)
			k := spawnIn(t, newNS, "consumer-hang", name, 1, 0)
			k.ready(t)
			for p.TrySend(make([]byte, 100)) == nil {
			}
			errc := make(chan error, 1)
			go func() { errc <- p.Send(ctx, make([]byte, 100)) }()
			killAndWantPeerDead(t, k, errc, "Send", "consumer")
		})
	}
}

// killAndWantPeerDead lets a call that waits on peer k start waiting, kills
// k, and wants the call's error, from errc, to be ErrPeerDead within one
// second of the death.
func killAndWantPeerDead(t *testing.T, k *childProc, errc <-chan error, call, peer string) {
	t.Helper()
	time.Sleep(50 * time.Millisecond)
	k.kill()
	killed := time.Now()
	select {
	case err := <-errc:
		if !errors.Is(err, ErrPeerDead) {
			t.Fatalf("%s after the %s died: %v, want ErrPeerDead", call, peer, err)
		}
		t.Logf("%v after %v", err, time.Since(killed))
	case <-time.After(time.Second):
		t.Fatalf("no error within one second of the %s's death", peer)
	}
}

// forEachNS runs f as subtest name twice: with the child peers in this
// process's PID namespace, and with each in a new one (as root only).
func forEachNS(t *testing.T, name string, f func(t *testing.T, newNS bool)) {
	t.Run(name, func(t *testing.T) { f(t, false) })
	t.Run(name+" in another PID namespace", func(t *testing.T) {
		needNewNS(t)
		f(t, true)
	})
}

// needNewNS skips a test that starts peers in new PID namespaces unless it
// runs as root (CLONE_NEWPID needs CAP_SYS_ADMIN).
func needNewNS(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("a new PID namespace needs root (CLONE_NEWPID); run the tests as root")
	}
}
