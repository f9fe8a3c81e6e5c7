// Package sem provides counting semaphores in shared memory that are
// glibc's own: a C program's sem_post wakes a Go Wait, and Post wakes a C
// sem_wait, on the same semaphore.
//
// A named semaphore is the file /dev/shm/sem.NAME that glibc's sem_open
// uses, of exactly Size (32) bytes:
//
//	s, _, err := sem.OpenOrCreate("jobs", 0) // sem_open("/jobs", O_CREAT, 0600, 0)
//	...
//	err = s.Post()                           // sem_post
//	err = s.Wait(ctx)                        // sem_wait, cancellable
//	err = s.WaitTimeout(time.Second)         // sem_timedwait
//	ok, err := s.TryWait()                   // sem_trywait
//	n, err := s.Value()                      // sem_getvalue
//	err = s.Close()                          // sem_close
//	err = sem.Unlink("jobs")                 // sem_unlink
//
// The three ways to get one are the module's usual constructors, each one
// of sem_open's flag sets: Create(name, value) is O_CREAT|O_EXCL (an
// existing semaphore is an error), Open(name) is no flag (a missing one is
// an error) and OpenOrCreate(name, value) is O_CREAT, and says whether it
// created.
//
// An unnamed semaphore lives inside any shared-memory segment at an offset
// that is a multiple of Align: Init makes one there (sem_init with pshared
// 1) and At attaches to an existing one, so a C process that maps the same
// segment can sem_post and sem_wait it.
//
// # Protocol
//
// The 32 bytes hold a 64-bit data word, whose low half is the value (the
// number of tokens) and whose high half counts registered waiters, and
// glibc's private flag (128 for a process-shared semaphore). Post adds a
// token with a compare-and-swap and makes a FUTEX_WAKE system call only if
// the waiter count was not zero; TryWait takes a token with a
// compare-and-swap. A Wait that finds no token adds itself to the waiter
// count, then sleeps with FUTEX_WAIT on the value word while it is 0, and
// takes a token and its registration off together when one appears. A wait
// that gives up (timeout, cancellation, Close) takes its registration off
// and, if a token is there and others wait, passes on the wake-up it may
// have consumed. The futex operations are the shared ones, keyed on the
// memory rather than the process. The layout constants in this package
// describe the words bit by bit.
//
// # Caveats
//
// Everything in the semaphore comes from other processes and is not
// trusted: a value above ValueMax or an impossible waiter count is reported
// as ErrCorrupt by the call that meets it, never a hang or a panic. A
// process killed while waiting stays in the waiter count, which costs later
// posts a needless wake-up system call and nothing else (glibc behaves the
// same). A process killed between a post's two steps (the token added, the
// wake-up not yet made) leaves its token unannounced; glibc's sem_wait then
// sleeps until the next post, but Wait and WaitTimeout never sleep more
// than 100 ms at a time and find the token on their next look. A process
// that truncates a named semaphore's file to 0 bytes (or an unnamed one's
// segment below the page that holds it) takes the page away: C users of
// sem_t die of SIGBUS, but Post, TryWait, Wait, WaitTimeout, Value and
// Waiters (and Init and At) recover the fault and return an error wrapping
// shm.ErrFault, also from the middle of a wait (see fault.go; race builds
// excepted). Truncated to a size inside that page, the rest of the page
// reads as zeros: a wrong value, not a fault.
//
// A Semaphore is valid until Close (named) or until its segment is closed
// or resized (unnamed). Close wakes and ends this handle's blocked Wait
// calls, but must not race with Post, TryWait or Value on the same handle.
//
// The race detector cannot see the ordering given by atomics on mapped
// memory (golang/go#16206); race builds annotate each post and each token
// taken for it, per semaphore address in this process.
//
// Post and TryWait neither allocate nor make a system call unless a waiter
// sleeps.
package sem
