package natsbridge_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"os/signal"

	natsbridge "github.com/shmkit/shm/bridge"
)

// A queue consumer that drops the redeliveries of a bridge run with
// Config.Sequence: a message whose stream sequence is not above the last
// one processed came before.
func ExampleUnframe() {
	var last uint64
	for _, msg := range [][]byte{
		natsbridge.Frame(nil, 1, []byte("one")),
		natsbridge.Frame(nil, 2, []byte("two")),
		natsbridge.Frame(nil, 2, []byte("two")), // sent again after a crash
		natsbridge.Frame(nil, 3, []byte("three")),
	} {
		seq, payload, err := natsbridge.Unframe(msg)
		if err != nil {
			fmt.Println(err)
			return
		}
		if seq <= last {
			fmt.Printf("drop %d (redelivered)\n", seq)
			continue
		}
		last = seq
		fmt.Printf("%d %s\n", seq, payload)
	}
	// Output:
	// 1 one
	// 2 two
	// drop 2 (redelivered)
	// 3 three
}

// Publishing a queue's messages to a JetStream stream until the queue is
// closed for sending and drained, or an interrupt drains the bridge.
func ExampleOut() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	nc, err := natsbridge.Connect("nats://127.0.0.1:4222", "orders bridge", log.Printf)
	if err != nil {
		log.Fatal(err)
	}
	defer nc.Close()
	var st natsbridge.Stats
	err = natsbridge.Out(ctx, nc, natsbridge.Config{Queue: "orders", Subject: "orders.new", Stats: &st})
	if err != nil {
		log.Fatal(err) // e.g. a message over the server's max payload
	}
	log.Printf("done: %s", &st)
}

// Sending a stream's messages into a queue, each framed with its stream
// sequence, and ending after 1000 (the queue is then closed for sending).
func ExampleIn() {
	nc, err := natsbridge.Connect("nats://127.0.0.1:4222", "orders bridge", log.Printf)
	if err != nil {
		log.Fatal(err)
	}
	defer nc.Close()
	err = natsbridge.In(context.Background(), nc, natsbridge.Config{
		Queue: "orders", Subject: "orders.new", Durable: "orders-host-b",
		Count: 1000, Sequence: true,
	})
	if err != nil {
		log.Fatal(err)
	}
}

// Publishing a topic's messages to a JetStream stream as one of its
// subscribers: a bridge started again resumes after the last of the
// topic's messages the stream holds, and counts what the topic no longer
// kept.
func ExampleOut_topic() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	nc, err := natsbridge.Connect("nats://127.0.0.1:4222", "prices bridge", log.Printf)
	if err != nil {
		log.Fatal(err)
	}
	defer nc.Close()
	var st natsbridge.Stats
	err = natsbridge.Out(ctx, nc, natsbridge.Config{Topic: "prices", Subject: "prices.eu", Stats: &st})
	if err != nil {
		log.Fatal(err)
	}
	log.Printf("done: %s; %d messages missed", &st, st.Missed.Load())
}
