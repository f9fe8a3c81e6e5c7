package main

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// TestMain lets the test binary stand in for the shm executable: the demo
// starts its second process as os.Executable() with "demo-peer ...", which
// during an in-process test is this binary.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == "demo-peer" {
		os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
	}
	// The demo's second process is this binary: built with -race, it would
	// sleep a second at exit unless told not to.
	os.Setenv("GORACE", strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"))
	code := m.Run()
	if builtShm != "" {
		os.RemoveAll(filepath.Dir(builtShm))
	}
	os.Exit(code)
}

var (
	buildOnce sync.Once
	builtShm  string
	buildErr  error
)

// buildShm builds the real shm binary once for the tests that need one;
// TestMain removes it at the end.
func buildShm(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "shm-cmd-test-")
		if err != nil {
			buildErr = err
			return
		}
		builtShm = filepath.Join(dir, "shm")
		out, err := exec.Command("go", "build", "-o", builtShm, ".").CombinedOutput()
		if err != nil {
			buildErr = errors.New("go build: " + err.Error() + "\n" + string(out))
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return builtShm
}
