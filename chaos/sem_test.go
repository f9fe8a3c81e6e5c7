//go:build linux

package chaos

import (
	"context"
	"errors"
	"io/fs"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shmkit/shm"
	"github.com/shmkit/shm/internal/mem"
	"github.com/shmkit/shm/internal/shmtest"
	"github.com/shmkit/shm/sem"
)

func init() {
	shmtest.Role("sem-poster", semPoster)
	shmtest.Role("sem-waiter", semWaiter)
	shmtest.Role("sem-sleeper", semSleeper)
	extraSymlinkCalls = append(extraSymlinkCalls, namedCall{"sem.OpenOrCreate", func(n string) error {
		s, _, err := sem.OpenOrCreate(n, 0)
		if s != nil {
			s.Close()
		}
		return err
	}}, namedCall{"sem.Open", func(n string) error {
		s, err := sem.Open(n)
		if s != nil {
			s.Close()
		}
		return err
	}})
	extraModeCreators = append(extraModeCreators, modeCreator{"sem.Create", func(n string, mode *fs.FileMode) (string, error) {
		var opts []sem.Option
		if mode != nil {
			opts = append(opts, sem.Mode(*mode))
		}
		s, err := sem.Create(n, 0, opts...)
		if err != nil {
			return "", err
		}
		s.Close()
		fn, err := sem.FileName(n)
		return filepath.Join(shm.DefaultDir, fn), err
	}})
	extraPreCreation = append(extraPreCreation, namedCall{"sem.Create", func(n string) error {
		s, err := sem.Create(n, 0)
		if err == nil {
			s.Close()
			return errors.New("created over a planted file")
		}
		if !errors.Is(err, fs.ErrExist) {
			return err
		}
		return nil
	}})
	extraNameCalls = append(extraNameCalls, func(dir string) []namedCall {
		o := sem.Dir(dir)
		return []namedCall{
			{"sem.OpenOrCreate", func(n string) error {
				s, _, err := sem.OpenOrCreate(n, 1, o)
				if s != nil {
					s.Close()
				}
				return err
			}},
			{"sem.Unlink", func(n string) error { return sem.Unlink(n, o) }},
			{"sem.FileName", func(n string) error { _, err := sem.FileName(n); return err }},
		}
	})
}

// The semaphore ledger: one word per process ever started, done<<1|pending.
// A poster stores done<<1|1 before Post and (done+1)<<1 after it; a waiter
// the same around a Wait that took a token (done<<1 after one that did not).
// A single store moves each word, so after a SIGKILL a word says exactly how
// many operations completed and whether one was in flight.
const ledgerSlots = 4096

func ledger(b []byte) []*atomic.Uint64 {
	w := make([]*atomic.Uint64, ledgerSlots)
	for i := range w {
		w[i] = mem.MustUint64(b, 8*i)
	}
	return w
}

func semRole(a shmtest.Args) (*sem.Semaphore, *atomic.Uint64, func(), error) {
	s, err := sem.Open(a["sem"])
	if err != nil {
		return nil, nil, nil, err
	}
	seg, err := shm.Open(a["ledger"])
	if err != nil {
		s.Close()
		return nil, nil, nil, err
	}
	w := mem.MustUint64(seg.Bytes(), 8*a.Int("slot"))
	return s, w, func() { s.Close(); seg.Close() }, nil
}

// semPoster posts in a loop with short random pauses until killed.
func semPoster(a shmtest.Args) int {
	s, w, done, err := semRole(a)
	if err != nil {
		say("open: %v", err)
		return shmtest.ExitFail
	}
	defer done()
	r := roleRand()
	say("ready")
	for n := uint64(0); ; n++ {
		w.Store(n<<1 | 1)
		if err := s.Post(); err != nil {
			say("post: %v", err)
			return shmtest.ExitFail
		}
		w.Store((n + 1) << 1)
		spin(r.IntN(30))
	}
}

