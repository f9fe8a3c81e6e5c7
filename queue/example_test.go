package queue_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/shmkit/shm/queue"
)

// A producer and a consumer; here both in one process, usually in two.
func Example() {
	name := fmt.Sprintf("example-queue-%d", os.Getpid())
	producer, err := queue.Create(name, 64<<10)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer queue.Unlink(name)
	consumer, err := queue.Open(name)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer consumer.Close()

	ctx := context.Background()
	for _, m := range []string{"hello", "", "world"} {
		if err := producer.Send(ctx, []byte(m)); err != nil {
			fmt.Println(err)
			return
		}
	}
	producer.Close() // the consumer gets io.EOF after the last message

	var buf []byte
	for {
		buf, err = consumer.Receive(ctx, buf)
		if err == io.EOF {
			break
		}
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Printf("%q\n", buf)
	}
	// Output:
	// "hello"
	// ""
	// "world"
}

// Zero copy: the producer writes the message in place in the ring, the
// consumer reads it there.
func ExampleQueue_Reserve() {
	name := fmt.Sprintf("example-queue-zc-%d", os.Getpid())
	q, err := queue.Create(name, 4096)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer queue.Unlink(name)
	defer q.Close()
	ctx := context.Background()

	b, err := q.Reserve(ctx, 5)
	if err != nil {
		fmt.Println(err)
		return
	}
	copy(b, "in pl")
	q.Commit()

	m, err := q.Peek(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(string(m), len(m))
	q.Release()
	// Output: in pl 5
}

// Batches: SendBatch makes several messages visible with one store, and
// ReceiveBatch takes every message that is ready, up to the slice's length,
// in one call. Buffers in the slice are reused from call to call.
func ExampleQueue_ReceiveBatch() {
	name := fmt.Sprintf("example-queue-batch-%d", os.Getpid())
	q, err := queue.Create(name, 4096)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer queue.Unlink(name)
	defer q.Close()
	ctx := context.Background()

	err = q.SendBatch(ctx, [][]byte{[]byte("one"), []byte("two"), []byte("three")})
	if err != nil {
		fmt.Println(err)
		return
	}
	msgs := make([][]byte, 2)
	for range 2 {
		n, err := q.ReceiveBatch(ctx, msgs)
		if err != nil {
			fmt.Println(err)
			return
		}
		for _, m := range msgs[:n] {
			fmt.Printf("%s ", m)
		}
		fmt.Println("|", n, "in this batch")
	}
	// Output:
	// one two | 2 in this batch
	// three | 1 in this batch
}

// A producer that fails part-way aborts the stream: the consumer receives
// what was sent and then ErrAborted, not io.EOF, and knows it is incomplete.
func ExampleQueue_Abort() {
	name := fmt.Sprintf("example-queue-abort-%d", os.Getpid())
	producer, err := queue.Create(name, 4096)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer queue.Unlink(name)
	consumer, err := queue.Open(name)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer consumer.Close()

	ctx := context.Background()
	producer.Send(ctx, []byte("part 1"))
	producer.Abort() // say, the input broke before part 2

	for {
		msg, err := consumer.Receive(ctx, nil)
		if err == io.EOF {
			fmt.Println("complete")
			break
		}
		if errors.Is(err, queue.ErrAborted) {
			fmt.Println("cut short")
			break
		}
		fmt.Printf("%s\n", msg)
	}
	// Output:
	// part 1
	// cut short
}

// A consumer that writes what it receives to a file holds the messages
// until they are written: if it is stopped before its Ack, the next
// consumer gets them again instead of their being lost.
func ExampleQueue_Hold() {
	name := fmt.Sprintf("example-queue-hold-%d", os.Getpid())
	producer, err := queue.Create(name, 4096)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer queue.Unlink(name)
	defer producer.Close()
	ctx := context.Background()
	for _, m := range []string{"a", "b", "c"} {
		producer.Send(ctx, []byte(m))
	}

	first, _ := queue.Open(name)
	first.Hold()
	msg, _ := first.Receive(ctx, nil)
	fmt.Printf("written out: %s\n", msg) // and only then released:
	first.ReleaseThrough(first.Position())
	msg, _ = first.Receive(ctx, nil)
	fmt.Printf("received, not written: %s\n", msg)
	first.Close() // stopped before it released "b"

	second, _ := queue.Open(name)
	defer second.Close()
	for range 2 {
		msg, _ := second.Receive(ctx, nil)
		fmt.Printf("next consumer: %s\n", msg)
	}
	// Output:
	// written out: a
	// received, not written: b
	// next consumer: b
	// next consumer: c
}

// Stat tells the peers apart by their role locks: alive while the role is
// held, dead once its process died (or, as here, gave it up), in any PID
// namespace. A peer's pid is its pid in its own namespace, marked when that
// is not the caller's.
func ExampleStat() {
	name := fmt.Sprintf("example-queue-stat-%d", os.Getpid())
	q, err := queue.Create(name, 4096)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer queue.Unlink(name)
	defer q.Close()
	if err := q.Send(context.Background(), []byte("hi")); err != nil { // q is now the producer
		fmt.Println(err)
		return
	}
	st, err := queue.Stat(name)
	if err != nil {
		fmt.Println(err)
		return
	}
	p := st.Producers[0]
	fmt.Println(p.PID == os.Getpid(), p.Alive, p.OtherNamespace, st.Consumer == nil)
	// Output:
	// true true false true
}

// Two workers share a queue's jobs. The first takes one job to work on in
// place (Peek) and stops before it releases it, as a worker that crashes
// would: the job goes to the other worker, counted as its second delivery.
func ExampleConsumers() {
	name := fmt.Sprintf("example-consumers-%d", os.Getpid())
	producer, err := queue.Create(name, 64<<10, queue.Consumers(2))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer queue.Unlink(name)
	ctx := context.Background()
	for _, job := range []string{"job 1", "job 2", "job 3"} {
		if err := producer.Send(ctx, []byte(job)); err != nil {
			fmt.Println(err)
			return
		}
	}
	producer.Close()

	first, err := queue.Open(name)
	if err != nil {
		fmt.Println(err)
		return
	}
	job, err := first.Peek(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("first worker took %s and stops\n", job)
	first.Close() // without Release: the job is still to be done

	second, err := queue.Open(name)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer second.Close()
	var buf []byte
	for {
		buf, err = second.Receive(ctx, buf)
		if err == io.EOF {
			break
		}
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Printf("second worker did %s (delivery %d)\n", buf, second.Deliveries())
	}
	// Output:
	// first worker took job 1 and stops
	// second worker did job 1 (delivery 2)
	// second worker did job 2 (delivery 1)
	// second worker did job 3 (delivery 1)
}

// A producer that may have nothing to send becomes the producer first, so
// that its Close ends the stream even when it sent no message: the
// consumer gets io.EOF instead of waiting for the first message.
func ExampleQueue_BecomeProducer() {
	name := fmt.Sprintf("example-queue-become-%d", os.Getpid())
	consumer, err := queue.Create(name, 4096)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer queue.Unlink(name)
	defer consumer.Close()

	producer, err := queue.Open(name)
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := producer.BecomeProducer(); err != nil {
		fmt.Println(err)
		return
	}
	var lines []string // say, the lines of a file that matched nothing
	for _, l := range lines {
		producer.Send(context.Background(), []byte(l))
	}
	producer.Close()

	_, err = consumer.Receive(context.Background(), nil)
	fmt.Println(err == io.EOF)
	// Output:
	// true
}
