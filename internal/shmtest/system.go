package shmtest

import (
	"os"
	"path/filepath"
	"testing"
)

// ExecutableForOthers copies the running test binary where another user can
// run it (the go tool builds it in a directory only its owner may enter), for
// tests that start a child under another uid, and returns the copy's path.
func ExecutableForOthers(t testing.TB) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "shmtest-exe")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	exe, err := os.ReadFile(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, filepath.Base(os.Args[0]))
	if err := os.WriteFile(bin, exe, 0o755); err != nil {
		t.Fatal(err)
	}
	return bin
}
