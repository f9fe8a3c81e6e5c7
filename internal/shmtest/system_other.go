//go:build !linux

package shmtest

import (
	"runtime"
	"testing"
)

// Tmpfs skips the test: mounting a tmpfs is done on Linux only.
func Tmpfs(t testing.TB, size string) string {
	t.Helper()
	t.Skip("skipping: mounting a tmpfs is not supported on " + runtime.GOOS)
	return ""
}

// FreeBytes skips the test: it goes with Tmpfs, on Linux only.
func FreeBytes(t testing.TB, dir string) int64 {
	t.Helper()
	t.Skip("skipping: free space is read on Linux only")
	return 0
}

// OwnPIDNamespace skips the test: PID namespaces are Linux's.
func OwnPIDNamespace(t *testing.T) bool {
	t.Helper()
	t.Skip("skipping: PID namespaces are not supported on " + runtime.GOOS)
	return false
}

// OwnDevShm skips the test: mount namespaces are Linux's.
func OwnDevShm(t *testing.T) bool {
	t.Helper()
	t.Skip("skipping: mount namespaces are not supported on " + runtime.GOOS)
	return false
}

// Stop skips the test: waiting for a stopped process reads /proc, on Linux.
func Stop(t testing.TB, pid int) {
	t.Helper()
	t.Skip("skipping: shmtest.Stop reads /proc, on Linux only")
}
