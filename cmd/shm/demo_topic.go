package main

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/shmkit/shm/topic"
)

// The topic step: the lead publishes numbered messages on a lossless topic
// that two other processes subscribed to; each subscriber receives every
// message once and in order, and end-of-file when the lead closes the
// topic. The lead publishes only once both have joined: a subscriber gets
// the messages published after it joined.
const (
	fanOutMessages = 100_000
	fanOutCapacity = 1 << 20
)

func topicDemoLead(e *demoEnv) error {
	name := e.name("ticks")
	t, err := topic.Create(name, fanOutCapacity, topic.Dir(e.dir))
	if err != nil {
		return err
	}
	defer t.Close()
	e.say("created topic %q, a %d KiB ring; starting two subscriber processes", name, fanOutCapacity>>10)
	var peers []*demoPeer
	for range 2 {
		p, err := e.startPeer("topic", nil, name)
		if err != nil {
			return err
		}
		peers = append(peers, p)
	}
	// Wait until both have joined (or one failed).
	for {
		st, err := topic.Stat(name, topic.Dir(e.dir))
		if err != nil {
			return err
		}
		if st.Active == 2 {
			break
		}
		for _, p := range peers {
			select {
			case <-p.done:
				return p.failed(e, errors.New("demo: a subscriber ended before it joined"))
			default:
			}
		}
		select {
		case <-e.ctx.Done():
			return e.ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
	}
	if err := e.waitEnter("both subscribers joined; try: shm topic stat " + name); err != nil {
		return err
	}
	start := time.Now()
	batch := make([][]byte, 64)
	for i := range batch {
		batch[i] = make([]byte, 8)
	}
	for i := 0; i < fanOutMessages; i += len(batch) {
		batch = batch[:min(cap(batch), fanOutMessages-i)]
		for j := range batch {
			binary.LittleEndian.PutUint64(batch[j], uint64(i+j))
		}
		if err := t.PublishBatch(e.ctx, batch); err != nil {
			return peers[0].failed(e, err)
		}
	}
	if err := t.Close(); err != nil { // every subscriber gets end-of-file after the last
		return err
	}
	for _, p := range peers {
		if err := p.wait(e); err != nil {
			return err
		}
	}
	e.say("published %d messages; both subscribers had all of them %v later", fanOutMessages, roundDuration(time.Since(start)))
	if err := topic.Unlink(name, topic.Dir(e.dir)); err != nil {
		return err
	}
	e.say("removed the topic")
	return nil
}

func topicDemoPeer(e *demoEnv, args []string) error {
	if len(args) != 1 {
		return fmt.Errorf("demo-peer topic: want the topic's name, got %d arguments", len(args))
	}
	t, err := topic.Open(args[0], topic.Dir(e.dir))
	if err != nil {
		return err
	}
	defer t.Close()
	if err := t.Subscribe(); err != nil {
		return err
	}
	e.say("subscribed")
	var buf []byte
	n := uint64(0)
	for {
		buf, err = t.Receive(e.ctx, buf)
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		if len(buf) != 8 || binary.LittleEndian.Uint64(buf) != n {
			return fmt.Errorf("demo-peer topic: message %d is not the one due", n)
		}
		n++
	}
	e.say("received %d messages, each once and in order, then end-of-file", n)
	return t.Close()
}
