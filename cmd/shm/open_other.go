//go:build !unix

package main

import (
	"errors"
	"os"
	"runtime"
)

// openNoFollow fails: objects live on Unix systems only.
func openNoFollow(path string) (*os.File, error) {
	return nil, errors.New("not supported on " + runtime.GOOS)
}
