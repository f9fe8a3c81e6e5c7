//go:build linux

package interop

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/shmkit/shm/internal/mem"
	"github.com/shmkit/shm/internal/shmtest"
	"github.com/shmkit/shm/queue"
)

func init() {
	shmtest.Role("go-send", goSendRole)
	shmtest.Role("go-chaos-send", goChaosSendRole)
}

// The streams between Go and C: a 64 KiB ring whose messages are 0 to
// 1000 bytes, so that many are in flight and records wrap at every offset
// where one can.
const (
	streamCap    = 64 << 10
	streamMaxMsg = 1000
)

func streamCount(t *testing.T) int {
	if testing.Short() {
		return 50_000
	}
	return 1_000_000
}

// goSend sends count messages of producer p with every sending call:
// Send, Reserve/Commit and SendBatch.
func goSend(q *queue.Queue, p uint32, count, maxLen, minLen int) error {
	buf := make([]byte, q.MaxMessage())
	batch := make([][]byte, 4)
	for i := range batch {
		batch[i] = make([]byte, maxLen)
	}
	ctx, cancel := ctxFor(10 * time.Minute)
	defer cancel()
	for s := 0; s < count; {
		seq := uint64(s)
		n := msgLen(p, seq, maxLen, minLen)
		switch {
		case s%7 == 3:
			b, err := q.Reserve(ctx, n)
			if err != nil {
				return err
			}
			fillMsg(b, p, seq, n)
			if err := q.Commit(); err != nil {
				return err
			}
			s++
		case s%11 == 5 && s+4 <= count:
			msgs := make([][]byte, 4)
			for i := range msgs {
				msgs[i] = fillMsg(batch[i], p, seq+uint64(i), msgLen(p, seq+uint64(i), maxLen, minLen))
			}
			if err := q.SendBatch(ctx, msgs); err != nil {
				return err
			}
			s += 4
		default:
			if err := q.Send(ctx, fillMsg(buf, p, seq, n)); err != nil {
				return err
			}
			s++
		}
	}
	return nil
}

// goSendRole sends a["count"] messages of producer a["producer"], of
// a["min"] to a["max"] bytes, to the queue a["name"] (see goSend), then
// closes.
func goSendRole(a shmtest.Args) int {
	q, err := queue.Open(a["name"])
	if err != nil {
		fmt.Println(err)
		return 1
	}
	if err := goSend(q, uint32(a.Int("producer")), a.Int("count"), a.Int("max"), a.Int("min")); err != nil {
		fmt.Println(err)
		return 1
	}
	if err := q.Close(); err != nil {
		fmt.Println(err)
		return 1
	}
	fmt.Println("done")
	return 0
}

// wrapOffsets replays a single producer's cursor over the message sizes
// and returns the ring offsets where it wrote a wrap record, and how many
// offsets can take one (those where the largest record does not fit).
func wrapOffsets(p uint32, count int) (seen map[uint64]bool, possible int) {
	seen = map[uint64]bool{}
	var t uint64
	for s := range count {
		rec := uint64(msgLen(p, uint64(s), streamMaxMsg, 0)+8+7) &^ 7
		off, need := t%streamCap, rec
		if off+rec > streamCap {
			seen[off] = true
			need += streamCap - off
		}
		t += need
	}
	maxRec := (streamMaxMsg + 8 + 7) &^ 7
	return seen, (maxRec - 8) / 8
}

// TestGoToC: a Go producer sends a million messages of random sizes (with
// Send, Reserve/Commit and SendBatch) and a C consumer checks every byte,
// the order, and the end of the stream.
func TestGoToC(t *testing.T) {
	shmtest.SkipShort(t)
	peer := buildPeer(t, "-O2")
	name := shmtest.Name(t, "")
	n := streamCount(t)
	q := createQueue(t, name, streamCap, queue.MaxMessage(streamMaxMsg))
	if seen, possible := wrapOffsets(1, n); !testing.Short() && len(seen) != possible {
		t.Fatalf("the sizes wrap at %d of the %d offsets where a record can wrap", len(seen), possible)
	}
	cmd := exec.Command(peer, "recv", name, "1", fmt.Sprint(n), fmt.Sprint(streamMaxMsg), "0")
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if err := goSend(q, 1, n, streamMaxMsg, 0); err != nil {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("send: %v (C consumer: %s)", err, out.String())
	}
	if err := q.Close(); err != nil {
		t.Fatal(err)
	}
	if err := waitCmd(t, cmd, 5*time.Minute); err != nil || strings.TrimSpace(out.String()) != fmt.Sprintf("ok %d", n) {
		t.Fatalf("C consumer: %v\n%s", err, out.String())
	}
	t.Logf("Go -> C: %d messages of 0-%d bytes, every byte checked, then EOF", n, streamMaxMsg)
}

