package live

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shmkit/shm/internal/shmtest"
	"golang.org/x/sys/unix"
)

// The test binary re-executes itself as the holder, in the child role
// "hold": it opens the file a["path"], holds byte a["off"] (or a token when
// a["off"] is "token"), prints the offset and its PID namespace, and sleeps
// until killed.
func init() {
	shmtest.Role("hold", func(a shmtest.Args) int {
		if err := holder(a); err != nil {
			return shmtest.ExitStatus(err)
		}
		select {}
	})
}

func TestMain(m *testing.M) { shmtest.Main(m) }

func holder(a shmtest.Args) error {
	fd, err := unix.Open(a["path"], unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	var off int64
	if a["off"] == "token" {
		t, err := HoldToken(fd)
		if err != nil {
			return err
		}
		off = TokenBase + int64(t)
	} else {
		off = int64(a.Int("off"))
		if err := Hold(fd, off); err != nil {
			return err
		}
	}
	fmt.Printf("%d %d\n", off, Namespace())
	return nil
}

// spawn starts a holder of off ("token" for a token) on path, in a new PID
// namespace when newNS is set, and returns it with the offset it holds and
// its namespace.
func spawn(t *testing.T, path, off string, newNS bool) (*shmtest.Child, int64, uint64) {
	t.Helper()
	var opts []shmtest.Option
	if newNS {
		opts = append(opts, shmtest.NewPIDNamespace())
	}
	c := shmtest.Spawn(t, "hold", shmtest.Args{"path": path, "off": off}, opts...)
	line, ok := c.Next(time.Minute)
	if !ok {
		t.Fatalf("holder said nothing; output:\n%s", c.Output())
	}
	var held int64
	var ns uint64
	if _, err := fmt.Sscan(strings.TrimSpace(line), &held, &ns); err != nil {
		t.Fatalf("holder said %q: %v", line, err)
	}
	return c, held, ns
}

// tempFile creates a file on tmpfs (/dev/shm, where the roles live in real
// use) and removes it when the test ends.
func tempFile(t *testing.T) (string, int) {
	t.Helper()
	dir := "/dev/shm"
	if _, err := os.Stat(dir); err != nil {
		dir = t.TempDir()
	}
	path := filepath.Join(dir, fmt.Sprintf("live-test-%d-%s", os.Getpid(), strings.NewReplacer("/", "-", " ", "-").Replace(t.Name())))
	t.Cleanup(func() { os.Remove(path) })
	fd, err := unix.Open(path, unix.O_RDWR|unix.O_CREAT|unix.O_EXCL|unix.O_CLOEXEC, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	return path, fd
}

func mustHeld(t *testing.T, fd int, off int64, want bool, what string) {
	t.Helper()
	got, err := Held(fd, off)
	if err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Fatalf("%s: Held(%d) = %v, want %v", what, off, got, want)
	}
}

func TestHolderDeathReleases(t *testing.T) {
	for _, tc := range []struct {
		name  string
		off   string
		newNS bool
	}{
		{"byte", "256", false},
		{"token", "token", false},
		{"byte in another PID namespace", "256", true},
		{"token in another PID namespace", "token", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.newNS && os.Geteuid() != 0 {
				t.Skip("a new PID namespace needs root")
			}
			path, fd := tempFile(t)
			holder, off, ns := spawn(t, path, tc.off, tc.newNS)
			if tc.newNS && (ns == 0 || ns == Namespace()) {
				t.Fatalf("holder's namespace %d, ours %d: want another", ns, Namespace())
			}
			mustHeld(t, fd, off, true, "while the holder lives")
			if err := Hold(fd, off); !errors.Is(err, ErrHeld) {
				t.Fatalf("Hold of a held byte: %v, want ErrHeld", err)
			}
			holder.KillWait()
			mustHeld(t, fd, off, false, "after SIGKILL")
			if err := Hold(fd, off); err != nil {
				t.Fatalf("Hold after the holder died: %v", err)
			}
		})
	}
}

func TestOwnLockIsNotHeld(t *testing.T) {
	path, fd := tempFile(t)
	if err := Hold(fd, 64); err != nil {
		t.Fatal(err)
	}
	if err := Hold(fd, 64); err != nil {
		t.Fatalf("holding again through the same description: %v", err)
	}
	mustHeld(t, fd, 64, false, "own lock")
	// Another open of the same file is another description: it sees the
	// lock and cannot take it, even read-only and in the same process.
	ro, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(ro)
	mustHeld(t, ro, 64, true, "through a read-only descriptor")
	mustHeld(t, ro, 65, false, "the next byte")
	rw, err := unix.Open(path, unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(rw)
	if err := Hold(rw, 64); !errors.Is(err, ErrHeld) {
		t.Fatalf("second description: %v, want ErrHeld", err)
	}
	if err := Release(fd, 64); err != nil {
		t.Fatal(err)
	}
	mustHeld(t, ro, 64, false, "after Release")
	if err := Hold(rw, 64); err != nil {
		t.Fatalf("after Release: %v", err)
	}
}

func TestTokensAreUnique(t *testing.T) {
	_, fd := tempFile(t)
	seen := map[uint64]bool{}
	for range 100 {
		tok, err := HoldToken(fd)
		if err != nil {
			t.Fatal(err)
		}
		if tok == 0 || seen[tok] {
			t.Fatalf("token %#x given twice or zero", tok)
		}
		seen[tok] = true
	}
	if _, err := TokenHeld(fd, 0); err == nil {
		t.Fatal("TokenHeld(0): no error")
	}
}

// TestReadLockIsNotAHolder: a process with read access only can take a read
// lock on a role's byte; that blocks Hold, but Held does not count it, so
// it cannot make a dead holder look alive.
func TestReadLockIsNotAHolder(t *testing.T) {
	path, fd := tempFile(t)
	ro, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(ro)
	lk := unix.Flock_t{Type: unix.F_RDLCK, Start: 256, Len: 1}
	if err := unix.FcntlFlock(uintptr(ro), unix.F_OFD_SETLK, &lk); err != nil {
		t.Fatal(err)
	}
	mustHeld(t, fd, 256, false, "under a reader's read lock")
	if r, err := ReadLocked(fd, 256); err != nil || !r {
		t.Fatalf("ReadLocked under a reader's read lock: %v, %v; want true", r, err)
	}
	if r, err := ReadLocked(fd, 320); err != nil || r {
		t.Fatalf("ReadLocked on a free byte: %v, %v; want false", r, err)
	}
	if err := Hold(fd, 256); !errors.Is(err, ErrHeld) {
		t.Fatalf("Hold under a read lock: %v, want ErrHeld", err)
	}
}
