package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"time"

	"github.com/shmkit/shm"
	"github.com/spf13/cobra"
)

// The demo is a list of steps. Each step has a lead half, run by "shm demo",
// and usually a peer half, run in a second process that the lead starts as
// "shm demo-peer STEP ARGS..." (a hidden command of this same executable).
// Objects a step creates get their names from demoEnv.name, which also
// removes them when the demo ends, whether it succeeded, failed or was
// interrupted.
//
// To extend the demo, write the two halves in your own file and add one line
// to demoSteps.
type demoStep struct {
	name  string // selects the peer half: shm demo-peer NAME
	title string
	lead  func(e *demoEnv) error
	peer  func(e *demoEnv, args []string) error
}

var demoSteps = []demoStep{
	{name: "segment", title: "Segments: two processes, one piece of memory", lead: segmentDemoLead, peer: segmentDemoPeer},
	{name: "sem", title: "Semaphores: taking turns", lead: semDemoLead, peer: semDemoPeer},
	{name: "lock", title: "A mutex: no update lost", lead: lockDemoLead, peer: lockDemoPeer},
	{name: "queue", title: "Queues: messages there and back, next to a pipe", lead: queueDemoLead, peer: queueDemoPeer},
	{name: "topic", title: "A topic: one publisher, every message to two subscribers", lead: topicDemoLead, peer: topicDemoPeer},
}

func findDemoStep(name string) (demoStep, bool) {
	for _, s := range demoSteps {
		if s.name == name {
			return s, true
		}
	}
	return demoStep{}, false
}

// demoEnv is what a step's half works with.
type demoEnv struct {
	ctx   context.Context // cancelled by SIGINT (Ctrl-C), SIGTERM or SIGHUP
	out   io.Writer
	dir   string
	role  string // "lead" or "peer"
	pause bool   // wait for Enter at each pause point
	in    *bufio.Reader

	cleanups []func()
}

// transcriptWriter returns w for the lead's transcript. A file (the usual
// standard output) is used as it is: the second process inherits it and
// writes to it directly, so the lines of both appear in the order they were
// written. Any other writer gets the second process's lines through a pipe
// that exec copies from another goroutine while the lead writes too, so it
// is put behind a mutex (the two processes' lines may then interleave
// differently from the order they were written).
func transcriptWriter(w io.Writer) io.Writer {
	if _, ok := w.(*os.File); ok {
		return w
	}
	return &lockedWriter{w: w}
}

type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// say prints one line of the transcript, marked with who says it.
func (e *demoEnv) say(format string, args ...any) {
	fmt.Fprintf(e.out, "  [%s %d] %s\n", e.role, os.Getpid(), fmt.Sprintf(format, args...))
}

// name returns a name for an object of the demo, unique to this run, and
// removes the object of that name (and a glibc semaphore file sem.NAME)
// when the demo ends.
func (e *demoEnv) name(what string) string {
	n := fmt.Sprintf("shm-demo-%d-%s", os.Getpid(), what)
	e.onCleanup(func() {
		shm.Unlink(n, shm.Dir(e.dir))
		shm.Unlink(shm.SemaphorePrefix+n, shm.Dir(e.dir))
	})
	return n
}

// onCleanup registers f to run when the demo ends; the last registered runs
// first.
func (e *demoEnv) onCleanup(f func()) { e.cleanups = append(e.cleanups, f) }

func (e *demoEnv) cleanup() {
	for i := len(e.cleanups) - 1; i >= 0; i-- {
		e.cleanups[i]()
	}
	e.cleanups = nil
}

// waitEnter is a pause point: with --pause it waits for Enter, so a
// presenter can run "shm ls" in another terminal and look.
func (e *demoEnv) waitEnter(what string) error {
	if !e.pause {
		return nil
	}
	fmt.Fprintf(e.out, "  (%s; press Enter to go on)\n", what)
	done := make(chan error, 1)
	go func() {
		_, err := e.in.ReadString('\n')
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil && err != io.EOF {
			return err
		}
		return nil
	case <-e.ctx.Done():
		return e.ctx.Err()
	}
}

// demoPeer is a running second process of the demo.
type demoPeer struct {
	step string
	cmd  *exec.Cmd
	// ctx ends when the process exits (or the demo is interrupted): a lead
	// half waiting for the peer's turn waits with it, so a peer that fails
	// ends the wait instead of leaving it hanging.
	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{} // closed when the process has exited
	err    error         // how it exited; valid once done is closed
}

