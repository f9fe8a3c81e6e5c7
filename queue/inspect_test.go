//go:build linux

package queue

import (
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/shmkit/shm"
	"github.com/shmkit/shm/internal/shmtest"
	"golang.org/x/sys/unix"
)

// TestDamagedQueueShownHealthy damages queues the ways a careless or
// hostile process can and checks that Stat, the entry point of every
// listing, refuses each exactly when Stat does, with the part at fault;
// objects that are not queues are told apart without being mapped.
func TestDamagedQueueShownHealthy(t *testing.T) {
	dir := shmtest.Tmpfs(t, "16m")
	const capacity = 64 << 10
	le := binary.LittleEndian
	newQueue := func(t *testing.T, opts ...Option) (string, string) {
		name := shmtest.Name(t, dir)
		q, err := Create(name, capacity, append(opts, Dir(dir))...)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range []string{"one", "two", "three"} {
			if err := q.Send(t.Context(), []byte(m)); err != nil {
				t.Fatal(err)
			}
		}
		if err := q.Detach(); err != nil {
			t.Fatal(err)
		}
		return name, filepath.Join(dir, name)
	}
	patch := func(t *testing.T, p string, off int64, b []byte) {
		f, err := os.OpenFile(p, os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if _, err := f.WriteAt(b, off); err != nil {
			t.Fatal(err)
		}
	}
	u64 := func(v uint64) []byte { return le.AppendUint64(nil, v) }
	u32 := func(v uint32) []byte { return le.AppendUint32(nil, v) }
	for _, c := range []struct {
		name   string
		multi  bool
		damage func(t *testing.T, p string)
		part   string // "" for a healthy queue
	}{
		{"healthy", false, func(*testing.T, string) {}, ""},
		{"healthy multi-producer", true, func(*testing.T, string) {}, ""},
		{"truncated to 4096", false, func(t *testing.T, p string) { os.Truncate(p, 4096) }, "size"},
		{"truncated to 8192", false, func(t *testing.T, p string) { os.Truncate(p, 8192) }, "size"},
		{"truncated to 69631", false, func(t *testing.T, p string) { os.Truncate(p, headerSize+capacity-1) }, "size"},
		{"truncated inside the header", false, func(t *testing.T, p string) { os.Truncate(p, 100) }, "size"},
		{"tail far beyond head", true, func(t *testing.T, p string) { patch(t, p, offTail, u64(1<<40)) }, "cursors"},
		{"tail misaligned", true, func(t *testing.T, p string) { patch(t, p, offTail, u64(13)) }, "cursors"},
		{"head misaligned", false, func(t *testing.T, p string) { patch(t, p, offHead, u64(3)) }, "cursors"},
		{"max message below the messages", false, func(t *testing.T, p string) { patch(t, p, offMaxMsg, u32(2)) }, "ring"},
		{"max message beyond capacity", false, func(t *testing.T, p string) { patch(t, p, offMaxMsg, u32(capacity)) }, "header"},
		{"capacity not a power of two", false, func(t *testing.T, p string) { patch(t, p, offCapacity, u64(capacity+8)) }, "header"},
		{"record length garbage", false, func(t *testing.T, p string) { patch(t, p, headerSize, u32(0xffff)) }, "ring"},
	} {
		t.Run(c.name, func(t *testing.T) {
			var opts []Option
			if c.multi {
				opts = append(opts, MultiProducer())
			}
			name, p := newQueue(t, opts...)
			c.damage(t, p)
			st, err := Stat(name, Dir(dir))
			_, statErr := statMapped(name, Dir(dir))
			if c.part == "" {
				if err != nil || statErr != nil || st.Messages != 3 || st.Capacity != capacity {
					t.Fatalf("Stat of a healthy queue: %+v, %v (statMapped: %v)", st, err, statErr)
				}
				return
			}
			if !errors.Is(err, ErrCorrupt) || Part(err) != c.part {
				t.Fatalf("Stat: %v (part %q); want ErrCorrupt in the %s", err, Part(err), c.part)
			}
			if statErr == nil {
				t.Errorf("statMapped accepts a queue that Stat finds corrupt")
			}
			var se *shm.Error
			if !errors.As(err, &se) || se.Op != "queue stat" || se.Name != name {
				t.Errorf("Stat's error %v does not name the queue", err)
			}
		})
	}

	// Objects that are not queues: ErrNotQueue, and a sparse one keeps its
	// holes (the header was read through the descriptor, not a mapping).
	data := shmtest.Name(t, dir)
	if err := os.WriteFile(filepath.Join(dir, data), []byte("plain data"), 0o600); err != nil {
		t.Fatal(err)
	}
	sparse := shmtest.Name(t, dir)
	if err := os.WriteFile(filepath.Join(dir, sparse), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(filepath.Join(dir, sparse), 1<<30); err != nil {
		t.Fatal(err)
	}
	sub := shmtest.Name(t, dir)
	if err := os.Mkdir(filepath.Join(dir, sub), 0o700); err != nil {
		t.Fatal(err)
	}
	link := shmtest.Name(t, dir)
	if err := os.Symlink(data, filepath.Join(dir, link)); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{data, sparse, sub, link} {
		if _, err := Stat(name, Dir(dir)); !errors.Is(err, ErrNotQueue) {
			t.Errorf("Stat(%s): %v, want ErrNotQueue", name, err)
		}
	}
	var st unix.Stat_t
	if err := unix.Stat(filepath.Join(dir, sparse), &st); err != nil || st.Blocks != 0 {
		t.Errorf("Stat allocated %d blocks of a sparse object (%v)", st.Blocks, err)
	}
	if _, err := Stat("missing", Dir(dir)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Stat of a missing name: %v", err)
	}
}

// TestStatBusy: Stat of a queue that a producer and a consumer keep
// moving, for both kinds of queue, is never taken for corrupt, although
// its cursors move between the loads.
func TestStatBusy(t *testing.T) {
	for _, mode := range bothModes {
		t.Run(mode.name, func(t *testing.T) {
			name, p, c := pair(t, 4096, mode.opts...)
			stop := make(chan struct{})
			var wg sync.WaitGroup
			wg.Add(2)
			go func() {
				defer wg.Done()
				msg := make([]byte, 40)
				for {
					select {
					case <-stop:
						return
					default:
					}
					if err := p.TrySend(msg); err != nil && !errors.Is(err, ErrFull) {
						t.Errorf("TrySend: %v", err)
						return
					}
				}
			}()
			go func() {
				defer wg.Done()
				var buf []byte
				for {
					select {
					case <-stop:
						return
					default:
					}
					var err error
					if buf, err = c.TryReceive(buf); err != nil && !errors.Is(err, ErrEmpty) {
						t.Errorf("TryReceive: %v", err)
						return
					}
				}
			}()
			defer func() { close(stop); wg.Wait() }()
			for i := range 5000 {
				if _, err := Stat(name); err != nil {
					t.Fatalf("Stat %d of a busy queue: %v", i, err)
				}
			}
		})
	}
}
