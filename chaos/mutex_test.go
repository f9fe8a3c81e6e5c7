//go:build linux

package chaos

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shmkit/shm"
	"github.com/shmkit/shm/internal/mem"
	"github.com/shmkit/shm/internal/shmtest"
	"github.com/shmkit/shm/lock"
)

// The mutex trials share one segment:
//
//	offset   0  lock.Mutex (16 bytes)
//	        64  stop    uint64  1 = workers finish and report
//	        72  a       uint64  the protected counter
//	        80  b       uint64  its mirror: a == b whenever the mutex is free
//	        88  jActive uint64  journal: 1 while a holder is mid-update
//	        96  jOldA   uint64  journal: a before the update
//	       104  jSlot   uint64  journal: whose count is being bumped
//	       112  jOldN   uint64  journal: that count before the update
//	       128  counts  [mxSlots]uint64, one per worker process ever started
//
// A holder journals, bumps a, bumps its own count, copies a to b and clears
// the journal, with pauses in between so that a SIGKILL often lands
// mid-update. Whoever gets lock.ErrOwnerDead rolls the journal back. The
// invariant, checked by every holder on every acquisition and by the parent
// at the end: no journal open, a == b == the sum of the counts. A second
// holder inside the critical section, a lost update or a bad repair breaks it.
const (
	mxStop    = 64
	mxA       = 72
	mxB       = 80
	mxJActive = 88
	mxJOldA   = 96
	mxJSlot   = 104
	mxJOldN   = 112
	mxCounts  = 128
	mxSlots   = 2048
	mxSize    = mxCounts + 8*mxSlots
)

type mxState struct {
	stop, a, b, jActive, jOldA, jSlot, jOldN *atomic.Uint64
	counts                                   []*atomic.Uint64
}

func mxWords(b []byte) *mxState {
	s := &mxState{
		stop: mem.MustUint64(b, mxStop), a: mem.MustUint64(b, mxA), b: mem.MustUint64(b, mxB),
		jActive: mem.MustUint64(b, mxJActive), jOldA: mem.MustUint64(b, mxJOldA),
		jSlot: mem.MustUint64(b, mxJSlot), jOldN: mem.MustUint64(b, mxJOldN),
	}
	for i := range mxSlots {
		s.counts = append(s.counts, mem.MustUint64(b, mxCounts+8*i))
	}
	return s
}

// repair rolls back a journaled update; the caller holds the mutex.
func (s *mxState) repair() {
	if s.jActive.Load() == 1 {
		s.a.Store(s.jOldA.Load())
		if slot := s.jSlot.Load(); slot < mxSlots {
			s.counts[slot].Store(s.jOldN.Load())
		}
		s.b.Store(s.a.Load())
		s.jActive.Store(0)
	}
}

// check returns "" when the invariant holds, else what is wrong.
func (s *mxState) check() string {
	var sum uint64
	for _, c := range s.counts {
		sum += c.Load()
	}
	a, b, j := s.a.Load(), s.b.Load(), s.jActive.Load()
	if j != 0 || a != b || a != sum {
		return fmtS("journal=%d a=%d b=%d sum(counts)=%d", j, a, b, sum)
	}
	return ""
}

func init() {
	shmtest.Role("mutex-worker", mutexWorker)
}

// openMutex opens segment a["name"] and the mutex at its offset 0 for a
// child role; on failure it says why and returns a nil mutex.
func openMutex(a shmtest.Args) (*shm.Segment, *lock.Mutex) {
	seg, err := shm.Open(a["name"])
	if err != nil {
		say("open: %v", err)
		return nil, nil
	}
	m, err := lock.MutexAt(seg, 0)
	if err != nil {
		say("mutex: %v", err)
		return nil, nil
	}
	return seg, m
}

