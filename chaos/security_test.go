//go:build linux

package chaos

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime/debug"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/shmkit/shm"
	"github.com/shmkit/shm/internal/shmtest"
	"github.com/shmkit/shm/queue"
	"github.com/shmkit/shm/sem"
	"golang.org/x/sys/unix"
)

// The uid and gid of the unprivileged peer in the security tests (nobody).
const nobody = 65534

func init() {
	shmtest.Role("ro-attacker", roAttacker)
	shmtest.Role("precreate", precreate)
}

// TestSecurityModeUnderUmask: a new object has exactly the mode asked for
// (DefaultMode, 0600, when none is), under every umask: the umask can
// neither widen nor narrow it.
func TestSecurityModeUnderUmask(t *testing.T) {
	umasks := []int{0, 0o022, 0o027, 0o077, 0o777}
	modes := []fs.FileMode{0, 0o400, 0o600, 0o640, 0o644, 0o660, 0o666, 0o700, 0o777}
	old := syscall.Umask(0)
	defer syscall.Umask(old)
	var checks int
	for _, um := range umasks {
		syscall.Umask(um)
		for _, m := range append([]fs.FileMode{fs.ModeIrregular}, modes...) {
			name := shmtest.Name(t, "")
			var opts []shm.Option
			want := shm.DefaultMode
			if m != fs.ModeIrregular { // ModeIrregular stands for "no Mode option"
				opts = append(opts, shm.Mode(m))
				want = m
			}
			seg, err := shm.Create(name, 4096, opts...)
			if err != nil {
				t.Fatalf("umask %03o mode %v: %v", um, m, err)
			}
			seg.Close()
			info, err := shm.Stat(name)
			if err != nil {
				t.Fatal(err)
			}
			if info.Mode != want {
				t.Errorf("umask %03o, asked %v: got %v, want %v", um, m, info.Mode, want)
			}
			checks++
			shm.Unlink(name)
			for _, c := range extraModeCreators {
				name := shmtest.Name(t, "")
				mp := &m
				if m == fs.ModeIrregular {
					mp = nil
				}
				path, err := c.create(name, mp)
				if err != nil {
					t.Fatalf("%s, umask %03o mode %v: %v", c.name, um, m, err)
				}
				fi, err := os.Lstat(path)
				if err != nil {
					t.Fatal(err)
				}
				if fi.Mode() != want {
					t.Errorf("%s, umask %03o, asked %v: got %v, want %v", c.name, um, m, fi.Mode(), want)
				}
				os.Remove(path)
				checks++
			}
		}
	}
	if shm.DefaultMode != 0o600 {
		t.Errorf("DefaultMode is %v, want 0600", shm.DefaultMode)
	}
	t.Logf("SUMMARY modes: %d umasks x %d modes (incl. default 0600) x %d creators (shm.Create%s) = %d creates, every mode exact", len(umasks), len(modes)+1, 1+len(extraModeCreators), extraModeNames(), checks)
}