// recvStream receives count messages of producer p, of minLen to maxLen
// bytes, with Receive, Peek/Release and ReceiveBatch, checking each, and
// then io.EOF.
func recvStream(q *queue.Queue, p uint32, count, maxLen, minLen int) error {
	ctx, cancel := ctxFor(10 * time.Minute)
	defer cancel()
	scratch := make([]byte, q.MaxMessage())
	var buf []byte
	batch := make([][]byte, 8)
	for s := 0; s < count; {
		switch {
		case s%5 == 2:
			m, err := q.Peek(ctx)
			if err != nil {
				return fmt.Errorf("peek %d: %w", s, err)
			}
			if err := checkMsg(m, p, uint64(s), maxLen, minLen, scratch); err != nil {
				return err
			}
			if err := q.Release(); err != nil {
				return err
			}
			s++
		case s%13 == 7:
			k, err := q.ReceiveBatch(ctx, batch[:min(len(batch), count-s)])
			for i := range k {
				if err := checkMsg(batch[i], p, uint64(s+i), maxLen, minLen, scratch); err != nil {
					return err
				}
			}
			if err != nil {
				return fmt.Errorf("receive batch at %d: %w", s, err)
			}
			s += k
		default:
			var err error
			if buf, err = q.Receive(ctx, buf); err != nil {
				return fmt.Errorf("receive %d: %w", s, err)
			}
			if err := checkMsg(buf, p, uint64(s), maxLen, minLen, scratch); err != nil {
				return err
			}
			s++
		}
	}
	if _, err := q.Receive(ctx, buf); err != io.EOF {
		return fmt.Errorf("after the last message: %v, want io.EOF", err)
	}
	return nil
}

// TestCToGo: a C producer sends a million messages of random sizes (send,
// reserve/commit and batches) and the Go consumer checks every byte.
func TestCToGo(t *testing.T) {
	peer := buildPeer(t, "-O2")
	name := shmtest.Name(t, "")
	n := streamCount(t)
	q := createQueue(t, name, streamCap, queue.MaxMessage(streamMaxMsg))
	cmd := exec.Command(peer, "send", name, "2", fmt.Sprint(n), fmt.Sprint(streamMaxMsg), "0")
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if err := recvStream(q, 2, n, streamMaxMsg, 0); err != nil {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("Go consumer: %v (C producer: %s)", err, out.String())
	}
	if err := waitCmd(t, cmd, time.Minute); err != nil {
		t.Fatalf("C producer: %v\n%s", err, out.String())
	}
	t.Logf("C -> Go: %d messages of 0-%d bytes, every byte checked, then EOF", n, streamMaxMsg)
}

// TestLargeMessages: messages of 24 to 64 KiB, which both libraries copy
// with REP MOVSB from 32 KiB on (internal/mem/copy.go, where this test
// forces it, and copy_msg in c/shmq.c, where the CPU is one it uses it
// on), go from Go to C and from C to Go, every byte checked, with every
// sending and receiving call.
func TestLargeMessages(t *testing.T) {
	defer mem.ForceRepMovsb()()
	peer := buildPeer(t, "-O2")
	const capacity, maxLen, minLen = 1 << 20, 64 << 10, 24 << 10
	n := 20_000
	if testing.Short() {
		n = 2_000
	}
	for _, tc := range []struct {
		name, role string // the C peer's
		goSide     func(q *queue.Queue) error
	}{
		{"GoToC", "recv", func(q *queue.Queue) error {
			if err := goSend(q, 1, n, maxLen, minLen); err != nil {
				return err
			}
			return q.Close()
		}},
		{"CToGo", "send", func(q *queue.Queue) error { return recvStream(q, 1, n, maxLen, minLen) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			name := shmtest.Name(t, "")
			q := createQueue(t, name, capacity, queue.MaxMessage(maxLen))
			cmd := exec.Command(peer, tc.role, name, "1", fmt.Sprint(n), fmt.Sprint(maxLen), fmt.Sprint(minLen))
			var out strings.Builder
			cmd.Stdout, cmd.Stderr = &out, &out
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			if err := tc.goSide(q); err != nil {
				cmd.Process.Kill()
				cmd.Wait()
				t.Fatalf("Go side: %v (C peer: %s)", err, out.String())
			}
			if err := waitCmd(t, cmd, 5*time.Minute); err != nil {
				t.Fatalf("C peer: %v\n%s", err, out.String())
			}
			if tc.role == "recv" && strings.TrimSpace(out.String()) != fmt.Sprintf("ok %d", n) {
				t.Fatalf("C consumer: %s", out.String())
			}
		})
	}
}

