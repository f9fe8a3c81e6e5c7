//go:build linux

package sem

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shmkit/shm"
	"github.com/shmkit/shm/internal/racehint"
)

// TestTruncatedSemaphore: a named semaphore's file truncated to 0 bytes by
// another process, while a Wait sleeps on it and afterwards, gives every
// call an error wrapping shm.ErrFault instead of a SIGBUS that kills the
// process.
func TestTruncatedSemaphore(t *testing.T) {
	if racehint.Enabled {
		t.Skip("under -race an atomic on a truncated page faults in C, where it cannot be recovered (see fault.go)")
	}
	dir := t.TempDir()
	s, _, err := OpenOrCreate("cut", 0, Dir(dir))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	errc := make(chan error, 1)
	go func() { errc <- s.Wait(ctx) }()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
		if n, _ := s.Waiters(); n == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the wait never registered")
		}
	}
	if err := os.Truncate(filepath.Join(dir, shm.SemaphorePrefix+"cut"), 0); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-errc:
		if !errors.Is(err, shm.ErrFault) {
			t.Errorf("Wait on a truncated semaphore: %v, want ErrFault", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Wait still sleeping 5 s after the truncation")
	}
	for _, tc := range []struct {
		op   string
		call func() error
	}{
		{"sem post", s.Post},
		{"sem trywait", func() error { _, err := s.TryWait(); return err }},
		{"sem wait", func() error { return s.WaitTimeout(time.Millisecond) }},
		{"sem value", func() error { _, err := s.Value(); return err }},
		{"sem waiters", func() error { _, err := s.Waiters(); return err }},
	} {
		err := tc.call()
		var se *shm.Error
		if !errors.Is(err, shm.ErrFault) || !errors.As(err, &se) || se.Op != tc.op || se.Name != "cut" ||
			!strings.Contains(err.Error(), "truncated to 0 bytes") || strings.Contains(err.Error(), "0x") {
			t.Errorf("%s on a truncated semaphore: %v, want a %q error for \"cut\" wrapping ErrFault that says it was truncated to 0 bytes, without an address", tc.op, err, tc.op)
		}
	}
	if err := s.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
}
