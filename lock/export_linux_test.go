package lock

import (
	"fmt"
	"testing"

	"github.com/shmkit/shm/internal/live"
)

// PlayNoOFDLocks makes the package see a kernel without open file
// description locks until t ends.
func PlayNoOFDLocks(t testing.TB) {
	saved := holdToken
	t.Cleanup(func() { holdToken = saved })
	holdToken = func(int) (uint64, error) {
		return 0, fmt.Errorf("%w: fcntl: invalid argument", live.ErrUnsupported)
	}
}
