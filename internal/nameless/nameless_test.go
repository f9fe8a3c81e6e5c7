//go:build linux

package nameless

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// TestOpenLink makes a nameless file, writes it, names it, and checks that
// the name shows the bytes and that a second Link to a taken name fails
// with EEXIST.
func TestOpenLink(t *testing.T) {
	dir := t.TempDir()
	fd, err := Open(dir, 0o600)
	if errors.Is(err, ErrUnsupported) {
		t.Skip("no O_TMPFILE on the temporary directory's file system")
	}
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	if es, _ := os.ReadDir(dir); len(es) != 0 {
		t.Fatalf("the nameless file shows in the directory: %v", es)
	}
	if _, err := unix.Write(fd, []byte("whole")); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "named")
	if err := Link(fd, path); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(path); err != nil || string(b) != "whole" {
		t.Fatalf("after Link: %q, %v", b, err)
	}
	if err := Link(fd, path); err != unix.EEXIST {
		t.Fatalf("Link to a taken name: %v, want EEXIST", err)
	}
}