// TestSecuritySymlink plants symbolic links, owned by the victim itself (so
// that the kernel's protected_symlinks does not help), under names in the
// sticky /dev/shm: no call follows one, the target is never created, opened,
// truncated or changed.
func TestSecuritySymlink(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "precious")
	content := []byte("precious data, must stay as it is")
	if err := os.WriteFile(target, content, 0o644); err != nil {
		t.Fatal(err)
	}
	dangling := filepath.Join(dir, "not-yet")
	calls := []namedCall{
		{"Create", func(n string) error { s, err := shm.Create(n, 1<<20); closeSeg(s); return err }},
		{"Open", func(n string) error { s, err := shm.Open(n); closeSeg(s); return err }},
		{"Open ReadOnly", func(n string) error { s, err := shm.Open(n, shm.ReadOnly()); closeSeg(s); return err }},
		{"OpenOrCreate", func(n string) error { s, _, err := shm.OpenOrCreate(n, 1<<20); closeSeg(s); return err }},
	}
	calls = append(calls, extraSymlinkCalls...)
	var checks int
	for _, to := range []string{target, dangling} {
		for _, c := range calls {
			name := shmtest.Name(t, "")
			link := filepath.Join(shm.DefaultDir, name)
			if err := os.Symlink(to, link); err != nil {
				t.Fatal(err)
			}
			// sem.Open uses the file sem.NAME: plant it there too.
			semLink := filepath.Join(shm.DefaultDir, "sem."+name)
			if err := os.Symlink(to, semLink); err != nil {
				t.Fatal(err)
			}
			err := c.do(name)
			if err == nil {
				t.Errorf("%s through a symlink to %s succeeded", c.name, to)
			}
			if got, rerr := os.ReadFile(target); rerr != nil || !bytes.Equal(got, content) {
				t.Fatalf("%s changed the link target: %q, %v", c.name, got, rerr)
			}
			if _, serr := os.Lstat(dangling); !errors.Is(serr, fs.ErrNotExist) {
				t.Fatalf("%s created the dangling link's target (%v)", c.name, serr)
			}
			if fi, lerr := os.Lstat(link); lerr != nil || fi.Mode()&fs.ModeSymlink == 0 {
				t.Fatalf("%s replaced the planted link: %v %v", c.name, fi, lerr)
			}
			checks++
		}
	}
	t.Logf("SUMMARY symlinks: %d calls x 2 targets = %d attempts, none followed, target unchanged, dangling target never created", len(calls), checks)
}

// namedCall is a call under test with the name the test reports it by.
type namedCall struct {
	name string
	do   func(name string) error
}

// modeCreator creates an object with the given mode (nil: the default) and
// returns its file.
type modeCreator struct {
	name   string
	create func(name string, mode *fs.FileMode) (string, error)
}

// extraModeCreators create an object of another package with the given
// mode (nil: that package's default) and return its file.
var extraModeCreators []modeCreator

func extraModeNames() string {
	var s string
	for _, c := range extraModeCreators {
		s += ", " + c.name
	}
	return s
}

// extraSymlinkCalls are the symlink checks of the sem and queue packages
// (sem_test.go, queue_test.go add to it).
var extraSymlinkCalls []namedCall

func closeSeg(s *shm.Segment) {
	if s != nil {
		s.Close()
	}
}

// precreate runs as nobody: it creates a["path"] mode 0666 before the victim
// does, as an attacker who wants to share the victim's memory would.
func precreate(a shmtest.Args) int {
	for _, p := range strings.Split(a["path"], ",") {
		f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o666)
		if err != nil {
			say("create: %v", err)
			return shmtest.ExitFail
		}
		if err := f.Chmod(0o666); err != nil {
			say("chmod: %v", err)
			return shmtest.ExitFail
		}
		if err := f.Truncate(4096); err != nil {
			say("truncate: %v", err)
			return shmtest.ExitFail
		}
		f.Close()
	}
	say("planted")
	return shmtest.ExitOK
}

// TestSecurityPreCreation: another user creates the name first, world
// writable, hoping the victim will use it. Create refuses (fs.ErrExist);
// OpenOrCreate opens it but says it did not create it, and Stat shows the
// stranger's uid, so a careful caller can refuse it.
func TestSecurityPreCreation(t *testing.T) {
	needRoot(t, "run a peer as uid 65534")
	exe := shmtest.ExecutableForOthers(t)
	var checks int
	{
		name := shmtest.Name(t, "")
		p := shmtest.Spawn(t, "precreate", shmtest.Args{"path": filepath.Join(shm.DefaultDir, name) + "," + filepath.Join(shm.DefaultDir, "sem."+name)}, shmtest.AsUser(nobody, nobody, exe))
		if !p.Finish(10 * time.Second) {
			return
		}
		seg, err := shm.Create(name, 4096)
		if err == nil || !errors.Is(err, fs.ErrExist) {
			closeSeg(seg)
			t.Errorf("Create over a name planted by uid %d: %v; want fs.ErrExist", nobody, err)
		}
		checks++
		seg, created, err := shm.OpenOrCreate(name, 4096)
		if err != nil || created {
			t.Errorf("OpenOrCreate over a planted name: created=%v, %v; want an open that says created=false", created, err)
		}
		closeSeg(seg)
		info, err := shm.Stat(name)
		if err != nil || info.UID != nobody || info.Mode != 0o666 {
			t.Errorf("Stat of a planted object: %+v, %v; want uid %d mode 0666", info, err, nobody)
		}
		checks++
		for _, c := range extraPreCreation {
			if err := c.do(name); err != nil {
				t.Errorf("%s over a planted name: %v", c.name, err)
			}
			checks++
		}
	}
	t.Logf("SUMMARY pre-creation: %d checks: shm.Create%s refused with fs.ErrExist; OpenOrCreate reports created=false and Stat shows the stranger's uid", checks, extraPreNames())
}

