//go:build linux

package interop

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shmkit/shm/internal/shmtest"
	"github.com/shmkit/shm/queue"
)

// Children re-execute this test binary in a role (see shmtest.Role), which
// each file registers in an init function; childParams names the
// arguments child passes each role.
var childParams = map[string][]string{
	"go-bench-recv": {"name", "cpu"},
	"go-send":       {"name", "producer", "count", "max", "min"},
	"go-chaos-send": {"name", "producer"},
	"go-topic-pub":  {"name", "count"},
}

// buildDir holds the C programs built for this run; TestMain removes it.
var buildDir string

func TestMain(m *testing.M) {
	shmtest.RunChild()
	var err error
	if buildDir, err = os.MkdirTemp("", "shm-interop"); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(buildDir)
	os.Exit(code)
}

// full reports whether the chaos tests run at full strength (SHM_CHAOS=full,
// as for package chaos).
func full() bool { return os.Getenv("SHM_CHAOS") == "full" }

func trials(def, fullN int) int {
	if full() {
		return fullN
	}
	return def
}

// repoDir is the repository's root.
func repoDir(t testing.TB) string {
	t.Helper()
	d, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// cFlags are the warnings the C library must build clean with.
var cFlags = []string{"-std=c11", "-Wall", "-Wextra", "-Werror"}

var builds struct {
	sync.Mutex
	done map[string]string
}

// buildPeer compiles testdata/peer.c with the C library (c/shmq.c), once
// per set of extra flags, and returns the program's path.
func buildPeer(t testing.TB, extra ...string) string {
	t.Helper()
	gcc := shmtest.Need(t, "gcc")
	builds.Lock()
	defer builds.Unlock()
	key := strings.Join(extra, " ")
	if p, ok := builds.done[key]; ok {
		return p
	}
	root := repoDir(t)
	bin := filepath.Join(buildDir, fmt.Sprintf("peer%d", len(builds.done)))
	args := append(append([]string{}, cFlags...), extra...)
	args = append(args, "-I", filepath.Join(root, "c"), "-o", bin, filepath.Join(root, "interop", "testdata", "peer.c"), filepath.Join(root, "c", "shmq.c"))
	if out, err := exec.Command(gcc, args...).CombinedOutput(); err != nil {
		t.Fatalf("gcc %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	if builds.done == nil {
		builds.done = map[string]string{}
	}
	builds.done[key] = bin
	return bin
}

// child returns the command that starts this test binary in role with
// args, in the order childParams names them; once started, it is killed
// and reaped when the test ends.
func child(t testing.TB, role string, args ...string) *exec.Cmd {
	t.Helper()
	params, ok := childParams[role]
	if !ok || len(args) != len(params) {
		t.Fatalf("role %s takes the arguments %v, got %q", role, params, args)
	}
	a := shmtest.Args{}
	for i, p := range params {
		a[p] = args[i]
	}
	return shmtest.Command(t, role, a)
}

// waitCmd waits for cmd at most d, and kills it after that.
func waitCmd(t testing.TB, cmd *exec.Cmd, d time.Duration) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return err
	case <-time.After(d):
		cmd.Process.Kill()
		<-done
		return fmt.Errorf("%s did not finish within %v", cmd.Path, d)
	}
}

func atoi(s string) int {
	n, err := strconv.Atoi(s)
	if err != nil {
		panic(err)
	}
	return n
}

// ctxFor is a context with a generous deadline for one call on a loaded
// machine.
func ctxFor(d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), d)
}

// createQueue makes a queue for a test and closes it when the test ends.
func createQueue(t testing.TB, name string, capacity int64, opts ...queue.Option) *queue.Queue {
	t.Helper()
	q, err := queue.Create(name, capacity, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { q.Close() })
	return q
}
