package main

import (
	"encoding/json"
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

// TestDamagedTopicShownCorrupt damages topics and checks that ls and stat
// say corrupt, with the part, as topic stat refuses them, and that topic
// stat prints no count it could not read.
func TestDamagedTopicShownCorrupt(t *testing.T) {
	dir := t.TempDir()
	// A ring of 64K after a header of one page; three records of 32 bytes
	// put the end marker at ring offset 96.
	const size, header, tail = 69632, 4096, 96
	for _, c := range []struct {
		what   string
		damage func(p string) error
		state  string
	}{
		{"truncated to 4096", func(p string) error { return os.Truncate(p, 4096) }, "corrupt:size"},
		{"truncated to 69631", func(p string) error { return os.Truncate(p, size-1) }, "corrupt:size"},
		{"capacity not a power of two", func(p string) error { return patchFile(p, size, 16, []byte{1, 1}) }, "corrupt:header"},
		{"tail cursor misaligned", func(p string) error { return patchFile(p, size, 64, []byte{3}) }, "corrupt:cursors"},
		{"end marker's sequence garbage", func(p string) error { return patchFile(p, size, header+tail+6, []byte{1}) }, "corrupt:ring"},
	} {
		name := shmtest.Name(t, dir)
		ok(t, "", "topic", "create", name, "--capacity", "64K", "--subscribers", "4", "--dir", dir)
		ok(t, "", "topic", "pub", name, "a", "b", "c", "--dir", dir)
		if err := c.damage(filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
		table := ok(t, "", "ls", "--dir", dir)
		if !regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + ` .* topic .* ` + c.state + `$`).MatchString(table) {
			t.Errorf("%s: ls does not say %s:\n%s", c.what, c.state, table)
		}
		if out := ok(t, "", "stat", name, "--dir", dir); !regexp.MustCompile(`(?m)^detail: +`+c.state+`$`).MatchString(out) || !strings.Contains(out, "topic is corrupt") {
			t.Errorf("%s: stat does not say %s:\n%s", c.what, c.state, out)
		}
		r := shmRun(t, "", "topic", "stat", name, "--dir", dir)
		if r.code != 1 || !strings.Contains(r.stderr, "topic is corrupt") || strings.Contains(r.stdout, "published:") {
			t.Errorf("%s: topic stat: exit %d, stdout %q, stderr %q", c.what, r.code, r.stdout, r.stderr)
		}
	}
	// Healthy, the same topic reads as such everywhere.
	name := shmtest.Name(t, dir)
	ok(t, "", "topic", "create", name, "--capacity", "64K", "--subscribers", "4", "--dir", dir)
	ok(t, "", "topic", "pub", name, "a", "b", "c", "--dir", dir)
	if table := ok(t, "", "ls", "--dir", dir); !regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + ` .* topic .* lossless subs=0$`).MatchString(table) {
		t.Errorf("healthy topic: ls:\n%s", table)
	}
	if out := ok(t, "", "topic", "stat", name, "--dir", dir); !strings.Contains(out, "published:   3 messages, 3 kept") {
		t.Errorf("healthy topic: topic stat:\n%s", out)
	}
}

// TestReadmeSaysWhereCorruptShows: where the README says a damaged queue
// or topic shows `corrupt:PART` "in COLUMN", COLUMN is the column of ls's
// table that holds it for a queue truncated below its header's size.
func TestReadmeSaysWhereCorruptShows(t *testing.T) {
	dir := t.TempDir()
	ok(t, "", "queue", "create", "q", "--capacity", "64K", "--dir", dir)
	if err := os.Truncate(filepath.Join(dir, "q"), 4096); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(ok(t, "", "ls", "--dir", dir)), "\n")
	if len(lines) != 2 {
		t.Fatalf("ls:\n%s", strings.Join(lines, "\n"))
	}
	// The table is aligned: the value starts where its column's title does.
	column := ""
	if at := strings.Index(lines[1], "corrupt:"); at >= 0 && at < len(lines[0]) {
		column, _, _ = strings.Cut(lines[0][at:], " ")
	}
	if column == "" {
		t.Fatalf("ls shows no corrupt: column:\n%s", strings.Join(lines, "\n"))
	}
	claims := regexp.MustCompile("`corrupt:ring` in\\s+([A-Z]+)").FindAllStringSubmatch(readme(t), -1)
	if len(claims) == 0 {
		t.Fatal("the README no longer says where corrupt:PART shows")
	}
	for _, c := range claims {
		if c[1] != column {
			t.Errorf("README says corrupt:PART shows in %s; ls shows it in %s", c[1], column)
		}
	}
}

// TestStatCorruptShowsOnlyWhatWasRead: "shm stat" on a damaged queue or
// topic prints the error and what was read before the damage, and no fill,
// peer or subscriber line that would make it read as healthy and idle.
func TestStatCorruptShowsOnlyWhatWasRead(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		kind, what string
		damage     func(p string) error
		want, not  []string // detail keys shown, and never shown
	}{
		{"queue", "truncated to 4096", func(p string) error { return os.Truncate(p, 4096) },
			[]string{"capacity", "bytes", "closed", "error"}, []string{"fill", "peers", "producers"}},
		{"queue", "head cursor misaligned", func(p string) error { return patchFile(p, 69632, 128, []byte{3}) },
			[]string{"capacity", "error"}, []string{"fill", "peers", "producers", "bytes", "closed"}},
		{"queue", "first record's length garbage", func(p string) error { return patchFile(p, 69632, 4096, []byte{0xff, 0xff}) },
			[]string{"capacity", "closed", "peers", "producers", "error"}, []string{"fill", "bytes"}},
		{"topic", "truncated to 4096", func(p string) error { return os.Truncate(p, 4096) },
			[]string{"capacity", "policy", "error"}, []string{"fill", "subscribers", "published"}},
	} {
		name := shmtest.Name(t, dir)
		ok(t, "", c.kind, "create", name, "--capacity", "64K", "--dir", dir)
		if c.kind == "queue" {
			ok(t, "", "queue", "send", name, "a", "b", "--keep-open", "--dir", dir)
		} else {
			ok(t, "", "topic", "pub", name, "a", "b", "--dir", dir)
		}
		if err := c.damage(filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
		var got struct {
			Details map[string]any `json:"details"`
		}
		if err := json.Unmarshal([]byte(ok(t, "", "stat", name, "--json", "--dir", dir)), &got); err != nil {
			t.Fatal(err)
		}
		for _, k := range c.want {
			if _, ok := got.Details[k]; !ok {
				t.Errorf("%s %s: stat lacks %q: %v", c.kind, c.what, k, got.Details)
			}
		}
		for _, k := range c.not {
			if v, ok := got.Details[k]; ok {
				t.Errorf("%s %s: stat shows %s: %v, which was not read: %v", c.kind, c.what, k, v, got.Details)
			}
		}
	}
}
