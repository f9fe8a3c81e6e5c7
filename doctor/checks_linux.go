package doctor

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/shmkit/shm"
	"github.com/shmkit/shm/inspect"
	"github.com/shmkit/shm/internal/jsonname"
	"golang.org/x/sys/unix"
)

// File system magic numbers (statfs's f_type).
const (
	tmpfsMagic     = 0x01021994
	hugetlbfsMagic = 0x958458f6
)

// membarrier(2) commands the queue relies on.
const (
	membarrierQuery                   = 0
	membarrierGlobalExpedited         = 1 << 1
	membarrierRegisterGlobalExpedited = 1 << 2
)

func run(opts *Options) []Finding {
	dir := opts.dir()
	var out []Finding
	out = append(out, checkFileSystem(dir)...)
	out = append(out, checkRemoveIPC(opts.root()))
	out = append(out, checkTmpfile(dir), checkMembarrier(), checkMemfd(), checkHugePages())
	out = append(out, checkOpenFiles(), checkMemlock())
	out = append(out, checkStale(dir)...)
	return out
}

// checkFileSystem: a tmpfs (or hugetlbfs), its size and free space.
func checkFileSystem(dir string) []Finding {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return []Finding{{Check: "tmpfs", Severity: Problem, Message: fmt.Sprintf("cannot look at %s: %v", dir, err),
			Remedy: "create the directory, or mount a tmpfs there: mount -t tmpfs -o size=1g tmpfs " + dir}}
	}
	var out []Finding
	switch uint32(st.Type) {
	case tmpfsMagic:
		out = append(out, Finding{Check: "tmpfs", Severity: OK, Message: dir + " is a tmpfs"})
	case hugetlbfsMagic:
		out = append(out, Finding{Check: "tmpfs", Severity: Info, Message: dir + " is a hugetlbfs: objects are made of huge pages, sizes must be multiples of them"})
	default:
		out = append(out, Finding{Check: "tmpfs", Severity: Problem,
			Message: fmt.Sprintf("%s is not a tmpfs (file system type %#x): objects live on disk, and every store may be written back", dir, st.Type),
			Remedy:  "mount a tmpfs there: mount -t tmpfs -o size=1g tmpfs " + dir})
	}
	size := int64(st.Blocks) * st.Bsize
	free := int64(st.Bavail) * st.Bsize
	value := map[string]any{"size": size, "free": free, "dir": dir}
	f := Finding{Check: "size", Severity: OK, Value: value,
		Message: fmt.Sprintf("%s holds %s, %s free", dir, human(size), human(free))}
	switch {
	case size == ContainerDefault:
		f.Severity = Warning
		f.Message += ": the 64 MiB a container gets by default, too small for most shared-memory work"
		f.Remedy = "give the container more: docker run --shm-size=1g, or mount a Memory emptyDir at /dev/shm in Kubernetes"
	case size > 0 && free < size/10:
		f.Severity = Warning
		f.Message += ": less than a tenth is free, so new objects may fail with no space"
		f.Remedy = "remove what is stale (shm clean --force), or remount bigger: mount -o remount,size=2g " + dir
	}
	return append(out, f)
}

// checkRemoveIPC reads logind's RemoveIPC setting: its main file, then the
// drop-ins in the order systemd applies them (by file name, later wins).
func checkRemoveIPC(root string) Finding {
	logind := false
	for _, p := range []string{"usr/lib/systemd/systemd-logind", "lib/systemd/systemd-logind"} {
		if _, err := os.Stat(filepath.Join(root, p)); err == nil {
			logind = true
		}
	}
	files := []string{filepath.Join(root, "etc/systemd/logind.conf")}
	dropins := map[string]string{}
	for _, d := range []string{"usr/lib/systemd/logind.conf.d", "usr/local/lib/systemd/logind.conf.d", "run/systemd/logind.conf.d", "etc/systemd/logind.conf.d"} {
		ents, _ := os.ReadDir(filepath.Join(root, d))
		for _, e := range ents {
			if strings.HasSuffix(e.Name(), ".conf") {
				dropins[e.Name()] = filepath.Join(root, d, e.Name()) // a later directory overrides a name
			}
		}
	}
	names := make([]string, 0, len(dropins))
	for n := range dropins {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		files = append(files, dropins[n])
	}
	value, from := "", ""
	for _, p := range files {
		if v, ok := removeIPCIn(p); ok {
			value, from = v, p
		}
	}
	if !logind && from == "" {
		return Finding{Check: "removeipc", Severity: OK, Message: "no systemd-logind here: nothing removes objects at logout"}
	}
	yes := value == "" || parseBool(value)
	setting := "RemoveIPC is not set, and defaults to yes"
	if from != "" {
		setting = fmt.Sprintf("RemoveIPC=%s in %s", value, from)
	}
	if !yes {
		return Finding{Check: "removeipc", Severity: OK, Message: setting + ": logind leaves objects alone", Value: map[string]any{"file": from}}
	}
	return Finding{Check: "removeipc", Severity: Warning, Value: map[string]any{"file": from},
		Message: setting + ": when a regular user's last session ends, logind removes every object that user owns, even ones in use",
		Remedy:  "run services as system users (uid below 1000), or write RemoveIPC=no under [Login] in /etc/systemd/logind.conf.d/shm.conf"}
}