// mutexWorker takes the mutex in a loop and updates the protected state as
// described above, until stop is set; then it prints its count.
func mutexWorker(a shmtest.Args) int {
	seg, m := openMutex(a)
	if m == nil {
		return shmtest.ExitFail
	}
	s := mxWords(seg.Bytes())
	word := mem.MustUint64(seg.Bytes(), 0)
	slot := uint64(a.Int("slot"))
	pause := a["pause"] == "1"
	r := roleRand()
	var mine, recovered int
	told := false
	say("ready")
	for s.stop.Load() == 0 {
		ctx, cancel := withTimeout(5 * time.Second)
		err := m.Lock(ctx)
		cancel()
		switch {
		case err == nil:
		case errors.Is(err, lock.ErrOwnerDead):
			s.repair()
			if err := m.MarkConsistent(); err != nil {
				say("mark consistent: %v", err)
				return shmtest.ExitFail
			}
			recovered++
			say("recovered")
		default:
			say("lock: %v", err)
			return shmtest.ExitFail
		}
		if bad := s.check(); bad != "" {
			say("INVARIANT BROKEN on acquire: %s", bad)
			return shmtest.ExitFail
		}
		if !told {
			// The parent tells the holder by its owner token.
			say("token %d", lockOwner(word.Load()))
			told = true
		}
		s.jOldA.Store(s.a.Load())
		s.jSlot.Store(slot)
		s.jOldN.Store(s.counts[slot].Load())
		s.jActive.Store(1)
		s.a.Add(1)
		if pause {
			spin(r.IntN(4))
		}
		s.counts[slot].Add(1)
		if pause {
			spin(r.IntN(4))
		}
		s.b.Store(s.a.Load())
		s.jActive.Store(0)
		mine++
		if err := m.Unlock(); err != nil {
			say("unlock: %v", err)
			return shmtest.ExitFail
		}
		if pause {
			spin(r.IntN(2))
		}
	}
	say("done count=%d recovered=%d", mine, recovered)
	return shmtest.ExitOK
}

// spin burns roughly n microseconds, yielding, so that the holder is often
// mid-update when it is killed.
func spin(n int) {
	end := time.Now().Add(time.Duration(n) * time.Microsecond)
	for time.Now().Before(end) {
		runtime.Gosched()
	}
}

// lockOwner decodes the owner token from the lock word (see lock's layout:
// bits 6 to 63), 0 when the word is not locked.
func lockOwner(w uint64) uint64 {
	if w&3 == 0 || w&3 == 3 {
		return 0
	}
	return w >> 6
}

// ownerToken returns the owner token a mutex worker said it has, or 0 if
// it has not acquired the mutex yet.
func ownerToken(p *shmtest.Child) uint64 {
	var tok uint64
	for line := range strings.Lines(p.Output()) {
		if _, err := fmt.Sscanf(line, "token %d", &tok); err == nil {
			return tok
		}
	}
	return 0
}

// TestMutexKill: four processes share the mutex; again and again one is
// SIGKILLed at a random moment (half the time whichever holds the mutex at
// that moment) and replaced. After each kill the others must make progress
// within one second; at the end the invariant must hold exactly.
func TestMutexKill(t *testing.T) { testMutexKill(t, false) }

// TestMutexKillPIDNamespace is TestMutexKill with every worker in a PID
// namespace of its own.
func TestMutexKillPIDNamespace(t *testing.T) { testMutexKill(t, true) }

