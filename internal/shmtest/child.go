package shmtest

// Child processes. A test that needs a peer process runs its own test
// binary again, in a child role: a function registered with Role, which the
// re-executed binary runs in place of the tests.
//
//	func init() { shmtest.Role("producer", producer) }
//
//	func producer(a shmtest.Args) int {
//		q, err := queue.Open(a["name"])
//		...
//		fmt.Println("ready") // the parent reads this with Child.Expect
//		...
//		return shmtest.ExitOK
//	}
//
//	func TestMain(m *testing.M) { shmtest.Main(m) }
//
//	func TestProducer(t *testing.T) {
//		p := shmtest.Spawn(t, "producer", shmtest.Args{"name": name, "count": "100"})
//		if _, ok := p.Expect("ready", 10*time.Second); !ok {
//			t.Fatalf("producer not ready: %s", p.Output())
//		}
//		p.Finish(time.Minute)
//	}
//
// The child's command line carries the role and its arguments:
//
//	TESTBINARY -test.run=^$ -shmtest.role=producer -- count=100 name=NAME
//
// The arguments travel on the command line rather than in the environment,
// so that the processes a child starts in turn (a C peer, a re-run in a
// namespace) do not inherit them, and ps shows what each child does. A test
// binary whose TestMain forgot Main or RunChild fails at once on the
// unknown flag instead of running the tests in the child.

