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
//	q, err := queue.Create("jobs", 1<<20)        // or queue.Open("jobs")
//	defer q.Close()
//	err = q.Send(ctx, []byte("hello"))          // producer side
//	msg, err := q.Receive(ctx, buf)             // consumer side, buf reused
//
// A handle becomes the producer with its first Send and the consumer with
// its first Receive. Send and Receive copy; Reserve → write → Commit and
// Peek → read → Release work in place in the ring. SendBatch publishes many
// messages with one cursor store. TrySend and TryReceive never wait.
//
// The single producer commits each message by storing its header over the
// ring's end marker (a zero word), so the consumer reads headers and never
// the write cursor; SendBatch commits a whole batch with one such store.
// The consumer publishes its read cursor lazily: when it
// has caught up, every quarter of the ring, and at once when a producer
// waits for room. Each publish is one sequentially consistent atomic store
// (an XCHG on amd64, a full barrier), which is why batches pay. With
// several producers, a producer takes a short lock to reserve space and
// write the record's header as pending, writes the payload outside the lock
// and commits by flipping the record's state; the consumer takes records in
// ring order and waits on a pending one.
//
// Waiting follows the WaitStrategy: by default a waiter spins for
// DefaultSpin and then sleeps on a futex word; the other side makes the wake
// syscall only when that word says someone sleeps. Neither Send nor Receive
// allocates or makes a syscall while the queue is neither full nor empty.
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
//     mapping stays until Close; an object truncated by another process
//     while mapped faults (SIGBUS) on access.
package queue
