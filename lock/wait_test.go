//go:build linux

package lock_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/shmkit/shm"
	"github.com/shmkit/shm/internal/mem"
	"github.com/shmkit/shm/internal/shmtest"
	"github.com/shmkit/shm/lock"
)

// orphanBound is the promise: after its writer dies, a waiting reader gets
// ErrWriterDead within one second.
const orphanBound = time.Second

// valueChild runs the roles on the Value[uint64] at offWait.
//
//	vwrite-loop             store 1, say "started", store 2, 3, ... until killed
//	vwrite N[,close|,exit]  store N, say "stored", then Close and exit,
//	                        exit without Close, or stay until killed
//	vwait D                 say "waiting X", then "got X" for each new
//	                        value, until Wait fails: "closed", "dead" or
//	                        "error ..."; D bounds the whole wait
func valueChild(seg *shm.Segment, role, arg string) error {
	v, err := lock.ValueAt[uint64](seg, offWait)
	if err != nil {
		return err
	}
	switch role {
	case "vwrite-loop": // store 1, 2, 3, ... with pauses, until killed
		v.Store(1)
		fmt.Println("started")
		for x := uint64(2); ; x++ {
			v.Store(x)
			if x%64 == 0 {
				time.Sleep(100 * time.Microsecond)
			}
		}
	case "vwrite":
		n, then, _ := strings.Cut(arg, ",")
		x, err := strconv.ParseUint(n, 10, 64)
		if err != nil {
			return err
		}
		v.Store(x)
		fmt.Println("stored")
		switch then {
		case "close":
			return v.Close()
		case "exit":
			return nil
		}
		time.Sleep(time.Hour)
		return nil
	}
	d, err := time.ParseDuration(arg)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	x, ver, err := v.LoadVersion()
	if err != nil {
		return err
	}
	fmt.Println("waiting", x)
	for {
		x, ver, err = v.Wait(ctx, ver)
		switch {
		case err == nil:
			fmt.Println("got", x)
			continue
		case errors.Is(err, lock.ErrWriterClosed):
			fmt.Println("closed")
		case errors.Is(err, lock.ErrWriterDead):
			fmt.Println("dead")
		default:
			fmt.Println("error", err)
		}
		return nil
	}
}

// waitWord is the wake word of the Value at offWait: it moves only when a
// writer woke sleepers.
func waitWord(t *testing.T, seg *shm.Segment) uint32 {
	t.Helper()
	w, err := mem.Uint32(seg.Bytes(), offWait+8)
	if err != nil {
		t.Fatal(err)
	}
	return w.Load()
}

// asleep waits until a reader advertised its sleep on the Value at
// offWait (the sleepers word is set).
func asleep(t *testing.T, seg *shm.Segment) {
	t.Helper()
	w, err := mem.Uint32(seg.Bytes(), offWait+12)
	if err != nil {
		t.Fatal(err)
	}
	for end := time.Now().Add(30 * time.Second); w.Load() == 0; time.Sleep(time.Millisecond) {
		if time.Now().After(end) {
			t.Fatal("no reader went to sleep in 30 s")
		}
	}
}

func expect(t *testing.T, c *child, want string) {
	t.Helper()
	if l := c.line(t, 30*time.Second); l != want {
		t.Fatalf("child %d said %q, want %q", c.Pid(), l, want)
	}
}

