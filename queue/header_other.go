//go:build !unix

package queue

import (
	"errors"
	"runtime"
)

// readHeader fails: queues work on Linux only.
func readHeader(p string) ([]byte, int64, error) {
	return nil, 0, errors.New("queues are not supported on " + runtime.GOOS)
}
