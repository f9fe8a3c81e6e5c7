package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/shmkit/shm"
	"github.com/shmkit/shm/internal/jsonname"
	"github.com/shmkit/shm/queue"
	"github.com/spf13/cobra"
)

// probeQueue tells queues apart for ls and stat with queue.Stat, the
// checks of "shm queue stat", and reports their fill, or where a damaged
// queue is corrupt ("corrupt:size").
func probeQueue(dir string, info shm.Info) (string, map[string]any, bool) {
	if info.Kind != shm.KindQueue {
		return "", nil, false
	}
	st, err := queue.Stat(info.Name, queue.Dir(dir))
	var se *shm.Error
	if errors.As(err, &se) {
		err = se.Err // ls and stat name the object already
	}
	switch {
	case err != nil && !errors.Is(err, queue.ErrCorrupt) && !errors.Is(err, queue.ErrVersion) && !errors.Is(err, shm.ErrFault) && !errors.Is(err, errors.ErrUnsupported):
		return "", nil, false // not a queue, or no header could be read (no permission)
	case err != nil && st.Capacity == 0:
		return "queue", map[string]any{"error": err.Error(), "state": corruptState(queue.Part(err), errors.Is(err, queue.ErrCorrupt))}, true
	}
	if err != nil && !errors.Is(err, errors.ErrUnsupported) { // ErrUnsupported: peers' liveness unknown, not damage
		return "queue", damagedQueue(st, err), true
	}
	d := map[string]any{
		"capacity":       st.Capacity,
		"bytes":          st.Bytes,
		"fill":           fmt.Sprintf("%.1f%%", 100*st.Fill()),
		"closed":         st.Closed,
		"aborted":        st.Aborted,
		"multi_producer": st.MultiProducer,
		"producers":      len(st.Producers),
		"peers":          peersString(st),
		"state":          fmt.Sprintf("fill=%.1f%%", 100*st.Fill()),
	}
	if err != nil {
		d["error"] = err.Error()
	}
	return "queue", d, true
}

// damagedQueue describes a queue that Stat found corrupt or could not
// read to the end with only what was read before the damage: the header's
// geometry always; the closed word and the bytes in use once the cursors
// passed their checks (a damaged object size); the peers once the ring was
// reached, since only then was the liveness of each asked. A fill of 0% or
// "peers: none" next to the error would read as a healthy, idle queue.
func damagedQueue(st queue.Stats, err error) map[string]any {
	part := queue.Part(err)
	d := map[string]any{
		"capacity":       st.Capacity,
		"multi_producer": st.MultiProducer,
		"error":          err.Error(),
		"state":          corruptState(part, errors.Is(err, queue.ErrCorrupt)),
	}
	if part == "size" || part == "ring" {
		d["closed"], d["aborted"] = st.Closed, st.Aborted
	}
	if part == "size" {
		d["bytes"] = st.Bytes
	}
	if part == "ring" {
		d["producers"] = len(st.Producers)
		d["peers"] = peersString(st)
	}
	return d
}

// corruptState is the STATE of a queue or topic that Stat found wrong:
// where it is corrupt (its part), or "unreadable" for another failure (such
// as a fault).
func corruptState(part string, corrupt bool) string {
	switch {
	case part != "":
		return "corrupt:" + part
	case corrupt:
		return "corrupt"
	}
	return "unreadable"
}

// newQueueCmd is "shm queue": message queues over shared memory.
func newQueueCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "queue",
		Short: "Message queues over shared memory",
		Long: `A queue is a shared-memory object holding a ring of messages, with one
consumer and one producer (or many, with --multi-producer), or several
consumers that share the messages, each going to one of them (create
--consumers N). Two shells can pipe through one:

  shm queue create q --capacity 1M
  seq 1000000 | shm queue send q          # closes the queue at the end
  shm queue recv q --follow | wc -l       # prints until the queue is closed

With --raw, send reads and recv writes each message as a 4-byte
little-endian length followed by the bytes.`,
		Args: noSuchCommand,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.AddCommand(newQueueCreateCmd(), newQueueSendCmd(), newQueueRecvCmd(), newQueueStatCmd())
	return cmd
}