func testMutexKill(t *testing.T, otherNS bool) {
	nsOpts, where := victimsIn(t, otherNS)
	const workers = 4
	n := trials(40, 400)
	r := newRand(t)
	name := shmtest.Name(t, "")
	seg, err := shm.Create(name, mxSize)
	if err != nil {
		t.Fatal(err)
	}
	defer seg.Close()
	s := mxWords(seg.Bytes())
	word := mem.MustUint64(seg.Bytes(), 0)
	nextSlot := 0
	var all []*shmtest.Child
	start := func() *shmtest.Child {
		p := shmtest.Spawn(t, "mutex-worker", shmtest.Args{"name": name, "slot": itoa(nextSlot), "pause": "1"}, nsOpts...)
		nextSlot++
		all = append(all, p)
		if _, ok := p.Expect("ready", 10*time.Second); !ok {
			t.Fatalf("worker not ready: %s", p.Output())
		}
		return p
	}
	procs := make([]*shmtest.Child, workers)
	for i := range procs {
		procs[i] = start()
	}
	var holding, midUpdate int
	var recoveries, progress []time.Duration
	for trial := range n {
		time.Sleep(time.Duration(5+r.IntN(25)) * time.Millisecond)
		victim := r.IntN(workers)
		if r.IntN(2) == 0 { // aim at the holder
			owner := lockOwner(word.Load())
			for i, p := range procs {
				if owner != 0 && ownerToken(p) == owner {
					victim = i
				}
			}
		}
		p := procs[victim]
		p.KillWait()
		if p.ExitCode(0) != -1 {
			t.Fatalf("trial %d: worker died by itself: %s", trial, p.Output())
		}
		tok := ownerToken(p)
		held := tok != 0 && lockOwner(word.Load()) == tok
		if held {
			holding++
			if s.jActive.Load() == 1 {
				midUpdate++
			}
		}
		// The survivors must get on within a second, taking the mutex over
		// from the dead owner if it held it.
		a0 := s.a.Load()
		t0 := time.Now()
		for s.a.Load() == a0 {
			if time.Since(t0) > time.Second {
				t.Fatalf("trial %d: no progress %v after killing %s (held=%v, lock word %#x)", trial, time.Since(t0), p.Role, held, word.Load())
			}
			time.Sleep(200 * time.Microsecond)
		}
		if held {
			recoveries = append(recoveries, time.Since(t0))
		}
		progress = append(progress, time.Since(t0))
		for _, q := range procs {
			if q != p && q.ExitCode(0) != -2 {
				t.Fatalf("trial %d: a survivor exited: %s", trial, q.Output())
			}
		}
		procs[victim] = start()
	}
	s.stop.Store(1)
	for _, p := range procs {
		p.Finish(10 * time.Second)
	}
	// Every ErrOwnerDead any worker reported, the killed ones included.
	var recovered int
	for _, p := range all {
		recovered += strings.Count(p.Output(), "recovered\n")
	}
	if bad := s.check(); bad != "" {
		t.Fatalf("invariant broken at the end: %s", bad)
	}
	sortDur(recoveries)
	sortDur(progress)
	t.Logf("SUMMARY mutex kill%s: trials=%d kills; ErrOwnerDead takeovers reported by survivors=%d (the parent saw %d victims still named in the lock word, %d of them mid-update); worker processes=%d increments=%d; invariant a==b==sum(counts) held after every acquisition and at the end; progress after a kill: median %v max %v; takeover from an owner seen dead: median %v max %v (bound 1s)",
		where, n, recovered, holding, midUpdate, nextSlot, s.a.Load(), pct(progress, 50), pct(progress, 100), pct(recoveries, 50), pct(recoveries, 100))
}

func sortDur(d []time.Duration) { sort.Slice(d, func(i, j int) bool { return d[i] < d[j] }) }

// pct returns the p-th percentile of sorted durations.
func pct(d []time.Duration, p int) time.Duration {
	if len(d) == 0 {
		return 0
	}
	i := (len(d) - 1) * p / 100
	return d[i].Round(time.Millisecond)
}

func init() {
	shmtest.Role("seq-writer", seqWriter)
	shmtest.Role("seq-reader", seqReader)
}

// The seqlock trials: a SeqlockSize(seqPayload) segment. Each snapshot is
// seqWords words: word 0 is a counter x, word i is seqMix(x, i), so a torn
// snapshot (words of two writes) is caught.
const (
	seqPayload = 64 << 10
	seqWords   = seqPayload / 8
)

func seqMix(x uint64, i int) uint64 {
	v := x*0x9e3779b97f4a7c15 + uint64(i)*0xbf58476d1ce4e5b9
	return v ^ v>>29
}

func seqOpen(a shmtest.Args) (*lock.Seqlock, func(), error) {
	seg, err := shm.Open(a["name"])
	if err != nil {
		return nil, nil, err
	}
	sl, err := lock.SeqlockIn(seg.Bytes(), seqPayload, lock.ReadTimeout(200*time.Millisecond))
	if err != nil {
		seg.Close()
		return nil, nil, err
	}
	return sl, func() { seg.Close() }, nil
}

// seqWriter writes snapshots without pause, so that most of its time is spent
// inside Write and a SIGKILL usually lands mid-write.
func seqWriter(a shmtest.Args) int {
	sl, done, err := seqOpen(a)
	if err != nil {
		say("open: %v", err)
		return shmtest.ExitFail
	}
	defer done()
	buf := make([]byte, seqPayload)
	x := uint64(time.Now().UnixNano())
	say("ready")
	for {
		x++
		for i := range seqWords {
			v := x
			if i > 0 {
				v = seqMix(x, i)
			}
			putU64(buf[8*i:], v)
		}
		if err := sl.Write(buf); err != nil {
			say("write: %v", err)
			return shmtest.ExitFail
		}
	}
}

