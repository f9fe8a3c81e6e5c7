// Command shm creates, inspects, reads, writes and removes POSIX shared
// memory: the objects in /dev/shm that C's shm_open and Python's
// multiprocessing.shared_memory use. Run "shm demo" for a tour and
// "shm --help" for the commands.
//
// Exit status: 0 on success, 1 when an operation failed (the reason is one
// line on stderr, "shm: OP NAME: reason"), 2 for a usage error (unknown
// command or flag, wrong number of arguments, a size that does not parse),
// 3 a "sem wait --timeout" that ran out, 4 a queue peer that died, 5 a
// queue stream its sender aborted, 130 a command stopped by SIGINT,
// SIGTERM or SIGHUP (README.md, "Exit status").
package main

import (
	"io"
	"os"
	"runtime/debug"
	"strings"

	"github.com/shmkit/shm"
	"github.com/shmkit/shm/internal/fault"
	"github.com/spf13/cobra"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// run executes the command line args and returns the exit status.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	return execute(newRootCmd(), args, stdin, stdout, stderr)
}

func execute(root *cobra.Command, args []string, stdin io.Reader, stdout, stderr io.Writer) (code int) {
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	// A fault in a mapping that another process truncated is an error of
	// the command, one line and status 1, not a SIGBUS that kills it with
	// a goroutine dump: the libraries recover their own faults, and this
	// catches any other on the command's goroutine.
	defer func() {
		if r := recover(); r != nil {
			if _, ok := fault.Addr(r); !ok {
				panic(r)
			}
			code = exitStatus(faultError(root, args), stderr)
		}
	}()
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	return exitStatus(root.Execute(), stderr)
}

// faultError is the error of a command line whose run met a memory fault:
// "OP NAME: memory fault ...", OP the command ("sem wait") and NAME its
// first argument.
func faultError(root *cobra.Command, args []string) error {
	op, name := "", ""
	if cmd, _, err := root.Find(args); err == nil {
		op = strings.TrimPrefix(cmd.CommandPath(), root.Name()+" ")
		if cmd.Flags().Parsed() && cmd.Flags().NArg() > 0 {
			name = cmd.Flags().Arg(0)
		}
	}
	return &shm.Error{Op: op, Name: name, Err: shm.ErrFault}
}

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "shm",
		Short: "POSIX shared memory from the command line",
		Long: `shm creates, inspects, reads, writes and removes POSIX shared memory: the
objects in /dev/shm that C's shm_open and Python's multiprocessing.shared_memory
use. New here? Run "shm demo".

Sizes accept binary units: 4096, 64K, 1M, 1GiB (K, KB and KiB all mean 1024).
Exit status: 0 ok, 1 an operation failed, 2 usage error, 3 "sem wait"
timed out, 4 a queue's peer process died, 5 a queue stream was aborted by
its sender, 130 stopped by SIGINT, SIGTERM or SIGHUP.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		Args:          noSuchCommand,
		RunE:          func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	root.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error { return usageErr(cmd, "%s", flagError(err)) })

	root.AddCommand(newLsCmd())
	root.AddCommand(newCreateCmd())
	root.AddCommand(newRmCmd())
	root.AddCommand(newStatCmd())
	root.AddCommand(newCatCmd())
	root.AddCommand(newWriteCmd())
	root.AddCommand(newDumpCmd())
	root.AddCommand(newResizeCmd())
	root.AddCommand(newEditCmd())
	root.AddCommand(newDemoCmd())
	root.AddCommand(newDemoPeerCmd())
	root.AddCommand(newSemCmd())
	root.AddCommand(newQueueCmd())
	root.AddCommand(newTopicCmd())
	root.AddCommand(newBenchCmd())
	root.AddCommand(newCleanCmd())
	root.AddCommand(newDoctorCmd())
	root.AddCommand(newTopCmd())
	root.AddCommand(newBridgeCmd())
	return root
}
