package inspect

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/shmkit/shm"
)

// CleanOptions says which objects Clean may remove. The zero value (or nil)
// looks at every object of the caller's in shm.DefaultDir and removes
// nothing: set Force to remove.
type CleanOptions struct {
	Options
	// Force removes; without it Clean only reports what it would remove.
	Force bool
	// Idle takes idle objects too, not only stale ones. It needs
	// OlderThan, so that an object a program is about to open is not taken
	// for a forgotten one.
	Idle bool
	// OlderThan keeps objects modified more recently than this long ago
	// (tmpfs updates the time on writes through write(2) and resizes, not
	// on stores through a mapping). Zero takes any age, but Idle needs it
	// set: see HasOlderThan.
	OlderThan time.Duration
	// HasOlderThan says OlderThan was given (so that 0 means "any age",
	// as "--older-than 0s" does, rather than "not given").
	HasOlderThan bool
	// AllUsers takes other users' objects too. Only root may set it;
	// otherwise Clean keeps every object the caller does not own.
	AllUsers bool
	// Discard takes queues that hold undelivered messages, and queues and
	// topics too damaged to say what they hold; otherwise they are kept.
	Discard bool
	// Now is the time ages are measured from; zero means time.Now().
	Now time.Time
	// Report, when set, is called with each outcome as soon as Clean has
	// decided it (and, for a removal, finished it), before it moves on to
	// the next object: a caller that may be stopped shows what was done
	// so far.
	Report func(Outcome)
}

// Action is what Clean did with an object.
type Action string

const (
	Removed     Action = "removed"
	WouldRemove Action = "would remove" // not Force
	Kept        Action = "kept"
)

// Outcome is what Clean did with one object, and why.
type Outcome struct {
	Object Object
	Action Action
	Reason string
	// HiddenAs is set when the object was attached at its final check but
	// a new object had taken its name meanwhile: it stays under this name,
	// in the same directory, until its users close it and someone removes it.
	HiddenAs string
}

// String describes the outcome in one line: "removed jobs (queue): stale:
// nobody attached; consumer pid 812 died without closing it". Names are
// quoted as strconv.Quote does when they hold anything but printable text.
func (o Outcome) String() string {
	return fmt.Sprintf("%s %s (%s): %s", o.Action, shm.QuoteName(o.Object.Name), o.Object.Kind, o.Reason)
}

// ErrAllUsers is returned by Clean when AllUsers is set by a caller who is
// not root.
var ErrAllUsers = errors.New("only root may clean other users' objects")

// ErrIdleNeedsAge is returned by Clean when Idle is set without OlderThan.
var ErrIdleNeedsAge = errors.New("idle objects are taken only with an age (OlderThan)")

// Clean removes the stale objects that match opts (and with Idle the idle
// ones older than OlderThan), and reports what it did with every object
// that matched the prefix and kind, removed or kept, and why. See the
// package documentation for the final check each removal passes and the
// window that remains. It stops early, with the outcomes so far and ctx's
// error, when ctx is done; it looks at ctx only between objects, so the
// object at hand is always finished (removed, or back under its name). An
// error in removing one object is that object's outcome
// (kept, with the reason), not Clean's error.
func Clean(ctx context.Context, opts *CleanOptions) ([]Outcome, error) {
	if opts == nil {
		opts = &CleanOptions{}
	}
	if opts.AllUsers && os.Geteuid() != 0 {
		return nil, &shm.Error{Op: "clean", Name: opts.dir(), Err: ErrAllUsers}
	}
	if opts.Idle && !opts.HasOlderThan {
		return nil, &shm.Error{Op: "clean", Name: opts.dir(), Err: ErrIdleNeedsAge}
	}
	objs, err := List(&opts.Options)
	if err != nil {
		return nil, err
	}
	now := opts.Now
	if now.IsZero() {
		now = time.Now()
	}
	out := make([]Outcome, 0, len(objs))
	for _, o := range objs {
		if err := ctx.Err(); err != nil {
			return out, err
		}
		var done Outcome
		switch why := opts.refuse(o, now); {
		case why != "":
			done = Outcome{Object: o, Action: Kept, Reason: why}
		case !opts.Force:
			done = Outcome{Object: o, Action: WouldRemove, Reason: string(o.State) + ": " + o.Reason}
		default:
			done = opts.remove(o, now)
		}
		out = append(out, done)
		if opts.Report != nil {
			opts.Report(done)
		}
	}
	return out, nil
}

// refuse returns why o must be kept, or "" when it may go.
func (opts *CleanOptions) refuse(o Object, now time.Time) string {
	switch {
	case o.Kind == KindOther:
		return "not a regular file"
	case !opts.AllUsers && o.UID != uint32(os.Geteuid()):
		return fmt.Sprintf("owned by uid %d, not the caller (root may pass all users)", o.UID)
	case o.State == InUse || o.State == Unknown:
		return string(o.State) + ": " + o.Reason
	case o.State == Idle && !opts.Idle:
		return "idle: " + o.Reason
	case opts.HasOlderThan && now.Sub(o.ModTime) < opts.OlderThan:
		return fmt.Sprintf("%s, but modified %s ago, less than %s", o.State, now.Sub(o.ModTime).Round(time.Second), opts.OlderThan)
	case opts.Discard:
	case o.Damaged():
		return fmt.Sprintf("%s, but damaged (%v), so what it holds cannot be counted (--discard, or Discard, removes it all the same)", o.State, o.Err)
	case o.Undelivered() < 0:
		return fmt.Sprintf("%s, but its undelivered messages could not be counted (--discard, or Discard, removes it all the same)", o.State)
	case o.Undelivered() > 0:
		n := o.Undelivered()
		return fmt.Sprintf("%s, but holds %d undelivered %s (--discard, or Discard, removes %s with it)", o.State, n, plural(n, "message", "messages"), plural(n, "it", "them"))
	}
	return ""
}

// plural returns one when n is 1, else many.
func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
