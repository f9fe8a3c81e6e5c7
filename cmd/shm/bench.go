package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/shmkit/shm/internal/bench"
	"github.com/spf13/cobra"
)

// benchOptions are the flags of "shm bench".
type benchOptions struct {
	transports []string
	workloads  []string
	sizes      []string
	capacities []string
	duration   time.Duration
	rounds     int
	asJSON     bool
	plot       string
	cpus       []int
	noPin      bool
	dir        string
}

// newBenchCmd is "shm bench": transports measured against each other and
// against the C limits.
func newBenchCmd() *cobra.Command {
	var o benchOptions
	c := &cobra.Command{
		Use:   "bench",
		Short: "Measure shared memory against pipes and sockets on this machine",
		Long: `bench measures, in one run of bounded time, how fast two processes on this
machine exchange messages over each transport: the C limits (c-pingpong for
round trips, c-ring for streams: two C processes copying messages through
shared memory and busy-polling, built with gcc at run time; without gcc
their rows say so), raw (the same in Go, with no queue code), the shm queue
with spin and default waiting (as queue-noguard without the fault guard, as
queue-zerocopy through Reserve/Commit, filled with shm.Copy, and
Peek/Release), a topic each way with one subscriber (topic), one topic
fanned out to 2 and 4 subscriber processes (topic-fanout-2, topic-fanout-4:
stream rates per subscriber, round trips until the last subscriber's
answer), one queue shared by 2 competing consumer processes
(queue-consumers-2: stream only, the total rate), a semaphore hand-off, a
pipe, a Unix stream socket and TCP over 127.0.0.1. The topic and consumer
rows wait the default way (spin briefly, then sleep on a futex): with more
busy processes than CPUs, sleeping is what lets every process run. c-ring
also runs round trips, through a ring each way, and the round-trip limit at
each size is the faster of the two C programs: one slot is faster for small
messages, a ring for large ones. On amd64 each case of a C program whose
messages are larger than glibc's REP MOVSB threshold (2 KiB or more, as its
loader lists it) runs twice, half its time each, in alternating order:
copying with glibc's memcpy as glibc chooses (REP MOVSB above that
threshold) and with glibc's vector loop at every size (set through
GLIBC_TUNABLES); it keeps the faster run, as which copy is faster depends
on the CPU, the message size and how far apart the two CPUs are. A line
under each table says which one each C row kept.

It re-executes itself as the second process and pins the two to different
CPUs where there are two (and says which). Each case (transport, workload,
message size, capacity) gets an equal share of --duration, plus the time to
start its peer. Workloads: rtt, ping-pong round trips, with percentiles of
every round trip; stream, one-way throughput, one message at a time; batch,
the same in batches of 64 (SendBatch and ReceiveBatch; one write for the
kernel's transports); wake, ping-pong with a pause before every round trip,
so that each one wakes an idle peer (not run unless asked for: most of its
time is pauses). Each row also shows the CPU the peer process used while
measured (PEER CPU, 100% is one CPU busy), and its time per message
relative to the C limit (xC), to raw (xRAW), to the Unix socket (xUNIX) and
to the pipe (xPIPE), or for wake to a bare futex hand-off between
semaphores (xSEM); when the run has topic or competing-consumer rows and
the queue, also to the queue (xQUEUE), their yardstick. Round trips also
get their p99.9 over the least p99.9 of the C limit's cases (xC P99.9).

The ring's capacity matters as much as the transport: raw, the queues, sem
and c-ring run once per --capacity (bytes of each direction's ring). Without
--capacity, a sweep first streams through raw and c-ring at 256K, 1M, 4M
and 16M for each size, in a quarter of --duration, and the run then uses
raw's fastest capacity for raw, the queues, sem and c-ring's round trips,
and c-ring's own for c-ring's streams; the sweep's table follows the
results. A run of round trips alone makes no sweep and uses 4M, the
queue's default.

With --rounds N it runs every case N times, the cases in turn in each round,
in the same --duration; a case's figures then cover all its rounds, and its
ratios are the median of the ratios taken within each round, with xC's,
xRAW's and xQUEUE's range over the rounds in brackets. Use it where the
machine's speed drifts (a VM whose host moves its CPUs): a round takes each
workload and size in turn and runs its cases capacity by capacity, so that
the cases of one capacity run moments apart.

Pinned, it probes the link between the two CPUs before the first case and
after each one: the round trip of a cache line between two of its own
threads pinned there, which the table's first lines give. A host that moves
its vCPUs can change it several-fold, and every figure with it. With
--rounds, when the probes fall into two such placements, a ratio compares
two cases of a round only if both ran in one placement, and a "By
placement" table gives each row's ratios within each. The sweep compares
a row's capacities within the placement most of them ran in.

It removes every object it creates in /dev/shm, also when SIGINT (Ctrl-C),
SIGTERM or SIGHUP stops it (exit status 130); stopped, it still prints
what finished: the complete rounds, or the cases of the first round that
finished, and says so.

Transports: ` + strings.Join(bench.TransportNames(), ", ") + `.`,
		Example: `  shm bench
  shm bench --transport raw,unix --size 64,1K --duration 5s
  shm bench --json > bench.json
  shm bench --workload rtt --plot latency.svg
  shm bench --workload wake --transport queue,sem --size 64
  shm bench --transport raw,queue-spin --workload rtt --size 64 --rounds 10
  shm bench --transport c-ring,raw,queue --workload stream,batch --capacity 1M,16M`,
		Args: noArgs,
		RunE: o.run,
	}
	f := c.Flags()
	f.StringSliceVar(&o.transports, "transport", nil, "transports to run, comma-separated (default all: "+strings.Join(bench.TransportNames(), ",")+")")
	f.StringSliceVar(&o.workloads, "workload", nil, "workloads to run: rtt, wake, stream, batch (default rtt,stream,batch)")
	f.StringSliceVar(&o.sizes, "size", nil, "message sizes, comma-separated, such as 64,1K,64K (default 64,1K,64K)")
	f.StringSliceVar(&o.capacities, "capacity", nil, "ring capacities per direction, comma-separated, such as 256K,1M,4M,16M (default: the fastest for raw, from a sweep)")
	f.DurationVar(&o.duration, "duration", bench.DefaultDuration, "measuring time of the whole run, shared by its cases")
	f.IntVar(&o.rounds, "rounds", 1, "run every case this many times, the cases in turn in each round; ratios are the median of the rounds'")
	f.BoolVar(&o.asJSON, "json", false, "print a JSON list of results instead of tables")
	f.StringVar(&o.plot, "plot", "", "also draw the round-trip latency distributions in this SVG file")
	f.IntSliceVar(&o.cpus, "cpus", nil, "pin the driver and the peer to these two CPUs, DRIVER,PEER (default: chosen)")
	f.BoolVar(&o.noPin, "no-pin", false, "do not pin the processes to CPUs")
	f.StringVar(&o.dir, "dir", "", "directory for the shared-memory objects (default /dev/shm)")
	c.AddCommand(newBenchPeerCmd())
	return c
}

