//go:build linux

package chaos

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shmkit/shm"
	"github.com/shmkit/shm/internal/mem"
	"github.com/shmkit/shm/internal/shmtest"
	"github.com/shmkit/shm/lock"
	"github.com/shmkit/shm/sem"
)

// The hostile-peer tests: this process scribbles on the shared words of a
// primitive while victim processes use it. A victim may get wrong data or an
// error from the documented set, and must stay alive, and every call must
// return within its deadline plus hostileSlack: a hostile peer can make a
// call fail, never hang it or crash the process. The slack is generous
// because it bounds a hang, not a latency: on a loaded machine a call that
// is due after 50 ms has been seen to return after 670 ms (the tests log the
// slowest call).
const (
	hostileOpTimeout = 50 * time.Millisecond
	hostileSlack     = 2950 * time.Millisecond
)

// victimStats is what a victim reports.
type victimStats struct {
	ops, ok, errs int
	slowest       time.Duration
	kinds         map[string]int // errors by the sentinel they matched
}

func (v *victimStats) timed(f func() error, allowed ...error) (unexpected error) {
	t0 := time.Now()
	err := f()
	v.slowest = max(v.slowest, time.Since(t0))
	v.ops++
	if err == nil {
		v.ok++
		return nil
	}
	v.errs++
	for _, a := range allowed {
		if errors.Is(err, a) {
			if v.kinds == nil {
				v.kinds = map[string]int{}
			}
			v.kinds[strings.ReplaceAll(a.Error(), " ", "+")]++
			return nil
		}
	}
	return err
}

// end is a victim's last step: it fails if the heap canary was damaged,
// and otherwise prints the counts for the parent.
func (v *victimStats) end(canary heapCanary) int {
	if !canary.intact() {
		say("HEAP CANARY damaged")
		return shmtest.ExitFail
	}
	for k, n := range v.kinds {
		say("kind %s %d", k, n)
	}
	say("done ops=%d ok=%d errs=%d slowest_us=%d", v.ops, v.ok, v.errs, v.slowest.Microseconds())
	return shmtest.ExitOK
}

// addKinds adds the "kind NAME N" lines of a victim's output.
func (v *victimStats) addKinds(out string) {
	for _, l := range strings.Split(out, "\n") {
		f := strings.Fields(l)
		if len(f) == 3 && f[0] == "kind" {
			if n, err := strconv.Atoi(f[2]); err == nil {
				if v.kinds == nil {
					v.kinds = map[string]int{}
				}
				v.kinds[f[1]] += n
			}
		}
	}
}

// kindsString lists the error counts, most frequent first.
func (v *victimStats) kindsString() string {
	type kv struct {
		k string
		n int
	}
	var l []kv
	for k, n := range v.kinds {
		l = append(l, kv{k, n})
	}
	sort.Slice(l, func(i, j int) bool { return l[i].n > l[j].n })
	var b strings.Builder
	for i, e := range l {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%q %d", strings.ReplaceAll(e.k, "+", " "), e.n)
	}
	return b.String()
}

// heapCanary is allocated by a victim before it starts and checked after:
// a wild write into the victim's own heap from shared data would show here
// (or crash the garbage collector, run at the end).
type heapCanary []uint64

func newCanary() heapCanary {
	c := make(heapCanary, 1<<14)
	for i := range c {
		c[i] = uint64(i) * 0x9e3779b97f4a7c15
	}
	return c
}

func (c heapCanary) intact() bool {
	runtime.GC()
	for i := range c {
		if c[i] != uint64(i)*0x9e3779b97f4a7c15 {
			return false
		}
	}
	return true
}

func init() {
	shmtest.Role("hostile-mutex", hostileMutexVictim)
	shmtest.Role("hostile-sem", hostileSemVictim)
}