// queueCreateOptions are the flags of "shm queue create".
type queueCreateOptions struct {
	dir      string
	capacity sizeFlag
	maxMsg   sizeFlag
	mode     modeFlag
	multi    bool
	cons     int
}

// newQueueCreateCmd declares "shm queue create" and its flags.
func newQueueCreateCmd() *cobra.Command {
	o := queueCreateOptions{
		capacity: sizeFlag{n: queue.DefaultCapacity},
		mode:     modeFlag(shm.DefaultMode),
	}
	cmd := &cobra.Command{
		Use:   "create NAME [--capacity 4M] [--multi-producer] [--consumers N] [--max-message 64K]",
		Short: "Create a queue",
		Long: `Create a queue whose ring holds --capacity bytes (a power of two; each
message takes 8 bytes more than its length, rounded up to 8). The largest
message is --max-message, at most half the capacity less 8 bytes (the
default). Without --capacity the ring is 4M, or with --max-message the
smallest power of two from 4M up that holds 16 of the largest messages:
a ring larger than a core's own cache streams faster (see the queue
package's documentation).

With --consumers N (2 to 32) up to N receivers take messages from the queue
at once, each message going to one of them (a work queue): order holds for
each receiver, not across them. A receiver that dies, or is stopped, with a
message it had not yet written out leaves that message to another receiver,
which gets it once more.`,
		Args:              exactArgs("NAME"),
		ValidArgsFunction: cobra.NoFileCompletions,
		RunE:              o.run,
	}
	f := cmd.Flags()
	f.Var(&o.capacity, "capacity", "ring size in bytes, a power of two (64K, 1M, ...; default 4M, more for a --max-message above 256K)")
	f.Var(&o.maxMsg, "max-message", "largest message (default: capacity/2 - 8)")
	f.Var(&o.mode, "mode", "permission bits of the new object, in octal")
	f.BoolVar(&o.multi, "multi-producer", false, "let many processes send at once")
	f.IntVar(&o.cons, "consumers", 1, "let up to N processes receive at once, sharing the messages")
	addDirFlag(cmd, &o.dir)
	return cmd
}

// run checks the flags against the queue's rules and creates it.
func (o *queueCreateOptions) run(cmd *cobra.Command, args []string) error {
	c := o.capacity.n
	if !o.capacity.set && o.maxMsg.set {
		c = queue.RecommendedCapacity(int(o.maxMsg.n))
	}
	opts := []queue.Option{queue.Dir(o.dir), queue.Mode(o.mode.perm())}
	var given []string // only the flags the user set: a default is no one's mistake
	if o.capacity.set {
		given = append(given, "--capacity "+exactSize(c))
	}
	if o.multi {
		opts = append(opts, queue.MultiProducer())
	}
	if cmd.Flags().Changed("consumers") {
		opts = append(opts, queue.Consumers(o.cons))
		given = append(given, fmt.Sprintf("--consumers %d", o.cons))
	}
	if o.maxMsg.set {
		if o.maxMsg.n == 0 {
			return usageErr(cmd, "--max-message 0: a queue takes messages of at least 1 byte")
		}
		opts = append(opts, queue.MaxMessage(int(o.maxMsg.n)))
		given = append(given, "--max-message "+exactSize(o.maxMsg.n))
	}
	if err := queue.Validate(c, opts...); err != nil {
		return ruleError(cmd, given, err)
	}
	q, err := queue.Create(args[0], c, opts...)
	if err != nil {
		return err
	}
	return q.Close()
}

func (m modeFlag) perm() os.FileMode { return os.FileMode(m) }

// queueSendOptions are the flags of "shm queue send".
type queueSendOptions struct {
	dir      string
	raw      bool
	keepOpen bool
	timeout  time.Duration
}

