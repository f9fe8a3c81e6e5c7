package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shmkit/shm/internal/shmtest"
)

// TestSegmentCommandBreaksKnownKind runs resize, write and edit on a queue
// and on a semaphore: each is refused with exit 1 and a message naming the
// kind, and the object is unchanged; --force goes ahead.
func TestSegmentCommandBreaksKnownKind(t *testing.T) {
	dir := t.TempDir()
	q, s := shmtest.Name(t, dir), shmtest.Name(t, dir)
	ok(t, "", "queue", "create", q, "--capacity", "64K", "--dir", dir)
	ok(t, "", "queue", "send", q, "--keep-open", "kept", "--dir", dir)
	ok(t, "", "sem", "create", s, "--value", "3", "--dir", dir)
	semFile := "sem." + s
	before := map[string][]byte{}
	for _, name := range []string{q, semFile} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		before[name] = b
	}
	for _, c := range []struct {
		name, kind string
		args       []string
	}{
		{q, "queue", []string{"resize", q, "4K"}},
		{q, "queue", []string{"write", q}},
		{q, "queue", []string{"edit", q}},
		{semFile, "semaphore", []string{"resize", semFile, "4K"}},
		{semFile, "semaphore", []string{"write", semFile}},
		{semFile, "semaphore", []string{"edit", semFile}},
	} {
		r := shmRun(t, "garbage\n", append(c.args, "--dir", dir)...)
		want := "shm: " + c.args[0] + " " + c.name + ": it is a " + c.kind + ", and "
		if r.code != 1 || !strings.HasPrefix(r.stderr, want) || !strings.Contains(r.stderr, "--force") || strings.Count(r.stderr, "\n") != 1 {
			t.Errorf("shm %s: exit %d, stderr %q; want exit 1 and %q...", strings.Join(c.args, " "), r.code, r.stderr, want)
		}
		if b, err := os.ReadFile(filepath.Join(dir, c.name)); err != nil || string(b) != string(before[c.name]) {
			t.Errorf("shm %s changed the %s (%v)", strings.Join(c.args, " "), c.kind, err)
		}
	}
	if out := ok(t, "", "queue", "recv", q, "--dir", dir); out != "kept\n" {
		t.Errorf("the queue holds %q after the refused commands", out)
	}
	if out := ok(t, "", "sem", "value", s, "--dir", dir); out != "3\n" {
		t.Errorf("the semaphore's value is %q after the refused commands", out)
	}
	// --force goes ahead.
	ok(t, "", "resize", q, "8K", "--force", "--dir", dir)
	if fi, err := os.Stat(filepath.Join(dir, q)); err != nil || fi.Size() != 8192 {
		t.Errorf("resize --force: %v, %v", fi, err)
	}
	ok(t, "x", "write", semFile, "--force", "--dir", dir)
}
