package lock

import "time"

// An Option changes how NewMutex, MutexAt, NewSeqlock and NewValue set up a
// lock. Options that do not apply to a constructor are ignored by it.
type Option func(*config)

type config struct {
	name        string
	readTimeout time.Duration
}

// DefaultReadTimeout bounds how long a seqlock read retries while a write is
// in progress before it gives up with ErrBusy.
const DefaultReadTimeout = time.Second

func newConfig(opts []Option) config {
	c := config{name: "anonymous", readTimeout: DefaultReadTimeout}
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