// newQueueSendCmd declares "shm queue send" and its flags.
func newQueueSendCmd() *cobra.Command {
	var o queueSendOptions
	cmd := &cobra.Command{
		Use:   "send NAME [MSG...]",
		Short: "Send messages: the arguments, or one per line of standard input",
		Long: `Send each argument as a message, or without arguments each line of
standard input (without its newline; a carriage return before it is part of
the message), or with --raw each length-prefixed message of standard input.
At the end the queue is closed for sending, so that the receiver gets
end-of-file after the last message; --keep-open leaves it open. A full queue
makes send wait (up to --timeout per message).

When send fails part-way (a message too large, unreadable input, a
--timeout that passed, a signal), the messages sent stay sent and the
stream is marked aborted, with or without --keep-open: "shm queue recv"
prints them and then exits with status 5 instead of taking the stream for
complete.

Exit status: 0 ok, 1 an error (the stream is aborted), 2 usage error, 4 the
receiver died, 130 stopped by SIGINT, SIGTERM or SIGHUP.`,
		Args:              minArgs(1, "NAME"),
		ValidArgsFunction: completeNames(false),
		RunE:              o.run,
	}
	f := cmd.Flags()
	f.BoolVar(&o.raw, "raw", false, "read length-prefixed messages (4-byte little-endian length, then the bytes)")
	f.BoolVar(&o.keepOpen, "keep-open", false, "do not close the queue for sending at the end")
	f.DurationVar(&o.timeout, "timeout", 0, "longest wait for room for one message (0: no limit)")
	addDirFlag(cmd, &o.dir)
	return cmd
}

// run sends the arguments, or standard input, and closes the queue for sending.
func (o *queueSendOptions) run(cmd *cobra.Command, args []string) error {
	if o.timeout < 0 {
		return usageErr(cmd, "--timeout %v is negative", o.timeout)
	}
	name := args[0]
	q, err := queue.Open(name, queue.Dir(o.dir))
	if err != nil {
		return err
	}
	ctx, stop := stopContext(cmd.Context())
	defer stop()
	sent := 0
	send := func(msg []byte) error {
		sctx, cancel := waitContext(ctx, o.timeout)
		err := q.Send(sctx, msg)
		cancel()
		switch {
		case err == nil:
			sent++
			return nil
		case errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil:
			return &shm.Error{Op: "queue send", Name: q.Name(), Err: fmt.Errorf("no room for message %d within --timeout %v: the queue stayed full", sent+1, o.timeout)}
		}
		return err
	}
	in := newSignalReader(ctx, cmd.InOrStdin())
	defer in.Close()
	err = sendAll(in, args[1:], o.raw, q.MaxMessage(), send)
	if err == nil && sent == 0 && !o.keepOpen {
		// Nothing to send: the stream is still complete, and only
		// the producer's Close says so.
		err = q.BecomeProducer()
	}
	if err == nil {
		// What was sent stays sent; the stream is complete.
		if o.keepOpen {
			return q.Detach()
		}
		return q.Close()
	}
	// The stream is cut short: the receiver must be able to tell.
	// Unless another live process is the producer (ErrBusy): that
	// stream was never this one's to end.
	end := q.Abort
	if errors.Is(err, queue.ErrBusy) {
		end = q.Close
	}
	if eerr := end(); eerr != nil && !errors.Is(eerr, queue.ErrBusy) {
		err = errors.Join(err, eerr)
	}
	switch {
	case interruption(ctx) != nil:
		return interruptedf(ctx, "queue send", q.Name(), "after %d message%s; the stream is marked aborted", sent, plural(sent))
	case errors.Is(err, queue.ErrPeerDead):
		return &exitError{code: peerDeadStatus, err: err}
	}
	return opError("queue send", q.Name(), err)
}

// sendAll sends the messages of args, or else of r (lines, or raw frames).
func sendAll(r io.Reader, args []string, raw bool, maxMsg int, send func([]byte) error) error {
	if len(args) > 0 {
		for _, a := range args {
			if err := send([]byte(a)); err != nil {
				return err
			}
		}
		return nil
	}
	br := bufio.NewReaderSize(r, 1<<16)
	if raw {
		var hdr [4]byte
		buf := make([]byte, 0, 1<<16)
		for i := 1; ; i++ {
			if n, err := io.ReadFull(br, hdr[:]); err == io.EOF {
				return nil
			} else if err == io.ErrUnexpectedEOF {
				return fmt.Errorf("standard input ends inside the length prefix of message %d (%d of its 4 bytes)", i, n)
			} else if err != nil {
				return inputError(err)
			}
			n := binary.LittleEndian.Uint32(hdr[:])
			if uint64(n) > uint64(maxMsg) {
				return fmt.Errorf("message %d of standard input has %d bytes: %w (at most %d)", i, n, queue.ErrTooLarge, maxMsg)
			}
			if cap(buf) < int(n) {
				buf = make([]byte, n)
			}
			buf = buf[:n]
			if k, err := io.ReadFull(br, buf); err == io.ErrUnexpectedEOF || err == io.EOF {
				return fmt.Errorf("standard input ends inside message %d: %d of its %d bytes", i, k, n)
			} else if err != nil {
				return inputError(err)
			}
			if err := send(buf); err != nil {
				return err
			}
		}
	}
	sc := bufio.NewScanner(br)
	sc.Buffer(make([]byte, 0, 1<<16), maxMsg+1)
	sc.Split(scanLines)
	for sc.Scan() {
		if err := send(sc.Bytes()); err != nil {
			return err
		}
	}
	if errors.Is(sc.Err(), bufio.ErrTooLong) {
		return fmt.Errorf("a line of standard input is longer than the queue's maximum message of %d bytes: %w", maxMsg, queue.ErrTooLarge)
	}
	if sc.Err() != nil {
		return inputError(sc.Err())
	}
	return nil
}

