package main

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/shmkit/shm"
	"github.com/shmkit/shm/sem"
)

// The semaphore step: the two processes take turns writing into one
// segment, a few rounds, each sleeping until the other posts its turn. It
// shows both kinds of semaphore: the peer's turn is an unnamed semaphore
// inside the segment (sem.Init; sem_init with pshared 1 in C), the lead's
// turn a named one (sem.Open; glibc's /dev/shm/sem.NAME, which sem_open
// opens). Each round the process whose turn it is reads the text in the
// segment, appends its word and posts the other's turn; at the end the
// text holds every word in turn order, which the lead checks.
//
// Segment layout (4 KiB):
//
//	0               32              64
//	+---------------+---------------+----------------------------------
//	| the peer's    |    (unused)   | the text, NUL-terminated
//	| turn: sem_t   |               |
//	+---------------+---------------+----------------------------------
const (
	turnsRounds   = 3
	turnsSemOff   = 0  // the peer's turn: an unnamed semaphore
	turnsTextOff  = 64 // the text both processes extend, turn by turn
	turnsWaitTime = 10 * time.Second
)

// turnWord is what the process playing role adds in round.
func turnWord(role string, round int) string { return fmt.Sprintf("%s %d", role, round) }

// waitTurn takes a token from s: the turn the other process gave. It gives
// up when ctx ends or after turnsWaitTime, so a vanished partner cannot
// leave a process of the demo waiting for ever. A turn given just before
// ctx ended (a peer that posts and exits) is still taken.
func waitTurn(ctx context.Context, s *sem.Semaphore) error {
	ctx, cancel := context.WithTimeout(ctx, turnsWaitTime)
	defer cancel()
	err := s.Wait(ctx)
	if err != nil && ctx.Err() != nil {
		if ok, terr := s.TryWait(); ok && terr == nil {
			return nil
		}
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("demo: waited %v for the other process to give me the turn on %s: %w", turnsWaitTime, s.Name(), err)
	}
	return err
}

func semDemoLead(e *demoEnv) error {
	segName, semName := e.name("turns"), e.name("lead-turn")
	seg, err := shm.Create(segName, demoSegSize, shm.Dir(e.dir))
	if err != nil {
		return err
	}
	defer seg.Close()
	peerTurn, err := sem.Init(seg, turnsSemOff, 0)
	if err != nil {
		return err
	}
	e.say("created segment %q with a semaphore in it at offset %d, value 0: the peer's turn", segName, turnsSemOff)
	leadTurn, err := sem.Create(semName, 0, sem.Dir(e.dir))
	if err != nil {
		return err
	}
	defer leadTurn.Close()
	file, err := sem.FileName(semName)
	if err != nil {
		return err
	}
	e.say("created the named semaphore %q, value 0: the lead's turn (%s, the file C's sem_open(\"/%s\") opens)", semName, filepath.Join(e.dir, file), semName)
	if err := e.waitEnter("try: shm ls; shm sem value " + semName); err != nil {
		return err
	}

	e.say("starting the second process; each of us writes only in its turn")
	p, err := e.startPeer("sem", nil, segName, semName)
	if err != nil {
		return err
	}
	// The peer posts the lead's turn once it is ready.
	if err := waitTurn(p.ctx, leadTurn); err != nil {
		return p.failed(e, err)
	}
	var want []string
	for round := 1; round <= turnsRounds; round++ {
		text := ""
		if round > 1 {
			if text, err = getString(seg, segName, turnsTextOff); err != nil {
				return err
			}
		}
		word := turnWord("lead", round)
		next := strings.TrimPrefix(text+", "+word, ", ")
		if err := putString(seg, segName, turnsTextOff, next); err != nil {
			return err
		}
		e.say("my turn (round %d): the text is %q, I add %q and post the peer's turn", round, text, word)
		if round == 1 {
			if err := e.waitEnter("the peer sleeps in Wait (sem_wait) until I post; try: shm ls"); err != nil {
				return err
			}
		}
		if err := peerTurn.Post(); err != nil {
			return err
		}
		if err := waitTurn(p.ctx, leadTurn); err != nil {
			return p.failed(e, err)
		}
		want = append(want, word, turnWord("peer", round))
	}
	text, err := getString(seg, segName, turnsTextOff)
	if err != nil {
		return err
	}
	if text != strings.Join(want, ", ") {
		return &shm.Error{Op: "demo", Name: segName, Err: fmt.Errorf("%w: the text is %q, want %q: the turns overlapped", shm.ErrInvalid, text, strings.Join(want, ", "))}
	}
	e.say("after %d rounds the text is %q: every word in turn order, none lost", turnsRounds, text)
	if err := p.wait(e); err != nil {
		return err
	}
	if err := errors.Join(leadTurn.Close(), seg.Close(), sem.Unlink(semName, sem.Dir(e.dir)), shm.Unlink(segName, shm.Dir(e.dir))); err != nil {
		return err
	}
	e.say("closed and removed both semaphores (the unnamed one went with its segment)")
	return nil
}

func semDemoPeer(e *demoEnv, args []string) error {
	if len(args) != 2 {
		return fmt.Errorf("demo-peer sem: want the segment's and the semaphore's names, got %d arguments", len(args))
	}
	segName, semName := args[0], args[1]
	seg, err := shm.Open(segName, shm.Dir(e.dir))
	if err != nil {
		return err
	}
	defer seg.Close()
	peerTurn, err := sem.At(seg, turnsSemOff)
	if err != nil {
		return err
	}
	leadTurn, err := sem.Open(semName, sem.Dir(e.dir))
	if err != nil {
		return err
	}
	defer leadTurn.Close()
	e.say("opened segment %q with its semaphore, and the named semaphore; ready: I post the lead's turn", segName)
	if err := leadTurn.Post(); err != nil {
		return err
	}
	for round := 1; round <= turnsRounds; round++ {
		if err := waitTurn(e.ctx, peerTurn); err != nil {
			return err
		}
		text, err := getString(seg, segName, turnsTextOff)
		if err != nil {
			return err
		}
		word := turnWord("peer", round)
		if err := putString(seg, segName, turnsTextOff, text+", "+word); err != nil {
			return err
		}
		e.say("my turn (round %d): the text is %q, I add %q and post the lead's turn", round, text, word)
		if err := leadTurn.Post(); err != nil {
			return err
		}
	}
	return errors.Join(leadTurn.Close(), seg.Close())
}
