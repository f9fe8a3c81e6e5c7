package bench

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"time"
)

// Every message starts with a kind byte and a sequence number; the rest is
// payload that the transports move but nobody reads.
//
//	+0  kind  byte    msgData or msgStop
//	+1  seq   uint64  little-endian, counts messages from 0 per direction
const (
	msgData   = 0
	msgStop   = 1
	headerLen = 9
	// MinSize is the smallest message a run accepts: room for the header.
	MinSize = 16
	// MaxSize is the largest message a run accepts.
	MaxSize = 16 << 20
)

func setHeader(msg []byte, kind byte, seq uint64) {
	msg[0] = kind
	binary.LittleEndian.PutUint64(msg[1:9], seq)
}

func header(msg []byte) (kind byte, seq uint64) {
	return msg[0], binary.LittleEndian.Uint64(msg[1:9])
}

// isData reports whether msg is a data message numbered seq.
func isData(msg []byte, seq uint64) bool {
	k, s := header(msg)
	return k == msgData && s == seq
}

// A dataStreamer is a Conn that sends and receives a stream's data
// messages in loops of its own, which call its transport directly. Through
// Conn every message pays for a closure call and an interface call on each
// side, a few nanoseconds that the C programs' loops do not pay: in a
// stream of 1 KiB messages through the queue, about a tenth of the time.
// Each implementation is the same two loops around its own Send and
// Receive, written out so that those calls are direct.
type dataStreamer interface {
	// SendData sends n data messages, msg each time, numbered from seq on
	// (setHeader).
	SendData(ctx context.Context, msg []byte, seq uint64, n int) error
	// ReceiveData receives messages into buf while they are data messages
	// numbered from seq on, and returns the number of the first that is not
	// (another kind, or one out of order), which buf then holds.
	ReceiveData(ctx context.Context, buf []byte, seq uint64) (uint64, error)
}

// BatchLen is how many messages the Batch workload hands to a transport in
// one call, and the most it takes back in one.
const BatchLen = 64

// A batchConn is a Conn that also moves several messages in one call. The
// Batch workload uses it where a transport has it, and Send and Receive one
// message at a time where it has not.
type batchConn interface {
	Conn
	// SendBatch delivers msgs, whole and in order.
	SendBatch(ctx context.Context, msgs [][]byte) error
	// ReceiveBatch waits for the next message and fills bufs[:n] with it
	// and those ready behind it, each len(bufs[i]) bytes; n >= 1 unless
	// err is set.
	ReceiveBatch(ctx context.Context, bufs [][]byte) (n int, err error)
}

// WakeGap is the pause before every round trip of the Wake workload. It
// must outlast whatever a waiting side does before it sleeps, so that the
// peer is asleep when the message comes: package queue's default strategy
// spins for queue.DefaultSpin (20 µs) and then sleeps on a futex, and the
// kernel transports and package sem sleep at once. 2 ms is a hundred times
// that spin, short enough to give a case some hundreds of round trips per
// second, and long enough that the peer's CPU goes idle, as a real idle
// peer's would.
const WakeGap = 2 * time.Millisecond

// caseTimes splits a case's time into warm-up and measurement.
func caseTimes(d time.Duration) (warm, measure time.Duration) {
	warm = min(d/10, 100*time.Millisecond)
	return warm, d - warm
}

// A window is the measured part of a case: its wall time, and the CPU time
// the peer process used in it, read with peerCPU (nil: not measured).
type window struct {
	peerCPU      func() (time.Duration, error)
	start, end   time.Time
	cpu0, cpu1   time.Duration
	err          error
	opened, shut bool
}

func (w *window) open() {
	if w.peerCPU != nil {
		w.cpu0, w.err = w.peerCPU()
	}
	w.start, w.opened = time.Now(), true
}

func (w *window) close() {
	w.end, w.shut = time.Now(), true
	if w.peerCPU != nil && w.err == nil {
		w.cpu1, w.err = w.peerCPU()
	}
}