// semWaiter takes tokens in a loop: mostly with TryWait, and one time in
// four with a Wait of a random deadline up to 20 ms, so that it is killed
// while sleeping, while taking a token and while giving up.
func semWaiter(a shmtest.Args) int {
	s, w, done, err := semRole(a)
	if err != nil {
		say("open: %v", err)
		return shmtest.ExitFail
	}
	defer done()
	r := roleRand()
	say("ready")
	for n := uint64(0); ; {
		w.Store(n<<1 | 1)
		var err error
		if r.IntN(4) == 0 {
			ctx, cancel := context.WithTimeout(context.Background(), time.Duration(r.IntN(20000))*time.Microsecond)
			err = s.Wait(ctx)
			cancel()
		} else {
			var ok bool
			if ok, err = s.TryWait(); err == nil && !ok {
				err = context.DeadlineExceeded
			}
		}
		switch {
		case err == nil:
			n++
		case errors.Is(err, context.DeadlineExceeded):
		default:
			say("wait: %v", err)
			return shmtest.ExitFail
		}
		w.Store(n << 1)
		spin(r.IntN(10))
	}
}

// TestSemaphoreKill: two posters and two waiters on one named semaphore are
// all SIGKILLed at random moments; then the value must equal the posts the
// ledger shows minus the waits it shows, to within the operations that were
// in flight at the kills, and the semaphore must still work.
func TestSemaphoreKill(t *testing.T) {
	n := trials(30, 300)
	r := newRand(t)
	var exact, ambiguous, posts, waits, inflight int
	for trial := range n {
		name := shmtest.Name(t, "")
		s, err := sem.Create(name, 0)
		if err != nil {
			t.Fatal(err)
		}
		lname := shmtest.Name(t, "")
		lseg, err := shm.Create(lname, 8*ledgerSlots)
		if err != nil {
			t.Fatal(err)
		}
		led := ledger(lseg.Bytes())
		var procs []*shmtest.Child
		for i, role := range []string{"sem-poster", "sem-poster", "sem-waiter", "sem-waiter"} {
			procs = append(procs, shmtest.Spawn(t, role, shmtest.Args{"sem": name, "ledger": lname, "slot": itoa(i)}))
		}
		for _, p := range procs {
			if _, ok := p.Expect("ready", 10*time.Second); !ok {
				t.Fatalf("trial %d: %s not ready: %s", trial, p.Role, p.Output())
			}
		}
		time.Sleep(time.Duration(5+r.IntN(30)) * time.Millisecond)
		for _, i := range r.Perm(len(procs)) {
			procs[i].Kill()
			spin(r.IntN(200))
		}
		for _, p := range procs {
			if p.ExitCode(10*time.Second) != -1 {
				t.Fatalf("trial %d: %s exited by itself: %s", trial, p.Role, p.Output())
			}
		}
		var pDone, pPend, wDone, wPend int
		for i := range procs {
			v := led[i].Load()
			d, pend := int(v>>1), int(v&1)
			if i < 2 {
				pDone, pPend = pDone+d, pPend+pend
			} else {
				wDone, wPend = wDone+d, wPend+pend
			}
		}
		val, err := s.Value()
		if err != nil {
			t.Fatalf("trial %d: Value after the kills: %v", trial, err)
		}
		lo, hi := pDone-wDone-wPend, pDone+pPend-wDone
		if val < lo || val > hi {
			t.Fatalf("trial %d: value %d, ledger says posts %d(+%d in flight) - waits %d(+%d in flight) = [%d, %d]", trial, val, pDone, pPend, wDone, wPend, lo, hi)
		}
		if lo == hi {
			exact++
		} else {
			ambiguous++
		}
		posts += pDone
		waits += wDone
		inflight += pPend + wPend
		// Still a working semaphore: dead waiters left in the waiter count
		// cost a spare wake-up, nothing else.
		if err := s.Post(); err != nil {
			t.Fatalf("trial %d: Post after the kills: %v", trial, err)
		}
		for range val + 1 {
			if ok, err := s.TryWait(); !ok || err != nil {
				t.Fatalf("trial %d: TryWait after the kills: %v, %v", trial, ok, err)
			}
		}
		if err := s.WaitTimeout(time.Millisecond); !errors.Is(err, sem.ErrTimeout) {
			t.Fatalf("trial %d: the drained semaphore gave %v", trial, err)
		}
		s.Close()
		lseg.Close()
	}
	t.Logf("SUMMARY semaphore kill: trials=%d (4 processes SIGKILLed at random points each: %d kills); posts=%d waits=%d counted by the ledger; the value lay within the ledger's bounds in every trial: exactly posts-waits in %d, and in the other %d within the operations in flight at the kills (%d in all, at most one per killed process); semaphore usable after every trial",
		n, 4*n, posts, waits, exact, ambiguous, inflight)
}

