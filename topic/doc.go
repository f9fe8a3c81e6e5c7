// Package topic publishes messages to many processes through a named POSIX
// shared-memory segment: a ring of records that one publisher writes and
// every subscriber reads in full, each at its own pace, up to a number of
// subscribers fixed at creation (DefaultSubscribers unless told).
//
// # Model
//
// A topic is its own segment (package shm): a header holding the magic,
// layout version, sizes and policy, a random ID, the publisher's cursors,
// two futex words and the subscriber table (one cache line per
// subscriber: its position and the number of its next message), followed
// by the ring. The layout and its state machine are described once, in
// layout.go.
//
//	t, err := topic.Create("prices", 4<<20)   // or Open("prices"), OpenOrCreate
//	defer t.Close()
//	err = t.Publish(ctx, []byte("hello"))      // publisher side
//	err = s.Subscribe()                        // subscriber side: join now
//	msg, err := s.Receive(ctx, buf)            // every message, buf reused
//
// A handle becomes the publisher with its first Publish (one publisher at
// a time; another gets ErrBusy until the first closes, detaches or dies)
// and a subscriber with Subscribe or its first Receive. A subscriber
// starts with the topic's first message (number 0) while the ring still
// holds it, so that subscribers started together with the publisher get
// the whole stream (see Joining). On a topic whose ring has gone round it
// starts with the next message published, or, on a topic created with
// History(n), with the last n messages the ring still holds;
// SubscribeFrom starts it at a message number it kept (Sequence; with the
// topic's random ID, a message's name in every process). Publish and
// Receive copy; Reserve → write → Commit and Peek → read → Release work in
// place in the ring; PublishBatch makes a batch visible with one store and
// one wake-up, and ReceiveBatch takes what is ready in one call.
//
// # Policies
//
// A lossless topic (the default) never loses a message for a subscriber:
// the publisher waits while the slowest live subscriber still has to read
// the space it needs. A subscriber that closes stops holding it back at
// once; one that dies is found within about 100 ms (its role is a lock on
// a byte of the object, which the kernel drops when the process dies; see
// package internal/live) and its entry is freed.
//
// An Overwrite topic never makes the publisher wait. A subscriber that
// fell more than the ring behind gets an error wrapping a *LaggedError
// (errors.Is(err, ErrLagged)) whose Missed field says exactly how many
// messages were written over before it read them; its next Receive
// returns the oldest message still kept. A message written over while it
// is being copied is detected (the reader checks the publisher's oldest
// cursor after the copy, seqlock style) and never returned torn; a Peek
// on such a topic is checked at Release.
//
// Every message published after Subscribe returns reaches a subscriber of
// a lossless topic, in order; on an overwrite topic it reaches it or is
// counted in a LaggedError.
//
// # Joining
//
// Subscribers and a publisher started at about the same time (two
// subscribers in a shell's background and then the publisher, or
// processes a supervisor starts together) race: a subscriber's process may
// well join after the first messages were published. So a joiner that
// finds the topic's first message still in the ring starts with it. A
// publisher opened with StartGrace(d) (an opt-in; DefaultStartGrace, one
// second, is what "shm topic pub" uses) keeps that message on a lossless
// topic for at least d after it became the publisher (its first Publish or
// BecomePublisher), whether or not anyone subscribed: a Publish that needs
// its room meanwhile waits, a TryPublish returns ErrFull. What is then
// guaranteed on a lossless topic whose ring has not yet gone round: every
// subscriber that joins before the publisher starts, or less than d after
// it, receives every message from number 0 on, in order. After the grace,
// message 0 is written over like any other once every live subscriber read
// it (at once when there is none), and joiners start at the live end or
// with the history. The grace costs a publisher that fills the ring within
// its first d one wait, for the rest of it, and only before the ring first
// goes round (a publisher that takes over a topic still holding message 0
// has a grace of its own). Without the option (a grace of 0) a publisher
// writes over message 0 as soon as no live subscriber needs it: a program
// that subscribes before it publishes loses nothing and never waits for a
// grace. An overwrite topic's publisher never waits: there the first
// message is kept only until the ring goes round, and a joiner that
// started with it and is then overtaken gets a LaggedError as any
// subscriber does.
//
// A subscriber that joins a topic whose ring has gone round (on a lossless
// topic, only ever after the grace) starts at the live end: with the next
// message published, or with the last History(n) messages the ring holds.
// Closing does not change where a joiner starts: one that joins a
// topic whose publisher already closed it gets what the ring still holds
// of that stream by these rules (all of it from message 0 while the ring
// has not gone round, else the history, else nothing) and then io.EOF
// (ErrAborted after an Abort), without waiting for a next publisher. So a
// topic is one stream: subscribers started for a new stream on a topic
// that an earlier one ended would read the old messages kept and stop.
// Start a new stream on a new topic, or Unlink the old one and Create it
// again.
//
// # Waiting
//
// A waiting call spins for SpinTime (DefaultSpin) and then sleeps on a
// futex word. All subscribers sleep on one word, so that a publish wakes
// every sleeping subscriber with one system call, and none when nobody
// sleeps (wait.go has the argument that no wake-up is lost). A subscriber
// that finds no message after taking two or more since its last wait has
// caught up with the publisher in mid-stream, and lets it run ahead for
// 6 µs (at most SpinTime) before it looks, as the queue's consumer does.
// Every wait takes a context.Context. The publisher's Close marks the
// topic closed: each subscriber receives what remains and then io.EOF. A
// publisher that fails part-way calls Abort instead: each subscriber
// receives what remains and then an error wrapping ErrAborted, so that a
// stream cut short is never taken for a complete one (Stats.Aborted shows
// it too). A new publisher reopens a closed or aborted topic. A
// subscriber waiting on a topic whose publisher died without closing gets
// ErrPeerDead; a new publisher may take over where the dead one stopped.
//
// # Caveats
//
//   - The slice from Reserve lives until Commit, and the one from Peek
//     until Release; both point into shared memory.
//   - The other processes are not trusted: every cursor, length, sequence
//     and table entry read from the segment is checked, and a topic that
//     breaks the rules gives an error wrapping ErrCorrupt that says which
//     field and where, never a panic or an access outside the ring. A
//     misbehaving peer can still change a message while a subscriber of a
//     lossless topic reads it in place, make a call wait until its context
//     ends, or hold a subscriber entry's lock and so look alive.
//   - A handle is for one goroutine; open one handle per goroutine. A
//     handle that is both publisher and subscriber of a lossless topic
//     holds its own publishing back until it reads.
//   - A process that forks without exec shares its role locks with the
//     child (see package internal/live).
//   - Another process with write access may truncate the object while it
//     is mapped here. Every method that touches the mapping returns an
//     error wrapping shm.ErrFault instead of dying of SIGBUS: on Linux on
//     amd64 (outside race builds) through the SIGBUS handler that package
//     queue's caveats describe, which puts private zero pages over the
//     handle's mapping, so that the call finishes on them, reaching no
//     other process from the fault on, and returns the error; elsewhere through runtime/debug.SetPanicOnFault,
//     which NoFaultGuard trades for a few nanoseconds per call. The handle
//     is broken from then on, and Close gives up its roles. The slices from
//     Reserve and Peek are used outside the package's methods: touching
//     them after a truncation reads zeros where the handler watches the
//     topic (the Commit or Release after returns shm.ErrFault), and faults
//     in your code elsewhere.
package topic
