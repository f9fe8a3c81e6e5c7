// Package shmtest helps tests: unique object names that are removed when
// the test ends, child processes that run a role of the test binary (see
// Role and Spawn), C peers compiled with gcc, private tmpfs directories and
// namespaces, and SkipShort for the tests that take seconds.
package shmtest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
)

var counter atomic.Uint64

// Name returns a name no other test or process uses, and removes the object
// of that name from dir (and its glibc semaphore file sem.NAME) when the test
// ends, whether it passed or not. dir "" means /dev/shm.
func Name(t testing.TB, dir string) string {
	t.Helper()
	if dir == "" {
		dir = "/dev/shm"
	}
	n := fmt.Sprintf("shmtest-%d-%d-%s", os.Getpid(), counter.Add(1), sanitize(t.Name()))
	if len(n) > 200 {
		n = n[:200]
	}
	t.Cleanup(func() {
		os.Remove(filepath.Join(dir, n))
		os.Remove(filepath.Join(dir, "sem."+n))
	})
	return n
}

func sanitize(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '/' || r == ' ' || r < 0x20 || r > 0x7e {
			return '_'
		}
		return r
	}, s)
}

// Both runs test twice, as subtests named on and off, with *flag set to
// true and then false, and puts *flag back afterwards: for a package
// setting that tests must cover both ways.
func Both(t *testing.T, flag *bool, on, off string, test func(t *testing.T)) {
	was := *flag
	defer func() { *flag = was }()
	for _, v := range []bool{true, false} {
		name := off
		if v {
			name = on
		}
		*flag = v
		t.Run(name, test)
	}
}

// SkipShort skips the test under go test -short, saying so: for tests that
// take seconds (many processes, many trials, programs built and run end to
// end), so that -short stays a quick check of the whole module. The full
// run keeps them.
func SkipShort(t testing.TB) {
	t.Helper()
	if testing.Short() {
		t.Skip("skipping under -short: this test takes seconds")
	}
}

// InCI reports whether the tests run under CI (CI=true), where missing peers
// are failures rather than skips.
func InCI() bool { return os.Getenv("CI") != "" }

// Need skips the test when tool is not on PATH, or fails it under CI.
func Need(t testing.TB, tool string) string {
	t.Helper()
	p, err := exec.LookPath(tool)
	if err != nil {
		if InCI() {
			t.Fatalf("%s is required in CI: %v", tool, err)
		}
		t.Skipf("skipping: %s not found (%v)", tool, err)
	}
	return p
}

// BuildC compiles the C source src with gcc into a program in a temporary
// directory and returns its path. extra holds more gcc arguments (libraries
// such as -lpthread).
func BuildC(t testing.TB, src string, extra ...string) string {
	t.Helper()
	gcc := Need(t, "gcc")
	dir := t.TempDir()
	cfile := filepath.Join(dir, "peer.c")
	if err := os.WriteFile(cfile, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "peer")
	args := append([]string{"-O2", "-Wall", "-o", bin, cfile}, extra...)
	if out, err := exec.Command(gcc, args...).CombinedOutput(); err != nil {
		t.Fatalf("gcc %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return bin
}
