//go:build !unix

package topic

import (
	"errors"
	"runtime"
)

// readHeader fails: topics work on Unix systems only.
func readHeader(p string) ([]byte, int64, error) {
	return nil, 0, errors.New("topics are not supported on " + runtime.GOOS)
}