// removeIPCIn returns the last RemoveIPC value of the [Login] section of a
// logind configuration file.
func removeIPCIn(path string) (string, bool) {
	f, err := os.Open(path)
	if err != nil {
		return "", false
	}
	defer f.Close()
	section := ""
	value, found := "", false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || line[0] == '#' || line[0] == ';':
		case line[0] == '[':
			section = strings.Trim(line, "[]")
		case section == "Login":
			k, v, ok := strings.Cut(line, "=")
			if ok && strings.TrimSpace(k) == "RemoveIPC" {
				value, found = strings.TrimSpace(v), true
			}
		}
	}
	return value, found
}

// parseBool reads a systemd boolean.
func parseBool(s string) bool {
	switch strings.ToLower(s) {
	case "1", "yes", "y", "true", "t", "on":
		return true
	}
	return false
}

// checkTmpfile: the module creates objects without a name first
// (O_TMPFILE), then links them, so that nobody sees one half-made.
func checkTmpfile(dir string) Finding {
	fd, err := unix.Open(dir, unix.O_TMPFILE|unix.O_RDWR|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return Finding{Check: "o_tmpfile", Severity: Info,
			Message: fmt.Sprintf("O_TMPFILE is refused in %s (%v): objects are created under a temporary name and renamed instead", dir, err),
			Remedy:  "use a tmpfs on Linux 3.11 or later for the directory"}
	}
	unix.Close(fd)
	return Finding{Check: "o_tmpfile", Severity: OK, Message: "O_TMPFILE works: new objects appear complete or not at all"}
}

// checkMembarrier: queues use the expedited global barrier so that a
// sleeping consumer costs its producer nothing per message.
func checkMembarrier() Finding {
	r, _, errno := unix.Syscall(unix.SYS_MEMBARRIER, membarrierQuery, 0, 0)
	want := uintptr(membarrierGlobalExpedited | membarrierRegisterGlobalExpedited)
	if errno != 0 || r&want != want {
		msg := "membarrier's expedited global barrier is not available"
		if errno != 0 {
			msg += " (" + errno.Error() + ")"
		}
		return Finding{Check: "membarrier", Severity: Warning, Message: msg + ": queues fall back to a barrier on every send, slower",
			Remedy: "run Linux 4.16 or later, and allow membarrier in the seccomp profile of the container"}
	}
	return Finding{Check: "membarrier", Severity: OK, Message: "membarrier's expedited global barrier is available"}
}

// checkMemfd: anonymous shared memory to pass between processes.
func checkMemfd() Finding {
	fd, err := unix.MemfdCreate("shm-doctor", unix.MFD_CLOEXEC)
	if err != nil {
		return Finding{Check: "memfd_create", Severity: Info, Message: fmt.Sprintf("memfd_create fails (%v): anonymous shared memory is unavailable", err),
			Remedy: "run Linux 3.17 or later, and allow memfd_create in the seccomp profile"}
	}
	unix.Close(fd)
	return Finding{Check: "memfd_create", Severity: OK, Message: "memfd_create works"}
}

// checkHugePages reports the huge pages reserved and transparent huge
// pages for shared memory.
func checkHugePages() Finding {
	total, size := meminfo("HugePages_Total"), meminfo("Hugepagesize")
	thp := "unknown"
	if b, err := os.ReadFile("/sys/kernel/mm/transparent_hugepage/shmem_enabled"); err == nil {
		for _, w := range strings.Fields(string(b)) {
			if strings.HasPrefix(w, "[") {
				thp = strings.Trim(w, "[]")
			}
		}
	}
	value := map[string]any{"reserved": total, "page_kib": size, "shmem_thp": thp}
	msg := fmt.Sprintf("%d huge pages of %d KiB reserved (for a hugetlbfs --dir); transparent huge pages for tmpfs: %s", total, size, thp)
	if total == 0 && (thp == "never" || thp == "deny" || thp == "unknown") {
		return Finding{Check: "huge_pages", Severity: Info, Message: msg, Value: value,
			Remedy: "for big segments, reserve pages (sysctl vm.nr_hugepages=N) and mount hugetlbfs, or mount the tmpfs with huge=within_size"}
	}
	return Finding{Check: "huge_pages", Severity: OK, Message: msg, Value: value}
}

// meminfo returns a number from /proc/meminfo, 0 when absent.
func meminfo(key string) int64 {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, key+":"); ok {
			if f := strings.Fields(rest); len(f) > 0 {
				n, _ := strconv.ParseInt(f[0], 10, 64)
				return n
			}
		}
	}
	return 0
}

