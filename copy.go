package shm

import "github.com/shmkit/shm/internal/mem"

// Copy copies min(len(dst), len(src)) bytes from src to dst and returns
// how many, as the built-in copy does, but the way this module's queues and
// topics copy messages into and out of their rings: with REP MOVSB for
// blocks of 32 KiB or more on AMD CPUs of family 0x1A (Zen 5) and later,
// and with Go's copy elsewhere. Go's copy moves large blocks with a vector
// loop there, which writes into memory that another CPU reads several
// times slower than the string instruction when the two CPUs share no
// cache. Use it to fill a large reservation (queue or topic Reserve) from a
// buffer, or to write a large block into a segment another process reads.
func Copy(dst, src []byte) int { return mem.Copy(dst, src) }
