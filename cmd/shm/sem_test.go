package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/shmkit/shm"
	"github.com/shmkit/shm/internal/jsonname"
	"github.com/shmkit/shm/internal/shmtest"
	"github.com/shmkit/shm/sem"
)

// TestSemCommands walks a named semaphore through every sem command.
func TestSemCommands(t *testing.T) {
	name := shmtest.Name(t, "")
	file := filepath.Join(shm.DefaultDir, "sem."+name)

	if out := ok(t, "", "sem", "create", "/"+name, "--value", "2", "--mode", "0640"); out != "" {
		t.Errorf("create printed %q", out)
	}
	fi, err := os.Stat(file)
	if err != nil || fi.Size() != sem.Size || fi.Mode().Perm() != 0o640 {
		t.Fatalf("after create: %v, %v", fi, err)
	}
	if r := shmRun(t, "", "sem", "create", name); r.code != 1 || !strings.Contains(r.stderr, "shm: sem create "+name+": file exists") {
		t.Errorf("create of an existing semaphore: exit %d, stderr %q", r.code, r.stderr)
	}
	if out := ok(t, "", "sem", "value", name); out != "2\n" {
		t.Errorf("value = %q, want 2", out)
	}
	ok(t, "", "sem", "post", name, "-n", "3")
	ok(t, "", "sem", "wait", name, "-n", "4", "--timeout", "5s")
	var st semState
	if err := json.Unmarshal([]byte(ok(t, "", "sem", "value", name, "--json")), &st); err != nil || st != (semState{Field: jsonname.Of(name), Value: 1, Waiters: 0}) {
		t.Errorf("value --json = %+v, %v", st, err)
	}

	// Waiting for more than there is times out with status 3, after taking
	// what there was, and leaves no waiter registered.
	start := time.Now()
	r := shmRun(t, "", "sem", "wait", name, "-n", "2", "--timeout", "100ms")
	if want := "shm: sem wait " + name + ": timed out after 100ms (took 1 of 2 tokens)\n"; r.code != semTimeoutStatus || r.stderr != want {
		t.Errorf("wait past the timeout: exit %d, stderr %q; want %d, %q", r.code, r.stderr, semTimeoutStatus, want)
	}
	if time.Since(start) < 100*time.Millisecond {
		t.Errorf("wait --timeout 100ms returned after %v", time.Since(start))
	}
	if err := json.Unmarshal([]byte(ok(t, "", "sem", "value", name, "--json")), &st); err != nil || st.Value != 0 || st.Waiters != 0 {
		t.Errorf("after the timeout: %+v, %v", st, err)
	}

	ok(t, "", "sem", "rm", name)
	if _, err := os.Stat(file); !os.IsNotExist(err) {
		t.Errorf("file still there after rm: %v", err)
	}
	if r := shmRun(t, "", "sem", "value", name); r.code != 1 || !strings.Contains(r.stderr, "no such file or directory") {
		t.Errorf("value of a removed semaphore: exit %d, stderr %q", r.code, r.stderr)
	}
}

// TestSemWaitWokenByPost has one in-process "shm sem wait" woken by another
// "shm sem post".
func TestSemWaitWokenByPost(t *testing.T) {
	name := shmtest.Name(t, "")
	ok(t, "", "sem", "create", name)
	done := make(chan result, 1)
	go func() { done <- shmRun(t, "", "sem", "wait", name, "--timeout", "20s") }()
	s, err := sem.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
		if n, _ := s.Waiters(); n == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the wait never registered")
		}
	}
	ok(t, "", "sem", "post", name)
	if r := <-done; r.code != 0 || r.stderr != "" {
		t.Fatalf("wait: exit %d, stderr %q", r.code, r.stderr)
	}
}

