package bench

import (
	"context"
	"encoding/binary"
	"fmt"
	"time"
)

// Every message starts with a kind byte and a sequence number; the rest is
// payload that the transports move but nobody reads.
//
//	+0  kind  byte    msgData or msgStop
//	+1  seq   uint64  little-endian, counts messages from 0 per direction
const (
	msgData = 0
	msgStop = 1
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

// caseTimes splits a case's time into warm-up and measurement.
func caseTimes(d time.Duration) (warm, measure time.Duration) {
	warm = min(d/10, 100*time.Millisecond)
	return warm, d - warm
}

// driveRTT times round trips for d (after a warm-up) into h.
func driveRTT(ctx context.Context, c Conn, size int, d time.Duration, h *Histogram) error {
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
		if err := roundTrip(); err != nil {
			return err
		}
	}
	prev := time.Now()
	end := prev.Add(measure)
	for {
		if err := roundTrip(); err != nil {
			return err
		}
		now := time.Now()
		h.Record(uint64(now.Sub(prev)))
		prev = now
		if !now.Before(end) {
			break
		}
	}
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
// It returns how many messages were sent while measuring and how long
// sending and draining them took.
func driveStream(ctx context.Context, c Conn, size int, d time.Duration) (msgs uint64, elapsed time.Duration, err error) {
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
	// The first message is echoed: the peer is attached and ready.
	if err := send(msgData); err != nil {
		return 0, 0, err
	}
	if err := c.Receive(ctx, buf); err != nil {
		return 0, 0, fmt.Errorf("receive: %w", err)
	}
	warm, measure := caseTimes(d)
	const batch = 16 // messages between looks at the clock
	for start := time.Now(); time.Since(start) < warm; {
		for range batch {
			if err := send(msgData); err != nil {
				return 0, 0, err
			}
		}
	}
	first := seq
	start := time.Now()
	for time.Since(start) < measure {
		for range batch {
			if err := send(msgData); err != nil {
				return 0, 0, err
			}
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
	if k, s := header(buf); k != msgStop || s != seq-1 {
		return 0, 0, fmt.Errorf("acknowledgement of %d came back as kind %d seq %d", seq-1, k, s)
	}
	return msgs, elapsed, nil
}

// serveStream echoes the first message, receives the rest in order until
// the stop message, and sends that back as the acknowledgement.
func serveStream(ctx context.Context, c Conn, size int) error {
	buf := make([]byte, size)
	for seq := uint64(0); ; seq++ {
		if err := c.Receive(ctx, buf); err != nil {
			return fmt.Errorf("receive: %w", err)
		}
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
			return nil
		}
	}
}
