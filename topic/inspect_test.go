//go:build linux

package topic

import (
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/shmkit/shm"
	"github.com/shmkit/shm/internal/shmtest"
	"golang.org/x/sys/unix"
)

// TestStatDamaged damages topics the ways a careless or hostile process
// can and checks that Stat, the entry point of every listing, refuses
// each exactly when Stat does, with the part at fault; objects that are
// not topics are told apart without being mapped.
func TestStatDamaged(t *testing.T) {
	dir := shmtest.Tmpfs(t, "16m")
	const capacity = 64 << 10
	le := binary.LittleEndian
	newTopic := func(t *testing.T, subs int, opts ...Option) (string, string) {
		name := shmtest.Name(t, dir)
		tp, err := Create(name, capacity, append(opts, Dir(dir), Subscribers(subs))...)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range []string{"one", "two", "three"} {
			if err := tp.Publish(t.Context(), []byte(m)); err != nil {
				t.Fatal(err)
			}
		}
		if err := tp.Detach(); err != nil {
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
	truncate := func(size int64) func(*testing.T, string) {
		return func(t *testing.T, p string) {
			if err := os.Truncate(p, size); err != nil {
				t.Fatal(err)
			}
		}
	}
	u64 := func(v uint64) []byte { return le.AppendUint64(nil, v) }
	u32 := func(v uint32) []byte { return le.AppendUint32(nil, v) }
	// Three records of 32 bytes: tail is 96, its end marker at ring offset 96.
	const header, tail = 4096, 96
	for _, c := range []struct {
		name      string
		subs      int
		overwrite bool
		damage    func(t *testing.T, p string)
		part      string // "" for a healthy topic
	}{
		{"healthy", 4, false, func(*testing.T, string) {}, ""},
		{"healthy overwrite", 4, true, func(*testing.T, string) {}, ""},
		{"healthy, table past the first page", 200, false, func(*testing.T, string) {}, ""},
		{"table cut short", 200, false, truncate(8192), PartSize},
		{"truncated to 4096", 4, false, truncate(4096), PartSize},
		{"truncated to 69631", 4, false, truncate(header + capacity - 1), PartSize},
		{"truncated inside the header", 4, false, truncate(100), PartSize},
		{"unknown flags", 4, false, func(t *testing.T, p string) { patch(t, p, offFlags, u32(6)) }, PartHeader},
		{"capacity not a power of two", 4, false, func(t *testing.T, p string) { patch(t, p, offCapacity, u64(capacity+16)) }, PartHeader},
		{"max message beyond capacity", 4, false, func(t *testing.T, p string) { patch(t, p, offMaxMsg, u32(capacity)) }, PartHeader},
		{"no subscriber entries", 4, true, func(t *testing.T, p string) { patch(t, p, offSubscribers, u32(0)) }, PartHeader},
		{"history beyond the ring", 4, false, func(t *testing.T, p string) { patch(t, p, offHistory, u32(1<<30)) }, PartHeader},
		{"tail misaligned", 4, false, func(t *testing.T, p string) { patch(t, p, offTail, u64(13)) }, PartCursors},
		{"tail far beyond oldest", 4, true, func(t *testing.T, p string) { patch(t, p, offTail, u64(1<<40)) }, PartCursors},
		{"oldest past tail", 4, false, func(t *testing.T, p string) { patch(t, p, offOldest, u64(tail+16)) }, PartCursors},
		{"end marker's sequence garbage", 4, false, func(t *testing.T, p string) { patch(t, p, header+tail, u64(1<<50)) }, PartRing},
	} {
		t.Run(c.name, func(t *testing.T) {
			var opts []Option
			if c.overwrite {
				opts = append(opts, Overwrite())
			}
			name, p := newTopic(t, c.subs, opts...)
			c.damage(t, p)
			st, err := Stat(name, Dir(dir))
			_, statErr := statMapped(name, Dir(dir))
			if c.part == "" {
				if err != nil || statErr != nil || st.Published != 3 || st.Kept != 3 || st.Capacity != capacity || st.MaxSubscribers != c.subs || st.Overwrite != c.overwrite {
					t.Fatalf("Stat of a healthy topic: %+v, %v (statMapped: %v)", st, err, statErr)
				}
				return
			}
			if !errors.Is(err, ErrCorrupt) || Part(err) != c.part {
				t.Fatalf("Stat: %v (part %q); want ErrCorrupt in the %s", err, Part(err), c.part)
			}
			if statErr == nil {
				t.Errorf("statMapped accepts a topic that Stat finds corrupt")
			}
			var se *shm.Error
			if !errors.As(err, &se) || se.Op != "topic stat" || se.Name != name {
				t.Errorf("Stat's error %v does not name the topic", err)
			}
		})
	}

	t.Run("another layout version", func(t *testing.T) {
		name, p := newTopic(t, 4)
		patch(t, p, offVersion, u32(layoutVersion+1))
		if _, err := Stat(name, Dir(dir)); !errors.Is(err, ErrVersion) || Part(err) != "" {
			t.Errorf("Stat: %v (part %q); want ErrVersion", err, Part(err))
		}
	})

	t.Run("live participants", func(t *testing.T) {
		name, _ := newTopic(t, 4)
		pub, err := Open(name, Dir(dir))
		if err != nil {
			t.Fatal(err)
		}
		defer pub.Close()
		if err := pub.Publish(t.Context(), []byte("four")); err != nil {
			t.Fatal(err)
		}
		sub, err := Open(name, Dir(dir))
		if err != nil {
			t.Fatal(err)
		}
		defer sub.Close()
		if err := sub.Subscribe(); err != nil {
			t.Fatal(err)
		}
		for _, m := range []string{"five", "six"} {
			if err := pub.Publish(t.Context(), []byte(m)); err != nil {
				t.Fatal(err)
			}
		}
		st, err := Stat(name, Dir(dir))
		if err != nil || st.Publisher == nil || !st.Publisher.Alive || st.Publisher.PID != os.Getpid() ||
			len(st.Subscribers) != 1 || !st.Subscribers[0].Alive || st.Subscribers[0].Lag != 6 || st.Published != 6 {
			// It joined while the ring held the topic's first message,
			// so it starts with that one.
			t.Fatalf("Stat: %+v, %v; want a live publisher and one live subscriber 6 behind", st, err)
		}
		if f := st.Fill(); f != 192.0/capacity {
			t.Errorf("Fill = %v; want the subscriber's 6 records of 32 bytes over %d", f, capacity)
		}
	})

	// Objects that are not topics: ErrNotTopic, and a sparse one keeps its
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
		if _, err := Stat(name, Dir(dir)); !errors.Is(err, ErrNotTopic) {
			t.Errorf("Stat(%s): %v, want ErrNotTopic", name, err)
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

// TestStatBusy: Stat of a topic whose publisher never stops writing over
// a small ring (overwrite: it never waits) is never taken for corrupt,
// although its cursors move between the loads.
func TestStatBusy(t *testing.T) {
	name, pub := newTopic(t, 1024, Overwrite())
	stop := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		msg := make([]byte, 40)
		for {
			select {
			case <-stop:
				done <- nil
				return
			default:
			}
			if err := pub.Publish(ctxT(t), msg); err != nil {
				done <- err
				return
			}
		}
	}()
	defer func() {
		close(stop)
		if err := <-done; err != nil {
			t.Errorf("Publish: %v", err)
		}
	}()
	for i := range 5000 {
		if _, err := Stat(name); err != nil {
			t.Fatalf("Stat %d of a busy topic: %v", i, err)
		}
	}
}
