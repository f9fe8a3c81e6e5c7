package main

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/shmkit/shm"
	"github.com/shmkit/shm/internal/jsonname"
	"github.com/shmkit/shm/topic"
	"github.com/spf13/cobra"
)

// probeTopic tells topics apart for ls and stat with topic.Stat, the
// checks of "shm topic stat", and reports their policy and subscribers, or
// where a damaged topic is corrupt ("corrupt:cursors").
func probeTopic(dir string, info shm.Info) (string, map[string]any, bool) {
	if info.Kind != shm.KindTopic {
		return "", nil, false
	}
	st, err := topic.Stat(info.Name, topic.Dir(dir))
	var se *shm.Error
	if errors.As(err, &se) {
		err = se.Err // ls and stat name the object already
	}
	switch {
	case err != nil && !errors.Is(err, topic.ErrCorrupt) && !errors.Is(err, topic.ErrVersion) && !errors.Is(err, shm.ErrFault):
		return "", nil, false // not a topic, or no header could be read (no permission)
	case err != nil && st.Capacity == 0:
		return "topic", map[string]any{"error": err.Error(), "state": corruptState(topic.Part(err), errors.Is(err, topic.ErrCorrupt))}, true
	}
	if err != nil {
		// Only the header's geometry is sure to have been read: a count
		// of 0 subscribers or a fill of 0% next to the error would read
		// as a healthy, idle topic.
		return "topic", map[string]any{
			"capacity":        st.Capacity,
			"policy":          st.Policy(),
			"max_subscribers": st.MaxSubscribers,
			"error":           err.Error(),
			"state":           corruptState(topic.Part(err), errors.Is(err, topic.ErrCorrupt)),
		}, true
	}
	d := map[string]any{
		"capacity":        st.Capacity,
		"policy":          st.Policy(),
		"max_subscribers": st.MaxSubscribers,
		"subscribers":     st.Active,
		"published":       st.Published,
		"fill":            fmt.Sprintf("%.1f%%", 100*st.Fill()),
		"closed":          st.Closed,
		"aborted":         st.Aborted,
		"state":           fmt.Sprintf("%s subs=%d", st.Policy(), st.Active),
	}
	return "topic", d, true
}

// newTopicCmd is "shm topic": publish-subscribe over shared memory.
func newTopicCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "topic",
		Short: "Publish-subscribe over shared memory",
		Long: `A topic is a shared-memory object holding a ring of messages that one
publisher writes and every subscriber reads (up to --subscribers of them at
once). A lossless topic (the default) makes the publisher wait for the
slowest subscriber; an --overwrite topic never waits, and a subscriber that
fell behind is told how many messages it missed. From shells:

  shm topic create t
  shm topic sub t --follow > a &          # each subscriber gets every message
  shm topic sub t --follow > b &
  seq 1000000 | shm topic pub t           # closes the topic at the end

Subscribers started together with the publisher, as above, get every
message even when they join after pub began: a joiner starts with the
topic's first message while the ring still holds it, and pub on a lossless
topic keeps it for at least --start-grace (a second) after it starts. Once
the ring has gone round, a joiner gets the messages published after it
joined (with --history N at creation: the last N the ring still holds
first). A topic carries one stream: a subscriber that joins a topic
already closed gets what the ring still holds of it and then end-of-file
at once, so run the session again on a fresh topic (shm rm t, then
create). With --raw, pub reads and sub writes each message as a 4-byte
little-endian length followed by the bytes.`,
		Args: noSuchCommand,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.AddCommand(newTopicCreateCmd(), newTopicPubCmd(), newTopicSubCmd(), newTopicStatCmd())
	return cmd
}

// topicCreateOptions are the flags of "shm topic create".
type topicCreateOptions struct {
	dir       string
	capacity  sizeFlag
	maxMsg    sizeFlag
	mode      modeFlag
	subs      int
	history   int
	overwrite bool
}

