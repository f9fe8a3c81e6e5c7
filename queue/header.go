package queue

import (
	"errors"
	"fmt"

	"github.com/shmkit/shm/internal/objstat"
)

// readHeader reads the first headerSize bytes of the file at p (fewer if
// it is shorter) through its descriptor, without mapping it, and returns
// them with the file's size. Anything but a regular file is not a queue.
func readHeader(p string) ([]byte, int64, error) {
	f, err := objstat.Open(p)
	if errors.Is(err, objstat.ErrSymlink) || errors.Is(err, objstat.ErrNotRegular) {
		return nil, 0, fmt.Errorf("%w: %v", ErrNotQueue, err)
	}
	if err != nil {
		return nil, 0, err
	}
	defer f.Close()
	b, err := f.Read(0, headerSize)
	return b, f.Size, err
}
