//go:build linux

package chaos

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The multi-process tests re-execute this test binary. envRole names the
// child's role (a function in roles); envArgs carries its arguments as JSON.
// TestMain runs the role instead of the tests and exits with its status.
const (
	envRole     = "SHM_CHAOS_ROLE"
	envArgs     = "SHM_CHAOS_ARGS"
	envStrength = "SHM_CHAOS"
)

// args are a child's arguments, by name.
type args map[string]string

func (a args) int(k string) int {
	n, err := strconv.Atoi(a[k])
	if err != nil {
		panic(fmt.Sprintf("child argument %s=%q: %v", k, a[k], err))
	}
	return n
}

func (a args) dur(k string) time.Duration {
	d, err := time.ParseDuration(a[k])
	if err != nil {
		panic(fmt.Sprintf("child argument %s=%q: %v", k, a[k], err))
	}
	return d
}

// Exit statuses of child roles. A child that crashes (an unrecovered panic,
// a SIGBUS or SIGSEGV the runtime could not turn into an error) exits with 2,
// the Go runtime's status, which no role uses.
const (
	exitOK   = 0
	exitFail = 1 // the role found a broken invariant; details on stdout
)

// roles maps a role name to the function a child runs. Each file registers
// its roles in an init function.
var roles = map[string]func(a args) int{}

func TestMain(m *testing.M) {
	if role := os.Getenv(envRole); role != "" {
		var a args
		if err := json.Unmarshal([]byte(os.Getenv(envArgs)), &a); err != nil {
			fmt.Fprintf(os.Stderr, "chaos child: bad %s: %v\n", envArgs, err)
			os.Exit(exitFail)
		}
		f := roles[role]
		if f == nil {
			fmt.Fprintf(os.Stderr, "chaos child: unknown role %q\n", role)
			os.Exit(exitFail)
		}
		os.Exit(f(a))
	}
	os.Exit(m.Run())
}

// full reports whether the suite runs at full strength: built with -tags
// chaos, or SHM_CHAOS=full in the environment.
func full() bool { return fullByTag || os.Getenv(envStrength) == "full" }

// trials returns def, or fullN at full strength, or a tenth of def (at
// least one) under -short: a smoke run that each kind of trial still works,
// for a quick go test -short.
func trials(def, fullN int) int {
	switch {
	case full():
		return fullN
	case testing.Short():
		return max(1, def/10)
	}
	return def
}

// newRand returns a random source for a test and logs its seed, so that a
// failing trial sequence can be replayed with SHM_CHAOS_SEED.
func newRand(t testing.TB) *rand.Rand {
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("SHM_CHAOS_SEED"); s != "" {
		if n, err := strconv.ParseUint(s, 10, 64); err == nil {
			seed = n
		}
	}
	t.Logf("seed %d (replay with SHM_CHAOS_SEED=%d)", seed, seed)
	return rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
}

// roleRand returns a random source for a child role, seeded apart in every
// process.
func roleRand() *rand.Rand {
	return rand.New(rand.NewPCG(uint64(os.Getpid()), uint64(time.Now().UnixNano())))
}

// proc is a child process running a role. Its standard output arrives line
// by line on lines; everything it printed is kept for failure messages.
type proc struct {
	t     testing.TB
	role  string
	cmd   *exec.Cmd
	lines chan string
	done  chan struct{} // closed when the process was reaped
	err   error         // cmd.Wait's error, valid after done

	mu  sync.Mutex
	out strings.Builder // stdout and stderr, interleaved
}

// startOpt changes how spawn starts a child.
type startOpt func(*exec.Cmd)

// asUser runs the child as uid/gid (the binary must be reachable: see
// shmtest.ExecutableForOthers).
func asUser(uid, gid uint32, exe string) startOpt {
	return func(c *exec.Cmd) {
		c.Path, c.Args[0] = exe, exe
		c.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: gid}}
	}
}

// inNewPIDNamespace starts the child in a new PID namespace of its own
// (CLONE_NEWPID; root only), where it is pid 1 and its pids mean nothing
// here: as a container that shares /dev/shm with this process.
func inNewPIDNamespace() startOpt {
	return func(c *exec.Cmd) {
		if c.SysProcAttr == nil {
			c.SysProcAttr = &syscall.SysProcAttr{}
		}
		c.SysProcAttr.Cloneflags |= syscall.CLONE_NEWPID
	}
}