// checkOpenFiles: every segment a process keeps open holds a descriptor.
func checkOpenFiles() Finding {
	var rl unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &rl); err != nil {
		return Finding{Check: "open_files", Severity: Info, Message: "cannot read the open-files limit: " + err.Error()}
	}
	value := map[string]any{"soft": rl.Cur, "hard": rl.Max}
	msg := fmt.Sprintf("open files: %s (hard limit %s); each open segment, semaphore or queue holds one", limit(rl.Cur), limit(rl.Max))
	if rl.Cur < 1024 {
		return Finding{Check: "open_files", Severity: Warning, Message: msg, Value: value,
			Remedy: "raise it: ulimit -n 65536, or LimitNOFILE=65536 in the service's unit"}
	}
	return Finding{Check: "open_files", Severity: OK, Message: msg, Value: value}
}

// checkMemlock: locking a segment in memory (mlock) counts against it.
func checkMemlock() Finding {
	var rl unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_MEMLOCK, &rl); err != nil {
		return Finding{Check: "memlock", Severity: Info, Message: "cannot read the locked-memory limit: " + err.Error()}
	}
	value := map[string]any{"soft": rl.Cur, "hard": rl.Max}
	msg := fmt.Sprintf("locked memory: %s (hard limit %s), for segments locked in memory", bytesLimit(rl.Cur), bytesLimit(rl.Max))
	if rl.Cur != unix.RLIM_INFINITY && rl.Cur < 64<<20 {
		return Finding{Check: "memlock", Severity: Info, Message: msg + ": too little to lock a large segment", Value: value,
			Remedy: "raise it for services that lock segments: LimitMEMLOCK=infinity in the unit, or ulimit -l unlimited"}
	}
	return Finding{Check: "memlock", Severity: OK, Message: msg, Value: value}
}

// checkStale lists the objects that are stale now, and says whether the
// scan could inspect every process.
func checkStale(dir string) []Finding {
	objs, err := inspect.List(&inspect.Options{Dir: dir})
	if err != nil {
		return []Finding{{Check: "stale", Severity: Info, Message: "cannot inspect the objects: " + err.Error()}}
	}
	var stale, unknown []string
	uninspected := 0
	for _, o := range objs {
		uninspected = o.Uninspected
		switch o.State {
		case inspect.Stale:
			stale = append(stale, o.Name)
		case inspect.Unknown:
			unknown = append(unknown, o.Name)
		}
	}
	out := []Finding{staleFinding(dir, len(objs), stale)}
	if uninspected > 0 {
		out = append(out, inspectionFinding(uninspected, unknown))
	}
	return out
}

// staleFinding reports the stale objects among the total in dir, with the
// commands that show and remove them, the directory quoted for a shell.
func staleFinding(dir string, total int, stale []string) Finding {
	if len(stale) == 0 {
		return Finding{Check: "stale", Severity: OK, Message: fmt.Sprintf("no stale objects among %d", total)}
	}
	them := "them"
	if len(stale) == 1 {
		them = "it"
	}
	d := shm.QuoteName(dir)
	return Finding{Check: "stale", Severity: Warning, Value: namesValue(stale),
		Message: fmt.Sprintf("%s (every participant died without closing %s), taking space", count(len(stale), "stale object", "stale objects"), them),
		Remedy: fmt.Sprintf("shm clean --dir %s to see %s, shm clean --force --dir %s to remove %s (add --discard to remove queues that still hold messages, or are damaged)",
			d, them, d, them)}
}

// inspectionFinding reports that some processes could not be inspected,
// and the objects that are unknown for it.
func inspectionFinding(uninspected int, unknown []string) Finding {
	verb := "are"
	if len(unknown) == 1 {
		verb = "is"
	}
	return Finding{Check: "inspection", Severity: Info, Value: map[string]any{"uninspected": uninspected, "unknown": unknown},
		Message: fmt.Sprintf("%s could not be inspected, so %s nobody visibly uses %s unknown rather than idle or stale",
			count(uninspected, "process", "processes"), count(len(unknown), "object", "objects"), verb),
		Remedy: "run as root (with CAP_SYS_PTRACE) to see every process"}
}

// count says n things: "1 object", "2 objects".
func count(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

// namesValue is a finding's Value for a list of object names: "names",
// and, when some are not UTF-8 (which JSON cannot carry), "names_base64"
// beside it: for each name, its bytes in base64 when it is not UTF-8, else
// "" (see package jsonname).
func namesValue(names []string) map[string]any {
	v := map[string]any{"names": names}
	enc := make([]string, len(names))
	any64 := false
	for i, n := range names {
		enc[i] = jsonname.Base64(n)
		any64 = any64 || enc[i] != ""
	}
	if any64 {
		v["names_base64"] = enc
	}
	return v
}

// human formats a byte count: "64.0 MiB".
func human(n int64) string {
	units := []string{"B", "KiB", "MiB", "GiB", "TiB"}
	f := float64(n)
	i := 0
	for f >= 1024 && i < len(units)-1 {
		f /= 1024
		i++
	}
	if i == 0 {
		return fmt.Sprintf("%d B", n)
	}
	return fmt.Sprintf("%.1f %s", f, units[i])
}

func bytesLimit(n uint64) string {
	if n == unix.RLIM_INFINITY {
		return "unlimited"
	}
	return human(int64(n))
}

func limit(n uint64) string {
	if n == unix.RLIM_INFINITY {
		return "unlimited"
	}
	return strconv.FormatUint(n, 10)
}
