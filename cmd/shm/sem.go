package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"strconv"
	"strings"
	"time"

	"github.com/shmkit/shm"
	"github.com/shmkit/shm/internal/jsonname"
	"github.com/shmkit/shm/sem"
	"github.com/spf13/cobra"
)

// semTimeoutStatus is the exit status of "shm sem wait" when its --timeout
// passed before it took every token.
const semTimeoutStatus = 3

// semProbe shows glibc named semaphores in ls and stat with their value
// and waiter count, read without opening them for writing.
func semProbe(dir string, info shm.Info) (string, map[string]any, bool) {
	if info.Kind != shm.KindSemaphore {
		return "", nil, false
	}
	st, err := sem.Stat(strings.TrimPrefix(info.Name, shm.SemaphorePrefix), sem.Dir(dir))
	if err != nil {
		var se *shm.Error
		if errors.As(err, &se) {
			err = se.Err
		}
		return string(shm.KindSemaphore), map[string]any{"error": err.Error(), "state": "unreadable"}, true
	}
	return string(shm.KindSemaphore), map[string]any{"value": st.Value, "waiters": st.Waiters, "state": fmt.Sprintf("value=%d", st.Value)}, true
}

func newSemCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "sem",
		Short: "Create, post, wait on and remove named semaphores (glibc sem_open's)",
		Long: `shm sem works on POSIX named semaphores: the files /dev/shm/sem.NAME that
glibc's sem_open, sem_post and sem_wait use, so a C program and a shell script
can take turns. NAME is what C passes to sem_open, with or without its
leading slash.

Exit status: 0 ok, 1 an operation failed, 2 usage error, 3 when
"shm sem wait --timeout" ran out of time, 130 when "shm sem wait" was
stopped by SIGINT, SIGTERM or SIGHUP.`,
		Args: noSuchCommand,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.AddCommand(newSemCreateCmd(), newSemPostCmd(), newSemWaitCmd(), newSemValueCmd(), newSemRmCmd())
	return cmd
}

func newSemCreateCmd() *cobra.Command {
	var (
		dir   string
		value semValueFlag
		mode  = modeFlag(shm.DefaultMode)
	)
	cmd := &cobra.Command{
		Use:   "create NAME",
		Short: "Create a named semaphore (fails if it exists)",
		Long: `Create the named semaphore NAME with --value tokens, as
sem_open(NAME, O_CREAT|O_EXCL, MODE, VALUE) does. It is an error if it exists.
The mode is set exactly, whatever the umask.`,
		Args: exactArgs("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := sem.Create(args[0], uint32(value), sem.Mode(fs.FileMode(mode)), sem.Dir(dir))
			if err != nil {
				return err
			}
			return s.Close()
		},
	}
	cmd.Flags().Var(&value, "value", fmt.Sprintf("initial number of tokens, from 0 to %d", sem.ValueMax))
	cmd.Flags().Var(&mode, "mode", "permission bits, in octal")
	addDirFlag(cmd, &dir)
	return cmd
}

func newSemPostCmd() *cobra.Command {
	var (
		dir string
		n   int
	)
	cmd := &cobra.Command{
		Use:   "post NAME",
		Short: "Add tokens to a semaphore, waking waiters (sem_post)",
		Args:  exactArgs("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if n < 1 {
				return usageErr(cmd, "--count %d: post at least one token", n)
			}
			s, err := sem.Open(args[0], sem.Dir(dir))
			if err != nil {
				return err
			}
			defer s.Close()
			for i := 0; i < n; i++ {
				if err := s.Post(); err != nil {
					if i > 0 {
						err = annotate(err, "%w (after posting %d of %d tokens)", i, n)
					}
					return err
				}
			}
			return nil
		},
	}
	cmd.Flags().IntVarP(&n, "count", "n", 1, "number of tokens to post")
	addDirFlag(cmd, &dir)
	return cmd
}

// semWaitOptions are the flags of "shm sem wait".
type semWaitOptions struct {
	dir     string
	n       int
	timeout time.Duration
}

// newSemWaitCmd declares "shm sem wait" and its flags.
func newSemWaitCmd() *cobra.Command {
	var o semWaitOptions
	cmd := &cobra.Command{
		Use:   "wait NAME",
		Short: "Take tokens from a semaphore, sleeping until there are some (sem_wait)",
		Long: `Take -n tokens from the semaphore NAME, one at a time, sleeping while there
is none, as sem_wait does. With --timeout it gives up when that much time has
passed and exits with status 3; tokens already taken stay taken. SIGINT
(Ctrl-C), SIGTERM and SIGHUP stop the wait cleanly: the wait is taken off
the semaphore's waiter count, and tokens already taken stay taken.

Exit status: 0 all tokens taken, 1 an error, 2 usage error, 3 timed out,
130 stopped by SIGINT, SIGTERM or SIGHUP.`,
		Args: exactArgs("NAME"),
		RunE: o.run,
	}
	cmd.Flags().IntVarP(&o.n, "count", "n", 1, "number of tokens to take")
	cmd.Flags().DurationVar(&o.timeout, "timeout", 0, "give up after this long (such as 5s or 1m) and exit with status 3; 0 waits forever")
	addDirFlag(cmd, &o.dir)
	return cmd
}

