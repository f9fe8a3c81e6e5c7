//go:build unix

package main

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// fakeBridge puts a shell script named shm-bridge first in PATH: a
// stand-in for the bridge, which is a module of its own that this one
// does not build.
func fakeBridge(t *testing.T, script string) {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, bridgeCommand), []byte("#!/bin/sh\n"+script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir+string(os.PathListSeparator)+os.Getenv("PATH"))
}

// TestBridgeRunsShmBridge: "shm bridge ARGS" runs shm-bridge with ARGS as
// they are (flags and --help included), on shm's standard streams, and
// exits with its status.
func TestBridgeRunsShmBridge(t *testing.T) {
	fakeBridge(t, `for a in "$@"; do echo "arg $a"; done; read line; echo "stdin $line" >&2; exit 7`)
	r := shmRun(t, "hello\n", "bridge", "out", "q", "--nats", "nats://h:4222", "--help", "-n", "3")
	if want := "arg out\narg q\narg --nats\narg nats://h:4222\narg --help\narg -n\narg 3\n"; r.stdout != want || r.stderr != "stdin hello\n" || r.code != 7 {
		t.Fatalf("shm bridge: exit %d, stdout %q, stderr %q; want 7, %q, %q", r.code, r.stdout, r.stderr, want, "stdin hello\n")
	}
}

// TestBridgeNotInstalled: without shm-bridge in PATH, shm bridge says so
// and how to install it, exit 1; its own help still works.
func TestBridgeNotInstalled(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	r := shmRun(t, "", "bridge", "out", "q")
	if r.code != 1 || !strings.HasPrefix(r.stderr, "shm: bridge: shm-bridge is not installed (not in PATH); install it from a clone of shm with: (cd bridge && go install ./cmd/shm-bridge)") {
		t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
	}
	if out := ok(t, "", "bridge", "--help"); !strings.Contains(out, "(cd bridge && go install ./cmd/shm-bridge)") {
		t.Fatalf("shm bridge --help:\n%s", out)
	}
}

// TestBridgePassesSignals: a SIGTERM to shm while shm-bridge runs goes on
// to shm-bridge, which drains and exits 0; shm exits with it.
func TestBridgePassesSignals(t *testing.T) {
	ready := filepath.Join(t.TempDir(), "ready")
	t.Setenv("READY", ready)
	fakeBridge(t, `trap 'echo drained; exit 0' TERM; echo > "$READY"; while :; do sleep 0.05; done`)
	done := make(chan result, 1)
	go func() { done <- shmRun(t, "", "bridge", "out", "q") }()
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(10 * time.Millisecond) {
		if _, err := os.Stat(ready); err == nil {
			break // shm has been passing the signals on since before it started the script
		}
		if time.Now().After(deadline) {
			t.Fatal("the stand-in shm-bridge did not start in a minute")
		}
	}
	syscall.Kill(os.Getpid(), syscall.SIGTERM)
	select {
	case r := <-done:
		if r.code != 0 || r.stdout != "drained\n" {
			t.Fatalf("after SIGTERM: exit %d, stdout %q, stderr %q; want 0 and drained", r.code, r.stdout, r.stderr)
		}
	case <-time.After(time.Minute):
		t.Fatal("shm bridge still running a minute after SIGTERM")
	}
}
