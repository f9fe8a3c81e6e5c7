//go:build linux

package queue

import (
	"encoding/binary"
	"testing"

	"github.com/shmkit/shm"
	"github.com/shmkit/shm/internal/shmtest"
)

// TestShmKnowsTheQueue: package shm lists the queue's magic for its kind,
// so shm.Stat and shm.List call a queue a queue.
func TestShmKnowsTheQueue(t *testing.T) {
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], magic)
	if got := shm.Magic(shm.KindQueue); got != string(b[:]) {
		t.Fatalf("shm.Magic(KindQueue) = %q, the layout's magic is %q", got, b)
	}
	for _, m := range bothModes {
		name := shmtest.Name(t, m.name)
		q, err := Create(name, 4096, m.opts...)
		if err != nil {
			t.Fatal(err)
		}
		info, err := shm.Stat(name)
		q.Close()
		Unlink(name)
		if err != nil || info.Kind != shm.KindQueue {
			t.Fatalf("shm.Stat of a %s queue: kind %q, %v", m.name, info.Kind, err)
		}
	}
}
