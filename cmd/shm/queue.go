package main

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/shmkit/shm"
	"github.com/shmkit/shm/queue"
	"github.com/spf13/cobra"
)

func init() { kindProbes = append(kindProbes, probeQueue) }

// probeQueue tells queues apart for ls and stat by their header (the first
// page, read without mapping the object) and reports their fill.
func probeQueue(_ string, info shm.Info) (string, map[string]any, bool) {
	if info.Kind != shm.KindData || info.Size < 4096 {
		return "", nil, false
	}
	f, err := os.OpenFile(info.Path, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if err != nil {
		return "", nil, false
	}
	defer f.Close()
	b := make([]byte, 4096)
	if _, err := io.ReadFull(f, b); err != nil {
		return "", nil, false
	}
	st, err := queue.Probe(b)
	switch {
	case errors.Is(err, queue.ErrNotQueue):
		return "", nil, false
	case err != nil && st.Capacity == 0:
		return "queue", map[string]any{"error": err.Error(), "state": "corrupt"}, true
	}
	d := map[string]any{
		"capacity":       st.Capacity,
		"bytes":          st.Bytes,
		"fill":           fmt.Sprintf("%.1f%%", 100*st.Fill()),
		"closed":         st.Closed,
		"multi_producer": st.MultiProducer,
		"producers":      len(st.Producers),
		"state":          fmt.Sprintf("fill=%.1f%%", 100*st.Fill()),
	}
	if err != nil {
		d["error"] = err.Error()
		d["state"] = "corrupt"
	}
	return "queue", d, true
}

// newQueueCmd is "shm queue": message queues over shared memory.
func newQueueCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "queue",
		Short: "Message queues over shared memory",
		Long: `A queue is a shared-memory object holding a ring of messages, with one
consumer and one producer (or many, with --multi-producer). Two shells can
pipe through one:

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

func newQueueCreateCmd() *cobra.Command {
	var (
		dir      string
		capacity = sizeFlag{n: queue.DefaultCapacity}
		maxMsg   sizeFlag
		mode     = modeFlag(shm.DefaultMode)
		multi    bool
	)
	cmd := &cobra.Command{
		Use:   "create NAME [--capacity 4M] [--multi-producer] [--max-message 64K]",
		Short: "Create a queue",
		Long: `Create a queue whose ring holds --capacity bytes (a power of two; each
message takes 8 bytes more than its length, rounded up to 8). The largest
message is --max-message, at most half the capacity less 8 bytes (the
default). Without --capacity the ring is 4M, or with --max-message the
smallest power of two from 4M up that holds 16 of the largest messages:
a ring larger than a core's own cache streams faster (see the queue
package's documentation).`,
		Args:              exactArgs("NAME"),
		ValidArgsFunction: cobra.NoFileCompletions,
		RunE: func(cmd *cobra.Command, args []string) error {
			c := capacity.n
			if !capacity.set && maxMsg.set {
				c = queue.RecommendedCapacity(int(maxMsg.n))
			}
			if c < queue.MinCapacity || c > queue.MaxCapacity || c&(c-1) != 0 {
				return usageErr(cmd, "--capacity %s is not a power of two from %s to %s", exactSize(c), exactSize(queue.MinCapacity), exactSize(queue.MaxCapacity))
			}
			opts := []queue.Option{queue.Dir(dir), queue.Mode(mode.perm())}
			if multi {
				opts = append(opts, queue.MultiProducer())
			}
			if maxMsg.set {
				if maxMsg.n == 0 || maxMsg.n > c/2-8 {
					return usageErr(cmd, "--max-message %s is not from 1 to %d for a capacity of %s", exactSize(maxMsg.n), c/2-8, exactSize(c))
				}
				opts = append(opts, queue.MaxMessage(int(maxMsg.n)))
			}
			q, err := queue.Create(args[0], c, opts...)
			if err != nil {
				return err
			}
			return q.Close()
		},
	}
	f := cmd.Flags()
	f.Var(&capacity, "capacity", "ring size in bytes, a power of two (64K, 1M, ...; default 4M, more for a --max-message above 256K)")
	f.Var(&maxMsg, "max-message", "largest message (default: capacity/2 - 8)")
	f.Var(&mode, "mode", "permission bits of the new object, in octal")
	f.BoolVar(&multi, "multi-producer", false, "let many processes send at once")
	addDirFlag(cmd, &dir)
	return cmd
}