// newTopicCreateCmd declares "shm topic create" and its flags.
func newTopicCreateCmd() *cobra.Command {
	o := topicCreateOptions{
		capacity: sizeFlag{n: 4 << 20},
		maxMsg:   sizeFlag{n: 64 << 10},
		mode:     modeFlag(shm.DefaultMode),
	}
	cmd := &cobra.Command{
		Use:   "create NAME [--capacity 4M] [--max-message 64K] [--subscribers 64] [--history N] [--overwrite]",
		Short: "Create a topic",
		Long: `Create a topic whose ring holds --capacity bytes (a power of two; each
message takes 16 bytes more than its length, rounded up to 16). The largest
message is --max-message (at most half the capacity less 32 bytes). Up to
--subscribers subscribers may read at once. A subscriber that joins gets
the last --history messages the ring still holds before the new ones. With
--overwrite the publisher never waits for a slow subscriber, which misses
what was written over instead (and is told how many).`,
		Args:              exactArgs("NAME"),
		ValidArgsFunction: cobra.NoFileCompletions,
		RunE:              o.run,
	}
	f := cmd.Flags()
	f.Var(&o.capacity, "capacity", "ring size in bytes, a power of two (64K, 4M, ...)")
	f.Var(&o.maxMsg, "max-message", "largest message (at most capacity/2 - 32)")
	f.Var(&o.mode, "mode", "permission bits of the new object, in octal")
	f.IntVar(&o.subs, "subscribers", topic.DefaultSubscribers, "most subscribers at once")
	f.IntVar(&o.history, "history", 0, "messages a joining subscriber gets from before it joined")
	f.BoolVar(&o.overwrite, "overwrite", false, "never wait for slow subscribers: they miss messages instead")
	addDirFlag(cmd, &o.dir)
	return cmd
}

// run checks the flags against the topic's rules and creates it.
func (o *topicCreateOptions) run(cmd *cobra.Command, args []string) error {
	c, maxMsg := o.capacity.n, o.maxMsg.n
	if !o.maxMsg.set {
		maxMsg = min(maxMsg, int64(topic.MaxMessageFor(c))) // the default, cut to a small ring
	}
	var given []string // only the flags the user set: a default is no one's mistake
	if o.capacity.set {
		given = append(given, "--capacity "+exactSize(c))
	}
	if o.maxMsg.set {
		if maxMsg == 0 {
			return usageErr(cmd, "--max-message 0: a topic takes messages of at least 1 byte")
		}
		given = append(given, "--max-message "+exactSize(maxMsg))
	}
	if cmd.Flags().Changed("subscribers") {
		given = append(given, fmt.Sprintf("--subscribers %d", o.subs))
	}
	if cmd.Flags().Changed("history") {
		given = append(given, fmt.Sprintf("--history %d", o.history))
	}
	opts := []topic.Option{topic.Dir(o.dir), topic.Mode(o.mode.perm()), topic.MaxMessage(int(maxMsg)),
		topic.Subscribers(o.subs), topic.History(o.history)}
	if o.overwrite {
		opts = append(opts, topic.Overwrite())
	}
	if err := topic.Validate(c, opts...); err != nil {
		return ruleError(cmd, given, err)
	}
	t, err := topic.Create(args[0], c, opts...)
	if err != nil {
		return err
	}
	return t.Close()
}

// topicPubOptions are the flags of "shm topic pub".
type topicPubOptions struct {
	dir      string
	raw      bool
	keepOpen bool
	timeout  time.Duration
	grace    time.Duration
}

// newTopicPubCmd declares "shm topic pub" and its flags.
func newTopicPubCmd() *cobra.Command {
	var o topicPubOptions
	cmd := &cobra.Command{
		Use:   "pub NAME [MSG...]",
		Short: "Publish messages: the arguments, or one per line of standard input",
		Long: `Publish each argument as a message, or without arguments each line of
standard input (without its newline), or with --raw each length-prefixed
message of standard input. At the end the topic is closed for publishing, so
that every subscriber gets end-of-file after the last message; --keep-open
leaves it open. On a lossless topic a slow subscriber makes pub wait (up to
--timeout per message), and so does the start grace: pub keeps the topic's
first message for --start-grace after it starts (a second; 0 turns it off),
so that subscribers started together with it, still joining, get the whole
stream.

When pub fails part-way as the topic's publisher (a message too large,
unreadable input, a --timeout that passed, a signal), the messages
published stay published and the stream is marked aborted, with or without
--keep-open: "shm topic sub" prints them and then exits with status 5
instead of taking the stream for complete. A pub that never became the
publisher (another one is running) leaves the stream alone.

Exit status: 0 ok, 1 an error, 2 usage error, 130 stopped by SIGINT,
SIGTERM or SIGHUP.`,
		Args:              minArgs(1, "NAME"),
		ValidArgsFunction: completeNames(false),
		RunE:              o.run,
	}
	f := cmd.Flags()
	f.BoolVar(&o.raw, "raw", false, "read length-prefixed messages (4-byte little-endian length, then the bytes)")
	f.BoolVar(&o.keepOpen, "keep-open", false, "do not close the topic for publishing at the end")
	f.DurationVar(&o.timeout, "timeout", 0, "longest wait for room for one message (0: no limit)")
	f.DurationVar(&o.grace, "start-grace", topic.DefaultStartGrace, "keep the topic's first message this long for subscribers still joining (0: off)")
	addDirFlag(cmd, &o.dir)
	return cmd
}