// hostileMutexVictim locks and unlocks the mutex at offset 0 of a["name"]
// for a["dur"] while the parent rewrites its words.
func hostileMutexVictim(a shmtest.Args) int {
	canary := newCanary()
	_, m := openMutex(a)
	if m == nil {
		return shmtest.ExitFail
	}
	var v victimStats
	allowed := []error{lock.ErrOwnerDead, lock.ErrCorrupt, lock.ErrNotRecoverable, lock.ErrNotOwner, lock.ErrNotLocked, context.DeadlineExceeded}
	say("ready")
	end := time.Now().Add(a.Duration("dur"))
	for time.Now().Before(end) {
		var locked bool
		err := v.timed(func() error {
			ctx, cancel := withTimeout(hostileOpTimeout)
			defer cancel()
			err := m.Lock(ctx)
			locked = err == nil || errors.Is(err, lock.ErrOwnerDead)
			if errors.Is(err, lock.ErrOwnerDead) {
				m.MarkConsistent()
			}
			return err
		}, allowed...)
		if err != nil {
			say("UNEXPECTED lock error: %v", err)
			return shmtest.ExitFail
		}
		if locked {
			if err := v.timed(m.Unlock, allowed...); err != nil {
				say("UNEXPECTED unlock error: %v", err)
				return shmtest.ExitFail
			}
		}
		if err := v.timed(func() error {
			ok, err := m.TryLock()
			if ok {
				if errors.Is(err, lock.ErrOwnerDead) {
					m.MarkConsistent()
				}
				if uerr := m.Unlock(); uerr != nil && err == nil {
					err = uerr
				}
			}
			return err
		}, allowed...); err != nil {
			say("UNEXPECTED trylock error: %v", err)
			return shmtest.ExitFail
		}
	}
	return v.end(canary)
}

// hostileSemVictim posts, waits and reads the semaphore at offset 0 of
// a["name"] for a["dur"] while the parent rewrites its words.
func hostileSemVictim(a shmtest.Args) int {
	canary := newCanary()
	seg, err := shm.Open(a["name"])
	if err != nil {
		say("open: %v", err)
		return shmtest.ExitFail
	}
	s, err := sem.At(seg, 0)
	if err != nil {
		say("at: %v", err)
		return shmtest.ExitFail
	}
	r := roleRand()
	var v victimStats
	allowed := []error{sem.ErrCorrupt, sem.ErrTimeout, sem.ErrOverflow, sem.ErrNotShared, context.DeadlineExceeded}
	say("ready")
	end := time.Now().Add(a.Duration("dur"))
	for time.Now().Before(end) {
		var f func() error
		switch r.IntN(5) {
		case 0:
			f = s.Post
		case 1:
			f = func() error { _, err := s.TryWait(); return err }
		case 2:
			f = func() error { return s.WaitTimeout(hostileOpTimeout) }
		case 3:
			f = func() error {
				ctx, cancel := withTimeout(hostileOpTimeout)
				defer cancel()
				return s.Wait(ctx)
			}
		case 4:
			f = func() error { _, err := s.Value(); return err }
		}
		if err := v.timed(f, allowed...); err != nil {
			say("UNEXPECTED error: %v", err)
			return shmtest.ExitFail
		}
	}
	return v.end(canary)
}

// hostileValue picks what the attacker writes: often a value the protocol
// knows (so that the victim gets past its first check), often garbage.
func hostileValue(r *rand.Rand, known []uint64) uint64 {
	switch r.IntN(4) {
	case 0:
		return r.Uint64()
	case 1:
		return uint64(r.Uint32())
	default:
		v := known[r.IntN(len(known))]
		if r.IntN(2) == 0 {
			v ^= 1 << r.IntN(64) // one bit off
		}
		return v
	}
}

