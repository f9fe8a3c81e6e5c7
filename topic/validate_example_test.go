package topic_test

import (
	"fmt"

	"github.com/shmkit/shm/topic"
)

// A command that takes a topic's geometry from its user checks it with
// Validate before it creates anything, and reports what is wrong.
func ExampleValidate() {
	fmt.Println(topic.Validate(64<<10, topic.Subscribers(8), topic.History(16)))
	fmt.Println(topic.Validate(1000))
	fmt.Println(topic.Validate(4096, topic.MaxMessage(4096)))
	fmt.Println(topic.MaxMessageFor(4096))
	// Output:
	// <nil>
	// invalid argument: capacity 1000 is not a power of two from 256 to 1099511627776
	// invalid argument: max message 4096 is not in [0, 2016] for capacity 4096
	// 2016
}
