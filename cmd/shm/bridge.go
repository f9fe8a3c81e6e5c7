package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
)

// bridgeCommand is the program "shm bridge" runs: the NATS bridge, a
// module of its own (bridge/) so that shm never pulls in NATS.
const bridgeCommand = "shm-bridge"

// newBridgeCmd runs shm-bridge from PATH with the rest of the command
// line, as git runs its external commands: its standard streams are
// shm's, the signals that stop a command are passed on to it, and its
// exit status is shm's.
func newBridgeCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "bridge [out|in|...] ARGS...",
		Short: "run shm-bridge, the NATS bridge, with these arguments",
		Long: `bridge runs shm-bridge from PATH with the arguments that follow: "shm bridge
out orders --nats nats://hub:4222 --subject orders.new" is "shm-bridge out orders
...". shm-bridge carries a queue's or a topic's messages to a NATS JetStream
stream (out) and a stream's into a queue or a topic (in); "shm bridge help" shows
its own help. It is installed on its own, so that shm never pulls in NATS:

    (cd bridge && go install ./cmd/shm-bridge)    # in a clone of shm

The exit status is shm-bridge's. SIGINT, SIGTERM and SIGHUP are passed on to it
(it drains and exits 0).`,
		DisableFlagParsing: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 && (args[0] == "--help" || args[0] == "-h") {
				return cmd.Help()
			}
			path, err := exec.LookPath(bridgeCommand)
			if err != nil {
				return fmt.Errorf("bridge: %s is not installed (not in PATH); install it from a clone of shm with: (cd bridge && go install ./cmd/shm-bridge)", bridgeCommand)
			}
			return runExternal(cmd, path, args)
		},
	}
}

// runExternal runs the program at path with args on cmd's standard
// streams, passes on stopSignals while it runs, and returns its exit
// status as an *exitError without a message (the program printed its
// own); a program killed by a signal exits 128 + the signal, as a shell
// reports it.
func runExternal(cmd *cobra.Command, path string, args []string) error {
	c := exec.Command(path, args...)
	c.Stdin, c.Stdout, c.Stderr = cmd.InOrStdin(), cmd.OutOrStdout(), cmd.ErrOrStderr()
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, stopSignals...)
	defer signal.Stop(sigs)
	if err := c.Start(); err != nil {
		return fmt.Errorf("bridge: %w", err)
	}
	done := make(chan struct{})
	go func() {
		for {
			select {
			case sig := <-sigs:
				c.Process.Signal(sig)
			case <-done:
				return
			}
		}
	}()
	err := c.Wait()
	close(done)
	var exit *exec.ExitError
	if !errors.As(err, &exit) {
		if err != nil {
			return fmt.Errorf("bridge: %w", err)
		}
		return nil
	}
	if ws, ok := exit.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return &exitError{code: 128 + int(ws.Signal())}
	}
	return &exitError{code: exit.ExitCode()}
}
