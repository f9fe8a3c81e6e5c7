package lock

import "time"

// An Option changes how MutexIn, MutexAt, SeqlockIn and ValueIn set up a
// lock. Options that do not apply to a constructor are ignored by it.
type Option func(*config)

type config struct {
	name        string
	readTimeout time.Duration
	fd          int
}

// DefaultReadTimeout bounds how long a seqlock read retries while a write is
// in progress before it gives up with ErrBusy.
const DefaultReadTimeout = time.Second

func newConfig(opts []Option) config {
	c := config{name: "anonymous", readTimeout: DefaultReadTimeout, fd: -1}
	for _, o := range opts {
		if o != nil {
			o(&c)
		}
	}
	return c
}

// Name sets the name that errors carry ("shm mutex lock NAME: ..."). MutexAt
// and the other At constructors default to SEGMENT+OFFSET, the others to
// "anonymous".
func Name(name string) Option { return func(c *config) { c.name = name } }

// ReadTimeout sets how long a seqlock read retries while a write is in
// progress (default DefaultReadTimeout) before it returns ErrBusy. A value
// of 0 or less makes a single attempt.
func ReadTimeout(d time.Duration) Option { return func(c *config) { c.readTimeout = d } }

// File gives MutexIn the descriptor of the file its bytes are mapped
// from, open for writing (for an *os.File f: int(f.Fd())). The mutex's
// owner token is an open file description lock on that file, held for as
// long as the descriptor is open: closing it counts as the owner's death
// for other processes, so it must stay open while the Mutex is used.
// MutexAt needs no File: it uses the segment's descriptor.
func File(fd int) Option { return func(c *config) { c.fd = fd } }