// seqReader reads for a["dur"] and checks every snapshot; it reports how many
// it read, how many reads found the value busy, the slowest read, and fails
// on a torn snapshot.
func seqReader(a shmtest.Args) int {
	sl, done, err := seqOpen(a)
	if err != nil {
		say("open: %v", err)
		return shmtest.ExitFail
	}
	defer done()
	buf := make([]byte, seqPayload)
	var reads, busy int
	var slowest time.Duration
	say("ready")
	end := time.Now().Add(a.Duration("dur"))
	for time.Now().Before(end) {
		t0 := time.Now()
		err := sl.Read(buf)
		slowest = max(slowest, time.Since(t0))
		switch {
		case err == nil:
		case errors.Is(err, lock.ErrBusy):
			busy++
			continue
		default:
			say("read: %v", err)
			return shmtest.ExitFail
		}
		x := getU64(buf)
		if x == 0 {
			continue // nothing written yet
		}
		for i := 1; i < seqWords; i++ {
			if getU64(buf[8*i:]) != seqMix(x, i) {
				say("TORN snapshot: word 0 = %d, word %d = %#x, want %#x", x, i, getU64(buf[8*i:]), seqMix(x, i))
				return shmtest.ExitFail
			}
		}
		reads++
	}
	say("done reads=%d busy=%d slowest_us=%d", reads, busy, slowest.Microseconds())
	return shmtest.ExitOK
}

func putU64(b []byte, v uint64) {
	for i := range 8 {
		b[i] = byte(v >> (8 * i))
	}
}

func getU64(b []byte) uint64 {
	var v uint64
	for i := range 8 {
		v |= uint64(b[i]) << (8 * i)
	}
	return v
}

// TestSeqlockKill: a writer rewrites a 64 KiB value without pause while two
// readers check every snapshot; the writer is SIGKILLed at random moments
// (usually mid-write, leaving the sequence odd) and replaced. No reader may
// see a torn snapshot; a read never blocks longer than its ReadTimeout
// (200 ms here) plus scheduling; the next writer repairs the sequence.
func TestSeqlockKill(t *testing.T) {
	n := trials(30, 300)
	r := newRand(t)
	name := shmtest.Name(t, "")
	seg, err := shm.Create(name, int64(lock.SeqlockSize(seqPayload)))
	if err != nil {
		t.Fatal(err)
	}
	defer seg.Close()
	seq := mem.MustUint64(seg.Bytes(), 0)
	// Readers run for the whole test: about 25 ms per trial.
	dur := time.Duration(n)*25*time.Millisecond + span(2*time.Second, 2*time.Second)
	var readers []*shmtest.Child
	for range 2 {
		p := shmtest.Spawn(t, "seq-reader", shmtest.Args{"name": name, "dur": dur.String()})
		if _, ok := p.Expect("ready", 10*time.Second); !ok {
			t.Fatalf("reader not ready: %s", p.Output())
		}
		readers = append(readers, p)
	}
	var midWrite, leftOdd int
	t0 := time.Now()
	for trial := range n {
		w := shmtest.Spawn(t, "seq-writer", shmtest.Args{"name": name})
		if _, ok := w.Expect("ready", 10*time.Second); !ok {
			t.Fatalf("writer not ready: %s", w.Output())
		}
		time.Sleep(time.Duration(1+r.IntN(20)) * time.Millisecond)
		w.KillWait()
		if w.ExitCode(0) != -1 {
			t.Fatalf("trial %d: writer exited by itself: %s", trial, w.Output())
		}
		if seq.Load()%2 == 1 {
			midWrite++
			// Leave a few dead mid-write values alone for a while: readers
			// must give up with ErrBusy, not hang.
			if leftOdd < 4 {
				leftOdd++
				time.Sleep(400 * time.Millisecond)
			}
		}
	}
	if time.Since(t0) > dur {
		t.Logf("trials outlasted the readers (%v > %v): later kills were not observed by readers", time.Since(t0), dur)
	}
	var reads, busy, slowest int
	for _, p := range readers {
		if !p.Finish(dur + 10*time.Second) {
			continue
		}
		var rd, b, sl int
		if _, err := sscanKV(lastLine(p.Output(), "done "), "reads", &rd, "busy", &b, "slowest_us", &sl); err != nil {
			t.Errorf("reader summary: %v: %s", err, p.Output())
		}
		reads += rd
		busy += b
		slowest = max(slowest, sl)
	}
	if limit := 200*time.Millisecond + 800*time.Millisecond; time.Duration(slowest)*time.Microsecond > limit {
		t.Errorf("slowest read took %dus, more than the 200 ms ReadTimeout plus 800 ms", slowest)
	}
	t.Logf("SUMMARY seqlock kill: trials=%d writer kills (%d left the sequence odd, mid-write; %d of those left unrepaired for 400 ms); 2 reader processes checked %d snapshots of 64 KiB: torn=0; reads that gave up with ErrBusy=%d; slowest read %v (ReadTimeout 200ms)",
		n, midWrite, leftOdd, reads, busy, time.Duration(slowest)*time.Microsecond)
}