// startPeer starts the peer half of step in a second process of this
// executable, with args and, as its file descriptors 3, 4, ..., files.
// Its transcript lines go to the same output. The process is killed if the
// demo is interrupted.
func (e *demoEnv) startPeer(step string, files []*os.File, args ...string) (*demoPeer, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("demo: finding this program to start a second process: %w", err)
	}
	cmd := exec.CommandContext(e.ctx, exe, append([]string{"demo-peer", "--dir", e.dir, step}, args...)...)
	cmd.Stdout, cmd.Stderr = e.out, e.out
	cmd.ExtraFiles = files
	cmd.WaitDelay = time.Second
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("demo: starting %s: %w", exe, err)
	}
	p := &demoPeer{step: step, cmd: cmd, done: make(chan struct{})}
	p.ctx, p.cancel = context.WithCancel(e.ctx)
	go func() {
		p.err = cmd.Wait()
		p.cancel()
		close(p.done)
	}()
	// A lead half that fails leaves its peer waiting for a turn that will
	// not come: end it before the objects go.
	e.onCleanup(func() {
		select {
		case <-p.done:
		default:
			cmd.Process.Kill()
			<-p.done
		}
	})
	return p, nil
}

// wait waits for the peer to exit and reports how it ended.
func (p *demoPeer) wait(e *demoEnv) error {
	<-p.done
	if p.err != nil {
		if e.ctx.Err() != nil {
			return e.ctx.Err()
		}
		return fmt.Errorf("demo: the second process (%s step): %w", p.step, p.err)
	}
	return nil
}

// failed returns, for an error err that the lead half met while the peer
// ran, the better explanation: the peer's own failure (its message is in
// the transcript already) when the peer has ended or ends within a second
// (an end-of-file on a pipe from it can come just before its exit status),
// err otherwise.
func (p *demoPeer) failed(e *demoEnv, err error) error {
	select {
	case <-p.done:
		if perr := p.wait(e); perr != nil {
			return perr
		}
		if e.ctx.Err() == nil && errors.Is(err, context.Canceled) {
			return fmt.Errorf("demo: the second process (%s step) ended before its turn", p.step)
		}
	case <-time.After(time.Second):
	}
	return err
}

// runPeer runs the peer half of step to its end.
func (e *demoEnv) runPeer(step string, args ...string) error {
	p, err := e.startPeer(step, nil, args...)
	if err != nil {
		return err
	}
	return p.wait(e)
}

func newDemoCmd() *cobra.Command {
	var dir string
	var pause bool
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "A short tour: two processes share memory (start here)",
		Long: `Run a narrated tour of shared memory: this program starts a second copy of
itself, both map the same segment, and each shows what the other wrote; then
the two take turns with semaphores, add to shared counters with and without a
mutex, and echo messages through queues, timed next to a pipe. Every object
the demo creates is removed at the end, also on an error or when SIGINT
(Ctrl-C), SIGTERM or SIGHUP stops it (exit status 130).`,
		Args: exactArgs(),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, stop := stopContext(cmd.Context())
			defer stop()
			e := &demoEnv{ctx: ctx, out: transcriptWriter(cmd.OutOrStdout()), dir: dir, role: "lead", pause: pause, in: bufio.NewReader(cmd.InOrStdin())}
			defer e.cleanup()
			fmt.Fprintf(e.out, "shm demo: shared memory between two processes (objects in %s)\n", dir)
			for i, step := range demoSteps {
				fmt.Fprintf(e.out, "\n%d. %s\n", i+1, step.title)
				err := step.lead(e)
				if ctx.Err() != nil {
					e.cleanup()
					return &exitError{code: interruptedStatus, err: errors.New("demo: interrupted; its objects are removed")}
				}
				if err != nil {
					return err
				}
			}
			e.cleanup()
			fmt.Fprintf(e.out, "\nDone; the demo removed what it created. Try it yourself:\n"+
				"  shm create notes --size 4K\n"+
				"  echo hello | shm write notes\n"+
				"  shm dump notes\n"+
				"  echo First | shm edit notes; echo Second | shm edit notes\n"+
				"  shm ls\n"+
				"  shm rm notes\n"+
				"  shm sem create turn; shm sem post turn; shm sem wait turn --timeout 5s\n"+
				"  shm sem rm turn\n"+
				"  shm queue create q --capacity 64K; seq 1000 | shm queue send q\n"+
				"  shm queue recv q | wc -l; shm rm q\n")
			return nil
		},
	}
	cmd.Flags().BoolVar(&pause, "pause", false, "wait for Enter at each interesting point (to look around with shm ls)")
	addDirFlag(cmd, &dir)
	return cmd
}

