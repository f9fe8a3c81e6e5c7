package queue_test

import (
	"fmt"
	"os"

	"github.com/shmkit/shm/queue"
)

// Capacity 0 asks Create for the recommended ring: DefaultCapacity, or
// more for large messages.
func ExampleRecommendedCapacity() {
	for _, m := range []int{64, 64 << 10, 1 << 20} {
		fmt.Printf("largest message %d bytes: ring of %d MiB\n", m, queue.RecommendedCapacity(m)>>20)
	}
	name := fmt.Sprintf("example-queue-capacity-%d", os.Getpid())
	q, err := queue.Create(name, 0, queue.MaxMessage(1<<20))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer queue.Unlink(name)
	defer q.Close()
	fmt.Printf("Create(name, 0, MaxMessage(1 MiB)): %d MiB\n", q.Capacity()>>20)
	// Output:
	// largest message 64 bytes: ring of 4 MiB
	// largest message 65536 bytes: ring of 4 MiB
	// largest message 1048576 bytes: ring of 32 MiB
	// Create(name, 0, MaxMessage(1 MiB)): 32 MiB
}