func extraPreNames() string {
	var s string
	for _, c := range extraPreCreation {
		s += ", " + c.name
	}
	return s
}

// extraPreCreation are the pre-creation checks of the sem and queue
// packages; each returns nil when the planted object was refused properly.
var extraPreCreation []namedCall

// roAttacker runs as nobody against a 0644 object owned by root, and tries
// everything a reader with read access could try against its writer. It
// prints one "check=result" line per attempt.
func roAttacker(a shmtest.Args) int {
	name, path := a["name"], filepath.Join(shm.DefaultDir, a["name"])
	res := func(k string, err error) {
		switch {
		case err == nil:
			say("%s=ok", k)
		case errors.Is(err, shm.ErrReadOnly):
			say("%s=readonly", k)
		case errors.Is(err, unix.EACCES):
			say("%s=EACCES", k)
		case errors.Is(err, unix.EPERM):
			say("%s=EPERM", k)
		case errors.Is(err, unix.EBADF):
			say("%s=EBADF", k)
		case errors.Is(err, unix.EINVAL):
			say("%s=EINVAL", k)
		case errors.Is(err, fs.ErrExist):
			say("%s=exist", k)
		default:
			say("%s=other: %v", k, err)
		}
	}
	// Read access: reading works and sees the writer's data.
	seg, err := shm.Open(name, shm.ReadOnly())
	res("open-ro", err)
	if err != nil {
		return shmtest.ExitOK
	}
	defer seg.Close()
	buf := make([]byte, len(a["content"]))
	_, err = seg.ReadAt(buf, 0)
	if err == nil && string(buf) != a["content"] {
		err = fmt.Errorf("read %q", buf)
	}
	res("read", err)
	// Write access, by every road.
	_, err = shm.Open(name)
	res("open-rw", err)
	_, err = seg.WriteAt([]byte("x"), 0)
	res("writeat", err)
	res("resize", seg.Resize(1))
	res("raw-open-rw", openClose(path, unix.O_RDWR))
	res("raw-open-wronly", openClose(path, unix.O_WRONLY))
	res("truncate", unix.Truncate(path, 0))
	res("ftruncate-ro-fd", unix.Ftruncate(seg.Fd(), 0))
	res("fallocate-ro-fd", unix.Fallocate(seg.Fd(), 0, 0, 1<<20))
	res("unlink", shm.Unlink(name))
	res("rename", unix.Rename(path, path+".moved"))
	res("chmod", unix.Chmod(path, 0o666))
	res("chown", unix.Chown(path, nobody, nobody))
	res("utimes", unix.UtimesNano(path, []unix.Timespec{{Sec: 1}, {Sec: 1}}))
	res("create-same-name", func() error { s, err := shm.Create(name, 4096); closeSeg(s); return err }())
	_, err = unix.Mmap(seg.Fd(), 0, 4096, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	res("mmap-shared-write", err)
	res("mprotect-write", unix.Mprotect(seg.Bytes()[:4096], unix.PROT_READ|unix.PROT_WRITE))
	res("poke-mapping", poke(seg.Bytes()))
	// Its named semaphore (mode 0644 too): sem_open needs write access.
	sm, err := sem.Open(a["name"])
	if err == nil {
		sm.Close()
	}
	res("sem-open", err)
	// Its queue (mode 0644 too): a queue handle needs write access.
	q, err := queue.Open(a["queue"])
	if err == nil {
		q.Close()
	}
	res("queue-open", err)
	// A private copy-on-write mapping is writable, but only for the reader.
	priv, err := shm.Open(name, shm.ReadOnly(), shm.Private())
	if err == nil {
		priv.Close()
	}
	res("open-ro-private", err)
	return shmtest.ExitOK
}

func openClose(path string, flags int) error {
	fd, err := unix.Open(path, flags|unix.O_CLOEXEC|unix.O_NOFOLLOW, 0)
	if err == nil {
		unix.Close(fd)
	}
	return err
}

// poke writes one byte through a read-only mapping and reports the fault.
func poke(b []byte) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: fault writing a read-only mapping: %v", unix.EACCES, r)
		}
	}()
	b[0] = 'X'
	return nil
}