// run measures the transports the flags chose and prints the report.
func (o *benchOptions) run(cmd *cobra.Command, _ []string) error {
	opts, err := o.runnerOptions(cmd)
	if err != nil {
		return err
	}
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("bench: find this program to start the peer: %w", err)
	}
	opts = append(opts, bench.PeerCommand(exe, "bench", "peer"))
	if p := newProgress(cmd.ErrOrStderr()); p != nil {
		opts = append(opts, bench.OnProgress(p.show))
		defer p.clear()
	}

	ctx, stop := stopContext(cmd.Context())
	defer stop()
	rep, err := bench.Run(ctx, opts...)
	if err != nil {
		if ctx.Err() == nil {
			return fmt.Errorf("bench: %w", err)
		}
		// What finished before the interruption is still worth having.
		if rep != nil && len(rep.Results) > 0 {
			if err := writeBench(cmd.OutOrStdout(), rep, o.asJSON); err != nil {
				return err
			}
		}
		return &exitError{code: interruptedStatus, err: errors.New("bench: interrupted; its objects are removed")}
	}
	out := cmd.OutOrStdout()
	if err := writeBench(out, rep, o.asJSON); err != nil {
		return err
	}
	if o.plot != "" {
		if err := writePlot(o.plot, rep); err != nil {
			return err
		}
		if !o.asJSON {
			fmt.Fprintf(out, "\nLatency distributions drawn in %s.\n", o.plot)
		}
	}
	if failed := rep.Failed(); len(failed) > 0 {
		return fmt.Errorf("bench: %d of %d cases failed (first: %s %s %s: %s)", len(failed), len(rep.Results),
			failed[0].Transport, failed[0].Workload, bench.FormatSize(failed[0].Size), failed[0].Error)
	}
	return nil
}