// TestMutexContention: many processes contend on one mutex for a bounded
// time, without kills: every increment each reports is in the counter.
func TestMutexContention(t *testing.T) {
	workers, dur := 8, span(time.Second, 20*time.Second)
	if full() {
		workers = 16
	}
	name := shmtest.Name(t, "")
	seg, err := shm.Create(name, mxSize)
	if err != nil {
		t.Fatal(err)
	}
	defer seg.Close()
	s := mxWords(seg.Bytes())
	var procs []*shmtest.Child
	for i := range workers {
		p := shmtest.Spawn(t, "mutex-worker", shmtest.Args{"name": name, "slot": itoa(i), "pause": "0"})
		procs = append(procs, p)
	}
	for _, p := range procs {
		if _, ok := p.Expect("ready", 10*time.Second); !ok {
			t.Fatalf("worker not ready: %s", p.Output())
		}
	}
	time.Sleep(dur)
	s.stop.Store(1)
	var sum int
	for _, p := range procs {
		if p.Finish(10 * time.Second) {
			var c, rc int
			sscanKV(lastLine(p.Output(), "done "), "count", &c, "recovered", &rc)
			sum += c
		}
	}
	if bad := s.check(); bad != "" {
		t.Fatalf("invariant broken: %s", bad)
	}
	if uint64(sum) != s.a.Load() {
		t.Fatalf("workers reported %d increments, the counter says %d", sum, s.a.Load())
	}
	t.Logf("SUMMARY mutex contention: %d processes for %v: %d critical sections, counter exact (reported == counted == sum of per-process counts), no ErrOwnerDead", workers, dur, sum)
}

func init() {
	shmtest.Role("lock-timeout-unmap", lockTimeoutUnmap)
}

// lockTimeoutUnmap: goroutines each make a segment, hold its mutex, let a
// second Lock time out, and close (unmap) the segment at once, many times.
// Nothing may touch the segment after Lock returned: a wake-up still running
// after the return would fault on the unmapped page and kill the process.
func lockTimeoutUnmap(a shmtest.Args) int {
	var wg sync.WaitGroup
	var failed atomic.Int32
	for g := range a.Int("goroutines") {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range a.Int("rounds") {
				name := fmt.Sprintf("shmchaos-unmap-%d-%d-%d", os.Getpid(), g, i)
				seg, err := shm.Create(name, 4096)
				if err != nil {
					say("create: %v", err)
					failed.Store(1)
					return
				}
				shm.Unlink(name)
				m, err := lock.MutexAt(seg, 0)
				if err == nil {
					_, err = m.TryLock()
				}
				if err == nil {
					ctx, cancel := withTimeout(time.Duration(500+(i*37)%2500) * time.Microsecond)
					err = m.Lock(ctx)
					cancel()
					if errors.Is(err, context.DeadlineExceeded) {
						err = nil
					} else if err == nil {
						err = errors.New("locked a mutex this process holds")
					}
				}
				seg.Close()
				if err != nil {
					say("round %d: %v", i, err)
					failed.Store(1)
					return
				}
			}
		}()
	}
	wg.Wait()
	if failed.Load() != 0 {
		return shmtest.ExitFail
	}
	say("done")
	return shmtest.ExitOK
}

// TestMutexLockTimeoutThenUnmap: a Lock that times out must not leave
// anything behind that touches the mapping after it returned, so that the
// caller may close the segment at once. (The FuzzHostileMutex worker died
// this way: the cancellation wake-up ran after Lock returned and the segment
// was unmapped.)
func TestMutexLockTimeoutThenUnmap(t *testing.T) {
	rounds := trials(150, 1500)
	p := shmtest.Spawn(t, "lock-timeout-unmap", shmtest.Args{"goroutines": "32", "rounds": itoa(rounds)})
	if p.Finish(120 * time.Second) {
		t.Logf("SUMMARY mutex timeout then unmap: %d Lock calls timed out and their segments were closed at once: the process lived", 32*rounds)
	}
}
