package topic_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/shmkit/shm/topic"
)

// ExampleStat_listing lists a directory the way "shm ls" does: each object is
// inspected by name, objects that are not topics are told apart, and a
// damaged topic says which part is at fault.
func ExampleStat_listing() {
	dir, err := os.MkdirTemp("", "example-inspect")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	for _, name := range []string{"prices", "cut"} {
		t, err := topic.Create(name, 64<<10, topic.Dir(dir))
		if err != nil {
			fmt.Println(err)
			return
		}
		t.Publish(context.Background(), []byte("42.17"))
		t.Close()
	}
	os.Truncate(filepath.Join(dir, "cut"), 8192) // shorter than its ring
	os.WriteFile(filepath.Join(dir, "notes"), []byte("plain data"), 0o600)

	for _, name := range []string{"cut", "notes", "prices"} {
		st, err := topic.Stat(name, topic.Dir(dir))
		switch {
		case errors.Is(err, topic.ErrNotTopic):
			fmt.Println(name, "is not a topic")
		case errors.Is(err, topic.ErrCorrupt):
			fmt.Println(name, "is corrupt:", topic.Part(err))
		case err != nil:
			fmt.Println(err)
		default:
			fmt.Println(name, "has", st.Published, "messages published, closed:", st.Closed)
		}
	}
	// Output:
	// cut is corrupt: size
	// notes is not a topic
	// prices has 1 messages published, closed: true
}
