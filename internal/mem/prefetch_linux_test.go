package mem

import (
	"testing"

	"golang.org/x/sys/unix"
)

// TestPrefetchWriteTruncated asks for the lines of a shared mapping's page
// that its file no longer has, where any load or store would raise
// SIGBUS: the prefetch must be dropped, not fault.
func TestPrefetchWriteTruncated(t *testing.T) {
	fd, err := unix.MemfdCreate("prefetch-test", 0)
	if err != nil {
		t.Skipf("memfd_create: %v", err)
	}
	defer unix.Close(fd)
	page := unix.Getpagesize()
	if err := unix.Ftruncate(fd, int64(2*page)); err != nil {
		t.Fatal(err)
	}
	m, err := unix.Mmap(fd, 0, 2*page, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Munmap(m)
	m[page] = 1 // the second page is mapped in, then cut off
	if err := unix.Ftruncate(fd, int64(page)); err != nil {
		t.Fatal(err)
	}
	PrefetchWrite(m[page:])
	PrefetchWrite(m[page-64 : page+64])
}
