//go:build !unix

package queue

import (
	"errors"
	"runtime"
)

// objectStat reports failure: queues need a Unix system (and work on Linux
// only), so no object is ever open here.
func objectStat(fd int) (size int64, id objectID, ok bool) { return 0, objectID{}, false }

// readHeader fails: queues work on Linux only.
func readHeader(p string) ([]byte, int64, error) {
	return nil, 0, errors.New("queues are not supported on " + runtime.GOOS)
}