// scanLines splits lines at "\n" and keeps everything else, a carriage
// return before the newline included, so that a message is the line's
// bytes exactly (bufio.ScanLines would drop the "\r").
func scanLines(data []byte, atEOF bool) (advance int, token []byte, err error) {
	if i := bytes.IndexByte(data, '\n'); i >= 0 {
		return i + 1, data[:i], nil
	}
	if atEOF && len(data) > 0 {
		return len(data), data, nil
	}
	return 0, nil, nil
}

// inputError describes a failure to read standard input, or the signal
// that stopped the read.
func inputError(err error) error {
	if _, ok := err.(*errInterrupted); ok {
		return err
	}
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	return fmt.Errorf("reading standard input: %w", err)
}

// signalReader reads from r in a goroutine of its own, so that a read
// blocked on a terminal or an idle pipe does not keep the command from
// seeing a signal: Read returns the signal's error as soon as ctx ends.
type signalReader struct {
	ctx     context.Context
	r       io.Reader
	reqs    chan int
	res     chan readResult
	buf     []byte // written by the reading goroutine, handed over by res
	pending bool   // a request was sent and its result not yet taken
}

type readResult struct {
	n   int
	err error
}

func newSignalReader(ctx context.Context, r io.Reader) *signalReader {
	s := &signalReader{ctx: ctx, r: r, reqs: make(chan int), res: make(chan readResult, 1)}
	go func() {
		for n := range s.reqs {
			if cap(s.buf) < n {
				s.buf = make([]byte, n)
			}
			k, err := s.r.Read(s.buf[:n])
			s.res <- readResult{k, err}
		}
	}()
	return s
}

func (s *signalReader) Read(p []byte) (int, error) {
	if s.ctx.Err() != nil {
		return 0, context.Cause(s.ctx)
	}
	if !s.pending {
		s.reqs <- len(p)
		s.pending = true
	}
	select {
	case r := <-s.res:
		s.pending = false
		return copy(p, s.buf[:r.n]), r.err
	case <-s.ctx.Done():
		return 0, context.Cause(s.ctx)
	}
}

// Close lets the reading goroutine end (at once if it is not in a read).
func (s *signalReader) Close() { close(s.reqs) }

// queueRecvOptions are the flags of "shm queue recv".
type queueRecvOptions struct {
	dir     string
	raw     bool
	follow  bool
	count   int
	timeout time.Duration
}

