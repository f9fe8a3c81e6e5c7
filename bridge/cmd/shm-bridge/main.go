// Command shm-bridge carries messages between a shared-memory queue of
// package queue (or a topic of package topic, with --topic) and NATS
// (JetStream): "out" publishes a queue's messages to a subject, exactly
// once into a stream; "in" sends a stream's messages on a subject into a
// queue, at least once. The guarantees are those of package natsbridge
// (go doc github.com/shmkit/shm/bridge).
//
// Exit status: 0 when the bridge ended by itself or drained after
// SIGINT, SIGTERM or SIGHUP; 1 when it failed (the reason is one line on
// stderr, "shm-bridge: OP QUEUE: reason"); 2 for a usage error.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	natsbridge "github.com/shmkit/shm/bridge"
	"github.com/shmkit/shm/queue"
	"github.com/shmkit/shm/topic"
	"github.com/spf13/cobra"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run executes the command line args and returns the exit status.
func run(args []string, stdout, stderr io.Writer) int {
	root := newRootCmd(stderr)
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	return exitStatus(root.Execute(), stderr)
}

// usageError is a command line that does not make sense; exit status 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usageErr(cmd *cobra.Command, format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf("%s: %s; see '%s --help'", cmd.Name(), fmt.Sprintf(format, args...), cmd.CommandPath())}
}

// exitStatus prints err as one line on stderr and returns the exit status
// it stands for: 0 for nil, 2 for usage errors, else 1.
func exitStatus(err error, stderr io.Writer) int {
	if err == nil {
		return 0
	}
	code := 1
	var usage *usageError
	if errors.As(err, &usage) {
		code = 2
	}
	msg := err.Error()
	var be *natsbridge.Error
	if errors.As(err, &be) && be.Error() == msg {
		msg = be.Op + " " + be.Name + ": " + be.Err.Error()
	}
	fmt.Fprintln(stderr, "shm-bridge: "+strings.ReplaceAll(msg, "\n", "; "))
	return code
}

