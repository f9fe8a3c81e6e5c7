package sem

import (
	"io/fs"

	"github.com/shmkit/shm"
)

// An Option changes how Create, Open, OpenOrCreate, Stat and Unlink work.
// Options that mean nothing to a call are ignored by it.
type Option func(*config)

type config struct {
	create    bool
	initial   uint32
	exclusive bool
	mode      fs.FileMode
	dir       string
}

func newConfig(opts []Option) config {
	c := config{mode: shm.DefaultMode, dir: shm.DefaultDir}
	for _, o := range opts {
		if o != nil {
			o(&c)
		}
	}
	if c.dir == "" {
		c.dir = shm.DefaultDir
	}
	return c
}

// Mode sets the permission bits of a semaphore that Create or OpenOrCreate
// makes (default
// shm.DefaultMode, 0600). Unlike sem_open, the umask does not change them:
// they are set exactly with fchmod before the semaphore gets its name.
func Mode(perm fs.FileMode) Option { return func(c *config) { c.mode = perm } }

// Dir keeps the semaphore files in another directory than /dev/shm. glibc
// always uses /dev/shm; this is for tests and other tmpfs mounts.
func Dir(path string) Option { return func(c *config) { c.dir = path } }
