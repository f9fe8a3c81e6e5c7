package queue

import (
	"errors"
	"testing"

	"github.com/shmkit/shm"
)

// TestValidate: Validate accepts what Create accepts and refuses, with
// shm.ErrInvalid, what Create refuses, creating nothing.
func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		name     string
		capacity int64
		opts     []Option
		ok       bool
	}{
		{"smallest", MinCapacity, nil, true},
		{"1 MiB, multi-producer", 1 << 20, []Option{MultiProducer()}, true},
		{"largest message", 4096, []Option{MaxMessage(2040)}, true},
		{"not a power of two", 1000, nil, false},
		{"too small", MinCapacity / 2, nil, false},
		{"too large", MaxCapacity * 2, nil, false},
		{"message too large", 4096, []Option{MaxMessage(2041)}, false},
		{"negative message", 4096, []Option{MaxMessage(-1)}, false},
		{"no consumers", 4096, []Option{Consumers(0)}, false},
		{"too many consumers", 4096, []Option{Consumers(MaxConsumers + 1)}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := Validate(tc.capacity, tc.opts...)
			if tc.ok != (err == nil) || (err != nil && !errors.Is(err, shm.ErrInvalid)) {
				t.Fatalf("Validate(%d): %v, want ok %v (or shm.ErrInvalid)", tc.capacity, err, tc.ok)
			}
		})
	}
}