// run publishes the arguments, or standard input, and closes the topic.
func (o *topicPubOptions) run(cmd *cobra.Command, args []string) error {
	if o.timeout < 0 {
		return usageErr(cmd, "--timeout %v is negative", o.timeout)
	}
	if o.grace < 0 {
		return usageErr(cmd, "--start-grace %v is negative", o.grace)
	}
	t, err := topic.Open(args[0], topic.Dir(o.dir), topic.StartGrace(o.grace))
	if err != nil {
		return err
	}
	sctx, stop := stopContext(cmd.Context())
	defer stop()
	published := 0
	publish := func(msg []byte) error {
		ctx, cancel := waitContext(sctx, o.timeout)
		err := t.Publish(ctx, msg)
		cancel()
		switch {
		case err == nil:
			published++
			return nil
		case errors.Is(err, context.DeadlineExceeded) && sctx.Err() == nil:
			why := "the topic stayed full: its slowest subscriber did not read"
			if t.StartGraceLeft() > 0 {
				why = fmt.Sprintf("the start grace (--start-grace %v) was keeping the topic's first message for subscribers still joining, or a subscriber did not read", o.grace)
			}
			return &shm.Error{Op: topicPublishOp, Name: t.Name(), Err: fmt.Errorf("no room for message %d within --timeout %v: %s", published+1, o.timeout, why)}
		}
		return err
	}
	in := newSignalReader(sctx, cmd.InOrStdin())
	defer in.Close()
	err = sendAll(in, args[1:], o.raw, t.MaxMessage(), publish)
	if err == nil && published == 0 && !o.keepOpen {
		// Nothing to publish: only the publisher's Close tells the
		// subscribers that the stream is complete.
		err = t.BecomePublisher()
	}
	if err == nil {
		// What was published stays published; the stream is complete.
		if o.keepOpen {
			return opError(topicPublishOp, t.Name(), t.Detach())
		}
		return opError(topicPublishOp, t.Name(), t.Close())
	}
	// The stream is cut short: the subscribers must be able to tell, with
	// or without --keep-open. A pub that failed before it published takes
	// the role to say so, unless another live process publishes (ErrBusy):
	// that stream was never this one's to end.
	marked := false
	if !errors.Is(err, topic.ErrBusy) {
		berr := t.BecomePublisher()
		marked = berr == nil
		if berr != nil && !errors.Is(berr, topic.ErrBusy) {
			err = errors.Join(err, berr)
		}
	}
	if aerr := t.Abort(); aerr != nil { // Close for a handle that is not the publisher
		err = errors.Join(err, aerr)
		marked = false
	}
	if interruption(sctx) != nil {
		detail := ""
		if marked {
			detail = "; the stream is marked aborted"
		}
		return interruptedf(sctx, topicPublishOp, t.Name(), "after %d message%s%s", published, plural(published), detail)
	}
	return opError(topicPublishOp, t.Name(), err)
}

// topicPublishOp is how "shm topic pub" names itself in its errors: as the
// library's publishing calls do, so that a failure and an interruption read
// alike.
const topicPublishOp = "topic publish"

// topicSubOptions are the flags of "shm topic sub".
type topicSubOptions struct {
	dir     string
	raw     bool
	follow  bool
	count   int
	timeout time.Duration
}