func (m modeFlag) perm() os.FileMode { return os.FileMode(m) }

func newQueueSendCmd() *cobra.Command {
	var (
		dir      string
		raw      bool
		keepOpen bool
		timeout  time.Duration
	)
	cmd := &cobra.Command{
		Use:   "send NAME [MSG...]",
		Short: "Send messages: the arguments, or one per line of standard input",
		Long: `Send each argument as a message, or without arguments each line of
standard input (without its newline), or with --raw each length-prefixed
message of standard input. At the end the queue is closed for sending, so
that the receiver gets end-of-file after the last message; --keep-open
leaves it open. A full queue makes send wait (up to --timeout per message).`,
		Args:              minArgs(1, "NAME"),
		ValidArgsFunction: completeNames(false),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			q, err := queue.Open(name, queue.Dir(dir))
			if err != nil {
				return err
			}
			send := func(msg []byte) error {
				ctx, cancel := waitContext(cmd.Context(), timeout)
				defer cancel()
				return q.Send(ctx, msg)
			}
			err = sendAll(cmd.InOrStdin(), args[1:], raw, q.MaxMessage(), send)
			// What was sent stays sent, also after an error.
			if keepOpen {
				return errors.Join(err, q.Detach())
			}
			return errors.Join(err, q.Close())
		},
	}
	f := cmd.Flags()
	f.BoolVar(&raw, "raw", false, "read length-prefixed messages (4-byte little-endian length, then the bytes)")
	f.BoolVar(&keepOpen, "keep-open", false, "do not close the queue for sending at the end")
	f.DurationVar(&timeout, "timeout", 0, "longest wait for room for one message (0: no limit)")
	addDirFlag(cmd, &dir)
	return cmd
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
		for {
			if _, err := io.ReadFull(br, hdr[:]); err == io.EOF {
				return nil
			} else if err != nil {
				return fmt.Errorf("reading a length prefix: %w", err)
			}
			n := binary.LittleEndian.Uint32(hdr[:])
			if uint64(n) > uint64(maxMsg) {
				return fmt.Errorf("a %d-byte message on standard input: %w (at most %d)", n, queue.ErrTooLarge, maxMsg)
			}
			if cap(buf) < int(n) {
				buf = make([]byte, n)
			}
			buf = buf[:n]
			if _, err := io.ReadFull(br, buf); err != nil {
				return fmt.Errorf("reading a %d-byte message: %w", n, err)
			}
			if err := send(buf); err != nil {
				return err
			}
		}
	}
	sc := bufio.NewScanner(br)
	sc.Buffer(make([]byte, 0, 1<<16), maxMsg+2)
	for sc.Scan() {
		if err := send(sc.Bytes()); err != nil {
			return err
		}
	}
	if errors.Is(sc.Err(), bufio.ErrTooLong) {
		return fmt.Errorf("a line of standard input is longer than the queue's maximum message of %d bytes: %w", maxMsg, queue.ErrTooLarge)
	}
	return sc.Err()
}

func newQueueRecvCmd() *cobra.Command {
	var (
		dir     string
		raw     bool
		follow  bool
		count   int
		timeout time.Duration
	)
	cmd := &cobra.Command{
		Use:   "recv NAME [-n N] [--timeout D] [--follow]",
		Short: "Receive messages and print them, one per line",
		Long: `Receive messages and print each on a line of its own (with --raw: a 4-byte
little-endian length and the bytes). Without -n or --follow, recv prints the
messages waiting now and exits. With -n N it waits for N messages; with
--follow it prints messages as they come until the queue is closed for
sending (or Ctrl-C). --timeout D gives up when no message came for D: that
ends --follow and the default mode quietly, and fails -n.`,
		Args:              exactArgs("NAME"),
		ValidArgsFunction: completeNames(false),
		RunE: func(cmd *cobra.Command, args []string) error {
			if count < 0 {
				return usageErr(cmd, "-n %d is negative", count)
			}
			q, err := queue.Open(args[0], queue.Dir(dir))
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt)
			defer stop()
			w := bufio.NewWriterSize(cmd.OutOrStdout(), 1<<16)
			got, err := recvAll(ctx, q, w, raw, follow || count > 0, count, timeout)
			err = errors.Join(err, w.Flush(), q.Close())
			if count > 0 && got < count && err == nil {
				err = &shm.Error{Op: "queue receive", Name: q.Name(), Err: fmt.Errorf("got %d of %d messages: the queue was closed for sending", got, count)}
			}
			if err != nil && ctx.Err() != nil && cmd.Context().Err() == nil {
				return nil // interrupted: what was received was printed
			}
			return err
		},
	}
	f := cmd.Flags()
	f.BoolVar(&raw, "raw", false, "write length-prefixed messages (4-byte little-endian length, then the bytes)")
	f.BoolVar(&follow, "follow", false, "keep waiting for messages until the queue is closed for sending")
	f.IntVarP(&count, "count", "n", 0, "stop after N messages, waiting for them")
	f.DurationVar(&timeout, "timeout", 0, "give up when no message came for this long (0: no limit)")
	addDirFlag(cmd, &dir)
	return cmd
}

