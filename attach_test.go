//go:build linux

package shm_test

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/shmkit/shm"
	"github.com/shmkit/shm/internal/shmtest"
)

// attachRoles are the child roles of the attachment tests. Each prints
// "ready" once it holds what it should, then waits for its standard input
// to close.
var attachRoles = map[string]func(name, arg string) int{
	"attach-map":     attachMap,
	"attach-fd":      attachFD,
	"attach-replace": attachReplace,
	"attach-scan":    attachScan,
}

func waitForStdin() { io.Copy(io.Discard, os.Stdin) }

// attachMap maps the object and keeps it mapped.
func attachMap(name, _ string) int {
	seg, err := shm.Open(name)
	if err != nil {
		fmt.Println(err)
		return childFailed
	}
	defer seg.Close()
	fmt.Println("ready")
	waitForStdin()
	return childOK
}

// attachFD holds a read-only descriptor to the object, without mapping it.
func attachFD(name, _ string) int {
	p, _ := shm.Path("", name)
	f, err := os.Open(p)
	if err != nil {
		fmt.Println(err)
		return childFailed
	}
	defer f.Close()
	fmt.Println("ready")
	waitForStdin()
	return childOK
}

// attachReplace maps the object, then removes its name and creates a new
// object under it, which it closes: it keeps the old object mapped, and
// holds nothing of the new one.
func attachReplace(name, _ string) int {
	seg, err := shm.Open(name)
	if err != nil {
		fmt.Println(err)
		return childFailed
	}
	defer seg.Close()
	if err := shm.Unlink(name); err != nil {
		fmt.Println(err)
		return childFailed
	}
	fresh, err := shm.Create(name, 4096)
	if err != nil {
		fmt.Println(err)
		return childFailed
	}
	fresh.Close()
	fmt.Println("ready")
	waitForStdin()
	return childOK
}

// scanResult is what attachScan prints.
type scanResult struct {
	Procs       []shm.Process `json:"procs"`
	Complete    bool          `json:"complete"`
	Count       int           `json:"count"`
	Uninspected int           `json:"uninspected"`
}

// attachScan scans /proc as whoever it runs as and prints what it found
// for the object.
func attachScan(name, _ string) int {
	info, err := shm.Stat(name)
	if err != nil {
		fmt.Println(err)
		return childFailed
	}
	a, err := shm.ScanAttachments()
	if err != nil {
		fmt.Println(err)
		return childFailed
	}
	procs, complete := a.Of(info)
	b, _ := json.Marshal(scanResult{procs, complete, a.Count(info), len(a.Uninspected)})
	fmt.Println(string(b))
	return childOK
}

// holder starts a child in role on name and returns its pid once it says
// it is ready; it is killed when the test ends.
func holder(t *testing.T, role, name string, cred *syscall.Credential, exe string) int {
	t.Helper()
	cmd := child(t, role, name, "")
	if exe != "" {
		cmd.Path = exe
		cmd.Args[0] = exe
	}
	if cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	}
	c := shmtest.Start(t, cmd)
	if line, ok := c.Next(time.Minute); line != "ready" {
		t.Fatalf("%s child: %q, %v; output:\n%s", role, line, ok, c.Output())
	}
	return c.Pid()
}

func findPID(procs []shm.Process, pid int) (shm.Process, bool) {
	for _, p := range procs {
		if p.PID == pid {
			return p, true
		}
	}
	return shm.Process{}, false
}

// The attachment tests run in a PID namespace of their own, so that the
// machine's other processes (some of which not even root may inspect)
// cannot make the answers incomplete.

