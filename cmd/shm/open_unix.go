//go:build unix

package main

import (
	"os"
	"syscall"
)

// openNoFollow opens path read-only for a kind probe: never through a
// symbolic link, and without waiting on a FIFO planted under the name.
func openNoFollow(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
}