// newTopicSubCmd declares "shm topic sub" and its flags.
func newTopicSubCmd() *cobra.Command {
	var o topicSubOptions
	cmd := &cobra.Command{
		Use:   "sub NAME [-n N] [--follow] [--timeout D] [--raw]",
		Short: "Subscribe and print messages, one per line",
		Long: `Join the topic's subscribers and print each message on a line of its own
(with --raw: a 4-byte little-endian length and the bytes). Without -n or
--follow, sub prints the messages there are now (from the topic's first
message while the ring holds it, else the history) and exits. With -n N it waits for N messages; with --follow it prints messages
as they come until the topic is closed for publishing (or Ctrl-C). --timeout
D gives up when no message came for D: that ends --follow and the default
mode quietly, and fails -n. On an overwrite topic, falling behind prints
"shm: topic sub NAME: missed N messages" on standard error and goes on. A
stream its publisher aborted (a "shm topic pub" that failed part-way) is
printed to its end and then ends with status 5 and one line on standard
error.

Exit status: 0 ok, 1 an error, 2 usage error, 5 the publisher aborted the
stream, 130 stopped by SIGINT, SIGTERM or SIGHUP.`,
		Args:              exactArgs("NAME"),
		ValidArgsFunction: completeNames(false),
		RunE:              o.run,
	}
	f := cmd.Flags()
	f.BoolVar(&o.raw, "raw", false, "write length-prefixed messages (4-byte little-endian length, then the bytes)")
	f.BoolVar(&o.follow, "follow", false, "keep waiting for messages until the topic is closed for publishing")
	f.IntVarP(&o.count, "count", "n", 0, "stop after N messages, waiting for them")
	f.DurationVar(&o.timeout, "timeout", 0, "give up when no message came for this long (0: no limit)")
	addDirFlag(cmd, &o.dir)
	return cmd
}

// run subscribes and prints messages until the flags say stop.
func (o *topicSubOptions) run(cmd *cobra.Command, args []string) error {
	if o.count < 0 {
		return usageErr(cmd, "-n %d is negative", o.count)
	}
	t, err := topic.Open(args[0], topic.Dir(o.dir))
	if err != nil {
		return err
	}
	if err := t.Subscribe(); err != nil {
		t.Close()
		return err
	}
	ctx, stop := stopContext(cmd.Context())
	defer stop()
	w := bufio.NewWriterSize(cmd.OutOrStdout(), 1<<16)
	got, err := subAll(ctx, t, w, cmd.ErrOrStderr(), o.raw, o.follow || o.count > 0, o.count, o.timeout)
	err = errors.Join(err, w.Flush(), t.Close())
	if interruption(ctx) != nil {
		// What was received was printed before the one line.
		return interruptedf(ctx, "topic sub", t.Name(), "after %d message%s", got, plural(got))
	}
	if errors.Is(err, topic.ErrAborted) {
		// Every message the publisher published was printed.
		return &exitError{code: abortedStatus, err: annotate(err, "%w after %d message%s", got, plural(got))}
	}
	if o.count > 0 && got < o.count && err == nil {
		err = &shm.Error{Op: "topic sub", Name: t.Name(), Err: fmt.Errorf("got %d of %d messages: the topic was closed for publishing", got, o.count)}
	}
	return err
}

// subAll prints messages until count (if > 0), end of file, or, when not
// waiting, no message ready. A lag is reported on stderr and passed. It
// returns how many messages it printed.
func subAll(ctx context.Context, t *topic.Topic, w *bufio.Writer, stderr io.Writer, raw, wait bool, count int, timeout time.Duration) (int, error) {
	var buf []byte
	got := 0
	for count == 0 || got < count {
		var err error
		buf, err = t.TryReceive(buf)
		if err == topic.ErrEmpty && (wait || timeout > 0) {
			// About to wait: what was printed goes out first.
			if ferr := w.Flush(); ferr != nil {
				return got, ferr
			}
			wctx, cancel := waitContext(ctx, timeout)
			buf, err = t.Receive(wctx, buf)
			cancel()
			if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
				if count > 0 {
					return got, &shm.Error{Op: "topic sub", Name: t.Name(), Err: fmt.Errorf("got %d of %d messages: no message for %v: %w", got, count, timeout, err)}
				}
				return got, nil
			}
		}
		var lag *topic.LaggedError
		switch {
		case err == topic.ErrEmpty || err == io.EOF:
			return got, nil
		case errors.As(err, &lag):
			fmt.Fprintf(stderr, "shm: topic sub %s: %s\n", t.Name(), lag)
			continue
		case err != nil:
			return got, err
		}
		if raw {
			var hdr [4]byte
			binary.LittleEndian.PutUint32(hdr[:], uint32(len(buf)))
			w.Write(hdr[:])
			w.Write(buf)
		} else {
			w.Write(buf)
			w.WriteByte('\n')
		}
		got++
	}
	return got, nil
}