// peerUse returns the peer's CPU time in the window and its share of the
// window's wall time in percent (100 is one CPU busy all along; a peer with
// several busy threads can exceed it).
func (w *window) peerUse() (cpu time.Duration, percent float64, err error) {
	switch {
	case w.err != nil:
		return 0, 0, fmt.Errorf("peer CPU time: %w", w.err)
	case w.peerCPU == nil || !w.opened || !w.shut:
		return 0, 0, errors.New("peer CPU time: not measured")
	}
	return cpuShare(w.cpu1-w.cpu0, w.end.Sub(w.start))
}

// cpuShare returns cpu as a percentage of wall, refusing figures that
// cannot be (a clock that went backwards, an empty window).
func cpuShare(cpu, wall time.Duration) (time.Duration, float64, error) {
	if cpu < 0 || wall <= 0 {
		return 0, 0, fmt.Errorf("peer CPU time: %v in %v of wall time", cpu, wall)
	}
	return cpu, 100 * float64(cpu) / float64(wall), nil
}

// driveRTT times round trips for d (after a warm-up) into h, with the
// measured part in win. With a gap, it pauses that long before every round
// trip (the Wake workload) and times the round trip alone.
func driveRTT(ctx context.Context, c Conn, size int, d, gap time.Duration, h *Histogram, win *window) error {
	msg, buf := make([]byte, size), make([]byte, size)
	var seq uint64
	roundTrip := func() error {
		setHeader(msg, msgData, seq)
		if err := c.Send(ctx, msg); err != nil {
			return fmt.Errorf("send: %w", err)
		}
		if err := c.Receive(ctx, buf); err != nil {
			return fmt.Errorf("receive: %w", err)
		}
		if k, s := header(buf); k != msgData || s != seq {
			return fmt.Errorf("echo %d came back as kind %d seq %d", seq, k, s)
		}
		seq++
		return nil
	}
	warm, measure := caseTimes(d)
	start := time.Now()
	for seq == 0 || time.Since(start) < warm {
		if gap > 0 {
			time.Sleep(gap)
		}
		if err := roundTrip(); err != nil {
			return err
		}
	}
	win.open()
	// Times are read as durations since base: time.Since reads the
	// monotonic clock alone, where time.Now reads the wall clock too,
	// which on one VM cost 23 ns more per round trip than the C
	// ping-pong's single clock_gettime.
	base := time.Now()
	var prev time.Duration
	for {
		if gap > 0 {
			time.Sleep(gap)
			prev = time.Since(base)
		}
		if err := roundTrip(); err != nil {
			return err
		}
		now := time.Since(base)
		h.Record(uint64(now - prev))
		prev = now
		if now >= measure {
			break
		}
	}
	win.close()
	setHeader(msg, msgStop, seq)
	return c.Send(ctx, msg)
}

// serveRTT echoes every message until the stop message.
func serveRTT(ctx context.Context, c Conn, size int) error {
	buf := make([]byte, size)
	for seq := uint64(0); ; seq++ {
		if err := c.Receive(ctx, buf); err != nil {
			return fmt.Errorf("receive: %w", err)
		}
		k, s := header(buf)
		if s != seq {
			return fmt.Errorf("message %d arrived as %d", seq, s)
		}
		if k == msgStop {
			return nil
		}
		if err := c.Send(ctx, buf); err != nil {
			return fmt.Errorf("send: %w", err)
		}
	}
}