func newRootCmd(stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:   "shm-bridge",
		Short: "carry messages between shared-memory queues and NATS JetStream",
		Long: `shm-bridge carries messages between a shared-memory queue and NATS.

  shm-bridge out QUEUE --nats URL --subject S   queue -> subject, exactly once
                                                into a JetStream stream
  shm-bridge in --nats URL --subject S QUEUE    stream -> queue, at least once,
                                                through a durable consumer

With --topic the local object is a topic (package topic) instead of a queue:

  shm-bridge out --topic TOPIC --subject S      topic -> subject: the bridge is
                                                one subscriber of the topic
  shm-bridge in --subject S --topic TOPIC       stream -> topic: the bridge is
                                                the topic's publisher

Exit status: 0 ended or drained after SIGINT/SIGTERM/SIGHUP, 1 failure,
2 usage error.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usageErr(cmd, "unknown command %q", args[0])
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	root.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error { return usageErr(cmd, "%v", err) })
	root.AddCommand(newOutCmd(stderr), newInCmd(stderr))
	return root
}

// common are the flags of both directions.
type common struct {
	url, subject, dir, oversize string
	window                      int
	status, spin                time.Duration
	topic                       bool
}

func (c *common) register(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&c.url, "nats", nats.DefaultURL, "NATS server URL (several: comma-separated)")
	f.StringVar(&c.subject, "subject", "", "NATS subject (required)")
	f.StringVar(&c.dir, "dir", "", "directory of the queue or topic (default /dev/shm)")
	f.IntVar(&c.window, "window", 256, "messages in flight at most (out: unacknowledged publishes; in: fetched, MaxAckPending)")
	f.StringVar(&c.oversize, "oversize", "stop", "a message too large: stop (exit 1, nothing lost) or skip (log, count, drop)")
	f.DurationVar(&c.status, "status", 10*time.Second, "print a status line this often (0: only at the end)")
	f.BoolVar(&c.topic, "topic", false, "the name is a topic's (package topic), not a queue's")
	f.DurationVar(&c.spin, "spin", queue.DefaultSpin, "how long a wait on the queue or topic spins before it sleeps: a message that comes within it skips a wake-up, at the cost of a busy CPU for as long (0: sleep at once)")
}

func (c *common) config(cmd *cobra.Command, name string, stderr io.Writer) (natsbridge.Config, error) {
	cfg := natsbridge.Config{Queue: name, Subject: c.subject, Window: c.window}
	if c.subject == "" {
		return cfg, usageErr(cmd, "--subject is required")
	}
	if c.window < 1 {
		return cfg, usageErr(cmd, "--window %d: must be at least 1", c.window)
	}
	if c.spin < 0 {
		return cfg, usageErr(cmd, "--spin %v: must not be negative", c.spin)
	}
	switch c.oversize {
	case "stop":
		cfg.Oversize = natsbridge.Stop
	case "skip":
		cfg.Oversize = natsbridge.Skip
	default:
		return cfg, usageErr(cmd, "--oversize %q: want stop or skip", c.oversize)
	}
	if c.topic {
		cfg.Queue, cfg.Topic = "", name
	}
	if c.dir != "" {
		cfg.QueueOptions = append(cfg.QueueOptions, queue.Dir(c.dir))
		cfg.TopicOptions = append(cfg.TopicOptions, topic.Dir(c.dir))
	}
	if cmd.Flags().Changed("spin") {
		cfg.QueueOptions = append(cfg.QueueOptions, queue.SpinTime(c.spin))
		cfg.TopicOptions = append(cfg.TopicOptions, topic.SpinTime(c.spin))
	}
	var mu sync.Mutex
	cfg.Logf = func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		fmt.Fprintf(stderr, "shm-bridge: "+format+"\n", args...)
	}
	cfg.Stats = new(natsbridge.Stats)
	return cfg, nil
}

// bridge connects, runs fn until it ends or a signal asks it to drain,
// and prints status lines.
func (c *common) bridge(cfg natsbridge.Config, what string, fn func(context.Context, *nats.Conn, natsbridge.Config) error) error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	defer stop()
	nc, err := natsbridge.Connect(c.url, "shm-bridge "+what, cfg.Logf)
	if err != nil {
		return &natsbridge.Error{Op: strings.Fields(what)[0], Name: cfg.Queue + cfg.Topic, Err: fmt.Errorf("connect to %s: %w", c.url, err)}
	}
	defer nc.Close()
	return runWithStatus(ctx, nc, cfg, what, c.status, fn)
}

func runWithStatus(ctx context.Context, nc *nats.Conn, cfg natsbridge.Config, what string, every time.Duration, fn func(context.Context, *nats.Conn, natsbridge.Config) error) error {
	done := make(chan struct{})
	var wg sync.WaitGroup
	if every > 0 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			t := time.NewTicker(every)
			defer t.Stop()
			for {
				select {
				case <-done:
					return
				case <-t.C:
					cfg.Logf("%s: %s", what, cfg.Stats)
				}
			}
		}()
	}
	err := fn(ctx, nc, cfg)
	close(done)
	wg.Wait()
	end := "done"
	if ctx.Err() != nil {
		end = "stopped by signal"
	}
	if err != nil {
		end = "failed"
	}
	cfg.Logf("%s: %s: %s", what, end, cfg.Stats)
	return err
}

func newOutCmd(stderr io.Writer) *cobra.Command {
	var c common
	var jetStream bool
	var ackTimeout time.Duration
	cmd := &cobra.Command{
		Use:   "out QUEUE --nats URL --subject S",
		Short: "publish a queue's messages to a NATS subject",
		Long: `out receives the messages of QUEUE and publishes them to --subject.

With JetStream (--jetstream, the default when a stream takes the subject) a
message leaves the queue only after JetStream acknowledged it, and carries a
Nats-Msg-Id of the queue's identity and the message's position: a bridge
killed at any moment loses nothing, and the one started after it publishes
again what was not acknowledged, which the stream's duplicate window drops.
Exactly once in the stream. Without a stream (--jetstream=false) messages
are plain NATS publishes, released once the server has them.

With --topic, out is one subscriber of the topic TOPIC. Each message carries
a Nats-Msg-Id of the topic's identity and its message number; the bridge
keeps the messages in flight until JetStream acknowledged them. A bridge
started again resumes after the last message of the topic the stream holds,
when the topic still holds the next (on a lossless topic a live bridge holds
the publisher back, a dead one does not); otherwise, and when an overwrite
topic's publisher writes over messages the bridge has not read, it says
exactly how many it missed ("missed N" in the status line). A first bridge
starts as any new subscriber: with the next message, or the topic's history.

out ends when the queue is closed for sending and drained (the topic closed
and read), or drains (waits for the publishes in flight) on SIGINT, SIGTERM
or SIGHUP.`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usageErr(cmd, "wants 1 argument (QUEUE, or TOPIC with --topic), got %d", len(args))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := c.config(cmd, args[0], stderr)
			if err != nil {
				return err
			}
			cfg.AckTimeout = ackTimeout
			name := args[0]
			what := fmt.Sprintf("out %s -> %s", name, cfg.Subject)
			explicit := cmd.Flags().Changed("jetstream")
			return c.bridge(cfg, what, func(ctx context.Context, nc *nats.Conn, cfg natsbridge.Config) error {
				if !explicit || jetStream {
					stream, err := streamFor(ctx, nc, cfg.Subject)
					switch {
					case err != nil:
						return &natsbridge.Error{Op: "out", Name: name, Err: err}
					case stream == "" && explicit:
						return &natsbridge.Error{Op: "out", Name: name, Err: fmt.Errorf("--jetstream: no JetStream stream takes subject %s", cfg.Subject)}
					case stream == "":
						cfg.Logf("%s: no JetStream stream takes the subject: plain NATS publishes, at most once", what)
					default:
						cfg.Logf("%s: into JetStream stream %s", what, stream)
					}
					cfg.Core = stream == ""
				} else {
					cfg.Core = true
				}
				return natsbridge.Out(ctx, nc, cfg)
			})
		},
	}
	c.register(cmd)
	cmd.Flags().BoolVar(&jetStream, "jetstream", false, "publish to JetStream and wait for its acknowledgements (default: when a stream takes the subject)")
	cmd.Flags().DurationVar(&ackTimeout, "ack-timeout", 5*time.Second, "publish again from the last acknowledged message when an acknowledgement takes longer")
	return cmd
}

// streamFor names the stream that takes subject, "" when none does. It
// waits for a first connection up to a minute.
func streamFor(ctx context.Context, nc *nats.Conn, subject string) (string, error) {
	js, err := jetstream.New(nc)
	if err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	for {
		sctx, scancel := context.WithTimeout(ctx, 5*time.Second)
		name, err := js.StreamNameBySubject(sctx, subject)
		scancel()
		switch {
		case err == nil:
			return name, nil
		case errors.Is(err, jetstream.ErrStreamNotFound):
			return "", nil
		case errors.Is(err, jetstream.ErrJetStreamNotEnabled), errors.Is(err, jetstream.ErrJetStreamNotEnabledForAccount):
			return "", nil
		case ctx.Err() != nil:
			return "", fmt.Errorf("looking up the stream of subject %s: %w", subject, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func newInCmd(stderr io.Writer) *cobra.Command {
	var c common
	var durable, stream string
	var count int64
	var seq bool
	var ackWait time.Duration
	cmd := &cobra.Command{
		Use:   "in --nats URL --subject S QUEUE",
		Short: "send a JetStream stream's messages on a subject into a queue",
		Long: `in reads --subject from its JetStream stream through a durable consumer
(--durable, default shm-bridge-QUEUE) and sends each message into QUEUE,
acknowledging it only after the queue took it: at least once into the queue,
in the stream's order. A bridge killed at any moment sends again, when it
restarts, the messages it sent and had not acknowledged: at most --window
per crash. With --seq each message is the 8-byte little-endian stream
sequence followed by the payload, so that the queue's consumer can drop
what it already has (a sequence not above the last one it processed).

With --topic, in is the publisher of the topic TOPIC (it fails while another
live process is) and acknowledges a message after it was published: at least
once into the topic, as into a queue.

in ends after -n N messages (then it closes the queue for sending: its
consumer gets end-of-file; or closes the topic), or on SIGINT, SIGTERM or
SIGHUP.`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usageErr(cmd, "wants 1 argument (QUEUE, or TOPIC with --topic), got %d", len(args))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := c.config(cmd, args[0], stderr)
			if err != nil {
				return err
			}
			if count < 0 {
				return usageErr(cmd, "-n %d: must not be negative", count)
			}
			cfg.Durable, cfg.Stream, cfg.Count, cfg.Sequence, cfg.AckWait = durable, stream, count, seq, ackWait
			what := fmt.Sprintf("in %s -> %s", cfg.Subject, args[0])
			return c.bridge(cfg, what, natsbridge.In)
		},
	}
	c.register(cmd)
	f := cmd.Flags()
	f.StringVar(&durable, "durable", "", "durable consumer name (default shm-bridge-QUEUE)")
	f.StringVar(&stream, "stream", "", "JetStream stream (default: the one that takes the subject)")
	f.Int64VarP(&count, "count", "n", 0, "end after N messages sent to the queue (0: run until a signal)")
	f.BoolVar(&seq, "seq", false, "frame each message with its 8-byte stream sequence, for deduplication")
	f.DurationVar(&ackWait, "ack-wait", 30*time.Second, "the consumer's AckWait: unacknowledged messages come again after it")
	return cmd
}
