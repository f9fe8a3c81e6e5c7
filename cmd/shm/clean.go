package main

import (
	"fmt"
	"slices"

	"github.com/shmkit/shm"
	"github.com/shmkit/shm/inspect"
	"github.com/shmkit/shm/internal/jsonname"
	"github.com/spf13/cobra"
)

// cleanKinds are the values --kind takes.
var cleanKinds = []string{inspect.KindQueue, inspect.KindTopic, inspect.KindSemaphore, inspect.KindData, inspect.KindOther}

// cleanOutcome is one line of "shm clean --json".
type cleanOutcome struct {
	jsonname.Field
	Kind     string `json:"kind"`
	State    string `json:"state"`
	Action   string `json:"action"` // removed, would remove, kept
	Reason   string `json:"reason"`
	HiddenAs string `json:"hidden_as,omitempty"`
}

// cleanOptions are the flags of "shm clean".
type cleanOptions struct {
	opts   inspect.CleanOptions
	asJSON bool
}

// newCleanCmd declares "shm clean" and its flags.
func newCleanCmd() *cobra.Command {
	var o cleanOptions
	cmd := &cobra.Command{
		Use:   "clean",
		Short: "Remove stale objects: those whose every participant died",
		Long: `Remove the objects that crashed programs left behind. Without --force it
only says what it would remove, and why; with --force it removes.

An object is stale when no process maps it or holds a descriptor to it, and
its own records say every participant died without closing it (a queue whose
consumer and producers were killed, a topic whose publisher and subscribers
were). A data segment or semaphore that nobody
maps is idle, never stale: it may hold data for the next run; --idle takes
idle objects too, and needs --older-than so that an object a program is
about to open is not taken for a forgotten one.

It never removes an object that is attached at its final check (it takes the
object out of its name first, looks again, and puts it back if anyone
holds it), never another user's object unless run as root with --all-users,
and never a queue holding undelivered messages, nor a queue or topic too
damaged to count what it holds, unless --discard says so. A
topic's messages are owed to its live subscribers, which make it in use; a
topic without one holds nothing undelivered.
When some processes cannot be inspected (run without root), unattached
objects are "unknown" and kept.

/proc shows only the processes of this PID namespace: where containers
share the directory, an object used only from another PID namespace looks
unattached. Queues and topics record their participants, so a live one
elsewhere still keeps them in use; a data segment or a semaphore does not,
so do not pass --idle where other PID namespaces share the directory. A
semaphore that records waiters nobody here is attached as is "unknown" and
kept.

It looks at the objects one at a time and prints each outcome as soon as
it is decided. SIGINT, SIGTERM or SIGHUP stop it after the object at hand
(removed, or back under its name: never left under a hidden one), with
the outcomes so far printed.

Exit status: 0 when it did what was asked (kept objects included), 1 when
an operation failed, 2 usage error, 130 when a signal stopped it.`,
		Args: exactArgs(),
		RunE: o.run,
	}
	f := cmd.Flags()
	f.BoolVar(&o.opts.Force, "force", false, "remove; without it, only say what would be removed")
	f.StringVar(&o.opts.Prefix, "prefix", "", "only objects whose names start with `P`")
	f.StringVar(&o.opts.Kind, "kind", "", "only objects of kind `K`: queue, topic, semaphore, data or other")
	f.DurationVar(&o.opts.OlderThan, "older-than", 0, "only objects modified at least `D` ago (1h, 30m, 0s)")
	f.BoolVar(&o.opts.Idle, "idle", false, "take idle objects too, not only stale ones (needs --older-than)")
	f.BoolVar(&o.opts.AllUsers, "all-users", false, "take other users' objects too (root only)")
	f.BoolVar(&o.opts.Discard, "discard", false, "take queues that hold undelivered messages, and damaged queues and topics, too")
	f.BoolVar(&o.asJSON, "json", false, "print a JSON array of outcomes for scripts")
	addDirFlag(cmd, &o.opts.Dir)
	return cmd
}

// run finds, and unless told not to removes, the objects nobody uses.
func (o *cleanOptions) run(cmd *cobra.Command, args []string) error {
	if o.opts.Kind != "" && !slices.Contains(cleanKinds, o.opts.Kind) {
		return usageErr(cmd, "--kind %q: want one of %v", o.opts.Kind, cleanKinds)
	}
	o.opts.HasOlderThan = cmd.Flags().Changed("older-than")
	if o.opts.Idle && !o.opts.HasOlderThan {
		return usageErr(cmd, "--idle needs --older-than (such as --older-than 1h, or 0s for any age)")
	}
	if o.opts.HasOlderThan && o.opts.OlderThan < 0 {
		return usageErr(cmd, "--older-than %s: want a duration of 0 or more", o.opts.OlderThan)
	}
	// Each outcome is printed as it is decided, so that a clean
	// stopped by a signal has said what it did.
	ctx, stop := stopContext(cmd.Context())
	defer stop()
	w := cmd.OutOrStdout()
	rows := &jsonArray{w: w}
	done := 0
	o.opts.Report = func(out inspect.Outcome) {
		done++
		if o.asJSON {
			rows.add(cleanOutcome{jsonname.Of(out.Object.Name), out.Object.Kind, string(out.Object.State), string(out.Action), out.Reason, out.HiddenAs})
			return
		}
		fmt.Fprintf(w, "%s %s (%s): %s\n", out.Action, shm.QuoteName(out.Object.Name), out.Object.Kind, printable(out.Reason))
	}
	_, err := inspect.Clean(ctx, &o.opts)
	if interruption(ctx) != nil {
		if o.asJSON {
			rows.close()
		}
		return interruptedf(ctx, "clean", o.opts.Dir, "after %d object%s", done, plural(done))
	}
	if err != nil {
		return err
	}
	if o.asJSON {
		return rows.close()
	}
	return nil
}
