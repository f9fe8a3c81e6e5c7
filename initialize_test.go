//go:build linux

package shm_test

import (
	"errors"
	"io/fs"
	"testing"

	"github.com/shmkit/shm"
	"github.com/shmkit/shm/internal/shmtest"
)

// TestInitialize: the initializer sees the whole new mapping, zeroed, before
// the object has its name; what it writes is there when Create returns; an
// error from it creates nothing.
func TestInitialize(t *testing.T) {
	name := shmtest.Name(t, "")
	seg, err := shm.Create(name, 8192, shm.Initialize(func(b []byte) error {
		if len(b) != 8192 || b[0] != 0 || b[8191] != 0 {
			t.Errorf("initializer got %d bytes, first %d last %d", len(b), b[0], b[len(b)-1])
		}
		if _, err := shm.Stat(name); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("the object has its name before it is initialized: %v", err)
		}
		copy(b, "header")
		return nil
	}))
	if err != nil {
		t.Fatal(err)
	}
	defer seg.Close()
	if got := string(seg.Bytes()[:6]); got != "header" {
		t.Errorf("after Create: %q", got)
	}

	bad := errors.New("no good")
	other := shmtest.Name(t, "")
	if _, err := shm.Create(other, 4096, shm.Initialize(func([]byte) error { return bad })); !errors.Is(err, bad) {
		t.Errorf("Create with a failing initializer: %v", err)
	}
	if _, err := shm.Stat(other); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a failed initializer left the object: %v", err)
	}
}