// TestWaitWokenByWriterProcess: a reader process asleep in Wait is woken by
// another process's Store, through the futex (the wake word moved, so the
// writer saw the sleeper), and sees every later Store; when that writer is
// SIGKILLed the reader gets ErrWriterDead within one second, and a reader
// that starts on the orphaned value learns it at once.
func TestWaitWokenByWriterProcess(t *testing.T) {
	seg, name := newSeg(t)
	r := startChild(t, "vwait", name, "60s")
	expect(t, r, "waiting 0")
	asleep(t, seg)
	before := waitWord(t, seg)
	w := startChild(t, "vwrite", name, "42")
	expect(t, w, "stored")
	expect(t, r, "got 42")
	if waitWord(t, seg) == before {
		t.Fatal("the reader woke, but the writer never found it asleep: it polled")
	}
	time.Sleep(50 * time.Millisecond)
	w.kill(t)
	killed := time.Now()
	expect(t, r, "dead")
	if d := time.Since(killed); d >= orphanBound {
		t.Fatalf("ErrWriterDead %v after the kill, bound %v", d, orphanBound)
	}
	w.killed(t)

	late := startChild(t, "vwait", name, "60s")
	expect(t, late, "waiting 42")
	expect(t, late, "dead")

	v, err := lock.ValueAt[uint64](seg, offWait)
	if err != nil {
		t.Fatal(err)
	}
	if st, err := v.Writer(); st != lock.WriterDead || err != nil {
		t.Fatalf("Writer after the kill = %v, %v; want dead", st, err)
	}
}

// TestWaitCloseOrDeath: a writer that closes the value and one that exits
// without closing are told apart, by readers asleep in Wait and by Writer;
// every value stored before Close reaches the reader first. Each round
// begins with a Store by this process, a live writer.
func TestWaitCloseOrDeath(t *testing.T) {
	seg, name := newSeg(t)
	v, err := lock.ValueAt[uint64](seg, offWait)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		then, reader string
		state        lock.WriterState
	}{
		{"close", "closed", lock.WriterClosed},
		{"exit", "dead", lock.WriterDead},
		{"close", "closed", lock.WriterClosed}, // a new writer opens it again first
	} {
		x, _ := v.Load()
		x++
		v.Store(x) // this process writes, and lives: the reader waits
		r := startChild(t, "vwait", name, "60s")
		expect(t, r, fmt.Sprintf("waiting %d", x))
		time.Sleep(50 * time.Millisecond)
		w := startChild(t, "vwrite", name, fmt.Sprintf("%d,%s", x+1, tc.then))
		expect(t, w, "stored")
		if err := w.wait(t, 30*time.Second); err != nil {
			t.Fatalf("writer: %v", err)
		}
		expect(t, r, fmt.Sprintf("got %d", x+1))
		expect(t, r, tc.reader)
		if st, err := v.Writer(); st != tc.state || err != nil {
			t.Fatalf("Writer after %s = %v, %v; want %v", tc.then, st, err, tc.state)
		}
	}
}

// TestWaitWriterInAnotherPIDNamespace: a writer in another PID namespace
// (where its pid means another process here) is alive for this process and
// for a reader in a third namespace, which waits undisturbed; once it is
// SIGKILLed, that reader gets ErrWriterDead within one second.
func TestWaitWriterInAnotherPIDNamespace(t *testing.T) {
	needNewNS(t)
	seg, name := newSeg(t)
	v, err := lock.ValueAt[uint64](seg, offWait)
	if err != nil {
		t.Fatal(err)
	}
	w := startChildIn(t, true, "vwrite", name, "5")
	expect(t, w, "stored")
	r := startChildIn(t, true, "vwait", name, "60s")
	expect(t, r, "waiting 5")

	_, ver, err := v.LoadVersion()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 350*time.Millisecond)
	_, _, err = v.Wait(ctx, ver)
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Wait while the writer lives = %v, want DeadlineExceeded", err)
	}
	if st, err := v.Writer(); st != lock.WriterAlive || err != nil {
		t.Fatalf("Writer of a live writer in another namespace = %v, %v", st, err)
	}
	if l, ok := r.Next(0); ok {
		t.Fatalf("the reader in a third namespace said %q while the writer lives", l)
	}
	w.kill(t)
	killed := time.Now()
	expect(t, r, "dead")
	if d := time.Since(killed); d >= orphanBound {
		t.Fatalf("ErrWriterDead %v after the kill, bound %v", d, orphanBound)
	}
	w.killed(t)
}