// TestAttached: a child that maps the object is seen with the bytes it
// maps, one that only holds a descriptor is seen with FD and nothing
// mapped, and one that maps the object and then replaces its name with a
// new object is attached to the old object only.
func TestAttached(t *testing.T) {
	if !shmtest.OwnPIDNamespace(t) {
		return
	}
	const size = 3 * 4096
	tests := []struct {
		name       string
		role       string
		mapped     int64 // what the child maps of the object under the name
		fd         bool
		onReplaced bool // the child is attached only to the object it replaced
	}{
		{name: "maps", role: "attach-map", mapped: size, fd: true}, // a Segment keeps its descriptor
		{name: "descriptor only", role: "attach-fd", fd: true},
		{name: "unlinked and recreated", role: "attach-replace", onReplaced: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			name := shmtest.Name(t, "")
			seg := create(t, name, size)
			seg.Close() // the test itself holds nothing
			old, err := shm.Stat(name)
			if err != nil {
				t.Fatal(err)
			}
			pid := holder(t, tc.role, name, nil, "")
			cur, err := shm.Stat(name)
			if err != nil {
				t.Fatal(err)
			}
			a, err := shm.ScanAttachments()
			if err != nil {
				t.Fatal(err)
			}
			procs, complete := a.Of(cur)
			if !complete {
				t.Errorf("scan as uid %d incomplete: %v", os.Geteuid(), a.Uninspected)
			}
			p, found := findPID(procs, pid)
			if tc.onReplaced {
				if cur.Inode == old.Inode {
					t.Fatalf("the child's new object has the old inode %d", old.Inode)
				}
				if found || len(procs) != 0 {
					t.Errorf("new object under %s: attached %+v; want nobody", name, procs)
				}
				oldProcs, _ := a.Of(old)
				if p, ok := findPID(oldProcs, pid); !ok || p.Mapped != size || !p.FD {
					t.Errorf("replaced object: attached %+v; want pid %d mapping %d bytes with its descriptor", oldProcs, pid, size)
				}
				return
			}
			if !found || len(procs) != 1 {
				t.Fatalf("attached %+v; want exactly pid %d", procs, pid)
			}
			if p.Mapped != tc.mapped || p.FD != tc.fd || p.Maps() != (tc.mapped > 0) {
				t.Errorf("pid %d: mapped %d fd %v; want mapped %d fd %v", pid, p.Mapped, p.FD, tc.mapped, tc.fd)
			}
			if p.UID != uint32(os.Geteuid()) || p.Command == "" {
				t.Errorf("pid %d: uid %d command %q; want uid %d and a command", pid, p.UID, p.Command, os.Geteuid())
			}
			if n := a.Count(cur); n != 1 {
				t.Errorf("Count = %d, want 1", n)
			}
			// Attached, the one-call form, agrees.
			procs2, complete2, err := shm.Attached(name)
			if err != nil || !complete2 {
				t.Fatalf("Attached: %v complete %v", err, complete2)
			}
			if _, ok := findPID(procs2, pid); !ok {
				t.Errorf("Attached = %+v, want pid %d among them", procs2, pid)
			}
		})
	}
}

// TestAttachedOtherUser: a process of uid 65534 that maps root's object is
// seen with its uid; and a scan run as uid 65534, which may not read
// root's mappings, answers "unknown" for an object root maps, never
// "nobody".
func TestAttachedOtherUser(t *testing.T) {
	if !shmtest.OwnPIDNamespace(t) {
		return
	}
	exe := shmtest.ExecutableForOthers(t)
	nobody := &syscall.Credential{Uid: 65534, Gid: 65534}

	name := shmtest.Name(t, "")
	create(t, name, 4096, shm.Mode(0o666)) // mapped by this (root) process
	pid := holder(t, "attach-map", name, nobody, exe)
	info, err := shm.Stat(name)
	if err != nil {
		t.Fatal(err)
	}
	a, err := shm.ScanAttachments()
	if err != nil {
		t.Fatal(err)
	}
	procs, _ := a.Of(info)
	p, ok := findPID(procs, pid)
	if !ok || p.UID != 65534 || p.Mapped != 4096 {
		t.Errorf("attached %+v; want pid %d of uid 65534 mapping 4096 bytes", procs, pid)
	}
	if _, ok := findPID(procs, os.Getpid()); !ok {
		t.Errorf("attached %+v; want this process (%d), which maps it too", procs, os.Getpid())
	}

	// The unprivileged scanner cannot read this process's /proc entries.
	cmd := child(t, "attach-scan", name, "")
	cmd.Path, cmd.Args[0] = exe, exe
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: nobody}
	out, code := runPeer(t, cmd)
	if code != childOK {
		t.Fatalf("scan as uid 65534: exit %d: %s", code, out)
	}
	var got scanResult
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("scan output %q: %v", out, err)
	}
	if got.Complete || got.Uninspected == 0 {
		t.Errorf("scan as uid 65534 = %+v; want incomplete, with root's processes uninspected", got)
	}
	if got.Count == 0 {
		t.Errorf("scan as uid 65534 counts 0 attached; want unknown (-1) or the processes it could see")
	}
	if _, ok := findPID(got.Procs, os.Getpid()); ok {
		t.Errorf("scan as uid 65534 read root's mappings: %+v", got.Procs)
	}
}

// ExampleScanAttachments lists who has an object open, as "shm stat" does.
func ExampleScanAttachments() {
	name := exampleName("attached")
	seg, err := shm.Create(name, 4096)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer shm.Unlink(name)
	defer seg.Close()

	info, _ := shm.Stat(name)
	a, err := shm.ScanAttachments()
	if err != nil {
		fmt.Println(err)
		return
	}
	// complete is false when some processes could not be inspected (run
	// without root): then an empty list means "unknown", not "nobody".
	procs, _ := a.Of(info)
	for _, p := range procs {
		if p.PID == os.Getpid() {
			fmt.Printf("this process maps %d bytes; descriptor held: %v\n", p.Mapped, p.FD)
		}
	}
	// Output: this process maps 4096 bytes; descriptor held: true
}

// TestScanInChildPIDNamespace: a scan from a PID namespace of its own says
// so, since processes outside it are not in its /proc.
func TestScanInChildPIDNamespace(t *testing.T) {
	if !shmtest.OwnPIDNamespace(t) {
		return
	}
	a, err := shm.ScanAttachments()
	if err != nil {
		t.Fatal(err)
	}
	if !a.ChildPIDNamespace {
		t.Error("a scan in a new PID namespace does not say it runs in a child namespace")
	}
}
