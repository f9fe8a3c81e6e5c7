package shm

import (
	"bufio"
	"bytes"
	"errors"
	"io/fs"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// procRoot is where the scan reads processes from.
const procRoot = "/proc"

// pfKthread is the PF_KTHREAD bit of the flags in /proc/PID/stat: kernel
// threads have no mappings and no descriptors of their own.
const pfKthread = 0x00200000

// ScanAttachments reads /proc once: every process's mappings
// (/proc/PID/maps) and descriptors (/proc/PID/fd), keyed by the device and
// inode of the file behind each, so that an object renamed, or removed and
// created again under the same name, is never confused with another.
//
// Each process's descriptors are read before its mappings, so one that
// opens, maps and closes is seen at every step; /proc is listed again
// after each pass, up to four times, for children born during the scan.
// A process that exits during the scan is left out. A process whose maps or
// descriptors cannot be read (another user's, seen without root or
// CAP_SYS_PTRACE) is listed in Uninspected instead, and makes every answer
// incomplete. Kernel threads are skipped: they attach nothing.
//
// What it cannot see: processes in other PID namespaces (a container that
// shares /dev/shm with this one but not its /proc; ChildPIDNamespace says
// when the scan runs in one that is not the machine's initial namespace,
// and so may miss processes outside it), and descriptors held by
// a thread that unshared its descriptor table. Looking at what a descriptor
// points to (a stat) may block on a hung network file system, as lsof may;
// descriptors of sockets, pipes and anonymous inodes are never looked at.
func ScanAttachments() (*Attachments, error) {
	a := &Attachments{files: map[fileID][]Process{}, Hidden: procHidesPIDs(), ChildPIDNamespace: inChildPIDNamespace()}
	// A process that forks and then lets go of the object hands it to a
	// child that may be born after /proc was listed: list it again, and
	// scan the newcomers, until a listing shows none (a few rounds).
	seen := map[int]bool{}
	for range scanRounds {
		pids, err := listPIDs()
		if err != nil {
			return nil, err
		}
		fresh := 0
		for _, pid := range pids {
			if !seen[pid] {
				seen[pid] = true
				fresh++
				scanProcess(a, pid)
			}
		}
		if fresh == 0 {
			break
		}
	}
	return a, nil
}

// scanRounds bounds the listings of /proc in one scan.
const scanRounds = 4

// listPIDs returns the process ids in /proc.
func listPIDs() ([]int, error) {
	entries, err := os.ReadDir(procRoot)
	if err != nil {
		return nil, err
	}
	pids := make([]int, 0, len(entries))
	for _, e := range entries {
		if pid, err := strconv.Atoi(e.Name()); err == nil && pid > 0 {
			pids = append(pids, pid)
		}
	}
	return pids, nil
}

// scanProcess adds what process pid maps and holds to a.
func scanProcess(a *Attachments, pid int) {
	dir := procRoot + "/" + strconv.Itoa(pid)
	stat, err := os.ReadFile(dir + "/stat")
	if err != nil {
		return // gone
	}
	if kernelThread(stat) {
		return
	}
	p := Process{PID: pid, UID: processUID(dir)}
	if comm, err := os.ReadFile(dir + "/comm"); err == nil {
		p.Command = strings.TrimSuffix(string(comm), "\n")
	}
	// Descriptors first, then mappings: a process that opens, maps and
	// closes (as C programs do after mmap) holds the object in one or the
	// other at every moment, and this order cannot miss it in between.
	fds, fdErr := readFDs(dir + "/fd")
	maps, mapErr := readMaps(dir + "/maps")
	for _, err := range []error{fdErr, mapErr} {
		switch {
		case err == nil:
		case gone(err):
			return
		default:
			a.Uninspected = append(a.Uninspected, Uninspected{PID: pid, Command: p.Command, UID: p.UID, Err: err})
			return
		}
	}
	for f, n := range maps {
		q := p
		q.Mapped = n
		a.add(f, q)
	}
	for f := range fds {
		q := p
		q.FD = true
		a.add(f, q)
	}
}

// gone reports whether err says the process (or the descriptor) went away
// while it was read.
func gone(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, unix.ESRCH)
}

