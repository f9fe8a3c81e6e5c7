package lock

import (
	"errors"
	"runtime"
	"testing"

	"github.com/shmkit/shm"
	"github.com/shmkit/shm/internal/shmtest"
)

// TestLockOnClosedSegment: MutexAt, SeqlockAt and ValueAt on a closed
// segment say it is closed, and on a nil one that there is no segment,
// instead of a size complaint about its empty mapping or a panic.
func TestLockOnClosedSegment(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("MutexAt is Linux only")
	}
	name := shmtest.Name(t, "")
	seg, err := shm.Create(name, 4096)
	if err != nil {
		t.Fatal(err)
	}
	seg.Close()
	defer shm.Unlink(name)
	opens := []struct {
		op   string
		open func(*shm.Segment) error
	}{
		{"mutex open", func(s *shm.Segment) error { _, err := MutexAt(s, 0); return err }},
		{"seqlock open", func(s *shm.Segment) error { _, err := SeqlockAt(s, 0, 8); return err }},
		{"value open", func(s *shm.Segment) error { _, err := ValueAt[int64](s, 0); return err }},
	}
	for _, o := range opens {
		t.Run(o.op, func(t *testing.T) {
			err := o.open(seg)
			if want := "shm " + o.op + " " + name + "+0: handle is closed"; !errors.Is(err, shm.ErrClosed) || err.Error() != want {
				t.Errorf("on a closed segment: %v, want %q", err, want)
			}
			err = o.open(nil)
			if want := "shm " + o.op + " +0: invalid argument: nil segment"; !errors.Is(err, shm.ErrInvalid) || err.Error() != want {
				t.Errorf("on a nil segment: %v, want %q", err, want)
			}
		})
	}
}