// semSleeper waits once; a["how"] picks the call: "ctx" (Wait with a
// 30-second deadline), "background" (Wait with context.Background) or
// "timeout" (WaitTimeout of 30 seconds). It prints "woke" when it got a
// token.
func semSleeper(a shmtest.Args) int {
	s, err := sem.Open(a["sem"])
	if err != nil {
		say("open: %v", err)
		return shmtest.ExitFail
	}
	defer s.Close()
	say("ready")
	switch a["how"] {
	case "ctx":
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		err = s.Wait(ctx)
	case "background":
		err = s.Wait(context.Background())
	case "timeout":
		err = s.WaitTimeout(30 * time.Second)
	}
	if err != nil {
		say("wait: %v", err)
		return shmtest.ExitFail
	}
	say("woke")
	return shmtest.ExitOK
}

// TestSemaphoreWaiterLiveness: (1) of two sleeping waiters one is SIGKILLed,
// then a token is posted: the survivor must have it within one second (the
// dead waiter must not swallow the wake-up). (2) A poster dies between its
// two steps (the token added, the wake-up not yet made), which this test
// reproduces exactly by adding the token to the value word without a wake:
// the sleeping waiter must still have it within one second.
func TestSemaphoreWaiterLiveness(t *testing.T) {
	n := trials(10, 100)
	var worst [2]time.Duration
	var count [2]int
	for _, how := range []string{"ctx", "background", "timeout"} {
		for trial := range n {
			name := shmtest.Name(t, "")
			s, err := sem.Create(name, 0)
			if err != nil {
				t.Fatal(err)
			}
			kind := trial % 2 // 0: dead waiter, 1: dead poster
			var sleepers []*shmtest.Child
			for range 2 - kind {
				p := shmtest.Spawn(t, "sem-sleeper", shmtest.Args{"sem": name, "how": how})
				if _, ok := p.Expect("ready", 10*time.Second); !ok {
					t.Fatalf("sleeper not ready: %s", p.Output())
				}
				sleepers = append(sleepers, p)
			}
			if !waitUntil(5*time.Second, func() bool { w, _ := s.Waiters(); return w == len(sleepers) }) {
				t.Fatalf("%s: sleepers never registered", how)
			}
			time.Sleep(5 * time.Millisecond) // let them reach FUTEX_WAIT
			survivor := sleepers[len(sleepers)-1]
			t0 := time.Now()
			if kind == 0 {
				sleepers[0].KillWait()
				t0 = time.Now()
				if err := s.Post(); err != nil {
					t.Fatal(err)
				}
			} else {
				postWithoutWake(t, name)
			}
			_, ok := survivor.Expect("woke", 3*time.Second)
			d := time.Since(t0)
			if !ok || d > time.Second {
				t.Errorf("%s, %s: the waiter had no token %v after its peer died (woke=%v): %s", how, []string{"dead waiter", "poster dead between add and wake"}[kind], d.Round(time.Millisecond), ok, survivor.Output())
			}
			worst[kind] = max(worst[kind], d)
			count[kind]++
			survivor.KillWait()
			s.Close()
		}
	}
	t.Logf("SUMMARY semaphore waiter liveness (Wait with deadline, Wait with Background, WaitTimeout): dead waiter then post: %d trials, slowest wake %v; poster dead between token and wake: %d trials, slowest wake %v (bound 1s)",
		count[0], worst[0].Round(time.Millisecond), count[1], worst[1].Round(time.Millisecond))
}