// kernelThread reads the flags field of /proc/PID/stat. The command in
// parentheses may itself hold spaces and parentheses, so fields are counted
// from the last ')'.
func kernelThread(stat []byte) bool {
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return false
	}
	f := strings.Fields(string(stat[i+1:]))
	// After ')': state ppid pgrp session tty_nr tpgid flags ...
	if len(f) < 7 {
		return false
	}
	flags, err := strconv.ParseUint(f[6], 10, 64)
	return err == nil && flags&pfKthread != 0
}

// processUID returns the effective uid from /proc/PID/status, or the owner
// of /proc/PID when status says nothing.
func processUID(dir string) uint32 {
	if b, err := os.ReadFile(dir + "/status"); err == nil {
		for line := range strings.SplitSeq(string(b), "\n") {
			if rest, ok := strings.CutPrefix(line, "Uid:"); ok {
				if f := strings.Fields(rest); len(f) >= 2 {
					if n, err := strconv.ParseUint(f[1], 10, 32); err == nil {
						return uint32(n)
					}
				}
			}
		}
	}
	var st unix.Stat_t
	if unix.Stat(dir, &st) == nil {
		return st.Uid
	}
	return 0
}

// readMaps sums the bytes mapped from each file in a /proc/PID/maps:
//
//	7f1c2a000000-7f1c2a100000 rw-s 00000000 00:1a 12345   /dev/shm/jobs
//
// address range, permissions, offset, device major:minor in hex, inode in
// decimal, then the path (which is not used: it may have been renamed).
// Anonymous mappings have inode 0.
func readMaps(path string) (map[fileID]int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out := map[fileID]int64{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 5 {
			continue
		}
		ino, err := strconv.ParseUint(fields[4], 10, 64)
		if err != nil || ino == 0 {
			continue
		}
		major, minor, ok := strings.Cut(fields[3], ":")
		if !ok {
			continue
		}
		maj, err1 := strconv.ParseUint(major, 16, 32)
		mnr, err2 := strconv.ParseUint(minor, 16, 32)
		lo, hi, ok := strings.Cut(fields[0], "-")
		if err1 != nil || err2 != nil || !ok {
			continue
		}
		start, err1 := strconv.ParseUint(lo, 16, 64)
		end, err2 := strconv.ParseUint(hi, 16, 64)
		if err1 != nil || err2 != nil || end < start {
			continue
		}
		out[fileID{unix.Mkdev(uint32(maj), uint32(mnr)), ino}] += int64(end - start)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	// Another user's maps fail to open with EACCES, above. A process that
	// is exiting reads as empty, which is the truth a moment later.
	return out, nil
}

// readFDs returns the files behind the descriptors in a /proc/PID/fd.
func readFDs(dir string) (map[fileID]bool, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	out := map[fileID]bool{}
	for _, e := range entries {
		link := dir + "/" + e.Name()
		target, err := os.Readlink(link)
		if err != nil {
			if gone(err) {
				continue
			}
			return nil, err
		}
		if strings.HasPrefix(target, "socket:") || strings.HasPrefix(target, "pipe:") || strings.HasPrefix(target, "anon_inode:") {
			continue
		}
		var st unix.Stat_t
		if err := unix.Stat(link, &st); err != nil {
			if gone(err) {
				continue
			}
			return nil, err
		}
		out[fileID{st.Dev, st.Ino}] = true
	}
	return out, nil
}

// initPIDNamespaceInode is the inode of the machine's initial PID
// namespace as /proc/PID/ns/pid shows it: a constant of the kernel
// (PROC_PID_INIT_INO) since Linux 3.8.
const initPIDNamespaceInode = 0xEFFFFFFC

// inChildPIDNamespace reports whether the calling process runs in a PID
// namespace other than the initial one, so that processes outside it are
// not in its /proc. It answers false when it cannot tell.
func inChildPIDNamespace() bool {
	var st unix.Stat_t
	if err := unix.Stat(procRoot+"/self/ns/pid", &st); err != nil {
		return false
	}
	return st.Ino != initPIDNamespaceInode
}

// procHidesPIDs reports whether /proc is mounted with hidepid (1, 2,
// "noaccess" or "invisible") and the caller is not root, so that other
// users' processes may be missing from it.
func procHidesPIDs() bool {
	if os.Geteuid() == 0 {
		return false
	}
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return false
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 5 || f[4] != procRoot {
			continue
		}
		for opt := range strings.SplitSeq(f[len(f)-1], ",") {
			if v, ok := strings.CutPrefix(opt, "hidepid="); ok && v != "0" && v != "off" {
				return true
			}
		}
	}
	return false
}