// TestMultiProducerMixed: two Go and two C producer processes feed one
// multi-producer queue at once; the Go consumer gets every message of each,
// in each producer's order, whole, and EOF after the last one closed.
func TestMultiProducerMixed(t *testing.T) {
	peer := buildPeer(t, "-O2")
	name := shmtest.Name(t, "")
	each := 100_000
	if testing.Short() {
		each = 10_000
	}
	const minLen = 12
	q := createQueue(t, name, streamCap, queue.MaxMessage(streamMaxMsg), queue.MultiProducer())
	// A fifth producer, this test, holds a slot until the four are done, so
	// that the queue is not closed by the first of them to finish before the
	// last one started.
	hold, err := queue.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	closeHold := sync.OnceFunc(func() { hold.Close() })
	defer closeHold()
	ctx, cancel := ctxFor(10 * time.Minute)
	defer cancel()
	if err := hold.Send(ctx, fillMsg(make([]byte, streamMaxMsg), 5, 0, msgLen(5, 0, streamMaxMsg, minLen))); err != nil {
		t.Fatal(err)
	}
	var cmds []*exec.Cmd
	var outs []*strings.Builder
	for p := 1; p <= 4; p++ {
		var cmd *exec.Cmd
		if p <= 2 {
			cmd = child(t, "go-send", name, fmt.Sprint(p), fmt.Sprint(each), fmt.Sprint(streamMaxMsg), fmt.Sprint(minLen))
		} else {
			cmd = exec.Command(peer, "send", name, fmt.Sprint(p), fmt.Sprint(each), fmt.Sprint(streamMaxMsg), fmt.Sprint(minLen))
		}
		var out strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		cmds, outs = append(cmds, cmd), append(outs, &out)
	}
	var failed sync.Mutex
	var errs []string
	go func() {
		for i, cmd := range cmds {
			if err := waitCmd(t, cmd, 10*time.Minute); err != nil {
				failed.Lock()
				errs = append(errs, fmt.Sprintf("producer %d: %v\n%s", i+1, err, outs[i]))
				failed.Unlock()
			}
		}
		closeHold() // the last producer: the queue is closed for sending
	}()
	next := make([]uint64, 6)
	scratch := make([]byte, q.MaxMessage())
	var buf []byte
	for got := 0; ; got++ {
		var err error
		buf, err = q.Receive(ctx, buf)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("after %d messages: %v", got, err)
		}
		p, seq, ok := msgOwner(buf)
		if !ok || p < 1 || p > 5 {
			t.Fatalf("message %d: %d bytes, not from producers 1-5", got, len(buf))
		}
		if seq != next[p] {
			t.Fatalf("producer %d: message %d, want %d (lost, duplicated or reordered)", p, seq, next[p])
		}
		if err := checkMsg(buf, p, seq, streamMaxMsg, minLen, scratch); err != nil {
			t.Fatal(err)
		}
		next[p]++
	}
	failed.Lock()
	for _, e := range errs {
		t.Error(e)
	}
	failed.Unlock()
	for p := 1; p <= 4; p++ {
		if next[p] != uint64(each) {
			t.Errorf("producer %d: %d messages before EOF, want %d", p, next[p], each)
		}
	}
	t.Logf("2 Go + 2 C producers, %d messages each, all received in order and checked", each)
}

