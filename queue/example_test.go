package queue_test

import (
	"context"
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

// Holding messages until a slower system has them: ReceiveHeld reads
// ahead without consuming, ReleaseThrough consumes through a position. A
// consumer that starts after a crash resumes at the released position and
// gets the rest again, at the same positions.
func ExampleQueue_ReceiveHeld() {
	name := fmt.Sprintf("example-queue-held-%d", os.Getpid())
	q, err := queue.Create(name, 4096)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer queue.Unlink(name)
	for _, m := range []string{"one", "two", "three"} {
		q.TrySend([]byte(m))
	}
	var positions []queue.Position
	for range 3 {
		msg, pos, err := q.TryReceiveHeld(nil)
		if err != nil {
			fmt.Println(err)
			return
		}
		positions = append(positions, pos) // e.g. sent on, acknowledged later
		fmt.Printf("%s at %d\n", msg, pos)
	}
	// "one" was acknowledged: release it. The other two stay in the queue.
	if err := q.ReleaseThrough(positions[0]); err != nil {
		fmt.Println(err)
		return
	}
	q.Close()

	again, err := queue.Open(name)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer again.Close()
	msg, pos, err := again.TryReceiveHeld(nil)
	fmt.Printf("after reopening: %s at %d %v\n", msg, pos, err)
	// Output:
	// one at 16
	// two at 32
	// three at 48
	// after reopening: two at 32 <nil>
}
