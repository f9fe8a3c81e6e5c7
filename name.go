package shm

import (
	"fmt"
	"path/filepath"
	"strings"
)

// MaxNameLen is the longest name, in bytes after leading slashes are
// stripped, that shm_open accepts: a file name on Linux is at most 255 bytes.
const MaxNameLen = 255

// DefaultDir is where POSIX shared memory lives on Linux, and where glibc's
// shm_open and Python's multiprocessing.shared_memory put their objects.
const DefaultDir = "/dev/shm"

// CleanName returns name as glibc's shm_open understands it, without its
// leading slashes ("/jobs" and "jobs" both give "jobs"), or an error wrapping
// ErrInvalidName that says which rule the name breaks. Unlike glibc, it
// refuses "." and "..", which would name the directory or its parent.
func CleanName(name string) (string, error) {
	n := strings.TrimLeft(name, "/")
	switch {
	case n == "":
		return "", fmt.Errorf("%w: empty (a name needs 1 to %d bytes after its leading slashes)", ErrInvalidName, MaxNameLen)
	case len(n) > MaxNameLen:
		return "", fmt.Errorf("%w: %d bytes long, more than %d", ErrInvalidName, len(n), MaxNameLen)
	case strings.IndexByte(n, 0) >= 0:
		return "", fmt.Errorf("%w: contains a NUL byte", ErrInvalidName)
	case strings.IndexByte(n, '/') >= 0:
		return "", fmt.Errorf("%w: contains '/' after the leading slashes", ErrInvalidName)
	case n == "." || n == "..":
		return "", fmt.Errorf("%w: %q names a directory, not an object", ErrInvalidName, n)
	}
	return n, nil
}

// Path returns the file that holds the named object in dir ("" means
// DefaultDir), or an error if the name is invalid.
func Path(dir, name string) (string, error) {
	n, err := CleanName(name)
	if err != nil {
		return "", err
	}
	if dir == "" {
		dir = DefaultDir
	}
	return filepath.Join(dir, n), nil
}
