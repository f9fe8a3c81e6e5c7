package shmtest

import (
	"os/exec"
	"syscall"
)

// NewPIDNamespace starts the child in a new PID namespace of its own
// (CLONE_NEWPID; root only), where it is pid 1 and its pids mean nothing
// to the test: a container that shares /dev/shm with the test.
func NewPIDNamespace() Option {
	return func(c *exec.Cmd) {
		if c.SysProcAttr == nil {
			c.SysProcAttr = &syscall.SysProcAttr{}
		}
		c.SysProcAttr.Cloneflags |= syscall.CLONE_NEWPID
	}
}

// AsUser runs the child as uid and gid (root only). exe is a copy of the
// test binary that user may run: see ExecutableForOthers.
func AsUser(uid, gid uint32, exe string) Option {
	return func(c *exec.Cmd) {
		c.Path, c.Args[0] = exe, exe
		if c.SysProcAttr == nil {
			c.SysProcAttr = &syscall.SysProcAttr{}
		}
		c.SysProcAttr.Credential = &syscall.Credential{Uid: uid, Gid: gid}
	}
}