// recvAll prints messages until count (if > 0), end of file, or, when not
// waiting, an empty queue. It returns how many it printed.
func recvAll(ctx context.Context, q *queue.Queue, w *bufio.Writer, raw, wait bool, count int, timeout time.Duration) (int, error) {
	var buf []byte
	got := 0
	for count == 0 || got < count {
		var err error
		buf, err = q.TryReceive(buf)
		if err == queue.ErrEmpty && (wait || timeout > 0) {
			// About to wait: what was printed goes out first.
			if ferr := w.Flush(); ferr != nil {
				return got, ferr
			}
			wctx, cancel := waitContext(ctx, timeout)
			buf, err = q.Receive(wctx, buf)
			cancel()
			if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
				if count > 0 {
					return got, &shm.Error{Op: "queue receive", Name: q.Name(), Err: fmt.Errorf("got %d of %d messages: no message for %v: %w", got, count, timeout, err)}
				}
				return got, nil
			}
		}
		switch {
		case err == queue.ErrEmpty || err == io.EOF:
			return got, nil
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

func waitContext(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	if d > 0 {
		return context.WithTimeout(ctx, d)
	}
	return context.WithCancel(ctx)
}

func newQueueStatCmd() *cobra.Command {
	var (
		dir    string
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "stat NAME [--json]",
		Short: "Show a queue's size, fill, peers and state",
		Long: `Show a queue's capacity, the bytes and messages waiting, its producers and
consumer with whether they are alive, and whether it was closed for
sending. On a corrupt queue it says which field is wrong, and where.`,
		Args:              exactArgs("NAME"),
		ValidArgsFunction: completeNames(false),
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := queue.Stat(args[0], queue.Dir(dir))
			if st.Capacity == 0 {
				return err
			}
			out := cmd.OutOrStdout()
			if asJSON {
				type jsonStats struct {
					Name string `json:"name"`
					queue.Stats
					Fill    float64 `json:"fill"`
					Corrupt string  `json:"corrupt,omitempty"`
				}
				js := jsonStats{Name: strings.TrimLeft(args[0], "/"), Stats: st, Fill: st.Fill()}
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
			fmt.Fprintf(tw, "name:\t%s\n", strings.TrimLeft(args[0], "/"))
			fmt.Fprintf(tw, "kind:\tqueue, %s\n", kind)
			fmt.Fprintf(tw, "capacity:\t%s (%d bytes)\n", formatSize(st.Capacity), st.Capacity)
			fmt.Fprintf(tw, "max message:\t%s (%d bytes)\n", formatSize(int64(st.MaxMessage)), st.MaxMessage)
			fmt.Fprintf(tw, "waiting:\t%s messages in %d bytes (%.1f%% full)\n", countOrUnknown(st.Messages, err), st.Bytes, 100*st.Fill())
			if st.Pending > 0 {
				fmt.Fprintf(tw, "pending:\t%d reserved, not committed\n", st.Pending)
			}
			fmt.Fprintf(tw, "closed:\t%s\n", yesNo(st.Closed))
			if st.Consumer != nil {
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
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print a JSON object for scripts")
	addDirFlag(cmd, &dir)
	return cmd
}

func countOrUnknown(n int, err error) string {
	if err != nil {
		return fmt.Sprintf("at least %d", n)
	}
	return fmt.Sprint(n)
}

func peerString(p queue.Peer) string {
	state := "alive"
	if !p.Alive {
		state = "dead"
	}
	return fmt.Sprintf("pid %d (%s)", p.PID, state)
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
