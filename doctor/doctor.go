// Package doctor checks whether a machine suits POSIX shared memory, and
// says what to fix: whether the shared-memory directory is a tmpfs and how
// big and full it is (a container's 64 MB default is a common trap),
// whether systemd-logind removes a user's objects at logout (RemoveIPC),
// whether the kernel offers what this module uses (O_TMPFILE, membarrier,
// memfd_create, huge pages), the process limits that matter (open files,
// locked memory), and which objects are stale now.
//
// Each Finding has a Severity and, unless it is OK, a one-line Remedy.
// "shm doctor" prints them.
//
//	for _, f := range doctor.Run(nil) {
//		fmt.Println(f)
//	}
package doctor

import (
	"fmt"

	"github.com/shmkit/shm"
)

// Severity grades a finding.
type Severity string

const (
	OK      Severity = "ok"      // nothing to do
	Info    Severity = "info"    // worth knowing, nothing broken
	Warning Severity = "warning" // works, but may fail under load or at some event
	Problem Severity = "problem" // shared memory will not work as it should
)

// Finding is the result of one check.
type Finding struct {
	Check    string   `json:"check"`    // what was checked: "tmpfs", "size", "removeipc", ...
	Severity Severity `json:"severity"` // ok, info, warning or problem
	Message  string   `json:"message"`  // what was found, in one line
	Remedy   string   `json:"remedy,omitempty"`
	// Value holds the figures behind the message, for scripts: sizes in
	// bytes, limits, names.
	Value map[string]any `json:"value,omitempty"`
}

// String formats a finding as "warning size: ...; fix: ...".
func (f Finding) String() string {
	s := fmt.Sprintf("%-7s %s: %s", f.Severity, f.Check, f.Message)
	if f.Remedy != "" {
		s += "\n        fix: " + f.Remedy
	}
	return s
}

// Options says where to look. The zero value (or nil) checks
// shm.DefaultDir and the machine's own configuration.
type Options struct {
	// Dir is the shared-memory directory; "" means shm.DefaultDir.
	Dir string
	// Root is prepended to the configuration files read (logind's), for
	// checking a container image or a test tree; "" means "/".
	Root string
}

func (o *Options) dir() string {
	if o == nil || o.Dir == "" {
		return shm.DefaultDir
	}
	return o.Dir
}

func (o *Options) root() string {
	if o == nil || o.Root == "" {
		return "/"
	}
	return o.Root
}

// ContainerDefault is the size of /dev/shm that Docker and many other
// container runtimes give a container unless told otherwise: 64 MiB.
const ContainerDefault = 64 << 20

// Run runs every check and returns the findings, in a fixed order.
func Run(opts *Options) []Finding { return run(opts) }