// goChaosSendRole sends to the queue a["name"] as producer a["producer"]
// until killed, lingering between Reserve and Commit now and then (and
// saying so on stdout).
func goChaosSendRole(a shmtest.Args) int {
	q, err := queue.Open(a["name"])
	if err != nil {
		fmt.Println(err)
		return 1
	}
	p := uint32(a.Int("producer"))
	r := rand.New(rand.NewPCG(uint64(os.Getpid()), 1))
	buf := make([]byte, q.MaxMessage())
	ctx := context.Background()
	for s := uint64(0); ; s++ {
		n := msgLen(p, s, streamMaxMsg, 0)
		if r.IntN(2) == 0 {
			b, err := q.Reserve(ctx, n)
			if err != nil {
				fmt.Println(err)
				return 1
			}
			fillMsg(b, p, s, n/2)
			if r.IntN(16) == 0 { // linger between Reserve and Commit
				fmt.Printf("reserved %d\n", s)
				time.Sleep(100 * time.Millisecond)
			}
			fillMsg(b, p, s, n)
			if err := q.Commit(); err != nil {
				fmt.Println(err)
				return 1
			}
		} else if err := q.Send(ctx, fillMsg(buf, p, s, n)); err != nil {
			fmt.Println(err)
			return 1
		}
		if s == 100 {
			fmt.Println("running")
		}
		if r.IntN(64) == 0 {
			time.Sleep(time.Duration(r.IntN(200)) * time.Microsecond)
		}
	}
}

// killAt starts cmd, waits for its "running" line and kills it: in odd
// trials right after a "reserved N" line, while the victim lingers 100 ms
// between reserving message N and committing it, in even ones after a
// random delay. It returns what the victim printed and N (-1 in even
// trials).
func killAt(t *testing.T, cmd *exec.Cmd, trial int, r *rand.Rand) (string, int) {
	t.Helper()
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 1024)
	var log strings.Builder
	var mu sync.Mutex
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			mu.Lock()
			log.WriteString(sc.Text() + "\n")
			mu.Unlock()
			select {
			case lines <- sc.Text():
			default:
			}
		}
		close(lines)
	}()
	wantReserved := trial%2 == 1
	deadline := time.After(time.Minute)
	running := false
	reserved := -1
wait:
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				break wait
			}
			if l == "running" {
				running = true
				if !wantReserved {
					time.Sleep(time.Duration(r.IntN(5000)) * time.Microsecond)
					break wait
				}
			}
			if n, ok := strings.CutPrefix(l, "reserved "); ok && running && wantReserved {
				reserved = atoi(n)
				break wait
			}
		case <-deadline:
			break wait
		}
	}
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	mu.Lock()
	defer mu.Unlock()
	return log.String() + stderr.String(), reserved
}

// TestCProducerKilled: a C producer is SIGKILLed at random points,
// including between reserve and commit, on single- and multi-producer
// queues; the Go consumer gets only whole committed messages in order,
// then ErrPeerDead, never hangs, and the queue takes a new producer.
func TestCProducerKilled(t *testing.T) {
	shmtest.SkipShort(t)
	peer := buildPeer(t, "-O2")
	r := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 2))
	n := trials(4, 100)
	total := 0
	for trial := range n {
		multi := trial%4 >= 2
		name := shmtest.Name(t, "")
		opts := []queue.Option{queue.MaxMessage(streamMaxMsg)}
		if multi {
			opts = append(opts, queue.MultiProducer())
		}
		q, err := queue.Create(name, 16<<10, opts...)
		if err != nil {
			t.Fatal(err)
		}
		type result struct {
			got int
			err error
		}
		res := make(chan result, 1)
		go func() {
			scratch := make([]byte, q.MaxMessage())
			var buf []byte
			for s := 0; ; s++ {
				ctx, cancel := ctxFor(30 * time.Second)
				var err error
				buf, err = q.Receive(ctx, buf)
				cancel()
				if err != nil {
					res <- result{s, err}
					return
				}
				if err := checkMsg(buf, 3, uint64(s), streamMaxMsg, 0, scratch); err != nil {
					res <- result{s, err}
					return
				}
			}
		}()
		victim, reserved := killAt(t, exec.Command(peer, "chaos-send", name, "3", fmt.Sprint(streamMaxMsg), "0"), trial, r)
		rs := <-res
		if !errors.Is(rs.err, queue.ErrPeerDead) {
			t.Fatalf("trial %d (multi %v): after %d whole messages the consumer got %v, want ErrPeerDead\nvictim: %s", trial, multi, rs.got, rs.err, victim)
		}
		if reserved >= 0 && rs.got != reserved {
			t.Fatalf("trial %d (multi %v): killed between reserving message %d and committing it, the consumer got %d messages", trial, multi, reserved, rs.got)
		}
		total += rs.got
		// The queue takes a new producer, and its message comes next.
		p, err := queue.Open(name)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := ctxFor(30 * time.Second)
		if err := p.Send(ctx, []byte("after")); err != nil {
			t.Fatalf("trial %d: a new producer: %v", trial, err)
		}
		m, err := q.Receive(ctx, nil)
		cancel()
		if err != nil || string(m) != "after" {
			t.Fatalf("trial %d (multi %v): after the kill got %q, %v; want the new producer's message", trial, multi, m, err)
		}
		p.Close()
		q.Close()
	}
	t.Logf("%d trials (single and multi-producer, half killed between reserving a message and committing it, which was then never received): %d whole messages before the kills, then ErrPeerDead, and each queue took a new producer", n, total)
}