// TestWaitInProcess covers Wait, Close and Writer within one process.
func TestWaitInProcess(t *testing.T) {
	seg, _ := newSeg(t)
	v, err := lock.ValueAt[uint64](seg, offWait)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if st, err := v.Writer(); st != lock.NoWriter || err != nil {
		t.Fatalf("Writer of a fresh value = %v, %v", st, err)
	}

	// Nobody waits: Stores leave the wake word alone (no wake call).
	before := waitWord(t, seg)
	for i := range uint64(1000) {
		v.Store(i)
	}
	if waitWord(t, seg) != before {
		t.Fatal("Store woke sleepers when nobody waited")
	}
	if st, err := v.Writer(); st != lock.WriterAlive || err != nil {
		t.Fatalf("Writer after Store = %v, %v", st, err)
	}

	// Something newer than after: returned at once.
	x, ver, err := v.Wait(ctx, 0)
	if x != 999 || ver == 0 || err != nil {
		t.Fatalf("Wait(0) = %d, %d, %v", x, ver, err)
	}
	// Nothing newer: the context ends the wait.
	dctx, cancel := context.WithTimeout(ctx, 150*time.Millisecond)
	_, got, err := v.Wait(dctx, ver)
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) || got != ver {
		t.Fatalf("Wait without a Store = %d, %v; want %d, DeadlineExceeded", got, err, ver)
	}
	cctx, cancel := context.WithCancel(ctx)
	time.AfterFunc(50*time.Millisecond, cancel)
	if _, _, err := v.Wait(cctx, ver); !errors.Is(err, context.Canceled) {
		t.Fatalf("Wait cancelled = %v", err)
	}

	// A Store from another goroutine wakes several waiters.
	done := make(chan error, 3)
	for range 3 {
		go func() {
			x, _, err := v.Wait(ctx, ver)
			if err == nil && x != 1000 {
				err = fmt.Errorf("got %d", x)
			}
			done <- err
		}()
	}
	time.Sleep(50 * time.Millisecond)
	v.Store(1000)
	for range 3 {
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("a waiter was not woken by Store")
		}
	}

	// Close: the last value first, then ErrWriterClosed, for a sleeper too.
	_, ver, _ = v.LoadVersion()
	go func() {
		time.Sleep(50 * time.Millisecond)
		v.Store(1001)
		v.Close()
	}()
	if x, ver, err = v.Wait(ctx, ver); x != 1001 || err != nil {
		t.Fatalf("Wait before Close = %d, %v", x, err)
	}
	time.Sleep(20 * time.Millisecond)
	if _, _, err := v.Wait(ctx, ver); !errors.Is(err, lock.ErrWriterClosed) {
		t.Fatalf("Wait after Close = %v, want ErrWriterClosed", err)
	}
	if st, err := v.Writer(); st != lock.WriterClosed || err != nil {
		t.Fatalf("Writer after Close = %v, %v", st, err)
	}
	v.Store(1002) // opens it again
	if st, _ := v.Writer(); st != lock.WriterAlive {
		t.Fatalf("Writer after a Store that follows Close = %v", st)
	}
}

