package main

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/shmkit/shm"
	"github.com/spf13/cobra"
)

// exitError makes the command exit with a status of its own, for commands
// that document more outcomes than success and failure (a semaphore wait
// that timed out, say). A nil err exits without a message: the command has
// already said what happened.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit status %d", e.code)
	}
	return e.err.Error()
}

func (e *exitError) Unwrap() error { return e.err }

// Exit statuses beyond 0, 1 (failure) and 2 (usage error), each listed in
// README.md's "Exit status" and in the --help of the commands that use it.
// semTimeoutStatus (3) is in sem.go, interruptedStatus (130) in signals.go.
const (
	// peerDeadStatus: "shm queue recv" or "send" found the process at the
	// other end dead (it had not closed the queue).
	peerDeadStatus = 4
	// abortedStatus: "shm queue recv" or "shm topic sub" printed every
	// message and found the stream aborted by its sender or publisher.
	abortedStatus = 5
)

// opError gives err the command's operation and name unless it already
// names them (a library error does): "queue send q: reading standard
// input: is a directory". A nil err stays nil.
func opError(op, name string, err error) error {
	if err == nil {
		return nil
	}
	var se *shm.Error
	if errors.As(err, &se) && se.Error() == err.Error() {
		return err
	}
	if errors.As(err, new(interface{ Unwrap() []error })) {
		return err // several errors, each printed on its own line
	}
	return &shm.Error{Op: op, Name: name, Err: err}
}

// usageError is a command line that does not make sense: an unknown command
// or flag, a wrong number of arguments, a size that does not parse. It exits
// with status 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

// usageErr returns a usageError that names the command it is about, as
// "create: <message>; see 'shm create --help'".
func usageErr(cmd *cobra.Command, format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	if cmd.HasParent() {
		msg = strings.TrimPrefix(cmd.CommandPath(), cmd.Root().Name()+" ") + ": " + msg
	}
	return &usageError{msg: fmt.Sprintf("%s; see '%s --help'", msg, cmd.CommandPath())}
}

// exitStatus prints err as one line on stderr and returns the exit status
// it stands for: 0 for nil, exitError's code, 2 for usage errors, else 1.
func exitStatus(err error, stderr io.Writer) int {
	if err == nil {
		return 0
	}
	code := 1
	var usage *usageError
	var exit *exitError
	switch {
	case errors.As(err, &exit):
		code, err = exit.code, exit.err
	case errors.As(err, &usage):
		code = 2
	}
	// Several errors (errors.Join) print one line each.
	errs := []error{err}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	}
	for _, e := range errs {
		if e != nil {
			fmt.Fprintln(stderr, "shm: "+errorLine(e))
		}
	}
	return code
}

// errorLine formats err for the "shm: " prefix. A library *shm.Error prints
// as "OP NAME: reason" (its own Error method starts with "shm ", which would
// stutter after the prefix); anything else prints as it is, on one line.
func errorLine(err error) string {
	var se *shm.Error
	if errors.As(err, &se) && se.Error() == err.Error() {
		return se.Op + " " + shm.QuoteName(se.Name) + ": " + printable(strings.ReplaceAll(se.Err.Error(), "\n", "; "))
	}
	return printable(strings.ReplaceAll(err.Error(), "\n", "; "))
}

// ruleError is the usage error of flags that a library's Validate refused:
// the library's rules (a queue's capacity, a topic's subscribers) are the
// command's, and its reason follows the flags the user gave (given lists
// only those, never a default), as "queue create: --capacity 1000:
// capacity 1000 is not a power of two from 64 to ...".
func ruleError(cmd *cobra.Command, given []string, err error) error {
	reason := strings.TrimPrefix(err.Error(), shm.ErrInvalid.Error()+": ")
	if len(given) == 0 {
		return usageErr(cmd, "%s", reason)
	}
	return usageErr(cmd, "%s: %s", strings.Join(given, " "), reason)
}

// noSuchCommand refuses arguments to a command that only groups others, so
// "shm frobnicate" is a usage error rather than a help page.
func noSuchCommand(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
			return usageErr(cmd, "unknown command %q (did you mean %s?)", args[0], strings.Join(s, " or "))
		}
		return usageErr(cmd, "unknown command %q", args[0])
	}
	return nil
}

// exactArgs wants one positional argument per name given, for the usage
// message: exactArgs("NAME", "SIZE").
func exactArgs(names ...string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(names) == 0 && len(args) > 0 {
			return usageErr(cmd, "takes no arguments, got %d (%q)", len(args), args[0])
		}
		if len(args) != len(names) {
			return usageErr(cmd, "wants %d argument%s (%s), got %d", len(names), plural(len(names)), strings.Join(names, " "), len(args))
		}
		return nil
	}
}

// minArgs wants at least n positional arguments called name.
func minArgs(n int, name string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) < n {
			return usageErr(cmd, "wants at least %d %s argument%s, got %d", n, name, plural(n), len(args))
		}
		return nil
	}
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}
