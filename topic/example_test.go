package topic_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/shmkit/shm/topic"
)

// A publisher and two subscribers on one topic. In real use each is its
// own process, opening the topic by name.
func Example() {
	ctx := context.Background()
	name := fmt.Sprintf("example-topic-%d", os.Getpid())
	pub, err := topic.Create(name, 64<<10)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer topic.Unlink(name)
	defer pub.Close()

	var subs []*topic.Topic
	for range 2 {
		s, err := topic.Open(name)
		if err != nil {
			fmt.Println(err)
			return
		}
		defer s.Close()
		if err := s.Subscribe(); err != nil { // joins now: gets what follows
			fmt.Println(err)
			return
		}
		subs = append(subs, s)
	}

	for _, m := range []string{"tick 1", "tick 2", "tick 3"} {
		if err := pub.Publish(ctx, []byte(m)); err != nil {
			fmt.Println(err)
			return
		}
	}
	pub.Close() // every subscriber gets what remains, then io.EOF

	for i, s := range subs {
		var buf []byte
		for {
			buf, err = s.Receive(ctx, buf)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				fmt.Println(err)
				return
			}
			fmt.Printf("subscriber %d: %s\n", i, buf)
		}
	}
	// Output:
	// subscriber 0: tick 1
	// subscriber 0: tick 2
	// subscriber 0: tick 3
	// subscriber 1: tick 1
	// subscriber 1: tick 2
	// subscriber 1: tick 3
}

// An overwrite topic never waits for a slow subscriber; the subscriber
// learns how many messages it missed and goes on from the oldest kept.
func Example_overwrite() {
	ctx := context.Background()
	name := fmt.Sprintf("example-topic-overwrite-%d", os.Getpid())
	pub, err := topic.Create(name, 1024, topic.Overwrite())
	if err != nil {
		fmt.Println(err)
		return
	}
	defer topic.Unlink(name)
	defer pub.Close()
	sub, err := topic.Open(name)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer sub.Close()
	sub.Subscribe()

	for i := range 100 {
		pub.Publish(ctx, fmt.Appendf(nil, "message %02d, padded to 48 bytes............", i))
	}
	_, err = sub.Receive(ctx, nil)
	var lag *topic.LaggedError
	if errors.As(err, &lag) {
		fmt.Println("missed", lag.Missed)
	}
	msg, _ := sub.Receive(ctx, nil)
	fmt.Printf("%.10s\n", msg)
	// Output:
	// missed 85
	// message 85
}

// A subscriber that kept the number of the last message it handled picks
// up after it in another handle (or another process, after a crash).
func ExampleTopic_SubscribeFrom() {
	ctx := context.Background()
	name := fmt.Sprintf("example-topic-from-%d", os.Getpid())
	pub, err := topic.Create(name, 64<<10)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer topic.Unlink(name)
	defer pub.Close()
	for _, m := range []string{"a", "b", "c", "d"} {
		if err := pub.Publish(ctx, []byte(m)); err != nil {
			fmt.Println(err)
			return
		}
	}

	s, err := topic.Open(name)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer s.Close()
	last := uint64(1) // "b" was handled before
	if err := s.SubscribeFrom(last + 1); err != nil {
		fmt.Println(err) // a *LaggedError when "c" is gone
		return
	}
	for range 2 {
		msg, err := s.Receive(ctx, nil)
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Printf("message %d: %s\n", s.Sequence()-1, msg)
	}
	// Output:
	// message 2: c
	// message 3: d
}

// Peers that start in any order each call OpenOrCreate with the same
// arguments: the first creates the topic, the others open it. In real use
// each is its own process.
func ExampleOpenOrCreate() {
	ctx := context.Background()
	name := fmt.Sprintf("example-topic-ooc-%d", os.Getpid())
	defer topic.Unlink(name)

	sub, created, err := topic.OpenOrCreate(name, 64<<10)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer sub.Close()
	fmt.Println("subscriber created it:", created)
	if err := sub.Subscribe(); err != nil {
		fmt.Println(err)
		return
	}

	pub, created, err := topic.OpenOrCreate(name, 64<<10)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer pub.Close()
	fmt.Println("publisher created it:", created)
	if err := pub.Publish(ctx, []byte("hello")); err != nil {
		fmt.Println(err)
		return
	}

	m, err := sub.Receive(ctx, nil)
	fmt.Printf("subscriber got %q, %v\n", m, err)
	// Output:
	// subscriber created it: true
	// publisher created it: false
	// subscriber got "hello", <nil>
}

// A subscriber that joins after the publisher began, as one started in a
// shell's background next to it may, still starts with the topic's first
// message: the ring holds it, and a lossless publisher that opted in to a
// start grace (StartGrace; none unless asked for) keeps it that long even
// with no subscriber.
func ExampleStartGrace() {
	ctx := context.Background()
	name := fmt.Sprintf("example-grace-%d", os.Getpid())
	pub, err := topic.Create(name, 64<<10, topic.StartGrace(topic.DefaultStartGrace))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer topic.Unlink(name)
	defer pub.Close()
	for _, m := range []string{"first", "second"} {
		if err := pub.Publish(ctx, []byte(m)); err != nil {
			fmt.Println(err)
			return
		}
	}

	late, err := topic.Open(name)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer late.Close()
	if err := late.Subscribe(); err != nil {
		fmt.Println(err)
		return
	}
	m, err := late.Receive(ctx, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("the late subscriber starts with %q, message %d\n", m, late.Sequence()-1)
	// Output: the late subscriber starts with "first", message 0
}

// A publish that waited in vain, or a TryPublish that said ErrFull, may
// have waited for the start grace rather than for a subscriber:
// StartGraceLeft tells the two apart.
func ExampleTopic_StartGraceLeft() {
	name := fmt.Sprintf("example-grace-left-%d", os.Getpid())
	pub, err := topic.Create(name, 4096, topic.StartGrace(time.Minute))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer topic.Unlink(name)
	defer pub.Close()
	for {
		if err = pub.TryPublish([]byte("tick")); err != nil {
			break
		}
	}
	fmt.Println(err == topic.ErrFull, pub.StartGraceLeft() > 0)
	// Output: true true
}

// A publisher that fails part-way aborts the stream rather than closing
// it: its subscribers receive what it published and then ErrAborted, so a
// cut-short stream is never taken for a complete one.
func ExampleTopic_Abort() {
	ctx := context.Background()
	name := fmt.Sprintf("example-abort-%d", os.Getpid())
	pub, err := topic.Create(name, 64<<10)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer topic.Unlink(name)
	sub, err := topic.Open(name)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer sub.Close()
	if err := sub.Subscribe(); err != nil {
		fmt.Println(err)
		return
	}
	pub.Publish(ctx, []byte("row 1"))
	pub.Abort() // say, the input broke before row 2

	for {
		m, err := sub.Receive(ctx, nil)
		if err != nil {
			fmt.Println("aborted:", errors.Is(err, topic.ErrAborted), "end of file:", err == io.EOF)
			break
		}
		fmt.Printf("%s\n", m)
	}
	// Output:
	// row 1
	// aborted: true end of file: false
}
