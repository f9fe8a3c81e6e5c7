package lock

// The Mutex's layout is described in mutex_linux.go.
const (
	// MutexSize is the number of bytes a Mutex occupies.
	MutexSize = 16
	// MutexAlign is the alignment a Mutex's offset (and address) must have.
	MutexAlign = 8
)
