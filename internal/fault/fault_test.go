//go:build linux

package fault

import (
	"errors"
	"os"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// TestCatch maps a file, truncates it under the mapping and reads past the
// new end: Catch reports the SIGBUS instead of the process dying, lets a
// call that does not fault through, and passes other panics on.
func TestCatch(t *testing.T) {
	f, err := os.CreateTemp(t.TempDir(), "fault")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	page := os.Getpagesize()
	if err := f.Truncate(int64(2 * page)); err != nil {
		t.Fatal(err)
	}
	b, err := unix.Mmap(int(f.Fd()), 0, 2*page, unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Munmap(b)
	var x byte
	if Catch(func() { x = b[page] }) {
		t.Fatal("a read inside the file faulted")
	}
	if err := f.Truncate(int64(page)); err != nil {
		t.Fatal(err)
	}
	if !Catch(func() { x = b[page] }) {
		t.Fatal("a read past the truncated end did not fault")
	}
	_ = x
	other := errors.New("not a fault")
	defer func() {
		if r := recover(); r != other {
			t.Fatalf("recovered %v, want the other panic to go on", r)
		}
	}()
	Catch(func() { panic(other) })
}

func TestAddr(t *testing.T) {
	if _, ok := Addr(errors.New("x")); ok {
		t.Error("Addr of a plain error reports a fault")
	}
}

func TestWhy(t *testing.T) {
	for _, tc := range []struct {
		size, need int64
		known      bool
		want       string
	}{
		{4096, 8192, true, "truncated to 4096 bytes; it had 8192"},
		{0, 32, true, "truncated to 0 bytes"},
		{8192, 8192, true, "no memory could be allocated"},
		{0, 8192, false, "could not be read"},
	} {
		got := Why(tc.size, tc.need, tc.known)
		if !strings.Contains(got, tc.want) || strings.Contains(got, "0x") {
			t.Errorf("Why(%d, %d, %v) = %q, want it to say %q", tc.size, tc.need, tc.known, got, tc.want)
		}
	}
}