// newDemoPeerCmd is the second process of the demo; it is hidden from help.
func newDemoPeerCmd() *cobra.Command {
	var dir string
	cmd := &cobra.Command{
		Use:    "demo-peer STEP [ARGS...]",
		Short:  "The second process of shm demo",
		Hidden: true,
		Args:   minArgs(1, "STEP"),
		RunE: func(cmd *cobra.Command, args []string) error {
			step, ok := findDemoStep(args[0])
			if !ok || step.peer == nil {
				return usageErr(cmd, "no demo step %q", args[0])
			}
			ctx, stop := stopContext(cmd.Context())
			defer stop()
			e := &demoEnv{ctx: ctx, out: cmd.OutOrStdout(), dir: dir, role: "peer"}
			defer e.cleanup()
			return step.peer(e, args[1:])
		},
	}
	addDirFlag(cmd, &dir)
	return cmd
}

// The segment step. The lead writes a line into the first half of a 4 KiB
// segment and starts the peer; the peer reads it and writes an answer into
// the second half; the lead reads the answer through its own mapping. The
// peer's exit is the hand-over: with no lock yet, the two never touch the
// memory at the same time. (The semaphore step shows real turn-taking.)
const (
	demoSegSize = 4096
	demoSlot    = demoSegSize / 2 // the lead writes at 0, the peer at demoSlot
)

func segmentDemoLead(e *demoEnv) error {
	name := e.name("segment")
	seg, err := shm.Create(name, demoSegSize, shm.Dir(e.dir))
	if err != nil {
		return err
	}
	defer seg.Close()
	e.say("created segment %q: %d bytes at %s, mapped into this process", name, seg.Size(), seg.Path())

	msg := fmt.Sprintf("hello from process %d", os.Getpid())
	if err := putString(seg, name, 0, msg); err != nil {
		return err
	}
	e.say("wrote %q at offset 0", msg)
	if err := e.waitEnter("try: shm dump " + name); err != nil {
		return err
	}

	e.say("starting a second process of this program to open the same segment")
	if err := e.runPeer("segment", name); err != nil {
		return err
	}

	answer, err := getString(seg, name, demoSlot)
	if err != nil {
		return err
	}
	e.say("read %q at offset %d: the other process's write, seen in our own mapping", answer, demoSlot)
	if err := e.waitEnter("try: shm ls"); err != nil {
		return err
	}
	if err := seg.Close(); err != nil {
		return err
	}
	if err := shm.Unlink(name, shm.Dir(e.dir)); err != nil {
		return err
	}
	e.say("closed and removed %q", name)
	return nil
}

func segmentDemoPeer(e *demoEnv, args []string) error {
	if len(args) != 1 {
		return fmt.Errorf("demo-peer segment: want the segment's name, got %d arguments", len(args))
	}
	name := args[0]
	seg, err := shm.Open(name, shm.Dir(e.dir))
	if err != nil {
		return err
	}
	defer seg.Close()
	e.say("opened segment %q (%d bytes) by name", name, seg.Size())
	got, err := getString(seg, name, 0)
	if err != nil {
		return err
	}
	e.say("read %q at offset 0: the first process's write", got)
	msg := fmt.Sprintf("hello back from process %d", os.Getpid())
	if err := putString(seg, name, demoSlot, msg); err != nil {
		return err
	}
	e.say("wrote %q at offset %d, and exit", msg, demoSlot)
	return seg.Close()
}

// putString stores s NUL-terminated at off.
func putString(seg *shm.Segment, name string, off int64, s string) error {
	if int64(len(s)) >= demoSlot {
		return &shm.Error{Op: "write", Name: name, Err: fmt.Errorf("%w: %d bytes do not fit a slot", shm.ErrInvalid, len(s))}
	}
	_, err := seg.WriteAt(append([]byte(s), 0), off)
	return err
}

// getString reads the NUL-terminated string at off, within its slot: the
// memory is another process's, so it is taken as untrusted bytes, cut at the
// slot's end, and shown quoted.
func getString(seg *shm.Segment, name string, off int64) (string, error) {
	buf := make([]byte, demoSlot)
	if _, err := seg.ReadAt(buf, off); err != nil && !errors.Is(err, io.EOF) {
		return "", err
	}
	if i := bytes.IndexByte(buf, 0); i >= 0 {
		buf = buf[:i]
	}
	if len(buf) == 0 {
		return "", &shm.Error{Op: "read", Name: name, Err: errors.New("nothing at offset " + strconv.FormatInt(off, 10) + ": the other process did not write")}
	}
	return string(buf), nil
}
