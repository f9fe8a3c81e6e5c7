// Package lock synchronises processes that share memory: a Mutex that
// survives the death of its owner, and a Seqlock with a typed Value on top
// (and a DoubleBuffer for large frames) for one writer and many readers.
// They live in a few bytes of any shared mapping, usually a region of a
// shm.Segment, and work between any processes that map it.
//
// All zero bytes are a valid initial state of each of them (an unlocked
// mutex, a value nobody stored), so there is nothing to initialise and
// only one way to get one: attach. MutexAt, SeqlockAt, ValueAt and
// DoubleBufferAt attach at an offset of a segment; MutexIn, SeqlockIn,
// ValueIn and DoubleBufferIn attach to raw bytes of a mapping made some
// other way. Neither writes to the shared bytes.
//
// # Mutex
//
// A Mutex occupies MutexSize (16) bytes at an offset aligned to MutexAlign
// (8). Zero bytes are an unlocked mutex, so a freshly created segment needs
// no initialisation:
//
//	seg, _, err := shm.OpenOrCreate("jobs", 4096)
//	mu, err := lock.MutexAt(seg, 0)
//	err = mu.Lock(ctx)
//	if errors.Is(err, lock.ErrOwnerDead) {
//		// repair the protected data, then:
//		err = mu.MarkConsistent()
//	}
//	...
//	err = mu.Unlock()
//
// The uncontended Lock and Unlock are one compare-and-swap each, with no
// syscall and no allocation; MutexAt makes one to take the owner token. A
// contended Lock spins briefly, then sleeps on a futex; Unlock makes the
// wake-up syscall only when someone sleeps.
//
// The owner is a process, identified by an owner token: a random number
// that the process holds as an open file description lock on the
// segment's file (taken once, by MutexAt, and shared by every Mutex
// attached through that segment), and that the acquiring compare-and-swap
// writes into the lock word together with the state, so the mutex is never
// locked by an unknown owner, even if the owner is killed in the middle of
// Lock. The kernel drops the lock when the owner dies, and any process
// that maps the file, in any PID namespace (containers sharing /dev/shm),
// can ask whether it is still held; no pid and no /proc is involved, so a
// reused pid never passes for a dead owner. The layout and every legal
// transition are described above the constants in mutex_linux.go.
//
// When the owner dies holding the mutex, exactly one later locker acquires
// it with ErrOwnerDead, within about 100 ms (sleepers re-check the owner's
// token at that interval; the contract is one second). It then
// holds the mutex and should repair what it protects and call
// MarkConsistent before Unlock. If it unlocks without doing so, the mutex
// becomes not recoverable: that Unlock, every waiter and every later Lock
// get ErrNotRecoverable, as with POSIX robust mutexes
// (pthread_mutexattr_setrobust), until someone calls Reset.
//
// # Seqlock and Value
//
// A Value[T] holds a T behind a sequence counter in ValueSize[T]() bytes at
// an 8-byte aligned offset (a 24-byte header, SeqlockHeader, then the T).
// One writer Stores; any number of readers, in any process and even on
// read-only mappings, Load snapshots without writing to shared memory and
// without ever delaying the writer: a reader that overlapped a Store
// retries. (Wait, below, writes one header word to advertise its sleep,
// except on a read-only mapping, where it looks every millisecond.) T must be fixed-size and free of pointers (no strings, slices,
// maps, interfaces, channels, functions or pointers, at any depth), and
// may not contain bool; ValueIn checks this with reflect and refuses
// anything else. Seqlock is the same mechanism for a plain byte payload.
// The header's layout is drawn in seqlock.go.
//
// # Waiting for a change, and orphaned values
//
// A reader that wants to learn of changes, not only read the value now,
// calls Wait with the
// Version of the last snapshot it has (LoadVersion gives one; 0 is the
// value nobody stored yet):
//
//	temp, err := lock.ValueAt[float64](seg, 0)
//	t, seen, err := temp.LoadVersion()
//	for {
//		t, seen, err = temp.Wait(ctx, seen)
//		switch {
//		case errors.Is(err, lock.ErrWriterClosed):     // the writer is done
//		case errors.Is(err, lock.ErrWriterDead): // orphaned: stays as last written
//		}
//		...
//	}
//
// Wait returns the newest snapshot as soon as its Version differs, and
// otherwise sleeps on a futex until a Store wakes it: no polling, and a
// Store makes the wake-up system call only when a reader advertised that
// it sleeps (otherwise it costs one extra load). A value is a latest
// value, not a queue: a reader that is slower than the writer skips the
// versions it did not see.
//
// The writer records its identity, the same owner token a Mutex owner has
// (an open file description lock held while its segment is open; see
// Mutex), when it first Stores. So a reader can tell a writer that is
// merely quiet from one that closed the value (Close: ErrWriterClosed from Wait,
// WriterClosed from Writer) and from one that died without closing it
// (ErrWriterDead, WriterDead: the value is orphaned). A waiting reader sees
// the death within one second (it checks the token every 100 ms while it
// sleeps), whatever PID namespace the writer ran in; the check costs a
// system call on the waiting path only, never in Load or Store. Readers
// ask through the segment's descriptor (ValueAt, SeqlockAt) or the one
// given with File (ValueIn, SeqlockIn); without one a writer records no
// identity (Writer reports NoWriter) and a reader cannot tell a death.
//
// # Large values
//
// A Store or Read copies the whole payload, 8 bytes at a time, with the
// memory order the seqlock needs (release stores, acquire loads: plain
// moves on amd64). BenchmarkValue1MiB measures a 1 MiB Write and Read at
// about the cost of a plain copy of 1 MiB into or out of the mapping (1.0x
// each on a loaded 2-CPU amd64 machine, to within the noise of the run;
// a sequentially consistent store per word would make the Write cost
// about 7.6 times the copy, and word-by-word atomic loads in Go the Read
// about 2.1 times); on other architectures each word is a Go atomic and
// costs more. What limits image-sized data is not the copy but the
// retries: a reader whose copy overlaps a Store copies again, so a writer
// that stores a new frame more often than a reader can copy one starves
// that reader (ErrBusy after ReadTimeout).
//
// DoubleBuffer serves image-sized frames: two slots behind a front index,
// so that the writer writes the next frame in the back slot, in place if
// it likes (Loan, fill, Publish: no copy on the writer's side), while
// readers copy the front one; a reader's copy is lost only when the writer
// publishes a frame and begins the next during it. Its Write and Read of
// 1 MiB cost about what the Seqlock's do (BenchmarkValue1MiB: 1.0x to
// 1.3x the plain copy in the same run). It waits, closes and reports its
// writer as a Value does. For a stream where each reader must get every
// frame, or read frames in place without copying, use a queue (package
// queue: one record per frame, read in place with Peek) instead; a Value or
// DoubleBuffer holds the latest state, and a slow reader skips frames.
//
// # Caveats
//
//   - Everything in shared memory is untrusted. A lock word no correct
//     process writes gives ErrCorrupt; a wake word with garbage only causes
//     spurious wake-ups. No call panics or waits without bound because of
//     what it reads, except that Lock on a mutex held by a live process
//     waits as long as its ctx allows.
//   - The owner token lives as long as the descriptor it is held on: the
//     segment's for MutexAt, the one given with File for MutexIn, which
//     refuses to make a mutex without it (shm.ErrInvalid). Closing that
//     descriptor while holding the mutex counts as the owner's death for
//     the other processes. A kernel without open file description locks
//     (Linux before 3.15) is refused with errors.ErrUnsupported.
//   - Anyone who can open the file for writing can lock its bytes, so a
//     hostile process can make a dead owner look alive: its mutex is then
//     never taken over, and lockers wait until their contexts end (a denial
//     of service; such a process can write the lock word anyway). A process
//     that forks without exec shares its descriptors, and so its token,
//     with the child until both have closed them.
//   - A Mutex is not reentrant, and it is held by a process: any goroutine
//     of the owning process may unlock it; another process gets ErrNotOwner.
//   - Lock takes a free mutex even when ctx is already done: ctx bounds only
//     the wait.
//   - Only one Store may run at a time. A writer that dies mid-Store leaves
//     readers failing with ErrBusy (after ReadTimeout) until the next Store,
//     which repairs the sequence; Wait reports it as ErrWriterDead.
//   - Several processes may write a value in turn (serialised, by a Mutex
//     for instance): the writer word names the last one, so its death
//     orphans the value even if an earlier writer lives. Close is refused
//     (ErrNotWriter) while another live process wrote last.
//   - The writer's token is held as long as its segment is open: closing
//     the segment, or exiting without Close, counts as death for readers.
//     Close before exiting tells readers the end was intended.
//   - The race detector cannot see the ordering given by atomics on mapped
//     memory (golang/go#16206); race builds annotate Mutex acquisitions and
//     releases for it.
//   - A Mutex, Seqlock or Value must not be used after the mapping it lives
//     in is closed, and only works between processes through a shared
//     mapping: in a Private (copy-on-write) mapping each process has its own.
//   - MutexAt refuses a ReadOnly segment; a Seqlock or Value from one reads
//     but refuses to write (Seqlock.Write returns shm.ErrReadOnly,
//     Value.Store panics). MutexIn, SeqlockIn and ValueIn take raw bytes
//     and cannot tell: writing to a read-only mapping faults. MutexIn
//     needs the mapped file's descriptor (option File).
//   - A Mutex, Seqlock or Value works in place on the mapping, as a
//     pthread_mutex_t in shared memory does, and keeps its semantics: if
//     another process truncates the object so that the page holding its
//     words is gone, the next access faults with SIGBUS, which kills the
//     process unless the goroutine set runtime/debug.SetPanicOnFault(true)
//     and recovers (package queue does that for you; lock does not). A
//     truncation to a size inside that page zeroes the rest of the page:
//     the words read as zero (an unlocked mutex), with no fault.
package lock
