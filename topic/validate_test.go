package topic

import (
	"errors"
	"testing"

	"github.com/shmkit/shm"
)

// TestValidate: Validate accepts what Create accepts and refuses, with
// shm.ErrInvalid, what Create refuses; Create is asked too, in a private
// directory, so that the two cannot drift apart.
func TestValidate(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name     string
		capacity int64
		opts     []Option
		ok       bool
	}{
		{"smallest", MinCapacity, nil, true},
		{"64 KiB, overwrite, history", 64 << 10, []Option{Overwrite(), History(100)}, true},
		{"largest message", 4096, []Option{MaxMessage(2016)}, true},
		{"most subscribers", 4096, []Option{Subscribers(MaxSubscribers)}, true},
		{"longest history", 4096, []Option{History(256)}, true},
		{"not a power of two", 1000, nil, false},
		{"too small", MinCapacity / 2, nil, false},
		{"too large", MaxCapacity * 2, nil, false},
		{"message too large", 4096, []Option{MaxMessage(2017)}, false},
		{"negative message", 4096, []Option{MaxMessage(-1)}, false},
		{"no subscribers", 4096, []Option{Subscribers(0)}, false},
		{"too many subscribers", 4096, []Option{Subscribers(MaxSubscribers + 1)}, false},
		{"negative history", 4096, []Option{History(-1)}, false},
		{"history longer than the ring", 4096, []Option{History(257)}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := Validate(tc.capacity, tc.opts...)
			if tc.ok != (err == nil) || (err != nil && !errors.Is(err, shm.ErrInvalid)) {
				t.Fatalf("Validate(%d): %v, want ok %v (or shm.ErrInvalid)", tc.capacity, err, tc.ok)
			}
			if tc.capacity > 1<<20 {
				return // Create would make an object this large
			}
			top, cerr := Create("validate", tc.capacity, append(tc.opts, Dir(dir))...)
			if cerr == nil {
				top.Close()
				if err := Unlink("validate", Dir(dir)); err != nil {
					t.Fatal(err)
				}
			}
			if (err == nil) != (cerr == nil) {
				t.Fatalf("Validate(%d) says %v but Create says %v", tc.capacity, err, cerr)
			}
		})
	}
}

// TestMaxMessageFor: the largest message is what Create accepts and one
// byte more is refused; capacities Create refuses have none.
func TestMaxMessageFor(t *testing.T) {
	for _, tc := range []struct {
		capacity int64
		want     int
	}{
		{MinCapacity, MinCapacity/2 - 32},
		{4096, 2016},
		{1 << 20, 1<<19 - 32},
		{1 << 40, 1 << 31},
		{1000, 0},
		{MinCapacity / 2, 0},
		{MaxCapacity * 2, 0},
		{-4096, 0},
	} {
		got := MaxMessageFor(tc.capacity)
		if got != tc.want {
			t.Errorf("MaxMessageFor(%d) = %d, want %d", tc.capacity, got, tc.want)
		}
		if got == 0 {
			continue
		}
		if err := Validate(tc.capacity, MaxMessage(got)); err != nil {
			t.Errorf("Validate(%d, MaxMessage(%d)): %v", tc.capacity, got, err)
		}
		if err := Validate(tc.capacity, MaxMessage(got+1)); !errors.Is(err, shm.ErrInvalid) {
			t.Errorf("Validate(%d, MaxMessage(%d)) = %v, want shm.ErrInvalid", tc.capacity, got+1, err)
		}
	}
}
