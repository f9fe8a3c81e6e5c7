//go:build linux

package shm_test

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shmkit/shm"
)

// FuzzCleanName checks that every name CleanName accepts is one object
// inside the directory, and that it refuses only with ErrInvalidName.
func FuzzCleanName(f *testing.F) {
	for _, s := range []string{"", "/", "jobs", "/jobs", "//jobs/", "a/b", ".", "..", "/..", "...", "a\x00", "sem.x", strings.Repeat("y", 256), "/" + strings.Repeat("y", 255)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		clean, err := shm.CleanName(name)
		if err != nil {
			if !errors.Is(err, shm.ErrInvalidName) || clean != "" {
				t.Fatalf("CleanName(%q) = %q, %v", name, clean, err)
			}
			if _, perr := shm.Path("/dev/shm", name); perr == nil {
				t.Fatalf("Path accepts %q, which CleanName refuses", name)
			}
			return
		}
		if len(clean) < 1 || len(clean) > shm.MaxNameLen || strings.ContainsAny(clean, "/\x00") || clean == "." || clean == ".." {
			t.Fatalf("CleanName(%q) = %q, which breaks a rule", name, clean)
		}
		if strings.TrimLeft(name, "/") != clean {
			t.Fatalf("CleanName(%q) = %q, not the name without its slashes", name, clean)
		}
		p, err := shm.Path("/dev/shm", name)
		if err != nil || filepath.Dir(p) != "/dev/shm" || filepath.Base(p) != clean {
			t.Fatalf("Path(%q) = %q, %v; want /dev/shm/%s", name, p, err, clean)
		}
		// The default directory is /dev/shm.
		if d, _ := shm.Path("", name); d != p {
			t.Fatalf("Path(\"\", %q) = %q, want %q", name, d, p)
		}
	})
}
