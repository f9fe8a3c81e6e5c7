package bench

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// extraPeers are the processes that the first peer of a case with several
// receivers (a topic's subscribers, a queue's consumers) starts for the
// others: this same program with the same arguments, and the case in
// peerEnv with the receiver's own Arg. They are not pinned: with more busy
// processes than CPUs, the scheduler places them.
type extraPeers struct {
	cmds   []*exec.Cmd
	stderr []*headBuffer
	done   []chan error
}

// startExtraPeers starts receivers 1 to n-1, each with peerEnv's case and
// the Arg that arg gives it.
func startExtraPeers(n int, arg func(k int) string) (*extraPeers, error) {
	var spec peerSpec
	if err := json.Unmarshal([]byte(os.Getenv(peerEnv)), &spec); err != nil {
		return nil, fmt.Errorf("start other receivers: bad %s: %w", peerEnv, err)
	}
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("start other receivers: %w", err)
	}
	e := &extraPeers{}
	for k := 1; k < n; k++ {
		s := spec
		s.Arg, s.CPU, s.Files = arg(k), -1, 0
		b, err := json.Marshal(s)
		if err != nil {
			return e, errors.Join(err, e.wait())
		}
		cmd := exec.Command(exe, os.Args[1:]...)
		// The last of duplicate variables wins.
		cmd.Env = append(os.Environ(), peerEnv+"="+string(b))
		stderr := &headBuffer{}
		cmd.Stderr = stderr
		// They die with this peer's thread, which ServePeer keeps locked.
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		if err := cmd.Start(); err != nil {
			return e, errors.Join(fmt.Errorf("start receiver %d: %w", k, err), e.wait())
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		e.cmds, e.stderr, e.done = append(e.cmds, cmd), append(e.stderr, stderr), append(e.done, done)
	}
	return e, nil
}

// wait waits for every receiver to exit, killing those that have not
// within peerExitTimeout, and returns their failures with what they
// printed.
func (e *extraPeers) wait() error {
	var errs []error
	deadline := time.Now().Add(peerExitTimeout)
	for i, cmd := range e.cmds {
		var err error
		select {
		case err = <-e.done[i]:
		case <-time.After(time.Until(deadline)):
			cmd.Process.Kill()
			err = fmt.Errorf("did not exit within %v: %w", peerExitTimeout, <-e.done[i])
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("receiver %d: %w: %s", i+1, err, strings.TrimSpace(e.stderr[i].String())))
		}
	}
	return errors.Join(errs...)
}
