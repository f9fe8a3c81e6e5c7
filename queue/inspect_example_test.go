package queue_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/shmkit/shm/queue"
)

// ExampleStat_listing lists a directory the way "shm ls" does: each object is
// inspected by name, objects that are not queues are told apart, and a
// damaged queue says which part is at fault.
func ExampleStat_listing() {
	dir, err := os.MkdirTemp("", "example-inspect")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	for _, name := range []string{"jobs", "cut"} {
		q, err := queue.Create(name, 64<<10, queue.Dir(dir))
		if err != nil {
			fmt.Println(err)
			return
		}
		q.Close()
	}
	os.Truncate(filepath.Join(dir, "cut"), 8192) // shorter than its ring
	os.WriteFile(filepath.Join(dir, "notes"), []byte("plain data"), 0o600)

	for _, name := range []string{"cut", "jobs", "notes"} {
		st, err := queue.Stat(name, queue.Dir(dir))
		switch {
		case errors.Is(err, queue.ErrNotQueue):
			fmt.Println(name, "is not a queue")
		case errors.Is(err, queue.ErrCorrupt):
			fmt.Println(name, "is corrupt:", queue.Part(err))
		case err != nil:
			fmt.Println(err)
		default:
			fmt.Println(name, "holds", st.Messages, "messages")
		}
	}
	// Output:
	// cut is corrupt: size
	// jobs holds 0 messages
	// notes is not a queue
}
