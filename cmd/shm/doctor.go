package main

import (
	"fmt"

	"github.com/shmkit/shm/doctor"
	"github.com/spf13/cobra"
)

func newDoctorCmd() *cobra.Command {
	var opts doctor.Options
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "doctor",
		Short: "Check this machine for shared memory, and say what to fix",
		Long: `Check the machine for shared memory and say what to fix, each finding with a
one-line remedy: whether the directory (/dev/shm unless --dir says otherwise)
is a tmpfs, its size and free space (warning at the 64 MiB a container gets
by default), logind's RemoveIPC (which removes a user's objects when their
last session ends), whether O_TMPFILE, membarrier, memfd_create and huge pages
are available, the open-files and locked-memory limits, and the objects
that are stale now.

Each finding is ok, info, warning or problem. Exit status: 0 when it ran
(whatever it found), 1 when it could not, 2 usage error.`,
		Args: exactArgs(),
		RunE: func(cmd *cobra.Command, args []string) error {
			findings := doctor.Run(&opts)
			if asJSON {
				return writeJSON(cmd.OutOrStdout(), findings)
			}
			for _, f := range findings {
				fmt.Fprintln(cmd.OutOrStdout(), f)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print a JSON array of findings for scripts")
	addDirFlag(cmd, &opts.Dir)
	return cmd
}
