//go:build linux

package queue

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/shmkit/shm"
	"github.com/shmkit/shm/internal/shmtest"
)

// TestRoleByteReadLocked: a process with read access that holds a read
// lock on a role's byte keeps the role from being claimed (docs/
// SECURITY.md); the error says so, not that another process is taking the
// role, and the role is claimed once the lock goes.
func TestRoleByteReadLocked(t *testing.T) {
	name := shmtest.Name(t, "")
	q, err := Create(name, 4096)
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	ro, err := os.Open(filepath.Join(shm.DefaultDir, name))
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	for _, off := range []int64{offConsumer, offProducers} {
		lk := unix.Flock_t{Type: unix.F_RDLCK, Start: off, Len: 1}
		if err := unix.FcntlFlock(ro.Fd(), unix.F_OFD_SETLK, &lk); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		role string
		call func() error
	}{
		{"producer", func() error { return q.TrySend([]byte("x")) }},
		{"consumer", func() error { _, err := q.TryReceive(nil); return err }},
	} {
		err := tc.call()
		want := "holds a read lock on the " + tc.role + " role's byte"
		if !errors.Is(err, ErrBusy) || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "at this moment") {
			t.Errorf("%s under a reader's read lock: %v; want ErrBusy saying it %s", tc.role, err, want)
		}
	}
	ro.Close() // the locks go with the description
	if err := q.TrySend([]byte("x")); err != nil {
		t.Fatalf("TrySend after the read lock went: %v", err)
	}
	if m, err := q.TryReceive(nil); err != nil || string(m) != "x" {
		t.Fatalf("TryReceive after the read lock went: %q, %v", m, err)
	}
}
