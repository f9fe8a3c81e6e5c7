package main

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/shmkit/shm"
	"github.com/shmkit/shm/lock"
	"github.com/shmkit/shm/sem"
)

// The mutex step: both processes add 1 to two counters in one segment,
// counterAdds times each and at the same time: first to a bare counter,
// then to one under a lock.Mutex. An add is a load, an increment and a
// store; without the lock the two processes' adds interleave and overwrite
// each other, with it the count ends exact. An unnamed semaphore tells the
// lead that the peer is ready, a second one serves as a spinning barrier
// that starts the two together, and the peer's exit says it has finished.
//
// Segment layout (4 KiB):
//
//	0        16       64        96        128              192
//	+--------+--------+---------+---------+----------------+----------------+
//	| Mutex  |        | ready   | barrier | counter under  | bare counter   |
//	|        |        | sem_t   | sem_t   | the mutex (u64)| (u64)          |
//	+--------+--------+---------+---------+----------------+----------------+
//
// The counters sit on cache lines of their own, away from the mutex.
const (
	counterMutexOff   = 0
	counterReadyOff   = 64  // the peer posts it when it is ready
	counterBarrierOff = 96  // each process posts it and spins until both have
	counterLockedOff  = 128 // incremented under the mutex
	counterBareOff    = 192 // incremented without it
	counterAdds       = 1000000
)

// loadCounter reads a counter. It is kept out of line so that an add is a
// load, an increment and a store, as an update of shared data usually is
// (read, compute, write back), rather than one increment instruction that
// a single CPU never interrupts halfway. The window between the load and
// the store is what the mutex closes.
//
//go:noinline
func loadCounter(b []byte) uint64 { return binary.NativeEndian.Uint64(b) }

// addCounters meets the other process at the barrier, waiting no longer
// than meet allows, then adds 1 to the bare counter n times and to the one
// under mu n times, each Lock waiting no longer than ctx allows.
func addCounters(ctx, meet context.Context, seg *shm.Segment, mu *lock.Mutex, barrier *sem.Semaphore, n int) error {
	b := seg.Bytes()
	// Both processes must be adding at the same moment for the bare
	// counter to show what a lock prevents: a semaphore's wake-up takes
	// longer than the bare adds themselves, so the two meet spinning on
	// the barrier's value (a load from shared memory) until both posted.
	if err := barrier.Post(); err != nil {
		return err
	}
	deadline := time.Now().Add(turnsWaitTime)
	for i := 0; ; i++ {
		v, err := barrier.Value()
		if err != nil {
			return err
		}
		if v >= 2 {
			break
		}
		if i%1024 == 0 {
			if err := meet.Err(); err != nil {
				return err
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("demo: waited %v for the other process at the start line", turnsWaitTime)
			}
		}
	}
	bare := b[counterBareOff : counterBareOff+8]
	for range n {
		binary.NativeEndian.PutUint64(bare, loadCounter(bare)+1)
	}
	locked := b[counterLockedOff : counterLockedOff+8]
	for range n {
		if err := mu.Lock(ctx); err != nil {
			if errors.Is(err, lock.ErrOwnerDead) {
				mu.Unlock() // unrepaired: the counter cannot be trusted, and now everyone is told so
				return fmt.Errorf("demo: the other process died holding the mutex: %w", err)
			}
			return err
		}
		binary.NativeEndian.PutUint64(locked, loadCounter(locked)+1)
		if err := mu.Unlock(); err != nil {
			return err
		}
	}
	return nil
}

func lockDemoLead(e *demoEnv) error {
	name := e.name("counter")
	seg, err := shm.Create(name, demoSegSize, shm.Dir(e.dir))
	if err != nil {
		return err
	}
	defer seg.Close()
	mu, err := lock.MutexAt(seg, counterMutexOff)
	if err != nil {
		return err
	}
	ready, err := sem.Init(seg, counterReadyOff, 0)
	if err != nil {
		return err
	}
	barrier, err := sem.Init(seg, counterBarrierOff, 0)
	if err != nil {
		return err
	}
	e.say("created segment %q: a lock.Mutex at offset %d (zero bytes are an unlocked mutex), a bare counter at %d and one the mutex guards at %d",
		name, counterMutexOff, counterBareOff, counterLockedOff)
	e.say("starting the second process; then we both add 1 to each counter %d times, at the same moment: first to the bare one, then to the one under the mutex", counterAdds)
	p, err := e.startPeer("lock", nil, name)
	if err != nil {
		return err
	}
	if err := waitTurn(p.ctx, ready); err != nil {
		return p.failed(e, err)
	}
	e.say("go")
	t0 := time.Now()
	if err := addCounters(e.ctx, p.ctx, seg, mu, barrier, counterAdds); err != nil {
		return p.failed(e, err)
	}
	took := time.Since(t0)
	if err := p.wait(e); err != nil {
		return err
	}
	b := seg.Bytes()
	locked := binary.NativeEndian.Uint64(b[counterLockedOff:])
	bare := binary.NativeEndian.Uint64(b[counterBareOff:])
	e.say("I added mine too, in %v", took.Round(time.Millisecond))
	switch want := uint64(2 * counterAdds); {
	case bare < want:
		e.say("the bare counter holds %d: %d adds were lost, overwritten by the other process's load-add-store", bare, want-bare)
	default:
		e.say("the bare counter holds %d: this time the adds happened not to collide (run the demo again)", bare)
	}
	if want := uint64(2 * counterAdds); locked != want {
		return &shm.Error{Op: "demo", Name: name, Err: fmt.Errorf("%w: the counter under the mutex holds %d, want %d", shm.ErrInvalid, locked, want)}
	}
	e.say("the counter under the mutex holds %d: exact", locked)
	if err := errors.Join(seg.Close(), shm.Unlink(name, shm.Dir(e.dir))); err != nil {
		return err
	}
	e.say("closed and removed %q", name)
	return nil
}

func lockDemoPeer(e *demoEnv, args []string) error {
	if len(args) != 1 {
		return fmt.Errorf("demo-peer lock: want the segment's name, got %d arguments", len(args))
	}
	name := args[0]
	seg, err := shm.Open(name, shm.Dir(e.dir))
	if err != nil {
		return err
	}
	defer seg.Close()
	mu, err := lock.MutexAt(seg, counterMutexOff)
	if err != nil {
		return err
	}
	ready, err := sem.At(seg, counterReadyOff)
	if err != nil {
		return err
	}
	barrier, err := sem.At(seg, counterBarrierOff)
	if err != nil {
		return err
	}
	e.say("opened segment %q and the mutex in it; ready", name)
	if err := ready.Post(); err != nil {
		return err
	}
	if err := addCounters(e.ctx, e.ctx, seg, mu, barrier, counterAdds); err != nil {
		return err
	}
	e.say("added 1 to each counter %d times, and exit", counterAdds)
	return seg.Close()
}
