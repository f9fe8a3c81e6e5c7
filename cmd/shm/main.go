// Command shm creates, inspects, reads, writes and removes POSIX shared
// memory: the objects in /dev/shm that C's shm_open and Python's
// multiprocessing.shared_memory use. Run "shm demo" for a tour and
// "shm --help" for the commands.
//
// Exit status: 0 on success, 1 when an operation failed (the reason is one
// line on stderr, "shm: OP NAME: reason"), 2 for a usage error (unknown
// command or flag, wrong number of arguments, a size that does not parse).
// Some commands document further statuses of their own.
package main

import (
	"io"
	"os"

	"github.com/spf13/cobra"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// run executes the command line args and returns the exit status.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	return execute(newRootCmd(), args, stdin, stdout, stderr)
}

func execute(root *cobra.Command, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	return exitStatus(root.Execute(), stderr)
}

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "shm",
		Short: "POSIX shared memory from the command line",
		Long: `shm creates, inspects, reads, writes and removes POSIX shared memory: the
objects in /dev/shm that C's shm_open and Python's multiprocessing.shared_memory
use. New here? Run "shm demo".

Sizes accept binary units: 4096, 64K, 1M, 1GiB (K, KB and KiB all mean 1024).
Exit status: 0 ok, 1 an operation failed, 2 usage error.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		Args:          noSuchCommand,
		RunE:          func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	root.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error { return usageErr(cmd, "%v", err) })

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
	return root
}
