package queue_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/shmkit/shm/queue"
)

// Peers that start in any order: whoever comes first creates the queue,
// the others open it.
func ExampleOpenOrCreate() {
	name := fmt.Sprintf("example-queue-ooc-%d", os.Getpid())
	a, created, err := queue.OpenOrCreate(name, 64<<10, queue.MultiProducer())
	if err != nil {
		fmt.Println(err)
		return
	}
	defer queue.Unlink(name)
	defer a.Close()
	fmt.Println("first created it:", created)

	b, created, err := queue.OpenOrCreate(name, 64<<10, queue.MultiProducer())
	if err != nil {
		fmt.Println(err)
		return
	}
	defer b.Close()
	fmt.Println("second created it:", created, "same queue:", a.ID() == b.ID())

	_, _, err = queue.OpenOrCreate(name, 4096)
	fmt.Println("another capacity refused:", errors.Is(err, queue.ErrMismatch))
	// Output:
	// first created it: true
	// second created it: false same queue: true
	// another capacity refused: true
}

// A consumer that follows producers which come and go: after a producer
// closes, it waits for the next instead of ending with io.EOF.
func ExampleFollowProducers() {
	name := fmt.Sprintf("example-queue-follow-%d", os.Getpid())
	consumer, _, err := queue.OpenOrCreate(name, 64<<10, queue.FollowProducers())
	if err != nil {
		fmt.Println(err)
		return
	}
	defer queue.Unlink(name)
	defer consumer.Close()

	go func() { // two producers in turn, usually other processes
		for _, msg := range []string{"from the first", "from the second"} {
			p, err := queue.Open(name)
			if err != nil {
				return
			}
			p.Send(context.Background(), []byte(msg))
			p.Close() // without FollowProducers the consumer would see io.EOF
		}
	}()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for range 2 {
		m, err := consumer.Receive(ctx, nil)
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Printf("%s\n", m)
	}
	// Output:
	// from the first
	// from the second
}