// postWithoutWake adds a token to the named semaphore's value word and makes
// no FUTEX_WAKE: the state a poster killed between its two steps leaves.
func postWithoutWake(t *testing.T, name string) {
	t.Helper()
	fn, err := sem.FileName(name)
	if err != nil {
		t.Fatal(err)
	}
	seg, err := shm.Open(fn)
	if err != nil {
		t.Fatal(err)
	}
	defer seg.Close()
	mem.MustUint64(seg.Bytes(), 0).Add(1)
}

// waitUntil polls cond for up to d.
func waitUntil(d time.Duration, cond func() bool) bool {
	end := time.Now().Add(d)
	for time.Now().Before(end) {
		if cond() {
			return true
		}
		time.Sleep(time.Millisecond)
	}
	return cond()
}

func init() {
	shmtest.Role("sem-pool", semPool)
}

// semPool uses the semaphore as a pool of tokens: take one (Wait), count
// itself in the holders word (offset 8 of the ledger segment; more holders
// than tokens means the semaphore let too many in), put it back (Post), until
// the stop word (offset 0) is set. It prints how many times it held a token.
func semPool(a shmtest.Args) int {
	s, err := sem.Open(a["sem"])
	if err != nil {
		say("open: %v", err)
		return shmtest.ExitFail
	}
	defer s.Close()
	seg, err := shm.Open(a["ledger"])
	if err != nil {
		say("open ledger: %v", err)
		return shmtest.ExitFail
	}
	defer seg.Close()
	stop, holders := mem.MustUint64(seg.Bytes(), 0), mem.MustUint64(seg.Bytes(), 8)
	tokens := uint64(a.Int("tokens"))
	var held int
	say("ready")
	for stop.Load() == 0 {
		ctx, cancel := withTimeout(5 * time.Second)
		err := s.Wait(ctx)
		cancel()
		if err != nil {
			say("wait: %v", err)
			return shmtest.ExitFail
		}
		if h := holders.Add(1); h > tokens {
			say("TOO MANY HOLDERS: %d with %d tokens", h, tokens)
			return shmtest.ExitFail
		}
		held++
		holders.Add(^uint64(0))
		if err := s.Post(); err != nil {
			say("post: %v", err)
			return shmtest.ExitFail
		}
	}
	say("done held=%d", held)
	return shmtest.ExitOK
}

// TestSemaphoreContention: many processes share a pool of three tokens
// through one named semaphore for a bounded time: never more holders than
// tokens, and at the end the value is three again (no token lost or made).
func TestSemaphoreContention(t *testing.T) {
	const tokens = 3
	workers, dur := 8, span(time.Second, 20*time.Second)
	if full() {
		workers = 16
	}
	name := shmtest.Name(t, "")
	s, err := sem.Create(name, tokens)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	lname, led := newLedger(t)
	var procs []*shmtest.Child
	for range workers {
		procs = append(procs, shmtest.Spawn(t, "sem-pool", shmtest.Args{"sem": name, "ledger": lname, "tokens": itoa(tokens)}))
	}
	for _, p := range procs {
		if _, ok := p.Expect("ready", 10*time.Second); !ok {
			t.Fatalf("worker not ready: %s", p.Output())
		}
	}
	time.Sleep(dur)
	led[0].Store(1)
	var held int
	for _, p := range procs {
		if p.Finish(15 * time.Second) {
			var h int
			sscanKV(lastLine(p.Output(), "done "), "held", &h)
			held += h
		}
	}
	v, err := s.Value()
	if err != nil || v != tokens {
		t.Fatalf("value at the end: %d, %v; want %d", v, err, tokens)
	}
	t.Logf("SUMMARY semaphore contention: %d processes shared %d tokens for %v: %d waits+posts, never more holders than tokens, value exactly %d at the end", workers, tokens, dur, held, tokens)
}

// newLedger makes a segment of ledgerSlots words (see ledger).
func newLedger(t *testing.T) (string, []*atomic.Uint64) {
	t.Helper()
	name := shmtest.Name(t, "")
	seg, err := shm.Create(name, 8*ledgerSlots)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { seg.Close() })
	return name, ledger(seg.Bytes())
}