func TestSemUsage(t *testing.T) {
	name := shmtest.Name(t, "")
	for _, args := range [][]string{
		{"sem", "frob"},
		{"sem", "create"},
		{"sem", "create", name, "--value", "-1"},
		{"sem", "create", name, "--value", "2147483648"},
		{"sem", "create", name, "--mode", "999"},
		{"sem", "post", name, "-n", "0"},
		{"sem", "wait", name, "--timeout", "soon"},
		{"sem", "wait", name, "--timeout", "-1s"},
		{"sem", "value"},
		{"sem", "rm"},
	} {
		if r := shmRun(t, "", args...); r.code != 2 {
			t.Errorf("shm %s: exit %d (stderr %q), want 2", strings.Join(args, " "), r.code, r.stderr)
		}
	}
	if _, err := os.Stat(filepath.Join(shm.DefaultDir, "sem."+name)); !os.IsNotExist(err) {
		t.Errorf("a refused command created the semaphore: %v", err)
	}
	// The message names the flag by its long name, whichever was typed.
	for _, args := range [][]string{
		{"sem", "post", name, "-n", "0"},
		{"sem", "post", name, "--count", "0"},
		{"sem", "wait", name, "-n", "0"},
		{"sem", "wait", name, "--count", "0"},
	} {
		want := "shm: sem " + args[1] + ": --count 0: "
		if r := shmRun(t, "", args...); r.code != 2 || !strings.HasPrefix(r.stderr, want) {
			t.Errorf("shm %s: exit %d, stderr %q; want 2 and %q", strings.Join(args, " "), r.code, r.stderr, want)
		}
	}
}

// TestSemInLs checks that ls and stat show a semaphore's value and waiters,
// and a damaged one with what is wrong.
func TestSemInLs(t *testing.T) {
	dir := t.TempDir()
	ok(t, "", "sem", "create", "jobs", "--value", "4", "--dir", dir)
	if err := os.WriteFile(filepath.Join(dir, "sem.broken"), []byte("not a semaphore"), 0o600); err != nil {
		t.Fatal(err)
	}
	var objs []object
	if err := json.Unmarshal([]byte(ok(t, "", "ls", "--json", "--dir", dir)), &objs); err != nil {
		t.Fatal(err)
	}
	if len(objs) != 2 {
		t.Fatalf("ls --json: %+v", objs)
	}
	broken, jobs := objs[0], objs[1]
	if jobs.Name != "sem.jobs" || jobs.Kind != "semaphore" || jobs.Details["value"] != 4.0 || jobs.Details["waiters"] != 0.0 {
		t.Errorf("ls --json row for a semaphore: %+v", jobs)
	}
	if broken.Kind != "semaphore" || !strings.Contains(fmt.Sprint(broken.Details["error"]), "corrupt semaphore") {
		t.Errorf("ls --json row for a damaged semaphore: %+v", broken)
	}
	table := ok(t, "", "ls", "--dir", dir)
	if !regexp.MustCompile(`(?m)^sem\.jobs .* semaphore +\S+ +\S+ +value=4$`).MatchString(table) ||
		!regexp.MustCompile(`(?m)^sem\.broken .* semaphore +\S+ +\S+ +unreadable$`).MatchString(table) {
		t.Errorf("ls table does not show the semaphores' state:\n%s", table)
	}
	if out := ok(t, "", "stat", "sem.jobs", "--dir", dir); !strings.Contains(out, "value:") || !strings.Contains(out, "4\n") {
		t.Errorf("stat of a semaphore:\n%s", out)
	}
}

// TestSemCreateValueRange: "sem create --value" refuses a value outside 0
// to SEM_VALUE_MAX (2147483647), or not a number, with a usage error that
// states that range, and takes the largest.
func TestSemCreateValueRange(t *testing.T) {
	dir := t.TempDir()
	for _, v := range []string{"-1", "2147483648", "4294967295", "4294967296", "abc"} {
		r := shmRun(t, "", "sem", "create", "s", "--value", v, "--dir", dir)
		if want := "want a whole number from 0 to 2147483647"; r.code != 2 || !strings.Contains(r.stderr, want) || strings.Contains(r.stderr, "to 4294967295") {
			t.Errorf("--value %s: exit %d, stderr %q; want 2 and %q", v, r.code, r.stderr, want)
		}
	}
	ok(t, "", "sem", "create", "s", "--value", "2147483647", "--dir", dir)
	if out := ok(t, "", "sem", "value", "s", "--dir", dir); out != "2147483647\n" {
		t.Errorf("value after --value 2147483647: %q", out)
	}
}
