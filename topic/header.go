package topic

import (
	"errors"
	"fmt"

	"github.com/shmkit/shm/internal/objstat"
)

// readHeader reads the header of the file at p through its descriptor,
// without mapping it: the first page, and when that page holds a topic
// header whose subscriber table goes on past it, the rest of the table
// (fewer bytes if the file is shorter). It returns the bytes with the
// file's size. Anything but a regular file is not a topic.
func readHeader(p string) ([]byte, int64, error) {
	f, err := objstat.Open(p)
	if errors.Is(err, objstat.ErrSymlink) || errors.Is(err, objstat.ErrNotRegular) {
		return nil, 0, fmt.Errorf("%w: %v", ErrNotTopic, err)
	}
	if err != nil {
		return nil, 0, err
	}
	defer f.Close()
	b, err := f.Read(0, minHeader)
	if err != nil {
		return nil, 0, err
	}
	if g, err := parseHeader(b, -1); err == nil && g.header > len(b) {
		rest, err := f.Read(int64(len(b)), int64(g.header-len(b)))
		if err != nil {
			return nil, 0, err
		}
		b = append(b, rest...)
	}
	return b, f.Size, nil
}