// TestGoProducerKilled is the reverse: a Go producer SIGKILLed at random
// points, a C consumer that must see only whole messages in order and then
// the dead peer.
func TestGoProducerKilled(t *testing.T) {
	shmtest.SkipShort(t)
	peer := buildPeer(t, "-O2")
	r := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 3))
	n := trials(4, 100)
	for trial := range n {
		multi := trial%4 >= 2
		name := shmtest.Name(t, "")
		opts := []queue.Option{queue.MaxMessage(streamMaxMsg)}
		if multi {
			opts = append(opts, queue.MultiProducer())
		}
		q, err := queue.Create(name, 16<<10, opts...)
		if err != nil {
			t.Fatal(err)
		}
		cons := exec.Command(peer, "chaos-recv", name, "4", fmt.Sprint(streamMaxMsg), "0")
		var out strings.Builder
		cons.Stdout, cons.Stderr = &out, &out
		if err := cons.Start(); err != nil {
			t.Fatal(err)
		}
		victim, reserved := killAt(t, child(t, "go-chaos-send", name, "4"), trial, r)
		if err := waitCmd(t, cons, time.Minute); err != nil || !strings.Contains(out.String(), "dead after") {
			t.Fatalf("trial %d (multi %v): C consumer: %v\n%s\nvictim: %s", trial, multi, err, out.String(), victim)
		}
		if want := fmt.Sprintf("dead after %d\n", reserved); reserved >= 0 && !strings.Contains(out.String(), want) {
			t.Fatalf("trial %d (multi %v): killed between reserving message %d and committing it; the C consumer says %q", trial, multi, reserved, out.String())
		}
		// The queue goes on: a new producer's message reaches a new consumer.
		ctx, cancel := ctxFor(30 * time.Second)
		if err := q.Send(ctx, []byte("after")); err != nil {
			t.Fatalf("trial %d: a new producer: %v", trial, err)
		}
		m, err := q.Receive(ctx, nil)
		cancel()
		if err != nil || string(m) != "after" {
			t.Fatalf("trial %d (multi %v): after the kill got %q, %v; want the new producer's message", trial, multi, m, err)
		}
		q.Close()
	}
}

// The header fields a hostile writer aims at (offset, size): every field
// of docs/PROTOCOL.md's header, the consumer's slot and the first
// producer slots.
var hostileFields = [][2]int{
	{0, 8}, {8, 4}, {12, 4}, {16, 8}, {24, 4}, {28, 4},
	{64, 8}, {72, 4}, {76, 4}, {128, 8}, {136, 4}, {192, 4},
	{256, 8}, {264, 8}, {320, 8}, {328, 8}, {336, 8}, {344, 8},
}

