//go:build linux

package shm

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/shmkit/shm/internal/shmtest"
	"golang.org/x/sys/unix"
)

// TestCreateNamedFallback exercises the O_EXCL path that Create takes on a
// file system without O_TMPFILE: the object gets its exact mode, a name that
// is taken (also by a symbolic link) is refused, and a failure removes the
// file it made.
func TestCreateNamedFallback(t *testing.T) {
	old := syscall.Umask(0o077)
	defer syscall.Umask(old)

	name := shmtest.Name(t, "")
	c := newConfig([]Option{Mode(0o644)})
	p := filepath.Join(DefaultDir, name)
	s, taken, err := createNamed(p, name, 3000, &c)
	if err != nil || taken {
		t.Fatalf("createNamed = %v, %v", taken, err)
	}
	defer s.Close()
	var st unix.Stat_t
	if err := unix.Stat(p, &st); err != nil {
		t.Fatal(err)
	}
	if st.Mode&0o7777 != 0o644 || st.Size != 3000 || st.Blocks*512 < 3000 {
		t.Errorf("made mode %o size %d with %d bytes allocated", st.Mode&0o7777, st.Size, st.Blocks*512)
	}
	if _, taken, err := createNamed(p, name, 3000, &c); !taken || !errors.Is(err, fs.ErrExist) {
		t.Errorf("createNamed on a taken name = %v, %v", taken, err)
	}

	link := shmtest.Name(t, "")
	target := filepath.Join(t.TempDir(), "target")
	if err := os.Symlink(target, filepath.Join(DefaultDir, link)); err != nil {
		t.Fatal(err)
	}
	if _, taken, err := createNamed(filepath.Join(DefaultDir, link), link, 3000, &c); !taken || !errors.Is(err, fs.ErrExist) {
		t.Errorf("createNamed on a symlink = %v, %v", taken, err)
	}
	if _, err := os.Lstat(target); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the symlink's target was made: %v", err)
	}

	// No space: the file made is removed again.
	var sfs unix.Statfs_t
	if err := unix.Statfs(DefaultDir, &sfs); err != nil {
		t.Fatal(err)
	}
	big := shmtest.Name(t, "")
	bigPath := filepath.Join(DefaultDir, big)
	if _, _, err := createNamed(bigPath, big, int64(sfs.Blocks)*sfs.Bsize+1<<30, &c); !errors.Is(err, ErrNoSpace) {
		t.Errorf("createNamed beyond the space left: %v", err)
	}
	if _, err := os.Lstat(bigPath); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a failed createNamed left %s: %v", bigPath, err)
	}
}