// driveStream sends messages for d after a warm-up, then a stop message,
// and waits for the peer's acknowledgement that it received everything.
// With batch, it hands them over BatchLen at a time where the transport
// takes batches (see batchConn).
// It returns how many messages were sent while measuring and how long
// sending and draining them took, which is the window win. A second stop
// message then lets the peer go: it stays until the window has read its
// CPU clock, which a process that has exited no longer has.
func driveStream(ctx context.Context, c Conn, size int, d time.Duration, batch bool, win *window) (msgs uint64, elapsed time.Duration, err error) {
	msg, buf := make([]byte, size), make([]byte, size)
	var seq uint64
	send := func(kind byte) error {
		setHeader(msg, kind, seq)
		seq++
		if err := c.Send(ctx, msg); err != nil {
			return fmt.Errorf("send: %w", err)
		}
		return nil
	}
	// group sends the messages between two looks at the clock.
	const every = 16
	group := func() error {
		for range every {
			if err := send(msgData); err != nil {
				return err
			}
		}
		return nil
	}
	if ds, ok := c.(dataStreamer); ok && !batch {
		group = func() error {
			err := ds.SendData(ctx, msg, seq, every)
			seq += every
			if err != nil {
				return fmt.Errorf("send: %w", err)
			}
			return nil
		}
	}
	if bc, ok := c.(batchConn); ok && batch {
		msgs := make([][]byte, BatchLen)
		for i := range msgs {
			msgs[i] = make([]byte, size)
		}
		group = func() error {
			for _, m := range msgs {
				setHeader(m, msgData, seq)
				seq++
			}
			if err := bc.SendBatch(ctx, msgs); err != nil {
				return fmt.Errorf("send batch: %w", err)
			}
			return nil
		}
	}
	// The first message is echoed: the peer is attached and ready.
	if err := send(msgData); err != nil {
		return 0, 0, err
	}
	if err := c.Receive(ctx, buf); err != nil {
		return 0, 0, fmt.Errorf("receive: %w", err)
	}
	warm, measure := caseTimes(d)
	for start := time.Now(); time.Since(start) < warm; {
		if err := group(); err != nil {
			return 0, 0, err
		}
	}
	first := seq
	win.open()
	start := time.Now()
	for time.Since(start) < measure {
		if err := group(); err != nil {
			return 0, 0, err
		}
	}
	msgs = seq - first
	if err := send(msgStop); err != nil {
		return 0, 0, err
	}
	if err := c.Receive(ctx, buf); err != nil {
		return 0, 0, fmt.Errorf("receive acknowledgement: %w", err)
	}
	elapsed = time.Since(start)
	win.close()
	if k, s := header(buf); k != msgStop || s != seq-1 {
		return 0, 0, fmt.Errorf("acknowledgement of %d came back as kind %d seq %d", seq-1, k, s)
	}
	if err := send(msgStop); err != nil {
		return 0, 0, err
	}
	return msgs, elapsed, nil
}

// serveStream echoes the first message, receives the rest in order until
// the stop message, sends that back as the acknowledgement, and waits for
// the second stop message that lets it go. With batch, it takes up to
// BatchLen messages at a time where the transport can.
func serveStream(ctx context.Context, c Conn, size int, batch bool) error {
	bufs := [][]byte{make([]byte, size)}
	receive := func() (int, error) { return 1, c.Receive(ctx, bufs[0]) }
	if bc, ok := c.(batchConn); ok && batch {
		bufs = make([][]byte, BatchLen)
		for i := range bufs {
			bufs[i] = make([]byte, size)
		}
		receive = func() (int, error) { return bc.ReceiveBatch(ctx, bufs) }
	}
	ds, _ := c.(dataStreamer)
	var seq uint64
	for {
		n, err := 0, error(nil)
		if ds != nil && !batch && seq > 0 {
			// The first message is echoed below, and a stream's later
			// ones are data until the stop message.
			n = 1
			seq, err = ds.ReceiveData(ctx, bufs[0], seq)
		} else {
			n, err = receive()
		}
		if err != nil {
			return fmt.Errorf("receive: %w", err)
		}
		for _, buf := range bufs[:n] {
			k, s := header(buf)
			if s != seq {
				return fmt.Errorf("message %d arrived as %d", seq, s)
			}
			if seq == 0 || k == msgStop {
				if err := c.Send(ctx, buf); err != nil {
					return fmt.Errorf("send: %w", err)
				}
			}
			if k == msgStop {
				if err := c.Receive(ctx, buf); err != nil {
					return fmt.Errorf("receive release: %w", err)
				}
				if k, s := header(buf); k != msgStop || s != seq+1 {
					return fmt.Errorf("release %d arrived as kind %d seq %d", seq+1, k, s)
				}
				return nil
			}
			seq++
		}
	}
}