// run waits on the semaphore as the flags say.
func (o *semWaitOptions) run(cmd *cobra.Command, args []string) error {
	if o.n < 1 {
		return usageErr(cmd, "--count %d: wait for at least one token", o.n)
	}
	if o.timeout < 0 {
		return usageErr(cmd, "--timeout %v is negative", o.timeout)
	}
	s, err := sem.Open(args[0], sem.Dir(o.dir))
	if err != nil {
		return err
	}
	defer s.Close()
	// A signal ends the wait through the context, so that the
	// semaphore's waiter count is put back before the exit.
	ctx, stop := stopContext(cmd.Context())
	defer stop()
	if o.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, o.timeout)
		defer cancel()
	}
	for i := 0; i < o.n; i++ {
		err := s.Wait(ctx)
		switch {
		case err == nil:
			continue
		case interruption(ctx) != nil:
			return interruptedf(ctx, "sem wait", args[0], "(took %d of %d token%s)", i, o.n, plural(o.n))
		case errors.Is(err, context.DeadlineExceeded):
			err = &shm.Error{Op: "sem wait", Name: args[0], Err: fmt.Errorf("%w after %v", sem.ErrTimeout, o.timeout)}
			if i > 0 {
				err = annotate(err, "%w (took %d of %d tokens)", i, o.n)
			}
			return &exitError{code: semTimeoutStatus, err: err}
		case i > 0:
			err = annotate(err, "%w (after taking %d of %d tokens)", i, o.n)
		}
		return err
	}
	return nil
}

// annotate adds to the cause of a library error, keeping the *shm.Error
// outermost so that it prints as "shm: OP NAME: cause ...". format has one
// %w for the cause, then args.
func annotate(err error, format string, args ...any) error {
	var se *shm.Error
	if !errors.As(err, &se) || se.Error() != err.Error() {
		return fmt.Errorf(format, append([]any{err}, args...)...)
	}
	return &shm.Error{Op: se.Op, Name: se.Name, Err: fmt.Errorf(format, append([]any{se.Err}, args...)...)}
}

// semState is what "shm sem value --json" prints.
type semState struct {
	jsonname.Field
	Value   int `json:"value"`
	Waiters int `json:"waiters"`
}

func newSemValueCmd() *cobra.Command {
	var (
		dir    string
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "value NAME",
		Short: "Print a semaphore's value (sem_getvalue)",
		Long: `Print the number of tokens in the semaphore NAME. With --json it prints an
object with the name, the value and the number of registered waiters (an
upper bound: a waiter that was killed stays counted).`,
		Args: exactArgs("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := sem.Open(args[0], sem.Dir(dir))
			if err != nil {
				return err
			}
			defer s.Close()
			v, err := s.Value()
			if err != nil {
				return err
			}
			if !asJSON {
				_, err = fmt.Fprintln(cmd.OutOrStdout(), v)
				return err
			}
			w, err := s.Waiters()
			if err != nil {
				return err
			}
			// writeJSON, as every --json: a name's characters that do not
			// print are escaped.
			return writeJSON(cmd.OutOrStdout(), semState{Field: jsonname.Of(s.Name()), Value: v, Waiters: w})
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON for scripts")
	addDirFlag(cmd, &dir)
	return cmd
}

func newSemRmCmd() *cobra.Command {
	var dir string
	cmd := &cobra.Command{
		Use:   "rm NAME...",
		Short: "Remove named semaphores (sem_unlink)",
		Long: `Remove the named semaphores. Processes that have one open keep using it
until they close it.`,
		Args: minArgs(1, "NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			var errs []error
			for _, name := range args {
				if err := sem.Unlink(name, sem.Dir(dir)); err != nil {
					errs = append(errs, err)
				}
			}
			return errors.Join(errs...)
		},
	}
	addDirFlag(cmd, &dir)
	return cmd
}

// semValueFlag is a flag that takes a semaphore's value: a whole number
// from 0 to sem.ValueMax (SEM_VALUE_MAX), less than a uint32 holds.
type semValueFlag uint32

func (f *semValueFlag) Set(s string) error {
	n, err := strconv.ParseUint(s, 10, 32)
	if err != nil || n > sem.ValueMax {
		return fmt.Errorf("invalid value %q: want a whole number from 0 to %d (SEM_VALUE_MAX)", s, sem.ValueMax)
	}
	*f = semValueFlag(n)
	return nil
}

func (f *semValueFlag) String() string { return strconv.FormatUint(uint64(*f), 10) }
func (f *semValueFlag) Type() string   { return "value" }