import (
	"bufio"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Exit statuses of child roles. A role may return other statuses of its
// own; 2 is the Go runtime's status for a crash (an unrecovered panic, a
// fault it could not turn into an error), so a role should not use it.
const (
	ExitOK   = 0 // the role did its work
	ExitFail = 1 // the role failed; it says why on stdout or stderr
)

// StillRunning is what Child.ExitCode returns for a child that did not end
// in time.
const StillRunning = -2

const roleFlag = "-shmtest.role="

// Args are a child's arguments, by name. Names must not hold '='.
type Args map[string]string

// Int returns argument k as an int. A missing or malformed argument is a
// mistake in the test, and panics (the child exits with status 2 and the
// message).
func (a Args) Int(k string) int {
	n, err := strconv.Atoi(a[k])
	if err != nil {
		panic(fmt.Sprintf("child argument %s=%q: %v", k, a[k], err))
	}
	return n
}

// Duration returns argument k, a time.ParseDuration string, and panics as
// Int does.
func (a Args) Duration(k string) time.Duration {
	d, err := time.ParseDuration(a[k])
	if err != nil {
		panic(fmt.Sprintf("child argument %s=%q: %v", k, a[k], err))
	}
	return d
}

var roles = map[string]func(Args) int{}

// Role registers f as the child role name, usually from an init function.
// f's result is the child's exit status. Registering a name twice panics.
func Role(name string, f func(Args) int) {
	if _, dup := roles[name]; dup {
		panic("shmtest: role " + name + " registered twice")
	}
	roles[name] = f
}

// ExitStatus is the exit status of a role that ended with err: ExitOK for
// nil; otherwise it prints err on standard error and returns ExitFail.
func ExitStatus(err error) int {
	if err == nil {
		return ExitOK
	}
	fmt.Fprintln(os.Stderr, err)
	return ExitFail
}

// RunChild runs the role this binary was started in, and exits with its
// status, when the binary is a child started by Command or Spawn; otherwise
// it returns at once. A TestMain that has setup of its own calls it first;
// others use Main.
func RunChild() {
	role, a, ok := parseChild(os.Args[1:])
	if !ok {
		return
	}
	f := roles[role]
	if f == nil {
		fmt.Fprintf(os.Stderr, "shmtest child: unknown role %q\n", role)
		os.Exit(ExitFail)
	}
	os.Exit(f(a))
}

// Main is a TestMain: it runs the child's role in a child, and the tests
// otherwise.
func Main(m *testing.M) {
	RunChild()
	os.Exit(m.Run())
}

func parseChild(argv []string) (role string, a Args, ok bool) {
	for i, s := range argv {
		if r, found := strings.CutPrefix(s, roleFlag); found {
			role, ok = r, true
			argv = argv[i+1:]
			break
		}
	}
	if !ok {
		return "", nil, false
	}
	a = Args{}
	if len(argv) > 0 && argv[0] == "--" {
		for _, kv := range argv[1:] {
			k, v, _ := strings.Cut(kv, "=")
			a[k] = v
		}
	}
	return role, a, true
}

// An Option changes how a child is started.
type Option func(*exec.Cmd)

// Env adds variables ("KEY=value") to the child's environment: for the
// environment the code under test reads, not for the role's arguments.
func Env(kv ...string) Option {
	return func(c *exec.Cmd) { c.Env = append(c.Env, kv...) }
}

// Command returns the command that runs this test binary in role with args,
// not yet started. The caller may set its standard streams and more before
// starting it, or hand it to Start. Once started, it is killed and reaped
// when the test ends unless it was reaped before.
//
// A caller that Waits for the command itself, in any goroutine, must have
// that Wait return before the test ends (kill the child first if need
// be): the cleanup reads the command's state.
//
// The child's environment is the test's, with GORACE telling a
// race-enabled child not to sleep a second at exit (the race runtime's
// atexit_sleep_ms).
func Command(t testing.TB, role string, args Args, opts ...Option) *exec.Cmd {
	t.Helper()
	argv := []string{"-test.run=^$", roleFlag + role, "--"}
	for _, k := range slices.Sorted(maps.Keys(args)) {
		if k == "" || strings.Contains(k, "=") {
			t.Fatalf("child %s: argument name %q is empty or holds '='", role, k)
		}
		argv = append(argv, k+"="+args[k])
	}
	cmd := exec.Command(os.Args[0], argv...)
	cmd.Env = append(os.Environ(), "GORACE="+strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"))
	for _, o := range opts {
		o(cmd)
	}
	t.Cleanup(func() {
		if _, ok := started.Load(cmd); ok {
			return // Start's cleanup reaps it
		}
		if cmd.Process != nil && cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	return cmd
}

// started holds the commands Start started: their reaping is Start's.
var started sync.Map

// Child is a started child process. Its standard output is read line by
// line (Next, Expect); everything it printed on stdout and stderr is kept
// for failure messages (Output).
type Child struct {
	Role  string
	Cmd   *exec.Cmd
	Stdin io.WriteCloser // the child's standard input; closing it sends EOF

	t    testing.TB
	done chan struct{} // closed when the child was reaped

	mu     sync.Mutex
	lines  []string      // stdout lines not yet taken by Next or Expect
	more   chan struct{} // closed and replaced when a line arrives or stdout ends
	closed bool          // stdout ended
	out    strings.Builder
}

// Spawn starts this test binary in role with args and returns the child.
// It is killed and reaped when the test ends, whatever happened.
func Spawn(t testing.TB, role string, args Args, opts ...Option) *Child {
	t.Helper()
	return Start(t, Command(t, role, args, opts...))
}

// Start starts cmd, a command from Command whose standard output, error and
// input are not set, and returns the child. It is killed and reaped when
// the test ends, whatever happened.
func Start(t testing.TB, cmd *exec.Cmd) *Child {
	t.Helper()
	role := "?"
	if r, _, ok := parseChild(cmd.Args[1:]); ok {
		role = r
	}
	c := &Child{Role: role, Cmd: cmd, t: t, done: make(chan struct{}), more: make(chan struct{})}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if c.Stdin, err = cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start child %s: %v", role, err)
	}
	started.Store(cmd, true)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			c.add(sc.Text(), true)
		}
		io.Copy(io.Discard, stdout)
		c.mu.Lock()
		c.closed = true
		close(c.more)
		c.mu.Unlock()
	}()
	go func() {
		defer wg.Done()
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			c.add("stderr: "+sc.Text(), false)
		}
		io.Copy(io.Discard, stderr)
	}()
	go func() {
		wg.Wait()
		cmd.Wait()
		close(c.done)
	}()
	t.Cleanup(func() {
		c.Kill()
		select {
		case <-c.done:
			started.Delete(cmd)
		case <-time.After(10 * time.Second):
			t.Errorf("child %s (pid %d) not reaped 10 s after SIGKILL", role, c.Pid())
		}
	})
	return c
}