// newQueueRecvCmd declares "shm queue recv" and its flags.
func newQueueRecvCmd() *cobra.Command {
	var o queueRecvOptions
	cmd := &cobra.Command{
		Use:   "recv NAME [-n N] [--timeout D] [--follow]",
		Short: "Receive messages and print them, one per line",
		Long: `Receive messages and print each on a line of its own (with --raw: a 4-byte
little-endian length and the bytes). Without -n or --follow, recv prints the
messages waiting now and exits. With -n N it waits for N messages; with
--follow it prints messages as they come until the queue is closed for
sending. --timeout D gives up when no message came for D: that ends --follow
and the default mode quietly, and fails -n.

A message leaves the queue only once it was written to standard output:
recv stopped by a signal, or whose output fails (a full disk), leaves every
message it did not write out whole to the next receiver (one it cut short
is printed again, whole).

On a queue created with --consumers N, recv is one of up to N receivers
that share the messages: it writes out each message before it takes the
next (one write per message), and a message it took and could not write
out goes to another receiver.

Exit status: 0 ok (the stream ended, or nothing more came), 1 an error,
2 usage error, 4 the sender died before closing the queue, 5 the sender
aborted the stream (after every message it sent was printed), 130 stopped
by SIGINT, SIGTERM or SIGHUP.`,
		Args:              exactArgs("NAME"),
		ValidArgsFunction: completeNames(false),
		RunE:              o.run,
	}
	f := cmd.Flags()
	f.BoolVar(&o.raw, "raw", false, "write length-prefixed messages (4-byte little-endian length, then the bytes)")
	f.BoolVar(&o.follow, "follow", false, "keep waiting for messages until the queue is closed for sending")
	f.IntVarP(&o.count, "count", "n", 0, "stop after N messages, waiting for them")
	f.DurationVar(&o.timeout, "timeout", 0, "give up when no message came for this long (0: no limit)")
	addDirFlag(cmd, &o.dir)
	return cmd
}

// run receives and prints messages until the flags say stop.
func (o *queueRecvOptions) run(cmd *cobra.Command, args []string) error {
	if o.count < 0 {
		return usageErr(cmd, "-n %d is negative", o.count)
	}
	if o.timeout < 0 {
		return usageErr(cmd, "--timeout %v is negative", o.timeout)
	}
	q, err := queue.Open(args[0], queue.Dir(o.dir))
	if err != nil {
		return err
	}
	ctx, stop := stopContext(cmd.Context())
	defer stop()
	r := newReceiver(q, cmd.OutOrStdout(), o.raw)
	got, err := r.run(ctx, o.follow || o.count > 0, o.count, o.timeout)
	// What was received is written out, and only then given up;
	// what could not be written stays in the queue. A handle that
	// a fault broke gives up nothing (it can publish nothing), and
	// a failed flush replaces only an ending that would say all
	// went well, never the error that stopped the receive.
	r.broken = errors.Is(err, shm.ErrFault)
	if ferr := r.flush(); ferr != nil && interruption(ctx) == nil && endedWell(err) {
		err = ferr
	}
	if cerr := q.Close(); err == nil {
		err = cerr
	}
	return recvResult(ctx, q.Name(), got, o.count, o.timeout, err)
}

// errNoMessage ends a receive whose --timeout passed without a message.
var errNoMessage = errors.New("no message within the timeout")

// recvResult turns how a receive ended into the command's error and exit
// status.
func recvResult(ctx context.Context, name string, got, count int, timeout time.Duration, err error) error {
	switch {
	case err == nil:
		return nil
	case interruption(ctx) != nil:
		return interruptedf(ctx, "queue receive", name, "after %d message%s", got, plural(got))
	case errors.Is(err, queue.ErrAborted):
		return &exitError{code: abortedStatus, err: annotate(err, "%w after %d message%s", got, plural(got))}
	case errors.Is(err, queue.ErrPeerDead):
		return &exitError{code: peerDeadStatus, err: annotate(err, "%w; %d message%s printed before", got, plural(got))}
	case err == io.EOF:
		if count > 0 && got < count {
			return &shm.Error{Op: "queue receive", Name: name, Err: fmt.Errorf("got %d of %d messages: the queue was closed for sending", got, count)}
		}
		return nil
	case err == errNoMessage:
		if count > 0 {
			return &shm.Error{Op: "queue receive", Name: name, Err: fmt.Errorf("got %d of %d messages: none came within --timeout %v", got, count, timeout)}
		}
		return nil
	}
	return opError("queue receive", name, err)
}

// endedWell reports whether err, the reason a receive stopped, is no
// failure: the count reached, end of file, or a --timeout with no message.
func endedWell(err error) bool {
	return err == nil || err == io.EOF || err == errNoMessage
}

// receiver prints messages from a queue that holds them (queue.Hold) and
// releases them only once they were written out: after a write that
// failed part-way, the messages it wrote whole leave the queue and the
// rest stay for the next receiver (one cut short is printed again, whole).
type receiver struct {
	q        *queue.Queue
	out      io.Writer
	raw      bool
	pending  []byte    // printed, not yet written out
	ends     []printed // the messages in pending, in order
	unacked  int       // ring bytes received since the last release
	ackEvery int
	broken   bool // a fault broke the queue handle: write out, release nothing
}

