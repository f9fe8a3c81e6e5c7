// Package queue moves messages between processes through a named POSIX
// shared-memory segment: a ring of length-prefixed records with one
// consumer (the default) or several competing ones (Consumers), and either
// one producer (the default) or many (MultiProducer).
//
// # Model
//
// A queue is its own segment (package shm): a one-page header holding the
// magic, layout version, sizes, the write and read cursors on separate cache
// lines, two futex words and the claims of the consumer and the producers,
// followed by the ring. The layout is described once, in layout.go.
//
//	q, err := queue.Create("jobs", 0)            // or queue.Open("jobs")
//	defer q.Close()
//	err = q.Send(ctx, []byte("hello"))          // producer side
//	msg, err := q.Receive(ctx, buf)             // consumer side, buf reused
//
// A handle becomes the producer with its first Send (or BecomeProducer,
// for a producer that may send nothing and must still close the queue)
// and the consumer with its first Receive. Send and Receive copy; Reserve → write → Commit and
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
// for room a few microseconds asks for it; a consumer that takes one
// message per wait, as a server does, publishes after each. Each publish is one release
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
// A sole consumer that finds the ring empty after taking two or more messages
// since its last wait has caught up with a producer in mid-stream: it lets
// the producer run ahead for 6 µs (at most the spin time, never with Block)
// before it looks, because reading each record while it is being written
// moves its cache lines between the CPUs and slows both sides. A Receive
// that follows a single message, as in request and reply, looks at once.
//
// # Sizing the ring
//
// A stream's speed depends on the ring's capacity as much as on the calls:
// give a queue at least 16 times its largest message and at least 4 MiB.
// Create with capacity 0 does (RecommendedCapacity), and so does "shm queue
// create" without --capacity. On the 2-core AMD EPYC VM of
// docs/BENCHMARKS.md (1 MiB of L2 per core, 32 MiB of shared L3), a 1 MiB
// ring was the slowest or next to slowest capacity for nearly every
// message size and transport, in Go and in C: this queue's 64 KiB stream
// moved 8.8 GB/s through it against 26.7 GB/s through 4 MiB, its 64 B
// stream 13 M/s against 35 M/s. Past 4 MiB it depends on where the two
// CPUs sit. While the VM's two vCPUs were close (a cache line's round trip
// between them 47-85 ns), 4 MiB stayed the fastest for 1 KiB and 64 KiB
// messages; while they were far apart (277-425 ns), 16 MiB was faster at
// every size, about twice as fast at 64 KiB, in C as well. The default is
// 4 MiB, a quarter of a 16 MiB ring's memory; give a queue 16 MiB or more
// where its two processes run on CPUs far apart ("shm bench" gives the
// round trip between the two CPUs it pins to, and the rates at each
// capacity).
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
// Request and reply, with one message in flight at a time, goes the other
// way: a ring of a few messages keeps its lines in the two cores' caches.
// On the same VM a 1 KiB round trip through two queues (Spin) took 380–391
// ns at p50 with 8 KiB rings against 521–550 ns with 4 MiB ones, and the C
// ping-pong through rings 324–340 ns at 4 KiB against 456–486 ns at 4 MiB
// (means). At 64 B the queue's round trip gained little from a small ring.
//
// # Choosing calls for speed
//
// Measured figures, with the commands that produced them, are in
// docs/BENCHMARKS.md; in short:
//
//   - Small messages one at a time (Send, Receive) cost a few tens of
//     nanoseconds each; SendBatch and ReceiveBatch take about a third of
//     that per message, because the cursors are published once per batch.
//   - Reserve/Commit and Peek/Release write and read a message in place,
//     saving its copy. Between two CPUs, though, a large message's copy
//     can hide under moving its cache lines from one CPU to the other,
//     which the in-place calls pay too: on one AMD VM, 64 KiB messages
//     read in place took 1.2–1.3 times as long each as with Receive,
//     which copies them out, and a message built in place with ordinary
//     stores streamed no faster than one sent with Send; their round
//     trips were faster (0.88 of Send and Receive's). How the message was
//     written matters as much: copied into the reservation with REP MOVSB
//     instead of a vector loop, the same 64 KiB messages read in place in
//     0.78 of Send and Receive's time. Measure both. For
//     small messages the in-place calls cost more than the copy they
//     save, two calls a side instead of one, each paying the fault guard:
//     at 64 B between two processes they streamed 16 M messages/s against
//     43 M for Send and Receive (21–22 ns a message against 13–14 in
//     another measurement, and 10–11 against 9 with NoFaultGuard).
//   - The sending and receiving calls copy messages of 32 KiB or more
//     with REP MOVSB on AMD Zen 5 CPUs, with Go's copy elsewhere (and for
//     a receive into a buffer too small for the message, which append
//     grows): on a Zen 5 VM a 64 KiB stream ran about three times as fast
//     that way while the two CPUs shared no cache, and 3–6% faster (32 and
//     64 KiB) while they shared one; its round trips took 3.0 µs at p50
//     against 4.4–4.5 µs. A reservation filled from a buffer with Go's
//     copy does not get this: there, with no cache shared, such a stream
//     ran at a quarter of Send's rate. Fill it with shm.Copy, which copies
//     as Send does: 64 KiB messages so written and read in place streamed
//     at 1.2 times the rate of a C ring's copy in and out while the CPUs
//     shared a cache, and at 0.73 of it while they did not.
//   - A single producer's Send and Reserve ask the CPU for the cache
//     lines of a message of 512 B to 32 KiB before it is written
//     (PREFETCHW on amd64), so that their transfers overlap: on a Zen 5
//     VM 1 KiB round trips through 4 MiB rings took 0.83 of the time
//     (0.88 in place). A stream gains nothing from it, so a producer that
//     last found its consumer behind does not ask (1 KiB streams ran up
//     to a tenth slower with it); a stream whose consumer keeps up still
//     does. SendBatch, made for streams, never asks.
//   - With several producers every Send takes the reserve lock, a full
//     barrier; SendBatch takes it once per run of up to 64 messages.
//   - Spin gives the lowest latency and keeps a CPU busy while it waits;
//     SpinThenSleep (the default) is as fast while messages keep coming and
//     sleeps when they stop; Block sleeps as soon as it has to wait, and
//     so pays a wake-up, tens of microseconds, whenever it does.
//   - A spinning wait that has looked at the ring 4,096 times yields its P
//     (runtime.Gosched): every time when the other side is a goroutine of
//     the same process, which may need that P to send or receive, and at
//     most once in 2 ms when it is another process. A goroutine locked to
//     its thread (runtime.LockOSThread), as a latency-sensitive program
//     may lock its senders and receivers, pays two context switches for
//     each yield.
//   - A goroutine asleep in a wait is in a futex system call, and the Go
//     runtime hands its P to other goroutines only when its monitor thread
//     notices, 20 µs to 10 ms later; one that sleeps often, for short
//     times, may keep it through many sleeps. Meanwhile the process runs Go
//     code on one P fewer, which costs goroutines that need every CPU more
//     than the sleeper's own time: on a 2-CPU VM, two busy goroutines did a
//     third less work beside one sleeping 100 µs at a time on a futex than
//     beside one in time.Sleep (BenchmarkBesideSleeper in internal/futex).
//     Waiting in a process of its own avoids that; so, in part, does
//     GOMAXPROCS one above the number of CPUs.
//   - Where the SIGBUS handler is not available (see Caveats),
//     NoFaultGuard saves a few nanoseconds per call, for writers you
//     trust; more in a stream of small messages sent one at a time where
//     cache-line transfers are slow (a third of the time per message on
//     one AMD VM), none to speak of per message in a batch.
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
// committed and then io.EOF. A producer that fails part-way calls Abort
// instead: the consumer receives what was committed and then an error
// wrapping ErrAborted, so a stream cut short is never taken for a complete
// one (Stats.Aborted shows it too). A new producer reopens a closed or
// aborted queue. A consumer opened with FollowProducers never gets io.EOF:
// it waits for the next producer instead (and waits out a dead one too).
//
// A consumer's Close only gives up the role: a producer waiting for room
// keeps waiting, for the next consumer (a queue is often drained by one
// consumer after another, each taking some messages). Only a consumer that
// died ends that wait (ErrPeerDead); bound it with the context.
//
// A consumer that hands its messages on (to a file, a socket, another
// system) calls Hold, and ReleaseThrough once what it received is safe:
// what it received and did not release stays in the queue for the next
// consumer if it is stopped or dies, instead of being lost with its
// buffers. Position says where the consumer is: the position of a message
// just received, which with the queue's ID names it for good (see
// position.go).
// Waiters check their peer every 100 ms: a Receive waiting on an empty
// queue whose producers all died fails with ErrPeerDead, and so does a Send
// waiting for room whose consumer died. A multi-producer record reserved by
// a producer that died (or closed) before committing is skipped, never
// waited on for ever; the other producers' messages go on.
//
// A peer is alive while it holds its role's open file description lock on
// the queue's object (see layout.go and wait.go), which the kernel drops
// when the peer dies: this holds between processes in different PID
// namespaces, such as containers that share /dev/shm, and a reused pid
// never passes for a live or a dead peer. Where the kernel has no such
// locks (Linux before 3.15), taking a role fails with an error wrapping
// errors.ErrUnsupported. Stat reports each peer's pid in its own PID
// namespace and whether that is another namespace than the caller's.
//
// # Competing consumers
//
// A queue created with Consumers(n) is a work queue: up to n handles, in
// any processes, receive from it at once, and each message goes to one of
// them. A handle takes a slot of the queue's consumer table with its first
// receive (ErrBusy when all n are held by live processes) and gives it up
// with Close. The guarantees:
//
//   - Receive, TryReceive and ReceiveBatch (without Hold) take and copy a
//     message in one step, under a lock the consumers share: each message
//     is delivered exactly once. A consumer that dies before the step is
//     complete never took the message; one that dies after it has it in
//     its buffer, and the queue has let it go, as Receive does on any queue.
//   - Peek, and any receive after Hold, leave the message in flight at the
//     consumer until Release (Peek without Hold) or ReleaseThrough. If the
//     consumer dies or closes first, the message is delivered again, to
//     another consumer (or to the next one that takes the same slot),
//     before any new message that consumer takes: at least once. Each
//     consumer that dies with it in flight adds exactly one delivery, so
//     a message whose consumer died once is delivered at most twice, and
//     Deliveries tells the receiver which delivery it has (1 the first
//     time). A message is redelivered when a consumer claims its slot, or
//     within about 100 ms of a consumer waiting for a message; since head
//     cannot pass a message in flight, the ring fills behind it at worst,
//     and then the consumers run dry and wait.
//   - Under Hold a consumer of such a queue holds one message at a time: a
//     receive while one is held fails and says so. ReleaseThrough takes
//     that message's position (Position).
//   - Order holds per consumer, not across consumers: each consumer takes
//     new messages in the order they were committed, and a redelivered
//     message, older than some it took before, comes before its next new
//     one. Two messages sent one after the other may be worked on at
//     once by two consumers and finished in either order.
//   - A consumer gets io.EOF (or ErrAborted) once the producers closed
//     the queue, nothing is left to take and no consumer has a message in
//     flight: until then, a consumer that dies could leave one to take.
//     A consumer opened with FollowProducers waits for the next producer
//     instead, as on any queue.
//
// Producers are unchanged; a producer waiting for room gets ErrPeerDead
// only when every consumer that held a slot died. The single-consumer
// path pays nothing for the option: no atomic operation and no system call
// per message more than before. Stat lists each consumer, alive or dead,
// with its message in flight; the layout and state machine are in
// layout.go and consumers.go.
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
//   - A process with write access to the object can lock a role's byte
//     itself and so make a dead peer look alive: the role stays taken and
//     waits on it last until their contexts end (a denial of service; such
//     a process can write the queue anyway). A handle's roles are held
//     through its open file description: a process that forks without exec
//     shares them with its child until both have closed the handle.
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
//     Release, ReleaseThrough, BecomeProducer, Close, Detach,
//     and Open, Stat and Probe while they read the
//     header) returns an error wrapping shm.ErrFault instead. On Linux on
//     amd64 (outside race builds) a handle registers its mapping with a
//     SIGBUS handler of this module's, which the first handle the process
//     opens installs in front of the Go runtime's and which passes
//     every fault outside a watched mapping on to it: a fault in the
//     mapping puts private zero pages over all of it, and the call
//     finishes on them, with nothing it stores from the fault on reaching
//     another process, and returns the error. (Should the kernel refuse
//     those pages, for an address-space or memory limit, the process dies
//     as without the handler. The handler watches up to 256 mappings at a
//     time; handles past that use the guard below.)
//     Elsewhere the methods run with runtime/debug.SetPanicOnFault and
//     recover the fault. A call waiting on a truncated queue returns it
//     within about 100 ms (it checks the object's size with its peer
//     checks), and so does a call that meets records zeroed by a
//     truncation inside their page. The handle is broken from then on:
//     every later call returns shm.ErrFault, and Close or Detach gives up
//     its roles (if the header page is still there) and the mapping and
//     returns nil (a Close that meets the fault itself does the same and
//     returns the fault). A producer's fault does not mark the queue closed; its
//     consumer meets the fault itself. The SIGBUS handler costs nothing
//     while nothing faults; SetPanicOnFault's guard costs a few
//     nanoseconds per call (see fault.go). A handle opened with
//     NoFaultGuard, for writers you trust not to truncate, goes without
//     either on the sending and receiving calls and dies of the SIGBUS
//     instead. Under the race detector, whose atomics run in C, a
//     truncation at the wrong moment can still kill the process.
//   - The slices from Reserve and Peek point into the mapping and are used
//     outside the queue's methods. Where the SIGBUS handler watches the
//     mapping, touching them after a truncation reads zeros and writes
//     where no other process sees them, and the Commit or Release that
//     follows returns shm.ErrFault (and a Commit sends nothing): check it
//     before you act on what you read. Elsewhere such a touch faults in
//     your code: a program that writes or reads them while untrusted
//     peers may truncate the object sets
//     runtime/debug.SetPanicOnFault(true) itself around that code and
//     recovers, or copies (Send, Receive).
package queue
