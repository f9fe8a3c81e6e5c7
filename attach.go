package shm

import (
	"fmt"
	"sort"
)

// Process is a process attached to an object: one that maps it, holds a
// descriptor to it, or both.
type Process struct {
	PID     int    `json:"pid"`     // in the PID namespace of the scan's /proc
	Command string `json:"command"` // the kernel's name for it (/proc/PID/comm), at most 15 bytes
	UID     uint32 `json:"uid"`     // its effective user id
	Mapped  int64  `json:"mapped"`  // bytes of the object it maps, 0 when it maps none
	FD      bool   `json:"fd"`      // it holds a descriptor to the object
}

// Maps reports whether p maps the object (rather than only holding a
// descriptor to it).
func (p Process) Maps() bool { return p.Mapped > 0 }

// Uninspected is a process whose mappings or descriptors could not be read,
// typically another user's process seen by a caller without privilege. It
// may or may not be attached to any object.
type Uninspected struct {
	PID     int    `json:"pid"`
	Command string `json:"command"` // empty when even that was hidden
	UID     uint32 `json:"uid"`
	Err     error  `json:"-"` // why it could not be inspected
}

// Attachments is what one pass over /proc found: which processes map or
// hold which files, and which processes it could not inspect. Make one with
// ScanAttachments and ask it about each object with Of; it does not change
// afterwards, so a caller who acts on it (removing an object, say) must
// scan again just before.
type Attachments struct {
	files map[fileID][]Process
	// Uninspected lists the processes whose mappings or descriptors could
	// not be read. While it is not empty, and while Hidden is true, no
	// object can be said to have nobody attached.
	Uninspected []Uninspected
	// Hidden is true when /proc hides other users' processes from the
	// caller (mounted with hidepid), so some may not be listed at all.
	Hidden bool
	// ChildPIDNamespace is true when the scan ran in a PID namespace other
	// than the machine's initial one (a container's, say). Its /proc lists
	// only that namespace's processes, so one outside it that shares the
	// directory (a container sharing /dev/shm with the host or another
	// container) is never seen, and an object only such a process uses
	// looks unattached. It does not make the scan incomplete: nothing
	// tells, from inside, whether anyone outside shares the directory.
	ChildPIDNamespace bool
}

// fileID is a file by device and inode: what a name pointed to at the
// moment it was looked at, unconfused by renames and by a new object under
// the old name.
type fileID struct{ dev, ino uint64 }

// Complete reports whether the scan saw every process that could be
// attached to an object, so that an empty answer from Of means nobody.
func (a *Attachments) Complete() bool { return len(a.Uninspected) == 0 && !a.Hidden }

// Of returns the processes attached to the object that info describes
// (matched by device and inode, not by name), sorted by pid, and whether
// that answer is complete. When complete is false, processes that could
// not be inspected may be attached too: an empty list then means "unknown",
// not "nobody".
func (a *Attachments) Of(info Info) (procs []Process, complete bool) {
	procs = append([]Process(nil), a.files[fileID{info.Device, info.Inode}]...)
	return procs, a.Complete()
}

// Count returns the number of processes attached to the object info
// describes, or -1 when the scan was not complete and it found none (the
// answer is then unknown). A non-zero count is a lower bound when the scan
// was not complete.
func (a *Attachments) Count(info Info) int {
	procs, complete := a.Of(info)
	if len(procs) == 0 && !complete {
		return -1
	}
	return len(procs)
}

// add records that p is attached to f, merging a mapping and a descriptor
// of the same process.
func (a *Attachments) add(f fileID, p Process) {
	list := a.files[f]
	for i := range list {
		if list[i].PID == p.PID {
			list[i].Mapped += p.Mapped
			list[i].FD = list[i].FD || p.FD
			return
		}
	}
	list = append(list, p)
	sort.Slice(list, func(i, j int) bool { return list[i].PID < list[j].PID })
	a.files[f] = list
}

// Attached returns the processes attached to the named object and whether
// the answer is complete (see Attachments.Of). It scans all of /proc: to
// ask about many objects, call ScanAttachments once and Of for each.
func Attached(name string, opts ...Option) (procs []Process, complete bool, err error) {
	info, err := Stat(name, opts...)
	if err != nil {
		return nil, false, err
	}
	a, err := ScanAttachments()
	if err != nil {
		return nil, false, wrap("attached", name, err)
	}
	procs, complete = a.Of(info)
	return procs, complete, nil
}

// String describes u for a message: `pid 12 (sshd, uid 0): permission
// denied`. The command is quoted as QuoteName quotes names: any process
// may choose its own.
func (u Uninspected) String() string {
	return fmt.Sprintf("pid %d (%s, uid %d): %v", u.PID, QuoteName(u.Command), u.UID, u.Err)
}