// maxKeptOutput is the most output buffer a receiver keeps between
// flushes; one that grew for a larger message is let go.
const maxKeptOutput = 1 << 17

// printed is where a message's bytes end in the receiver's pending output,
// and the queue position that releases it.
type printed struct {
	end int
	pos queue.Position
}

func newReceiver(q *queue.Queue, out io.Writer, raw bool) *receiver {
	q.Hold()
	// Writing out and releasing every quarter of the ring (at most every
	// 64 KiB of output) keeps room for the producer without a write per
	// message. One of competing consumers holds one message at a time: it
	// writes out and releases each.
	every := int(min(q.Capacity()/4, 1<<16))
	if q.IsCompeting() {
		every = 0
	}
	return &receiver{q: q, out: out, raw: raw, ackEvery: every}
}

// run prints messages until count (if > 0), end of file, or, when not
// waiting, an empty queue. It returns how many it printed and why it
// stopped: nil after count messages, io.EOF, errNoMessage, or the error.
func (r *receiver) run(ctx context.Context, wait bool, count int, timeout time.Duration) (int, error) {
	stopped := ctx.Done()
	var buf []byte
	got := 0
	for count == 0 || got < count {
		select {
		case <-stopped:
			return got, context.Cause(ctx)
		default:
		}
		var err error
		buf, err = r.q.TryReceive(buf)
		if err == queue.ErrEmpty {
			if !wait && timeout == 0 {
				return got, io.EOF
			}
			// About to wait: what was printed goes out first.
			if err := r.flush(); err != nil {
				return got, err
			}
			wctx, cancel := waitContext(ctx, timeout)
			buf, err = r.q.Receive(wctx, buf)
			cancel()
			if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
				return got, errNoMessage
			}
		}
		if err != nil {
			return got, err
		}
		if err := r.write(buf); err != nil {
			return got, err
		}
		got++
	}
	return got, nil
}

func (r *receiver) write(msg []byte) error {
	if r.raw {
		r.pending = binary.LittleEndian.AppendUint32(r.pending, uint32(len(msg)))
		r.pending = append(r.pending, msg...)
	} else {
		r.pending = append(r.pending, msg...)
		r.pending = append(r.pending, '\n')
	}
	r.ends = append(r.ends, printed{len(r.pending), r.q.Position()})
	r.unacked += len(msg) + 16
	if r.unacked >= r.ackEvery {
		return r.flush()
	}
	return nil
}

// flush writes out what was printed and releases the messages written
// whole: only then do they leave the queue.
func (r *receiver) flush() error {
	if len(r.ends) == 0 {
		return nil
	}
	n, err := r.out.Write(r.pending)
	if err == nil && n < len(r.pending) {
		err = io.ErrShortWrite
	}
	whole := 0
	for whole < len(r.ends) && r.ends[whole].end <= n {
		whole++
	}
	var rerr error
	if whole > 0 && !r.broken {
		rerr = r.q.ReleaseThrough(r.ends[whole-1].pos)
	}
	r.pending, r.ends, r.unacked = r.pending[:0], r.ends[:0], 0
	if cap(r.pending) > maxKeptOutput {
		r.pending = nil // a large message's buffer is not kept for the rest
	}
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return fmt.Errorf("writing standard output: %w", err)
	}
	return rerr
}

func waitContext(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	if d > 0 {
		return context.WithTimeout(ctx, d)
	}
	return context.WithCancel(ctx)
}

// queueStatOptions are the flags of "shm queue stat".
type queueStatOptions struct {
	dir    string
	asJSON bool
}

// newQueueStatCmd declares "shm queue stat" and its flags.
func newQueueStatCmd() *cobra.Command {
	var o queueStatOptions
	cmd := &cobra.Command{
		Use:   "stat NAME [--json]",
		Short: "Show a queue's size, fill, peers and state",
		Long: `Show a queue's capacity, the bytes and messages waiting, its producers and
consumer with whether they are alive, and whether it was closed for
sending: "yes" when its sender finished, "aborted" when the sender failed
part-way. On a corrupt queue it says which field is wrong, and where.`,
		Args:              exactArgs("NAME"),
		ValidArgsFunction: completeNames(false),
		RunE:              o.run,
	}
	cmd.Flags().BoolVar(&o.asJSON, "json", false, "print a JSON object for scripts")
	addDirFlag(cmd, &o.dir)
	return cmd
}