// runnerOptions turns the flags into the runner's options, or a usage error
// that names the flag at fault.
func (o *benchOptions) runnerOptions(cmd *cobra.Command) ([]bench.Option, error) {
	var opts []bench.Option
	ts, err := bench.Lookup(splitList(o.transports)...)
	if err != nil {
		return nil, usageErr(cmd, "--transport: %v", err)
	}
	opts = append(opts, bench.Using(ts...))
	if len(o.workloads) > 0 {
		var ws []bench.Workload
		for _, w := range splitList(o.workloads) {
			if !slices.Contains(bench.WorkloadNames(), w) {
				return nil, usageErr(cmd, "--workload: unknown workload %q (want %s)", w, strings.Join(bench.WorkloadNames(), ", "))
			}
			ws = append(ws, bench.Workload(w))
		}
		opts = append(opts, bench.Workloads(ws...))
	}
	if len(o.sizes) > 0 {
		var ns []int
		for _, s := range splitList(o.sizes) {
			n, err := parseSize(s)
			if err != nil {
				return nil, usageErr(cmd, "--size: %v", err)
			}
			if n < bench.MinSize || n > bench.MaxSize {
				return nil, usageErr(cmd, "--size: %s is outside %s to %s", s, exactSize(bench.MinSize), exactSize(bench.MaxSize))
			}
			ns = append(ns, int(n))
		}
		opts = append(opts, bench.Sizes(ns...))
	}
	if len(o.capacities) > 0 {
		var cs []int64
		for _, s := range splitList(o.capacities) {
			n, err := parseSize(s)
			if err != nil {
				return nil, usageErr(cmd, "--capacity: %v", err)
			}
			if n < bench.MinCapacity || n > bench.MaxCapacity {
				return nil, usageErr(cmd, "--capacity: %s is outside %s to %s", s, exactSize(bench.MinCapacity), exactSize(bench.MaxCapacity))
			}
			cs = append(cs, n)
		}
		opts = append(opts, bench.Capacities(cs...))
	}
	if o.duration <= 0 {
		return nil, usageErr(cmd, "--duration: %v is not positive", o.duration)
	}
	opts = append(opts, bench.Duration(o.duration))
	if o.rounds < 1 || o.rounds > bench.MaxRounds {
		return nil, usageErr(cmd, "--rounds: %d is outside 1 to %d", o.rounds, bench.MaxRounds)
	}
	opts = append(opts, bench.Rounds(o.rounds))
	if o.plot != "" && !strings.EqualFold(strings.TrimPrefix(extOf(o.plot), "."), "svg") {
		return nil, usageErr(cmd, "--plot: %q: only SVG is drawn; name the file *.svg", o.plot)
	}
	switch {
	case o.noPin && len(o.cpus) > 0:
		return nil, usageErr(cmd, "--cpus and --no-pin exclude each other")
	case o.noPin:
		opts = append(opts, bench.NoPin())
	case len(o.cpus) == 2:
		opts = append(opts, bench.CPUs(o.cpus[0], o.cpus[1]))
	case len(o.cpus) != 0:
		return nil, usageErr(cmd, "--cpus: want two CPUs, DRIVER,PEER")
	}
	if o.dir != "" {
		opts = append(opts, bench.Dir(o.dir))
	}
	return opts, nil
}

// newBenchPeerCmd is the peer's half of a bench case: "shm bench peer",
// started by the bench command itself with the case in its environment.
func newBenchPeerCmd() *cobra.Command {
	return &cobra.Command{
		Use:    "peer",
		Short:  "The second process of a bench case (started by shm bench)",
		Hidden: true,
		Args:   noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !bench.IsPeer() {
				return usageErr(cmd, "is started by 'shm bench', not by hand")
			}
			// A Ctrl-C reaches the whole process group; the driver cleans
			// up, and the peer just goes.
			return bench.ServePeer(cmd.Context())
		},
	}
}

func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return usageErr(cmd, "takes no arguments, got %q", args)
	}
	return nil
}

// splitList trims the items of a comma-separated flag and drops empty ones.
func splitList(items []string) []string {
	var out []string
	for _, s := range items {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

func extOf(path string) string {
	if i := strings.LastIndexByte(path, '.'); i >= 0 && !strings.ContainsRune(path[i:], '/') {
		return path[i:]
	}
	return ""
}

func writePlot(path string, rep *bench.Report) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("bench: plot: %w", err)
	}
	if err := bench.WriteSVG(f, rep); err != nil {
		f.Close()
		return fmt.Errorf("bench: plot %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("bench: plot %s: %w", path, err)
	}
	return nil
}

// progress shows which case runs, on one line of a terminal.
type progress struct {
	w     io.Writer
	start time.Time
}

// writeBench writes the report as JSON or as tables.
func writeBench(w io.Writer, rep *bench.Report, asJSON bool) error {
	if asJSON {
		return bench.WriteJSON(w, rep)
	}
	return bench.WriteTable(w, rep)
}

// newProgress returns nil unless w is a terminal (a character device: a
// terminal, or /dev/null where the line does no harm): the progress line is
// for people watching, never for a file or a pipe.
func newProgress(w io.Writer) *progress {
	f, ok := w.(*os.File)
	if !ok {
		return nil
	}
	if fi, err := f.Stat(); err != nil || fi.Mode()&os.ModeCharDevice == 0 {
		return nil
	}
	return &progress{w: w, start: time.Now()}
}

func (p *progress) show(pr bench.Progress) {
	fmt.Fprintf(p.w, "\r\033[K[%d/%d] %s %s %s  (%s elapsed)", pr.Index+1, pr.Total, pr.Case.Transport, pr.Case.Workload,
		bench.FormatSize(pr.Case.Size), time.Since(p.start).Round(time.Second))
}

func (p *progress) clear() { fmt.Fprint(p.w, "\r\033[K") }
