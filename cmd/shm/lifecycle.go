package main

import (
	"fmt"
	"io"
	"strconv"

	"github.com/shmkit/shm"
	"github.com/shmkit/shm/inspect"
	"github.com/shmkit/shm/internal/jsonname"
)

// lifecycle is what ls and stat add to an object from package inspect:
// who is attached and its classification.
type lifecycle struct {
	// Attached is, for ls, the number of attached processes, or null when
	// some processes could not be inspected and none of the others is
	// attached; for stat, the list of attached processes.
	Attached any `json:"attached"`
	// AttachedKnown is false when some processes could not be inspected,
	// so that others than those listed may be attached.
	AttachedKnown bool   `json:"attached_known"`
	State         string `json:"state"`  // in-use, idle, stale or unknown
	Reason        string `json:"reason"` // why, in words

	count int           // for the ATTACHED column: -1 unknown
	procs []shm.Process // for stat's text
}

// attachedProcess is one process of stat --json's "attached": a
// process's command is a name it chose, any bytes, so one that is not
// UTF-8 comes with its exact bytes too, as object names do (package
// jsonname).
type attachedProcess struct {
	shm.Process
	CommandBase64 string `json:"command_base64,omitempty"`
}

// lifecycleOf turns a classification into what ls (list false: a count)
// or stat (list true: the processes) prints.
func lifecycleOf(c inspect.Object, list bool) lifecycle {
	l := lifecycle{AttachedKnown: c.AttachedKnown, State: string(c.State), Reason: c.Reason, count: c.AttachedCount(), procs: c.Attached}
	switch {
	case list:
		procs := make([]attachedProcess, 0, len(c.Attached))
		for _, p := range c.Attached {
			procs = append(procs, attachedProcess{Process: p, CommandBase64: jsonname.Base64(p.Command)})
		}
		l.Attached = procs
	case l.count >= 0:
		l.Attached = l.count
	}
	return l
}

// attachedColumn is ls's ATTACHED: the count, or "?" when unknown.
func (l lifecycle) attachedColumn() string {
	if l.count < 0 {
		return "?"
	}
	return strconv.Itoa(l.count)
}

// writeLifecycle adds stat's lines: the state with its reason, then one
// line per attached process.
func writeLifecycle(w io.Writer, l lifecycle) {
	fmt.Fprintf(w, "state:\t%s (%s)\n", l.State, printable(l.Reason))
	switch {
	case len(l.procs) == 0 && !l.AttachedKnown:
		fmt.Fprintf(w, "attached:\tunknown: none seen, but some processes could not be inspected\n")
	case len(l.procs) == 0:
		fmt.Fprintf(w, "attached:\tnone\n")
	}
	for _, p := range l.procs {
		how := fmt.Sprintf("maps %d bytes", p.Mapped)
		if p.FD && p.Maps() {
			how += ", holds a descriptor"
		} else if p.FD {
			how = "holds a descriptor only"
		}
		fmt.Fprintf(w, "attached:\tpid %d (%s, uid %d): %s\n", p.PID, shm.QuoteName(p.Command), p.UID, how)
	}
	if len(l.procs) > 0 && !l.AttachedKnown {
		fmt.Fprintf(w, "attached:\tand perhaps others (some processes could not be inspected)\n")
	}
}