// runHostile runs victims of role on segment name for dur while attack
// scribbles, and checks their reports.
func runHostile(t *testing.T, role, name string, victims int, dur time.Duration, attack func(r *rand.Rand)) (writes int, v victimStats) {
	t.Helper()
	r := newRand(t)
	var procs []*shmtest.Child
	for range victims {
		procs = append(procs, shmtest.Spawn(t, role, shmtest.Args{"name": name, "dur": dur.String()}))
	}
	for _, p := range procs {
		if _, ok := p.Expect("ready", 10*time.Second); !ok {
			t.Fatalf("victim not ready: %s", p.Output())
		}
	}
	end := time.Now().Add(dur)
	for time.Now().Before(end) {
		attack(r)
		writes++
		spin(r.IntN(500))
	}
	for _, p := range procs {
		if !p.Finish(dur + 10*time.Second) {
			continue
		}
		var ops, ok, errs, slow int
		if _, err := sscanKV(lastLine(p.Output(), "done "), "ops", &ops, "ok", &ok, "errs", &errs, "slowest_us", &slow); err != nil {
			t.Errorf("victim summary: %v\n%s", err, p.Output())
		}
		v.ops, v.ok, v.errs = v.ops+ops, v.ok+ok, v.errs+errs
		v.slowest = max(v.slowest, time.Duration(slow)*time.Microsecond)
		v.addKinds(p.Output())
	}
	if v.slowest > hostileOpTimeout+hostileSlack {
		t.Errorf("a victim's call took %v under attack (deadline %v)", v.slowest, hostileOpTimeout)
	}
	return writes, v
}

// TestHostileMutex: random rewrites of the mutex's lock and wake words while
// three processes lock and unlock it.
func TestHostileMutex(t *testing.T) {
	dur := span(2*time.Second, 30*time.Second)
	name := shmtest.Name(t, "")
	seg, err := shm.Create(name, 4096)
	if err != nil {
		t.Fatal(err)
	}
	defer seg.Close()
	word := mem.MustUint64(seg.Bytes(), 0)
	wake := mem.MustUint32(seg.Bytes(), 8)
	self := uint64(os.Getpid())<<4 | 1
	known := []uint64{0, 1, 2, 3, 4, 8, self, self | 2, self | 4, 1<<4 | 1, uint64(1<<22-1)<<4 | 2, ^uint64(0)}
	writes, v := runHostile(t, "hostile-mutex", name, 3, dur, func(r *rand.Rand) {
		if r.IntN(4) == 0 {
			wake.Store(r.Uint32())
		} else {
			word.Store(hostileValue(r, known))
		}
	})
	t.Logf("SUMMARY hostile mutex: %d random rewrites of the lock/wake words in %v against 3 victim processes: %d calls, %d ok, %d documented errors (%s), 0 crashes, heap canaries intact, slowest call %v (deadline %v)",
		writes, dur, v.ops, v.ok, v.errs, v.kindsString(), v.slowest.Round(time.Millisecond), hostileOpTimeout)
}

// TestHostileSemaphore: random rewrites of a semaphore's value, waiter count
// and private flag while three processes post and wait.
func TestHostileSemaphore(t *testing.T) {
	dur := span(2*time.Second, 30*time.Second)
	name := shmtest.Name(t, "")
	seg, err := shm.Create(name, 4096)
	if err != nil {
		t.Fatal(err)
	}
	defer seg.Close()
	if _, err := sem.Init(seg, 0, 0); err != nil {
		t.Fatal(err)
	}
	data := mem.MustUint64(seg.Bytes(), 0)
	priv := mem.MustUint32(seg.Bytes(), 8)
	known := []uint64{0, 1, 5, 1 << 32, 1<<32 | 1, 3 << 32, sem.ValueMax, sem.ValueMax + 1, 1<<63 | 1, ^uint64(0)}
	var words atomic.Int64
	writes, v := runHostile(t, "hostile-sem", name, 3, dur, func(r *rand.Rand) {
		if r.IntN(8) == 0 {
			priv.Store([]uint32{0, 128, r.Uint32()}[r.IntN(3)])
		} else {
			data.Store(hostileValue(r, known))
		}
		words.Add(1)
	})
	t.Logf("SUMMARY hostile semaphore: %d random rewrites of the value/waiters/private words in %v against 3 victim processes: %d calls, %d ok, %d documented errors (%s), 0 crashes, heap canaries intact, slowest call %v (deadline %v)",
		writes, dur, v.ops, v.ok, v.errs, v.kindsString(), v.slowest.Round(time.Millisecond), hostileOpTimeout)
}
