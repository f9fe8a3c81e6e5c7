//go:build linux

package queue

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/shmkit/shm/internal/shmtest"
)

// competeChild is the "compete" role: one of a queue's competing
// consumers. It takes a slot, says "ready", and takes checked messages
// (see gen) until io.EOF: with a["mode"] "peek" by Peek and Release,
// otherwise by Receive. For each message it appends its sequence number
// and Deliveries (two uint32) to the file a["out"]: with Peek, written
// before the Release, so that a consumer killed in between has recorded
// the message it did not finish. It checks every message's checksum, and
// that the messages delivered for the first time come in order. With
// a["slow"] set it sleeps 100 µs with each message in flight, so that a
// kill is likely to find one.
func competeChild(a shmtest.Args) error {
	ctx := context.Background()
	q, err := Open(a["name"])
	if err != nil {
		return err
	}
	if err := q.claimCompeting(); err != nil {
		return err
	}
	fmt.Println("ready")
	f, err := os.OpenFile(a["out"], os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	peek := a["mode"] == "peek"
	slow := a["slow"] != ""
	w := bufio.NewWriterSize(f, 1<<16)
	var rec [8]byte
	var buf []byte
	last := int64(-1)
	for n := 0; ; n++ {
		var m []byte
		if peek {
			m, err = q.Peek(ctx)
		} else {
			buf, err = q.Receive(ctx, buf)
			m = buf
		}
		if err == io.EOF {
			if err := w.Flush(); err != nil {
				return err
			}
			fmt.Println("got", n)
			return q.Close()
		}
		if err != nil {
			return fmt.Errorf("message %d: %w", n, err)
		}
		seq, err := checkedSeq(m)
		if err != nil {
			return fmt.Errorf("message %d: %w", n, err)
		}
		if q.Deliveries() == 1 {
			if int64(seq) <= last {
				return fmt.Errorf("message %d: sequence %d after %d", n, seq, last)
			}
			last = int64(seq)
		}
		binary.LittleEndian.PutUint32(rec[:], uint32(seq))
		binary.LittleEndian.PutUint32(rec[4:], uint32(q.Deliveries()))
		if peek {
			if _, err := f.Write(rec[:]); err != nil {
				return err
			}
			if slow {
				time.Sleep(100 * time.Microsecond)
			}
			if err := q.Release(); err != nil {
				return err
			}
		} else if _, err := w.Write(rec[:]); err != nil {
			return err
		}
	}
}

// checkedSeq checks a message of gen and returns its sequence number.
func checkedSeq(m []byte) (uint64, error) {
	if len(m) < 16 {
		return 0, fmt.Errorf("%d-byte message, want at least 16", len(m))
	}
	if got, want := binary.LittleEndian.Uint32(m[len(m)-4:]), crc32.ChecksumIEEE(m[:len(m)-4]); got != want {
		return 0, fmt.Errorf("torn %d-byte message: checksum %#x, want %#x", len(m), got, want)
	}
	return binary.LittleEndian.Uint64(m[4:]), nil
}

// deliveries reads the records the compete children wrote: for each
// sequence number, the delivery counts it was recorded with.
func deliveries(t *testing.T, files []string, count int) [][]uint32 {
	t.Helper()
	got := make([][]uint32, count)
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		for ; len(b) >= 8; b = b[8:] {
			seq, d := binary.LittleEndian.Uint32(b), binary.LittleEndian.Uint32(b[4:])
			if int(seq) >= count {
				t.Fatalf("%s: sequence %d, only %d were sent", p, seq, count)
			}
			got[seq] = append(got[seq], d)
		}
	}
	return got
}

// sendChecked sends count checked messages of up to maxMsg bytes and closes.
func sendChecked(t *testing.T, ctx context.Context, p *Queue, count, maxMsg int) {
	t.Helper()
	g := newGen(0, maxMsg)
	for i := range count {
		if err := p.Send(ctx, g.next()); err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
}

// Three consumer processes share a million checked messages: each is
// delivered exactly once, whole, and each consumer sees its messages in
// order.
func TestProcessConsumersExactlyOnce(t *testing.T) {
	count := millionCount
	if testing.Short() || raceEnabled {
		count /= 10
	}
	for _, mode := range []string{"receive", "peek"} {
		t.Run(mode, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			name, p, _ := consumersQueue(t, 1<<16, 3)
			dir := t.TempDir()
			var files []string
			var kids []*childProc
			for i := range 3 {
				out := filepath.Join(dir, fmt.Sprint(i))
				files = append(files, out)
				k := spawn(t, "compete", name, i, 0, shmtest.Args{"out": out, "mode": mode})
				k.ready(t)
				kids = append(kids, k)
			}
			sendChecked(t, ctx, p, count, 256)
			for i, k := range kids {
				if err := k.wait(); err != nil {
					t.Fatalf("consumer %d: %v", i, err)
				}
			}
			for seq, ds := range deliveries(t, files, count) {
				if len(ds) != 1 || ds[0] != 1 {
					t.Fatalf("message %d: delivered %d times (deliveries %v), want once", seq, len(ds), ds)
				}
			}
		})
	}
}

