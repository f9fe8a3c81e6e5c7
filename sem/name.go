package sem

import (
	"fmt"
	"path/filepath"

	"github.com/shmkit/shm"
)

// FileName returns the file name glibc gives the named semaphore in its
// directory ("sem.jobs" for "/jobs"), or an error for an invalid name.
func FileName(name string) (string, error) {
	n, err := shm.CleanName(name)
	if err != nil {
		return "", err
	}
	f := shm.SemaphorePrefix + n
	if len(f) > shm.MaxNameLen {
		return "", fmt.Errorf("%w: %q is %d bytes long, more than %d (a semaphore's file name is %q plus the name)", shm.ErrInvalidName, f, len(f), shm.MaxNameLen, shm.SemaphorePrefix)
	}
	return f, nil
}

func semPath(dir, name string) (string, error) {
	f, err := FileName(name)
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, f), nil
}

// State is a snapshot of a semaphore, as Stat reads it.
type State struct {
	Value   int `json:"value"`   // tokens available
	Waiters int `json:"waiters"` // registered waiters, an upper bound
}
