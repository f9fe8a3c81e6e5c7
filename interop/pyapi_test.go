//go:build linux

package interop

import (
	"bufio"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shmkit/shm"
	"github.com/shmkit/shm/internal/shmtest"
	"github.com/shmkit/shm/sem"
)

// TestPythonQueueAPI runs testdata/pyapi.py's queue checks: Empty, Full,
// Timeout and TooLarge, FileExistsError and FileNotFoundError, iteration
// until the producer closes, and the context manager.
func TestPythonQueueAPI(t *testing.T) {
	name := shmtest.Name(t, "")
	out, err := python(t, filepath.Join(repoDir(t), "interop", "testdata", "pyapi.py"), "queue", name).CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "ok" {
		t.Fatalf("pyapi.py queue: %v\n%s", err, out)
	}
}

// TestPythonQueueBatchAPI runs testdata/pyapi.py's checks of send_batch
// and receive_batch: every bytes-like kind, the count and byte limits,
// partial batches (Full and Timeout with the count sent, TooLarge
// mid-batch), peek before a batch, Closed, 20 000 checksummed messages in
// random batches through a 4 KiB ring, and a multi-producer queue.
func TestPythonQueueBatchAPI(t *testing.T) {
	name := shmtest.Name(t, "")
	out, err := python(t, filepath.Join(repoDir(t), "interop", "testdata", "pyapi.py"), "batch", name).CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "ok" {
		t.Fatalf("pyapi.py batch: %v\n%s", err, out)
	}
}

// TestPythonHeadPastTail runs testdata/pyapi.py's cursor check: a head
// cursor near 2^64 over a small tail, written into the queue's object, is
// refused with Corrupt naming the head by a receive and by a send, on a
// single- and a multi-producer queue.
func TestPythonHeadPastTail(t *testing.T) {
	name := shmtest.Name(t, "")
	out, err := python(t, filepath.Join(repoDir(t), "interop", "testdata", "pyapi.py"), "cursors", name).CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "ok" {
		t.Fatalf("pyapi.py cursors: %v\n%s", err, out)
	}
}

// TestPythonSemaphore: a Python process waits on a named semaphore that Go
// created and posts, and its two posts show in Go's value.
func TestPythonSemaphore(t *testing.T) {
	name := shmtest.Name(t, "")
	s, _, err := sem.OpenOrCreate(name, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	cmd := python(t, filepath.Join(repoDir(t), "interop", "testdata", "pyapi.py"), "sem", name)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(stdout)
	if !sc.Scan() || sc.Text() != "opened" {
		t.Fatalf("python said %q\n%s", sc.Text(), stderr.String())
	}
	if err := s.Post(); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"took", "posted"} {
		if !sc.Scan() || sc.Text() != want {
			t.Fatalf("python said %q, want %q\n%s", sc.Text(), want, stderr.String())
		}
	}
	if err := waitCmd(t, cmd, time.Minute); err != nil {
		t.Fatalf("python: %v\n%s", err, stderr.String())
	}
	if v, err := s.Value(); err != nil || v != 2 {
		t.Fatalf("value after Python's two posts: %d, %v; want 2", v, err)
	}
}

// TestPythonSegment: Python reads what Go wrote in a segment and writes
// back.
func TestPythonSegment(t *testing.T) {
	name := shmtest.Name(t, "")
	seg, err := shm.Create(name, 4096)
	if err != nil {
		t.Fatal(err)
	}
	defer seg.Close()
	copy(seg.Bytes(), "from Go")
	out, err := python(t, filepath.Join(repoDir(t), "interop", "testdata", "pyapi.py"), "seg", name).CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "from Go 4096" {
		t.Fatalf("pyapi.py seg: %v\n%s", err, out)
	}
	if got := string(seg.Bytes()[100:111]); got != "from Python" {
		t.Fatalf("Go reads %q where Python wrote", got)
	}
}
