package main

import (
	"fmt"
	"slices"

	"github.com/shmkit/shm"
	"github.com/shmkit/shm/inspect"
	"github.com/spf13/cobra"
)

// cleanKinds are the values --kind takes.
var cleanKinds = []string{inspect.KindQueue, inspect.KindTopic, inspect.KindSemaphore, inspect.KindData, inspect.KindOther}

// cleanOutcome is one line of "shm clean --json".
type cleanOutcome struct {
	Name     string `json:"name"`
	Kind     string `json:"kind"`
	State    string `json:"state"`
	Action   string `json:"action"` // removed, would remove, kept
	Reason   string `json:"reason"`
	HiddenAs string `json:"hidden_as,omitempty"`
}

func newCleanCmd() *cobra.Command {
	var opts inspect.CleanOptions
	var asJSON bool
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
and never a queue holding undelivered messages unless --discard says so. A
topic's messages are owed to its live subscribers, which make it in use; a
topic without one holds nothing undelivered.
When some processes cannot be inspected (run without root), unattached
objects are "unknown" and kept.

Exit status: 0 when it did what was asked (kept objects included), 1 when
an operation failed, 2 usage error.`,
		Args: exactArgs(),
		RunE: func(cmd *cobra.Command, args []string) error {
			if opts.Kind != "" && !slices.Contains(cleanKinds, opts.Kind) {
				return usageErr(cmd, "--kind %q: want one of %v", opts.Kind, cleanKinds)
			}
			opts.HasOlderThan = cmd.Flags().Changed("older-than")
			if opts.Idle && !opts.HasOlderThan {
				return usageErr(cmd, "--idle needs --older-than (such as --older-than 1h, or 0s for any age)")
			}
			if opts.HasOlderThan && opts.OlderThan < 0 {
				return usageErr(cmd, "--older-than %s: want a duration of 0 or more", opts.OlderThan)
			}
			outs, err := inspect.Clean(cmd.Context(), &opts)
			if err != nil {
				return err
			}
			if asJSON {
				rows := make([]cleanOutcome, 0, len(outs))
				for _, o := range outs {
					rows = append(rows, cleanOutcome{o.Object.Name, o.Object.Kind, string(o.Object.State), string(o.Action), o.Reason, o.HiddenAs})
				}
				return writeJSON(cmd.OutOrStdout(), rows)
			}
			w := cmd.OutOrStdout()
			for _, o := range outs {
				fmt.Fprintf(w, "%s %s (%s): %s\n", o.Action, shm.QuoteName(o.Object.Name), o.Object.Kind, o.Reason)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.BoolVar(&opts.Force, "force", false, "remove; without it, only say what would be removed")
	f.StringVar(&opts.Prefix, "prefix", "", "only objects whose names start with `P`")
	f.StringVar(&opts.Kind, "kind", "", "only objects of kind `K`: queue, topic, semaphore, data or other")
	f.DurationVar(&opts.OlderThan, "older-than", 0, "only objects modified at least `D` ago (1h, 30m, 0s)")
	f.BoolVar(&opts.Idle, "idle", false, "take idle objects too, not only stale ones (needs --older-than)")
	f.BoolVar(&opts.AllUsers, "all-users", false, "take other users' objects too (root only)")
	f.BoolVar(&opts.Discard, "discard", false, "take queues that hold undelivered messages too")
	f.BoolVar(&asJSON, "json", false, "print a JSON array of outcomes for scripts")
	addDirFlag(cmd, &opts.Dir)
	return cmd
}
