package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/shmkit/shm/internal/shmtest"
)

// TestDamagedQueueShownHealthy damages queues and checks that ls and stat
// say corrupt, with the part, as queue stat refuses them, and that queue
// stat does not print a negative count.
func TestDamagedQueueShownHealthy(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		what   string
		damage func(p string) error
		state  string
	}{
		{"truncated to 4096", func(p string) error { return os.Truncate(p, 4096) }, "corrupt:size"},
		{"truncated to 69631", func(p string) error { return os.Truncate(p, 69631) }, "corrupt:size"},
		{"head cursor misaligned", func(p string) error { return patchFile(p, 69632, 128, []byte{3}) }, "corrupt:cursors"},
		{"tail cursor far ahead", func(p string) error { return patchFile(p, 69632, 64, []byte{0, 0, 0, 0, 0, 1}) }, "corrupt:cursors"},
	} {
		name := shmtest.Name(t, dir)
		ok(t, "", "queue", "create", name, "--capacity", "64K", "--dir", dir)
		if err := c.damage(filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
		table := ok(t, "", "ls", "--dir", dir)
		if !regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + ` .* queue .* ` + c.state + `$`).MatchString(table) {
			t.Errorf("%s: ls does not say %s:\n%s", c.what, c.state, table)
		}
		if out := ok(t, "", "stat", name, "--dir", dir); !regexp.MustCompile(`(?m)^detail: +`+c.state+`$`).MatchString(out) || !strings.Contains(out, "queue is corrupt") {
			t.Errorf("%s: stat does not say %s:\n%s", c.what, c.state, out)
		}
		r := shmRun(t, "", "queue", "stat", name, "--dir", dir)
		if r.code != 1 || !strings.Contains(r.stderr, "queue is corrupt") || !strings.Contains(r.stdout, "waiting:     unknown messages") {
			t.Errorf("%s: queue stat: exit %d, stdout %q, stderr %q", c.what, r.code, r.stdout, r.stderr)
		}
	}
}

// patchFile sets the file at p to size bytes and writes b at off.
func patchFile(p string, size, off int64, b []byte) error {
	if err := os.Truncate(p, size); err != nil {
		return err
	}
	f, err := os.OpenFile(p, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	if _, err := f.WriteAt(b, off); err != nil {
		return err
	}
	return f.Close()
}