// Consumers killed at random points between Peek and Release lose
// nothing: their message in flight goes to another consumer, counted as
// another delivery, and each kill adds at most one delivery.
func TestProcessConsumersCrash(t *testing.T) {
	shmtest.SkipShort(t)
	trials := 5
	if testing.Short() {
		trials = 2
	}
	total := 0
	for trial := range trials {
		t.Run(fmt.Sprint(trial), func(t *testing.T) {
			kills, extra := consumersChaos(t, rand.New(rand.NewPCG(uint64(trial), 11)), 6)
			t.Logf("%d consumers killed, %d messages delivered again", kills, extra)
			total += extra
		})
	}
	// The consumers hold each message for 100 µs and take little else:
	// kills that never land in flight would mean the test tests nothing.
	if total == 0 && !t.Failed() {
		t.Errorf("no kill found a message in flight in %d trials", trials)
	}
}

// consumersChaos runs a queue with three competing consumers (Peek and
// Release, each message held 100 µs) while it kills kills of them, one at
// a time at random moments, and starts replacements; it sends messages
// until the kills are done, then 1000 more, closes, and checks what the
// consumers recorded: every message delivered, the delivery counts of
// each message distinct, and no more added than one per kill. It returns
// the kills and how many extra deliveries there were.
func consumersChaos(t *testing.T, rnd *rand.Rand, kills int) (int, int) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	name, p, _ := consumersQueue(t, 1<<12, 3)
	dir := t.TempDir()
	var files []string
	start := func() *childProc {
		out := filepath.Join(dir, fmt.Sprint(len(files)))
		files = append(files, out)
		k := spawn(t, "compete", name, len(files), 0, shmtest.Args{"out": out, "mode": "peek", "slow": "1"})
		k.ready(t)
		return k
	}
	kids := []*childProc{start(), start(), start()}
	sent := make(chan struct{})
	stop := make(chan struct{})
	count := 0
	go func() {
		defer close(sent)
		g := newGen(0, 256)
		more := -1
		for ; more != 0; count++ {
			if more < 0 {
				select {
				case <-stop:
					more = 1000
				default:
				}
			} else {
				more--
			}
			if err := p.Send(ctx, g.next()); err != nil {
				t.Errorf("message %d: %v", count, err)
				return
			}
		}
		p.Close()
	}()
	killed := 0
	for killed < kills {
		time.Sleep(time.Duration(rnd.IntN(20_000)) * time.Microsecond)
		i := rnd.IntN(len(kids))
		kids[i].kill()
		killed++
		kids[i] = start()
	}
	close(stop)
	<-sent
	for i, k := range kids {
		if err := k.wait(); err != nil {
			t.Fatalf("consumer %d: %v", i, err)
		}
	}
	extra := 0
	for seq, ds := range deliveries(t, files, count) {
		if len(ds) == 0 {
			t.Fatalf("message %d lost", seq)
		}
		seen := map[uint32]bool{}
		top := uint32(0)
		for _, d := range ds {
			if seen[d] || d < 1 {
				t.Fatalf("message %d: deliveries %v repeat a count", seq, ds)
			}
			seen[d] = true
			top = max(top, d)
		}
		extra += int(top) - 1
	}
	if extra > killed {
		t.Fatalf("%d redeliveries for %d kills: more than one per kill", extra, killed)
	}
	return killed, extra
}

// competeLockHangChild is the "compete-lock-hang" role: one of a queue's
// competing consumers that takes the consume lock, says "ready" and
// sleeps, to be killed holding it.
func competeLockHangChild(a shmtest.Args) error {
	q, err := Open(a["name"])
	if err != nil {
		return err
	}
	if err := q.claimCompeting(); err != nil {
		return err
	}
	if err := q.lockConsume(context.Background()); err != nil {
		return err
	}
	fmt.Println("ready")
	time.Sleep(time.Hour)
	return nil
}

// A consumer killed holding the consume lock does not stop the others:
// the next one takes the lock over (its holder's slot is no longer
// locked) and receives, well within a second.
func TestProcessConsumerDiesHoldingLock(t *testing.T) {
	name, p, cs := consumersQueue(t, 4096, 2)
	ctx := ctxT(t)
	k := spawn(t, "compete-lock-hang", name, 0, 0)
	k.ready(t)
	if err := p.Send(ctx, []byte("after")); err != nil {
		t.Fatal(err)
	}
	k.kill()
	start := time.Now()
	got, err := cs[0].Receive(ctx, nil)
	if err != nil || string(got) != "after" || cs[0].Deliveries() != 1 {
		t.Fatalf("Receive after the lock holder died: %q %v, delivery %d", got, err, cs[0].Deliveries())
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("the lock was taken over after %v, want well under a second (2 s with slack)", d)
	}
}