// TestWaitReadOnly: a reader on a ReadOnly segment cannot advertise its
// sleep, and still sees the writer's Store (by looking every millisecond)
// and its death.
func TestWaitReadOnly(t *testing.T) {
	seg, name := newSeg(t)
	ro, err := shm.Open(name, shm.ReadOnly())
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	r, err := lock.ValueAt[uint64](ro, offWait)
	if err != nil {
		t.Fatal(err)
	}
	w := startChild(t, "vwrite", name, "3")
	expect(t, w, "stored")
	x, ver, err := r.LoadVersion()
	if x != 3 || err != nil {
		t.Fatalf("LoadVersion = %d, %v", x, err)
	}
	done := make(chan error, 1)
	go func() { _, _, err := r.Wait(context.Background(), ver); done <- err }()
	time.Sleep(100 * time.Millisecond)
	w.kill(t)
	select {
	case err := <-done:
		if !errors.Is(err, lock.ErrWriterDead) {
			t.Fatalf("read-only Wait after the writer's death = %v, want ErrWriterDead", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("read-only Wait did not see the writer's death")
	}
	w.killed(t)

	wv, err := lock.ValueAt[uint64](seg, offWait)
	if err != nil {
		t.Fatal(err)
	}
	wv.Store(4) // a live writer again
	if _, ver, err = r.LoadVersion(); err != nil {
		t.Fatal(err)
	}
	go func() { x, _, err := r.Wait(context.Background(), ver); done <- fmt.Errorf("%d: %v", x, err) }()
	time.Sleep(20 * time.Millisecond)
	wv.Store(5)
	select {
	case err := <-done:
		if err.Error() != "5: <nil>" {
			t.Fatalf("read-only Wait after a Store = %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("read-only Wait missed a Store")
	}
	if err := r.Close(); !errors.Is(err, shm.ErrReadOnly) {
		t.Fatalf("Close on a read-only segment = %v", err)
	}
}

// TestWaitHostileHeader: writer words no writer stores are ErrCorrupt from
// Wait and Writer, never a hang; garbage in the sleepers and wake words
// only costs spurious wake-ups.
func TestWaitHostileHeader(t *testing.T) {
	seg, _ := newSeg(t)
	v, err := lock.ValueAt[uint64](seg, offWait)
	if err != nil {
		t.Fatal(err)
	}
	writer, err := mem.Uint64(seg.Bytes(), offWait+16)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []uint64{3, 1, 1<<6 | 1<<3 | 1, 0xffffffffffffffff} {
		writer.Store(w)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, _, err := v.Wait(ctx, 0)
		cancel()
		if !errors.Is(err, lock.ErrCorrupt) {
			t.Errorf("Wait with writer word %#x = %v, want ErrCorrupt", w, err)
		}
		if _, err := v.Writer(); !errors.Is(err, lock.ErrCorrupt) {
			t.Errorf("Writer with writer word %#x = %v, want ErrCorrupt", w, err)
		}
	}
	// A token nobody holds: a dead writer.
	writer.Store(12345<<6 | 1)
	if st, err := v.Writer(); st != lock.WriterDead || err != nil {
		t.Fatalf("Writer of an unheld token = %v, %v", st, err)
	}
	// A writer that died in the middle of a Store (seq odd) orphans the
	// value; one that closed it leaves it closed.
	seq, err := mem.Uint64(seg.Bytes(), offWait)
	if err != nil {
		t.Fatal(err)
	}
	seq.Store(seq.Load() | 1)
	for _, tc := range []struct {
		word uint64
		want error
	}{{12345<<6 | 1, lock.ErrWriterDead}, {12345<<6 | 2, lock.ErrWriterClosed}} {
		writer.Store(tc.word)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, _, err := v.Wait(ctx, 0)
		cancel()
		if !errors.Is(err, tc.want) {
			t.Errorf("Wait mid-write with writer word %#x = %v, want %v", tc.word, err, tc.want)
		}
	}
	// Garbage wake words; a Store repairs the writer word and the sequence.
	b := seg.Bytes()
	copy(b[offWait+8:offWait+16], []byte{0xff, 0xff, 0xff, 0xff, 7, 0, 0, 0})
	v.Store(9)
	if x, _, err := v.Wait(context.Background(), 0); x != 9 || err != nil {
		t.Fatalf("Wait after garbage = %d, %v", x, err)
	}
}

// TestSeqlockOldSizeRefused: a region sized for a payload behind an 8-byte
// sequence alone is refused with both sizes named.
func TestSeqlockOldSizeRefused(t *testing.T) {
	b := make([]byte, 8+16)
	_, err := lock.SeqlockIn(b, 16)
	if !errors.Is(err, shm.ErrInvalid) || !strings.Contains(err.Error(), "needs SeqlockSize(16) = 40") {
		t.Fatalf("SeqlockIn in 24 bytes = %v", err)
	}
}

// TestSeqlockWaitBytes: Seqlock.Wait on raw bytes with the File option
// tells the writer's state too.
func TestSeqlockWaitBytes(t *testing.T) {
	seg, _ := newSeg(t)
	b := seg.Bytes()[offWait:]
	s, err := lock.SeqlockIn(b, 5, lock.File(seg.Fd()))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	p := make([]byte, 5)
	ver, err := s.Wait(context.Background(), p, 0)
	if string(p) != "hello" || err != nil {
		t.Fatalf("Wait = %q, %v", p, err)
	}
	if _, err := s.Wait(context.Background(), p[:4], ver); !errors.Is(err, shm.ErrInvalid) {
		t.Fatalf("Wait with a short buffer = %v", err)
	}
	if st, err := s.Writer(); st != lock.WriterAlive || err != nil {
		t.Fatalf("Writer = %v, %v", st, err)
	}
	anon, err := lock.SeqlockIn(b, 5)
	if err != nil {
		t.Fatal(err)
	}
	if st, err := anon.Writer(); st != lock.WriterAlive || err != nil {
		t.Fatalf("Writer from this process without File = %v, %v", st, err)
	}
	if err := anon.Write([]byte("world")); err != nil {
		t.Fatal(err)
	}
	if st, err := s.Writer(); st != lock.NoWriter || err != nil {
		t.Fatalf("Writer after a write without identity = %v, %v", st, err)
	}
}

// TestWaitWriterKilledAtRandom: a writer process storing a counter without
// pause is SIGKILLed at a random moment (sometimes mid-Store), 20 times;
// a reader here waits all along. It sees the counter only grow, and gets
// ErrWriterDead within one second of each kill; the next writer's
// Stores reach it again.
func TestWaitWriterKilledAtRandom(t *testing.T) {
	shmtest.SkipShort(t)
	const rounds = 20
	seg, name := newSeg(t)
	v, err := lock.ValueAt[uint64](seg, offWait)
	if err != nil {
		t.Fatal(err)
	}
	var worst time.Duration
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 15))
	for i := range rounds {
		w := startChild(t, "vwrite-loop", name, "")
		expect(t, w, "started")
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		kills := make(chan time.Time, 1)
		time.AfterFunc(time.Duration(rng.IntN(50))*time.Millisecond, func() {
			kills <- time.Now()
			w.Cmd.Process.Signal(syscall.SIGKILL)
		})
		var last uint64
		var ver lock.Version
		got := 0
		for {
			x, nv, err := v.Wait(ctx, ver)
			if errors.Is(err, lock.ErrWriterDead) {
				break
			}
			if err != nil {
				t.Fatalf("round %d: Wait = %v", i, err)
			}
			// A new writer starts again from 1.
			if x <= last && got > 0 {
				t.Fatalf("round %d: value %d after %d", i, x, last)
			}
			last, ver, got = x, nv, got+1
		}
		cancel()
		var killed time.Time
		select {
		case killed = <-kills:
		default:
			t.Fatalf("round %d: ErrWriterDead before the writer was killed", i)
		}
		took := time.Since(killed)
		if took >= orphanBound {
			t.Fatalf("round %d: ErrWriterDead %v after the kill, bound %v", i, took, orphanBound)
		}
		worst = max(worst, took)
		w.killed(t)
		t.Logf("round %d: %d values seen, last %d; ErrWriterDead %v after the kill", i, got, last, took)
		last = 0
	}
	t.Logf("%d writers killed; slowest ErrWriterDead %v after the kill", rounds, worst)
}