// run prints the queue's state, or what is wrong with it.
func (o *queueStatOptions) run(cmd *cobra.Command, args []string) error {
	st, err := queue.Stat(args[0], queue.Dir(o.dir))
	if st.Capacity == 0 {
		return err
	}
	out := cmd.OutOrStdout()
	if o.asJSON {
		type jsonStats struct {
			jsonname.Field
			queue.Stats
			Fill    float64 `json:"fill"`
			Corrupt string  `json:"corrupt,omitempty"`
		}
		js := jsonStats{Field: jsonname.Of(strings.TrimLeft(args[0], "/")), Stats: st, Fill: st.Fill()}
		if err != nil {
			js.Corrupt = err.Error()
		}
		if werr := writeJSON(out, js); werr != nil {
			return werr
		}
		return err
	}
	tw := tabwriter.NewWriter(out, 0, 4, 1, ' ', 0)
	kind := "single producer"
	if st.MultiProducer {
		kind = "multi-producer"
	}
	if st.MaxConsumers > 0 {
		kind += fmt.Sprintf(", up to %d competing consumers", st.MaxConsumers)
	}
	fmt.Fprintf(tw, "name:\t%s\n", shm.QuoteName(strings.TrimLeft(args[0], "/")))
	fmt.Fprintf(tw, "kind:\tqueue, %s\n", kind)
	fmt.Fprintf(tw, "capacity:\t%s (%d bytes)\n", formatSize(st.Capacity), st.Capacity)
	fmt.Fprintf(tw, "max message:\t%s (%d bytes)\n", formatSize(int64(st.MaxMessage)), st.MaxMessage)
	fmt.Fprintf(tw, "waiting:\t%s messages in %d bytes (%.1f%% full)\n", countOrUnknown(st.Messages, err), st.Bytes, 100*st.Fill())
	if st.Pending > 0 {
		fmt.Fprintf(tw, "pending:\t%d reserved, not committed\n", st.Pending)
	}
	closed := yesNo(st.Closed)
	if st.Aborted {
		closed = "aborted (the sender failed; the stream is incomplete)"
	}
	fmt.Fprintf(tw, "closed:\t%s\n", closed)
	if st.MaxConsumers > 0 {
		var cs []string
		for _, c := range st.Consumers {
			cs = append(cs, fmt.Sprintf("slot %d: %s", c.Slot, c))
		}
		if len(cs) == 0 {
			cs = append(cs, "none")
		}
		fmt.Fprintf(tw, "consumers:\t%s\n", strings.Join(cs, "; "))
	} else if st.Consumer != nil {
		fmt.Fprintf(tw, "consumer:\t%s\n", peerString(*st.Consumer))
	} else {
		fmt.Fprintf(tw, "consumer:\tnone\n")
	}
	var ps []string
	for _, p := range st.Producers {
		ps = append(ps, peerString(p))
	}
	if len(ps) == 0 {
		ps = append(ps, "none")
	}
	fmt.Fprintf(tw, "producers:\t%s\n", strings.Join(ps, ", "))
	if err := tw.Flush(); err != nil {
		return err
	}
	return err
}

func countOrUnknown(n int, err error) string {
	if n < 0 {
		return "unknown" // not counted: the ring could not be read
	}
	if err != nil {
		return fmt.Sprintf("at least %d", n)
	}
	return fmt.Sprint(n)
}

func peerString(p queue.Peer) string { return p.String() }

// peersString lists a queue's peers for ls and stat: "consumer pid 12
// (alive), producer pid 1 (alive, in another PID namespace)", or "none".
func peersString(st queue.Stats) string {
	var ps []string
	if st.Consumer != nil {
		ps = append(ps, "consumer "+st.Consumer.String())
	}
	for _, c := range st.Consumers {
		ps = append(ps, "consumer "+c.String())
	}
	for _, p := range st.Producers {
		ps = append(ps, "producer "+p.String())
	}
	if len(ps) == 0 {
		return "none"
	}
	return strings.Join(ps, ", ")
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