// TestCConsumerHostile: the C consumer, built with AddressSanitizer and
// UndefinedBehaviorSanitizer, receives and peeks while this process
// rewrites the queue's header, cursors, wait words, claims and records at
// random and a Go producer keeps sending (odd trials spare the static
// header line, so that the attack reaches the cursors and records). Every
// call must return a message or a documented error code, and the
// sanitizers must report nothing.
func TestCConsumerHostile(t *testing.T) {
	shmtest.SkipShort(t)
	peer := buildPeer(t, "-O1", "-g", "-fsanitize=address,undefined", "-fno-sanitize-recover=all", "-fno-omit-frame-pointer")
	r := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 4))
	n := trials(3, 30)
	dur := 600 * time.Millisecond
	writes := 0
	for trial := range n {
		name := shmtest.Name(t, "")
		q := createQueue(t, name, 16<<10)
		b, closeMap := mapObject(t, name)
		stop := make(chan struct{})
		var wg sync.WaitGroup
		wg.Add(1)
		go func() { // a producer that keeps going whatever happens
			defer wg.Done()
			p, err := queue.Open(name)
			if err != nil {
				return
			}
			defer p.Close()
			msg := make([]byte, 600)
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				ctx, cancel := ctxFor(20 * time.Millisecond)
				if err := p.Send(ctx, msg[:i%len(msg)]); err != nil && !errors.Is(err, context.DeadlineExceeded) {
					p.Close()
					p, err = queue.Open(name)
					if err != nil {
						cancel()
						return
					}
				}
				cancel()
			}
		}()
		cmd := exec.Command(peer, "hostile", name, fmt.Sprint(dur.Milliseconds()))
		cmd.Env = append(os.Environ(), "ASAN_OPTIONS=detect_leaks=0:abort_on_error=0", "UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1")
		var out strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		known := []uint64{0, 1, 2, 3, 4, 8, 64, 16 << 10, 16<<10 - 8, 16<<10 + 8, 1 << 32, 0x45554555514d4853, 1 << 40, ^uint64(0), 1 << 28, 2 << 28, 3 << 28, 4 << 28}
		end := time.Now().Add(dur - 50*time.Millisecond)
		for time.Now().Before(end) {
			var off, size int
			if r.IntN(3) == 0 {
				off, size = 4096+8*r.IntN(16<<10/8), []int{4, 8}[r.IntN(2)]
			} else {
				f := hostileFields[r.IntN(len(hostileFields))]
				if trial%2 == 1 && f[0] < 64 {
					// Odd trials spare the static line, so that opening
					// works and the attack reaches the cursors and records.
					continue
				}
				off, size = f[0], f[1]
			}
			val := known[r.IntN(len(known))]
			if r.IntN(2) == 0 {
				val = r.Uint64()
			}
			if size == 8 {
				mem.MustUint64(b, off).Store(val)
			} else {
				mem.MustUint32(b, off).Store(uint32(val))
			}
			writes++
			time.Sleep(time.Duration(r.IntN(2000)) * time.Microsecond)
		}
		err := waitCmd(t, cmd, dur+time.Minute)
		close(stop)
		wg.Wait()
		closeMap()
		q.Close()
		o := out.String()
		if err != nil || !strings.Contains(o, "done ops=") || strings.Contains(o, "Sanitizer") || strings.Contains(o, "runtime error") {
			t.Fatalf("trial %d: the C consumer under attack: %v\n%s", trial, err, o)
		}
		t.Logf("trial %d: %s", trial, strings.TrimSpace(o))
	}
	t.Logf("%d trials, %d random rewrites: errors only, no sanitizer report", n, writes)
}

// TestCTakeoverHeadPastTail: a head cursor near 2^64 over a small tail,
// where tail-head wraps around to a small number, is refused by the C
// library (built with AddressSanitizer and UndefinedBehaviorSanitizer)
// when it takes the consumer role and when it takes the producer role,
// with SHMQ_ECORRUPT and a message that names the head.
func TestCTakeoverHeadPastTail(t *testing.T) {
	peer := buildPeer(t, "-O1", "-g", "-fsanitize=address,undefined", "-fno-sanitize-recover=all", "-fno-omit-frame-pointer")
	const badHead = ^uint64(0) &^ 7 // 2^64 - 8
	for _, tc := range []struct {
		name string
		opts []queue.Option
	}{{"spsc", nil}, {"mpsc", []queue.Option{queue.MultiProducer()}}} {
		t.Run(tc.name, func(t *testing.T) {
			name := shmtest.Name(t, "")
			q := createQueue(t, name, 4096, tc.opts...)
			for range 4 { // tail 288, published
				if err := q.TrySend(make([]byte, 64)); err != nil {
					t.Fatal(err)
				}
			}
			if err := q.Detach(); err != nil {
				t.Fatal(err)
			}
			b, closeMap := mapObject(t, name)
			mem.MustUint64(b, 128).Store(badHead)
			closeMap()
			cmd := exec.Command(peer, "takeover", name)
			cmd.Env = append(os.Environ(), "ASAN_OPTIONS=detect_leaks=0", "UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1")
			out, _, code := runTimeout(t, cmd, time.Minute)
			lines := strings.Split(strings.TrimSpace(out), "\n")
			if code != 3 || len(lines) != 2 || strings.Contains(out, "Sanitizer") || strings.Contains(out, "runtime error") {
				t.Fatalf("C peer taking over a queue whose head is %d: exit %d, printed %q; want exit 3 (SHMQ_ECORRUPT twice)", badHead, code, out)
			}
			for _, l := range lines {
				if !strings.Contains(l, "head") || !strings.Contains(l, fmt.Sprint(badHead)) {
					t.Errorf("C peer: %q does not name the head cursor %d", l, badHead)
				}
			}
			t.Log(out)
		})
	}
}