// TestSecurityReadOnlyPeer: what a process with read access only (uid 65534
// against root's 0644 object in the sticky /dev/shm) can do to the writer:
// read, and nothing else. Against a 0600 object it cannot even read.
func TestSecurityReadOnlyPeer(t *testing.T) {
	needRoot(t, "run a peer as uid 65534")
	exe := shmtest.ExecutableForOthers(t)
	const content = "the writer's data"
	want0644 := map[string]string{
		"open-ro": "ok", "read": "ok", "open-rw": "EACCES", "writeat": "readonly",
		"resize": "readonly", "raw-open-rw": "EACCES", "raw-open-wronly": "EACCES",
		"truncate": "EACCES", "ftruncate-ro-fd": "EINVAL", "fallocate-ro-fd": "EBADF",
		"unlink": "EPERM", "rename": "EPERM", "chmod": "EPERM", "chown": "EPERM",
		"utimes": "EPERM", "create-same-name": "exist", "mmap-shared-write": "EACCES",
		"mprotect-write": "EACCES", "poke-mapping": "EACCES", "open-ro-private": "ok",
		"sem-open": "EACCES", "queue-open": "EACCES",
	}
	var checks int
	for _, mode := range []fs.FileMode{0o644, 0o600} {
		name := shmtest.Name(t, "")
		seg, err := shm.Create(name, 8192, shm.Mode(mode))
		if err != nil {
			t.Fatal(err)
		}
		defer seg.Close()
		if _, err := seg.WriteAt([]byte(content), 0); err != nil {
			t.Fatal(err)
		}
		s, _, err := sem.OpenOrCreate(name, 1, sem.Mode(mode))
		if err != nil {
			t.Fatal(err)
		}
		s.Close()
		qname := shmtest.Name(t, "")
		q, err := queue.Create(qname, 4096, queue.Mode(mode))
		if err != nil {
			t.Fatal(err)
		}
		q.Close()
		before, _ := shm.Stat(name)
		p := shmtest.Spawn(t, "ro-attacker", shmtest.Args{"name": name, "queue": qname, "content": content}, shmtest.AsUser(nobody, nobody, exe))
		if !p.Finish(20 * time.Second) {
			continue
		}
		got := map[string]string{}
		for _, l := range strings.Split(strings.TrimSpace(p.Output()), "\n") {
			if k, v, ok := strings.Cut(l, "="); ok {
				got[k] = v
			}
		}
		want := want0644
		if mode == 0o600 {
			want = map[string]string{"open-ro": "EACCES"} // it stops there
		}
		keys := make([]string, 0, len(want))
		for k := range want {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var line []string
		for _, k := range keys {
			if got[k] != want[k] {
				t.Errorf("mode %v: %s: got %q, want %q", mode, k, got[k], want[k])
			}
			line = append(line, k+"="+got[k])
			checks++
		}
		if len(got) != len(want) {
			t.Errorf("mode %v: child reported %d checks, want %d:\n%s", mode, len(got), len(want), p.Output())
		}
		// The writer's object is as it was, and the writer still writes.
		after, err := shm.Stat(name)
		if err != nil || after.Size != before.Size || after.Mode != before.Mode || after.UID != before.UID {
			t.Errorf("mode %v: object changed: before %+v after %+v (%v)", mode, before, after, err)
		}
		buf := make([]byte, len(content))
		if _, err := seg.ReadAt(buf, 0); err != nil || string(buf) != content {
			t.Errorf("mode %v: content now %q (%v)", mode, buf, err)
		}
		if _, err := seg.WriteAt([]byte("still mine"), 100); err != nil {
			t.Errorf("mode %v: writer cannot write any more: %v", mode, err)
		}
		t.Logf("uid %d vs a %v segment: %s", nobody, mode, strings.Join(line, " "))
	}
	t.Logf("SUMMARY read-only peer: %d attempts checked; reads allowed on 0644, every write, resize, truncate, unlink, rename, chmod, remap, sem_open and queue.Open refused; nothing at all on 0600", checks)
}

// TestSecurityNames: names that try to leave the shared-memory directory are
// refused before any system call, by every entry point, and nothing appears
// outside it.
func TestSecurityNames(t *testing.T) {
	base := t.TempDir()
	dir := filepath.Join(base, "shm")
	if err := os.Mkdir(dir, 0o1777); err != nil {
		t.Fatal(err)
	}
	evil := fmt.Sprintf("shmchaos-evil-%d", os.Getpid())
	names := []string{
		"..", ".", "/..", "//.", "../" + evil, "../../" + evil, "/../" + evil,
		"a/../" + evil, "sub/" + evil, evil + "/..", "..\x00" + evil, evil + "\x00",
		"", "/", "///", strings.Repeat("a", 256), "/" + strings.Repeat("b", 256),
	}
	var checks int
	for _, d := range []string{dir, ""} {
		for _, n := range names {
			for _, c := range nameCalls(d) {
				err := c.do(n)
				if !errors.Is(err, shm.ErrInvalidName) {
					t.Errorf("%s(%q) in %q: %v; want ErrInvalidName", c.name, n, d, err)
				}
				checks++
			}
		}
	}
	// Nothing appeared anywhere a traversal could reach.
	for _, p := range []string{
		filepath.Join(base, evil), filepath.Join(filepath.Dir(base), evil),
		filepath.Join("/dev", evil), filepath.Join("/", evil),
	} {
		if _, err := os.Lstat(p); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s exists (%v)", p, err)
		}
	}
	if left := entries(t, dir); len(left) != 0 {
		t.Errorf("left in the directory: %v", left)
	}
	if left := entries(t, base); len(left) != 1 {
		t.Errorf("left beside the directory: %v", left)
	}
	t.Logf("SUMMARY names: %d bad names x %d calls x 2 directories = %d calls, all ErrInvalidName, nothing created outside", len(names), len(nameCalls("")), checks)
}

// nameCalls are the entry points that take a name. The sem and queue files
// add theirs to extraNameCalls.
func nameCalls(dir string) []namedCall {
	o := shm.Dir(dir)
	calls := []namedCall{
		{"shm.Create", func(n string) error { s, err := shm.Create(n, 4096, o); closeSeg(s); return err }},
		{"shm.Open", func(n string) error { s, err := shm.Open(n, o); closeSeg(s); return err }},
		{"shm.OpenOrCreate", func(n string) error { s, _, err := shm.OpenOrCreate(n, 4096, o); closeSeg(s); return err }},
		{"shm.Unlink", func(n string) error { return shm.Unlink(n, o) }},
		{"shm.Stat", func(n string) error { _, err := shm.Stat(n, o); return err }},
		{"shm.Path", func(n string) error { _, err := shm.Path(dir, n); return err }},
	}
	for _, f := range extraNameCalls {
		calls = append(calls, f(dir)...)
	}
	return calls
}

// extraNameCalls are filled in by the sem and queue files.
var extraNameCalls []func(dir string) []namedCall
