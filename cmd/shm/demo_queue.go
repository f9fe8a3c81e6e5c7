package main

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"time"

	"github.com/shmkit/shm/internal/bench"
	"github.com/shmkit/shm/queue"
)

// The queue step: the lead sends messages to the peer through one queue and
// the peer echoes each back through another, one at a time; the lead times
// every round trip. Then the same over a pair of pipes, in the same run, so
// the two medians compare like for like. Closing a queue's sending side is
// how the lead says it is done: the peer's Receive then returns io.EOF, and
// it goes on to the pipes, whose end is likewise the lead closing its write
// end.
const (
	echoWarmup   = 100  // round trips before the timed ones, not timed
	echoRounds   = 1000 // timed round trips
	echoSize     = 64   // bytes per message
	echoCapacity = 64 << 10
)

// echoMessage fills msg with round i: its number, then a pattern derived
// from it, so that an echo that is not this round's message is noticed.
func echoMessage(msg []byte, i int) {
	binary.LittleEndian.PutUint64(msg, uint64(i))
	for j := 8; j < len(msg); j++ {
		msg[j] = byte(i + j)
	}
}

// roundTrips makes echoWarmup+echoRounds round trips with rt, which sends
// msg and returns the echo, and returns the timed ones' durations in
// nanoseconds.
func roundTrips(rt func(msg []byte) ([]byte, error)) (*bench.Histogram, error) {
	msg := make([]byte, echoSize)
	times := new(bench.Histogram)
	for i := range echoWarmup + echoRounds {
		echoMessage(msg, i)
		t0 := time.Now()
		got, err := rt(msg)
		d := time.Since(t0)
		if err != nil {
			return nil, err
		}
		if !bytes.Equal(got, msg) {
			return nil, fmt.Errorf("demo: round trip %d came back as %d different bytes", i, len(got))
		}
		if i >= echoWarmup {
			times.Record(uint64(d))
		}
	}
	return times, nil
}

// quantile returns the q-quantile (0 < q < 1) of the durations in h.
func quantile(h *bench.Histogram, q float64) time.Duration {
	return time.Duration(h.Quantile(q))
}

// roundDuration shows d with about three significant digits.
func roundDuration(d time.Duration) time.Duration {
	switch {
	case d >= time.Millisecond:
		return d.Round(10 * time.Microsecond)
	case d >= time.Microsecond:
		return d.Round(10 * time.Nanosecond)
	}
	return d
}

func queueDemoLead(e *demoEnv) error {
	pingName, pongName := e.name("ping"), e.name("pong")
	ping, err := queue.Create(pingName, echoCapacity, queue.Dir(e.dir))
	if err != nil {
		return err
	}
	defer ping.Close()
	pong, err := queue.Create(pongName, echoCapacity, queue.Dir(e.dir))
	if err != nil {
		return err
	}
	defer pong.Close()
	e.say("created queues %q (to the peer) and %q (back), %d KiB rings each", pingName, pongName, echoCapacity>>10)

	// The pipes: the peer reads the first at its descriptor 3 and writes
	// the second at 4.
	peerIn, toPeer, err := pipePair()
	if err != nil {
		return err
	}
	defer toPeer.Close()
	fromPeer, peerOut, err := pipePair()
	if err != nil {
		peerIn.Close()
		return err
	}
	defer fromPeer.Close()

	e.say("starting the second process; it echoes every message back, first through the queues, then through a pair of pipes;")
	e.say("I time %d round trips of %d-byte messages each way (after %d untimed ones)", echoRounds, echoSize, echoWarmup)
	p, err := e.startPeer("queue", []*os.File{peerIn, peerOut}, pingName, pongName)
	peerIn.Close()
	peerOut.Close()
	if err != nil {
		return err
	}

	buf := make([]byte, 0, echoSize)
	queueTimes, err := roundTrips(func(msg []byte) ([]byte, error) {
		if err := ping.Send(p.ctx, msg); err != nil {
			return nil, err
		}
		return pong.Receive(p.ctx, buf)
	})
	if err != nil {
		return p.failed(e, err)
	}
	if err := ping.Close(); err != nil { // the peer's Receive gets io.EOF
		return err
	}

	echo := make([]byte, echoSize)
	pipeTimes, err := roundTrips(func(msg []byte) ([]byte, error) {
		if _, err := toPeer.Write(msg); err != nil {
			return nil, err
		}
		_, err := io.ReadFull(fromPeer, echo)
		return echo, err
	})
	if err != nil {
		return p.failed(e, err)
	}
	if err := toPeer.Close(); err != nil { // the peer reads end-of-file
		return err
	}
	if err := p.wait(e); err != nil {
		return err
	}

	q, pp := quantile(queueTimes, 0.5), quantile(pipeTimes, 0.5)
	e.say("queue round trip: median %v (99th percentile %v)", roundDuration(q), roundDuration(quantile(queueTimes, 0.99)))
	e.say("pipe round trip:  median %v (99th percentile %v)", roundDuration(pp), roundDuration(quantile(pipeTimes, 0.99)))
	if q > 0 && pp > q {
		e.say("the queue was %s times as fast: no system call and no copy into the kernel while both sides are busy", strconv.FormatFloat(float64(pp)/float64(q), 'f', 1, 64))
	} else {
		e.say("the queue was not faster this time: on a busy machine a spinning waiter can lose its CPU")
	}
	if err := errors.Join(ping.Close(), pong.Close(), queue.Unlink(pingName, queue.Dir(e.dir)), queue.Unlink(pongName, queue.Dir(e.dir))); err != nil {
		return err
	}
	e.say("closed and removed both queues")
	return nil
}

// pipePair returns a pipe's read and write ends.
func pipePair() (r, w *os.File, err error) {
	r, w, err = os.Pipe()
	if err != nil {
		return nil, nil, fmt.Errorf("demo: making a pipe: %w", err)
	}
	return r, w, nil
}

func queueDemoPeer(e *demoEnv, args []string) error {
	if len(args) != 2 {
		return fmt.Errorf("demo-peer queue: want the two queues' names, got %d arguments", len(args))
	}
	ping, err := queue.Open(args[0], queue.Dir(e.dir))
	if err != nil {
		return err
	}
	defer ping.Close()
	pong, err := queue.Open(args[1], queue.Dir(e.dir))
	if err != nil {
		return err
	}
	defer pong.Close()
	in, out := os.NewFile(3, "pipe from the lead"), os.NewFile(4, "pipe to the lead")
	if in == nil || out == nil {
		return errors.New("demo-peer queue: no pipes at descriptors 3 and 4")
	}
	defer in.Close()
	defer out.Close()
	e.say("opened both queues; echoing")

	n := 0
	buf := make([]byte, 0, echoSize)
	for ; ; n++ {
		msg, err := ping.Receive(e.ctx, buf)
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		if err := pong.Send(e.ctx, msg); err != nil {
			return err
		}
	}
	msg := make([]byte, echoSize)
	m := 0
	for ; ; m++ {
		if _, err := io.ReadFull(in, msg); err == io.EOF {
			break
		} else if err != nil {
			return fmt.Errorf("demo-peer queue: reading the pipe: %w", err)
		}
		if _, err := out.Write(msg); err != nil {
			return fmt.Errorf("demo-peer queue: writing the pipe: %w", err)
		}
	}
	e.say("echoed %d messages through the queues and %d through the pipes, and exit", n, m)
	return errors.Join(ping.Close(), pong.Close())
}
