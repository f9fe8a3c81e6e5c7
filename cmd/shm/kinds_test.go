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

// TestMessagesBreakRules covers the names and messages of rm and ls: rm of
// a semaphore's name points to "shm sem rm", the path that stat prints is
// accepted for the name, and --dir "" is the default directory, as it is
// for every other command.
func TestMessagesBreakRules(t *testing.T) {
	dir := t.TempDir()
	s, x := shmtest.Name(t, dir), shmtest.Name(t, dir)
	ok(t, "", "sem", "create", s, "--dir", dir)
	r := shmRun(t, "", "rm", s, "--dir", dir)
	if r.code != 1 || !strings.Contains(r.stderr, `"shm sem rm `+s+`" removes it`) || strings.Count(r.stderr, "\n") != 1 {
		t.Errorf("rm of a semaphore's name: exit %d, stderr %q; want a hint to shm sem rm", r.code, r.stderr)
	}
	r = shmRun(t, "", "rm", x, "--dir", dir)
	if r.code != 1 || strings.Contains(r.stderr, "sem rm") {
		t.Errorf("rm of a missing name: exit %d, stderr %q; want no semaphore hint", r.code, r.stderr)
	}

	ok(t, "", "create", x, "--size", "4K", "--dir", dir)
	path := filepath.Join(dir, x)
	if out := ok(t, "", "stat", x, "--dir", dir); !strings.Contains(out, "path:     "+path+"\n") {
		t.Fatalf("stat does not print the path %s:\n%s", path, out)
	}
	ok(t, "hi", "write", path, "--dir", dir)
	if out := ok(t, "", "cat", path, "--dir", dir, "--length", "2"); out != "hi" {
		t.Errorf("cat by path printed %q", out)
	}
	ok(t, "", "stat", path, "--dir", dir)
	ok(t, "", "rm", path, "--dir", dir)
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("rm by path left %s: %v", path, err)
	}
	// A path outside the directory is still an invalid name.
	if r := shmRun(t, "", "rm", "/elsewhere/"+x, "--dir", dir); r.code != 1 || !strings.Contains(r.stderr, "invalid name") {
		t.Errorf("rm of a path outside the directory: exit %d, stderr %q", r.code, r.stderr)
	}

	r = shmRun(t, "", "ls", "--dir", "")
	if r.code != 0 || !strings.HasPrefix(r.stdout, "NAME ") {
		t.Errorf(`ls --dir "": exit %d, stderr %q`, r.code, r.stderr)
	}
}