// victimsIn returns the start options and the summary's wording for kill
// tests whose victims run in this PID namespace (otherNS false) or each in
// a new one; the latter skips unless root.
func victimsIn(t *testing.T, otherNS bool) ([]startOpt, string) {
	t.Helper()
	if !otherNS {
		return nil, ""
	}
	needRoot(t, "start victims in new PID namespaces (CLONE_NEWPID)")
	return []startOpt{inNewPIDNamespace()}, ", victims each in its own PID namespace"
}

// spawn starts a child in role with a. The child is killed and reaped when
// the test ends, whatever happened.
func spawn(t testing.TB, role string, a args, opts ...startOpt) *proc {
	t.Helper()
	js, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), envRole+"="+role, envArgs+"="+string(js))
	if raceEnabled && os.Getenv("GORACE") == "" {
		// A race-enabled child otherwise sleeps a second in exit, for
		// reports from other threads to finish (atexit_sleep_ms).
		cmd.Env = append(cmd.Env, "GORACE=atexit_sleep_ms=0")
	}
	for _, o := range opts {
		o(cmd)
	}
	p := &proc{t: t, role: role, cmd: cmd, lines: make(chan string, 1024), done: make(chan struct{})}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start child %s: %v", role, err)
	}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		defer close(p.lines)
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			p.record(line)
			select {
			case p.lines <- line:
			default: // nobody reads lines this far: keep only the record
			}
		}
		io.Copy(io.Discard, stdout)
	}()
	go func() {
		defer wg.Done()
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			p.record("stderr: " + sc.Text())
		}
	}()
	go func() {
		wg.Wait()
		p.err = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.kill()
		select {
		case <-p.done:
		case <-time.After(10 * time.Second):
			t.Errorf("child %s (pid %d) not reaped 10 s after SIGKILL", role, cmd.Process.Pid)
		}
	})
	return p
}

func (p *proc) record(line string) {
	p.mu.Lock()
	p.out.WriteString(line)
	p.out.WriteByte('\n')
	p.mu.Unlock()
}

// output returns everything the child printed so far.
func (p *proc) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

// kill sends SIGKILL (a no-op once the child was reaped).
func (p *proc) kill() {
	select {
	case <-p.done:
	default:
		p.cmd.Process.Signal(syscall.SIGKILL)
	}
}

// killWait kills the child and waits until it is reaped, so that the kernel
// has released everything it held and /proc shows it gone.
func (p *proc) killWait() {
	p.kill()
	p.wait(10 * time.Second)
}

// expect waits up to d for a line starting with prefix and returns the line.
func (p *proc) expect(prefix string, d time.Duration) (string, bool) {
	p.t.Helper()
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		select {
		case line, ok := <-p.lines:
			if !ok {
				return "", false
			}
			if strings.HasPrefix(line, prefix) {
				return line, true
			}
		case <-timer.C:
			return "", false
		}
	}
}

// wait waits up to d for the child to exit and returns its exit status
// (-1 when it was killed by a signal, -2 when it is still running).
func (p *proc) wait(d time.Duration) int {
	select {
	case <-p.done:
	default:
		select {
		case <-p.done:
		case <-time.After(d):
			return -2
		}
	}
	return p.cmd.ProcessState.ExitCode()
}

// signaled reports the signal that ended the child, if one did.
func (p *proc) signaled() (syscall.Signal, bool) {
	ws, ok := p.cmd.ProcessState.Sys().(syscall.WaitStatus)
	if !ok || !ws.Signaled() {
		return 0, false
	}
	return ws.Signal(), true
}

// finish waits up to d for a child that should end by itself with exit
// status 0, and fails the test with its output otherwise.
func (p *proc) finish(d time.Duration) bool {
	p.t.Helper()
	code := p.wait(d)
	if code == exitOK {
		return true
	}
	what := fmt.Sprintf("exit status %d", code)
	if code == -2 {
		what = fmt.Sprintf("still running after %v", d)
		p.killWait()
	} else if sig, ok := p.signaled(); ok {
		what = "killed by " + sig.String()
	}
	p.t.Errorf("child %s (pid %d): %s; output:\n%s", p.role, p.pid(), what, p.output())
	return false
}

// say prints one line to the parent (children report this way).
func say(format string, a ...any) {
	fmt.Printf(format+"\n", a...)
}

// withTimeout is context.WithTimeout on the background context.
func withTimeout(d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), d)
}

// needRoot skips a test that needs root, saying why.
func needRoot(t testing.TB, why string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skipf("skipping: needs root to %s", why)
	}
}

func itoa(i int) string { return strconv.Itoa(i) }

func fmtS(format string, a ...any) string { return fmt.Sprintf(format, a...) }
