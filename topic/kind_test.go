//go:build linux

package topic

import (
	"encoding/binary"
	"testing"

	"github.com/shmkit/shm"
)

// TestShmKnowsTheTopic: package shm lists the topic's magic for its kind,
// so shm.Stat and shm.List call a topic a topic.
func TestShmKnowsTheTopic(t *testing.T) {
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], magic)
	if got := shm.Magic(shm.KindTopic); got != string(b[:]) {
		t.Fatalf("shm.Magic(KindTopic) = %q, the layout's magic is %q", got, b)
	}
	name, tp := newTopic(t, 4096)
	info, err := shm.Stat(name)
	tp.Close()
	if err != nil || info.Kind != shm.KindTopic {
		t.Fatalf("shm.Stat of a topic: kind %q, %v", info.Kind, err)
	}
}
