// Package queue moves messages between processes through a named POSIX
// shared-memory segment: a ring of length-prefixed records with one
// consumer and either one producer (the default) or many (MultiProducer).
//
// # Model
//
// A queue is its own segment (package shm): a one-page header holding the
// magic, layout version, sizes, the write and read cursors on separate cache
// lines, two futex words and the identities (pid and start time) of the
// consumer and the producers, followed by the ring. The layout is described
// once, in layout.go.
//
//	q, err := queue.Create("jobs", 0)            // or queue.Open("jobs")
//	defer q.Close()
//	err = q.Send(ctx, []byte("hello"))          // producer side
//	msg, err := q.Receive(ctx, buf)             // consumer side, buf reused
//
// A handle becomes the producer with its first Send and the consumer with
// its first Receive. Send and Receive copy; Reserve → write → Commit and
// Peek → read → Release work in place in the ring. SendBatch publishes many
// messages with one header store, and ReceiveBatch takes every message that
// is ready (up to its slice's length) in one call. TrySend and TryReceive
// never wait.
//
// The single producer commits each message by storing its header over the
// ring's end marker (a zero word), so the consumer reads headers and never
// the write cursor; SendBatch commits a whole batch with one such store.
// The consumer publishes its read cursor lazily: when it has caught up,
// every quarter of the ring, and at once when a producer that has waited
// for room a few microseconds asks for it. Each publish is one release
// store (a plain MOVQ on amd64, which does not wait for the store buffer to
// drain; see "Memory order" below), and batches still pay: one header
// store per batch. With
// several producers, a producer takes a short lock to reserve space and
// write the record's header as pending, writes the payload outside the lock
// and commits by flipping the record's state; the consumer takes records in
// ring order and waits on a pending one. SendBatch reserves a run of up to
// 64 records under one hold of the lock.
//
// Waiting follows the WaitStrategy: by default a waiter spins for
// DefaultSpin and then sleeps on a futex word; the other side makes the wake
// syscall only when that word says someone sleeps. Neither Send nor Receive
// allocates or makes a syscall while the queue is neither full nor empty.
//
// # Sizing the ring
//
// A stream's speed depends on the ring's capacity as much as on the calls:
// give a queue at least 16 times its largest message and at least 4 MiB.
// Create with capacity 0 does (RecommendedCapacity), and so does "shm queue
// create" without --capacity. On the 2-core AMD EPYC VM of
// docs/BENCHMARKS.md (1 MiB of L2 per core, 32 MiB of shared L3), rings of
// 256 KiB and 1 MiB were the two slowest for nearly every message size and
// transport, in Go and in C: this queue's 64 KiB stream moved 2.7 and 5.6
// GB/s through them against 11.3 GB/s through 4 MiB, its 64 B stream 18
// and 22 M/s against 29 M/s. Past 4 MiB the rates rose for some rows and
// fell for others, within that VM's swings.
//
// The likely reason is where the consumer finds the lines it reads. A ring
// that fits in the producer's own cache stays there: every line the
// consumer reads is one the producer has just written and still holds, so
// each read waits for a transfer out of the other core's cache, and the
// producer's next write to that line waits for the consumer's copy to be
// invalidated. A ring several times larger than that cache is written
// through to the shared L3 by the time the consumer comes to it. The
// step in the measurements sits where the ring outgrows a core's L2; the
// VM has no cache counters to show the transfers themselves.
//
// # Choosing calls for speed
//
// Measured figures, with the commands that produced them, are in
// docs/BENCHMARKS.md; in short:
//
//   - Small messages one at a time (Send, Receive) cost a few tens of
//     nanoseconds each; SendBatch and ReceiveBatch take about half of that
//     per message, because the cursors are published once per batch.
//   - Large messages cost their copy: Reserve/Commit and Peek/Release write
//     and read in place instead.
//   - With several producers every Send takes the reserve lock, a full
//     barrier; SendBatch takes it once per run of up to 64 messages.
//   - Spin gives the lowest latency and keeps a CPU busy while it waits;
//     SpinThenSleep (the default) is as fast while messages keep coming and
//     sleeps when they stop; Block sleeps as soon as it has to wait, and
//     so pays a wake-up, tens of microseconds, whenever it does.
//   - NoFaultGuard saves a few nanoseconds per call, for writers you trust
//     (see Caveats); more in a stream of small messages sent one at a
//     time where cache-line transfers are slow (a third of the time per
//     message on one AMD VM), none to speak of per message in a batch.
//
// # Memory order
//
// Commits, head publications, a multi-producer's tail and its reserve
// lock's release are release stores (internal/mem.StoreRelease64, one MOVQ
// on amd64) rather than Go's sequentially consistent atomic stores (an XCHG,
// a full barrier that stalls the writer until the cache line arrives): a
// record's reader needs only that the payload is visible before the header.
// The one place that needs store-load order, a waker that publishes and
// then looks for a sleeper, gets it from the sleeper's side: before its
// last look, a waiter calls membarrier(2) (MEMBARRIER_CMD_GLOBAL_EXPEDITED),
// which makes every running thread of every process registered for it
// execute a full barrier (wait.go has the argument). A process registers
// when it opens a queue; where membarrier is not available it keeps the
// sequentially consistent stores, and a waiter whose own membarrier call
// fails sleeps in slices of at most a millisecond. Registered processes
// take an interrupt whenever some waiter on the machine goes to sleep
// while one of their threads runs: microseconds, on the rare path.
//
// # Closing and dead peers
//
// Close on the producer's handle marks the queue closed (with several
// producers: when the last live one closes); the consumer receives what was
// committed and then io.EOF. A new producer reopens a closed queue.
// Waiters check their peer every 100 ms: a Receive waiting on an empty
// queue whose producers all died fails with ErrPeerDead, and so does a Send
// waiting for room whose consumer died. A multi-producer record reserved by
// a producer that died (or closed) before committing is skipped, never
// waited on for ever; the other producers' messages go on.
//
// # Caveats
//
//   - The slice from Reserve lives until Commit, and the one from Peek until
//     Release; both point into shared memory.
//   - The other processes are not trusted: every cursor, length and record
//     header read from the ring is checked, and a queue that breaks the
//     rules gives an error wrapping ErrCorrupt that says which field and
//     where, never a panic or an access outside the ring. A misbehaving
//     peer can still change a message while you read it in place (Peek), or
//     make a Receive wait until its context ends.
//   - A consumer that dies loses the read position it had not yet published:
//     its successor may see up to a quarter of the ring again.
//   - The race detector cannot see the ordering that atomics on mapped
//     memory give (golang/go#16206); race builds tell it about every commit
//     and receive, so Go memory handed through a queue between goroutines
//     of one process is not reported as raced.
//   - A handle is for one goroutine; open one handle per goroutine. The
//     mapping stays until Close.
//   - Another process with write access may truncate the object while it is
//     mapped here. A page that is gone would raise SIGBUS, which kills a Go
//     program; every method that touches the mapping (Send, TrySend,
//     SendBatch, Reserve, Commit, Receive, TryReceive, ReceiveBatch, Peek,
//     Release, Close, Detach, and Open, Stat and Probe while they read the
//     header)
//     runs with runtime/debug.SetPanicOnFault and returns an error wrapping
//     shm.ErrFault instead. A call waiting on a truncated queue returns it
//     within about 100 ms (it checks the object's size with its peer
//     checks), and so does a call that meets records zeroed by a
//     truncation inside their page. The handle is broken from then on:
//     every later call returns shm.ErrFault, and Close or Detach gives up
//     its roles (if the header page is still there) and the mapping and
//     returns nil (a Close that meets the fault itself does the same and
//     returns the fault). A producer's fault does not mark the queue closed; its
//     consumer meets the fault itself. The guard costs a few nanoseconds
//     per call (see fault.go); a handle opened with NoFaultGuard, for
//     writers you trust not to truncate, goes without it on the sending
//     and receiving calls and dies of the SIGBUS instead. Under the race
//     detector, whose atomics run in C, a truncation at the wrong moment
//     can still kill the process.
//   - The slices from Reserve and Peek point into the mapping and are used
//     outside the queue's methods: touching them after a truncation
//     faults in your code. A program that writes or reads them while
//     untrusted peers may truncate the object sets
//     runtime/debug.SetPanicOnFault(true) itself around that code and
//     recovers, or copies (Send, Receive).
package queue