// topicStatOptions are the flags of "shm topic stat".
type topicStatOptions struct {
	dir    string
	asJSON bool
}

// newTopicStatCmd declares "shm topic stat" and its flags.
func newTopicStatCmd() *cobra.Command {
	var o topicStatOptions
	cmd := &cobra.Command{
		Use:   "stat NAME [--json]",
		Short: "Show a topic's size, policy, publisher and subscribers",
		Long: `Show a topic's capacity, policy (lossless or overwrite), the messages
published and still kept, whether it was closed for publishing, its
publisher and each subscriber with whether it is alive, its position and how
many messages it has still to read. On a corrupt topic it says which field
is wrong, and where.`,
		Args:              exactArgs("NAME"),
		ValidArgsFunction: completeNames(false),
		RunE:              o.run,
	}
	cmd.Flags().BoolVar(&o.asJSON, "json", false, "print a JSON object for scripts")
	addDirFlag(cmd, &o.dir)
	return cmd
}

// run prints the topic's state, or what is wrong with it.
func (o *topicStatOptions) run(cmd *cobra.Command, args []string) error {
	st, err := topic.Stat(args[0], topic.Dir(o.dir))
	if st.Capacity == 0 {
		return err
	}
	out := cmd.OutOrStdout()
	name := strings.TrimLeft(args[0], "/")
	if o.asJSON {
		type jsonStats struct {
			jsonname.Field
			topic.Stats
			Policy  string `json:"policy"`
			Corrupt string `json:"corrupt,omitempty"`
		}
		js := jsonStats{Field: jsonname.Of(name), Stats: st, Policy: st.Policy()}
		if err != nil {
			js.Corrupt = err.Error()
		}
		if werr := writeJSON(out, js); werr != nil {
			return werr
		}
		return err
	}
	tw := tabwriter.NewWriter(out, 0, 4, 1, ' ', 0)
	fmt.Fprintf(tw, "name:\t%s\n", name)
	fmt.Fprintf(tw, "kind:\ttopic, %s\n", st.Policy())
	fmt.Fprintf(tw, "capacity:\t%s (%d bytes)\n", formatSize(st.Capacity), st.Capacity)
	fmt.Fprintf(tw, "max message:\t%s (%d bytes)\n", formatSize(int64(st.MaxMessage)), st.MaxMessage)
	fmt.Fprintf(tw, "history:\t%d messages\n", st.History)
	if st.Published >= 0 {
		fmt.Fprintf(tw, "published:\t%d messages, %d kept in the ring\n", st.Published, st.Kept)
	}
	closed := yesNo(st.Closed)
	if st.Aborted {
		closed = "aborted (the publisher failed; the stream is incomplete)"
	}
	fmt.Fprintf(tw, "closed:\t%s\n", closed)
	if st.Publisher != nil {
		fmt.Fprintf(tw, "publisher:\t%s\n", aliveString(st.Publisher.PID, st.Publisher.Alive))
	} else {
		fmt.Fprintf(tw, "publisher:\tnone\n")
	}
	fmt.Fprintf(tw, "subscribers:\t%d of %d\n", len(st.Subscribers), st.MaxSubscribers)
	for _, s := range st.Subscribers {
		fmt.Fprintf(tw, "  slot %d:\t%s, position %d, %d messages behind\n", s.Slot, aliveString(s.PID, s.Alive), s.Position, s.Lag)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	return err
}

func aliveString(pid int, alive bool) string {
	state := "alive"
	if !alive {
		state = "dead"
	}
	return fmt.Sprintf("pid %d (%s)", pid, state)
}