func (c *Child) add(line string, stdout bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.out.WriteString(line)
	c.out.WriteByte('\n')
	if stdout {
		c.lines = append(c.lines, line)
		close(c.more)
		c.more = make(chan struct{})
	}
}

// Pid returns the child's process ID.
func (c *Child) Pid() int { return c.Cmd.Process.Pid }

// Output returns everything the child printed so far, standard error's
// lines marked "stderr: ".
func (c *Child) Output() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.out.String()
}

// Next returns the child's next line of standard output, waiting up to d
// for it. ok is false when none came in time or the child's output ended.
func (c *Child) Next(d time.Duration) (line string, ok bool) {
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		c.mu.Lock()
		if len(c.lines) > 0 {
			line = c.lines[0]
			c.lines = c.lines[1:]
			c.mu.Unlock()
			return line, true
		}
		more, closed := c.more, c.closed
		c.mu.Unlock()
		if closed {
			return "", false
		}
		select {
		case <-more:
		case <-timer.C:
			return "", false
		}
	}
}

// Expect waits up to d for a line of standard output that starts with
// prefix, passing over the lines before it, and returns the line. ok is
// false when none came in time or the child's output ended.
func (c *Child) Expect(prefix string, d time.Duration) (line string, ok bool) {
	deadline := time.Now().Add(d)
	for {
		line, ok := c.Next(time.Until(deadline))
		if !ok || strings.HasPrefix(line, prefix) {
			return line, ok
		}
	}
}

// Kill sends SIGKILL to the child, unless it was reaped already. It does
// not wait for the child to end.
func (c *Child) Kill() {
	select {
	case <-c.done:
	default:
		c.Cmd.Process.Kill()
	}
}

// KillWait kills the child and waits until it is reaped, so that the
// kernel has released everything it held and /proc shows it gone.
func (c *Child) KillWait() {
	c.Kill()
	c.ExitCode(10 * time.Second)
}

// ExitCode waits up to d for the child to end and returns its exit status:
// -1 when a signal killed it, StillRunning when it did not end in time.
func (c *Child) ExitCode(d time.Duration) int {
	select {
	case <-c.done:
	default:
		timer := time.NewTimer(d)
		defer timer.Stop()
		select {
		case <-c.done:
		case <-timer.C:
			return StillRunning
		}
	}
	return c.Cmd.ProcessState.ExitCode()
}

// Signal returns the signal that ended the child, if one did.
func (c *Child) Signal() (syscall.Signal, bool) {
	select {
	case <-c.done:
	default:
		return 0, false
	}
	ws, ok := c.Cmd.ProcessState.Sys().(syscall.WaitStatus)
	if !ok || !ws.Signaled() {
		return 0, false
	}
	return ws.Signal(), true
}

// Wait waits up to d for a child that should end by itself with status 0.
// It returns nil if it did, and otherwise an error that says how it ended
// (a child still running after d is killed) followed by its output.
func (c *Child) Wait(d time.Duration) error {
	code := c.ExitCode(d)
	if code == ExitOK {
		return nil
	}
	what := fmt.Sprintf("exit status %d", code)
	if code == StillRunning {
		what = fmt.Sprintf("still running after %v", d)
		c.KillWait()
	} else if sig, ok := c.Signal(); ok {
		what = "killed by " + sig.String()
	}
	return fmt.Errorf("child %s (pid %d): %s; output:\n%s", c.Role, c.Pid(), what, c.Output())
}

// Finish is Wait reporting its error with t.Errorf on the test that
// started the child; it returns whether the child ended well.
func (c *Child) Finish(d time.Duration) bool {
	c.t.Helper()
	if err := c.Wait(d); err != nil {
		c.t.Error(err)
		return false
	}
	return true
}
