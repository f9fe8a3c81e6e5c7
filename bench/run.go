package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

// DefaultSizes are the message sizes of a run unless Sizes says otherwise.
var DefaultSizes = []int{64, 1 << 10, 64 << 10}

// DefaultDuration is the measuring time of a whole run unless Duration says
// otherwise. Starting a peer process per case adds a little to it.
const DefaultDuration = 20 * time.Second

// PeerEnv is the environment variable that makes a process the peer of a
// run: the driver re-executes its own program with it set (to the case, in
// JSON), and the program's main or TestMain hands over to ServePeer.
const PeerEnv = "SHM_BENCH_PEER"

// An Option changes how Run works.
type Option func(*config)

type config struct {
	transports []Transport
	workloads  []Workload
	sizes      []int
	duration   time.Duration
	cpus       [2]int
	noPin      bool
	dir        string
	exe        string
	args       []string
	progress   func(Progress)
}

// Using restricts a run to the given transports (see Lookup).
func Using(ts ...Transport) Option { return func(c *config) { c.transports = ts } }

// Workloads restricts a run to the given workloads.
func Workloads(ws ...Workload) Option { return func(c *config) { c.workloads = ws } }

// Sizes sets the message sizes, each MinSize to MaxSize bytes.
func Sizes(sizes ...int) Option { return func(c *config) { c.sizes = sizes } }

// Duration sets the measuring time of the whole run, shared evenly by its
// cases (each gets at least a millisecond).
func Duration(d time.Duration) Option { return func(c *config) { c.duration = d } }

// CPUs pins the driver's hot thread to CPU driver and the peer's to CPU
// peer, instead of the two the run would choose.
func CPUs(driver, peer int) Option { return func(c *config) { c.cpus = [2]int{driver, peer} } }

// NoPin leaves the placement of both processes to the scheduler.
func NoPin() Option { return func(c *config) { c.noPin = true } }

// Dir puts the shared-memory objects of the run in another directory than
// /dev/shm.
func Dir(path string) Option { return func(c *config) { c.dir = path } }

// PeerCommand sets how the peer is started: exe with args, and PeerEnv in
// its environment. The default is this very program (os.Executable) without
// arguments, which suits a program whose main calls ServePeer when IsPeer.
func PeerCommand(exe string, args ...string) Option {
	return func(c *config) { c.exe, c.args = exe, args }
}

// OnProgress has fn called before each case of the run.
func OnProgress(fn func(Progress)) Option { return func(c *config) { c.progress = fn } }

// Progress tells which case a run is at.
type Progress struct {
	Case  Case
	Index int // from 0
	Total int
}

// Result holds the figures of one case. Latencies are in nanoseconds and
// present for RTT only; rates are present for Stream only.
type Result struct {
	Transport string   `json:"transport"`
	Workload  Workload `json:"workload"`
	Size      int      `json:"size"`

	Samples uint64 `json:"samples,omitempty"` // timed round trips
	MinNS   uint64 `json:"min_ns,omitempty"`
	P50NS   uint64 `json:"p50_ns,omitempty"`
	P90NS   uint64 `json:"p90_ns,omitempty"`
	P99NS   uint64 `json:"p99_ns,omitempty"`
	P999NS  uint64 `json:"p999_ns,omitempty"`
	MaxNS   uint64 `json:"max_ns,omitempty"`
	MeanNS  uint64 `json:"mean_ns,omitempty"`

	Messages    uint64  `json:"messages,omitempty"` // streamed while measuring
	MsgsPerS    float64 `json:"msgs_per_s,omitempty"`
	BytesPerS   float64 `json:"bytes_per_s,omitempty"`
	DurationNS  int64   `json:"duration_ns"`
	VsRaw       float64 `json:"vs_raw,omitempty"`  // time per message over raw's
	VsUnix      float64 `json:"vs_unix,omitempty"` // time per message over unix's
	DriverCPU   int     `json:"driver_cpu"`
	PeerCPU     int     `json:"peer_cpu"`
	Error       string  `json:"error,omitempty"`
	Description string  `json:"-"`

	// Hist holds every round trip of an RTT case.
	Hist *Histogram `json:"-"`
}

// cost is the time one message costs: the median round trip, or the
// inverse of the streaming rate. Zero means unknown.
func (r *Result) cost() float64 {
	switch {
	case r.Error != "":
		return 0
	case r.Workload == RTT:
		return float64(r.P50NS)
	case r.MsgsPerS > 0:
		return 1 / r.MsgsPerS
	}
	return 0
}

// Report is the outcome of a run.
type Report struct {
	Placement Placement
	Duration  time.Duration // per case
	Results   []Result
}

// Failed returns the results whose case failed.
func (r *Report) Failed() []Result {
	var out []Result
	for _, res := range r.Results {
		if res.Error != "" {
			out = append(out, res)
		}
	}
	return out
}

var caseCounter atomic.Uint64

// Run measures every combination of workload, message size and transport,
// one case after another, each against a fresh peer process, and returns
// the figures. A case that fails is reported in its Result and the run goes
// on; when ctx ends, Run kills the peer, removes what the case created and
// returns what it has with ctx's error.
func Run(ctx context.Context, opts ...Option) (*Report, error) {
	c := config{cpus: [2]int{-1, -1}}
	for _, o := range opts {
		o(&c)
	}
	if c.transports == nil {
		c.transports = Transports()
	}
	if c.workloads == nil {
		c.workloads = []Workload{RTT, Stream}
	}
	if c.sizes == nil {
		c.sizes = DefaultSizes
	}
	if c.duration <= 0 {
		c.duration = DefaultDuration
	}
	for _, s := range c.sizes {
		if s < MinSize || s > MaxSize {
			return nil, fmt.Errorf("bench: message size %d is outside %d to %d bytes", s, MinSize, MaxSize)
		}
	}
	for _, w := range c.workloads {
		if w != RTT && w != Stream {
			return nil, fmt.Errorf("bench: unknown workload %q", w)
		}
	}
	if c.exe == "" {
		exe, err := os.Executable()
		if err != nil {
			return nil, fmt.Errorf("bench: find this program to start the peer: %w", err)
		}
		c.exe = exe
	}
	place := Placement{Driver: -1, Peer: -1, Available: runtime.NumCPU()}
	if !c.noPin {
		var err error
		if place, err = choosePlacement(c.cpus); err != nil {
			return nil, fmt.Errorf("bench: %w", err)
		}
	}

	var cases []Case
	for _, w := range c.workloads {
		for _, s := range c.sizes {
			for _, t := range c.transports {
				cases = append(cases, Case{Transport: t.Name(), Workload: w, Size: s, Dir: c.dir, SharedCPU: place.Available < 2})
			}
		}
	}
	per := max(c.duration/time.Duration(max(len(cases), 1)), time.Millisecond)
	rep := &Report{Placement: place, Duration: per}
	for i, cs := range cases {
		if err := ctx.Err(); err != nil {
			return rep, err
		}
		if c.progress != nil {
			c.progress(Progress{Case: cs, Index: i, Total: len(cases)})
		}
		cs.Name = fmt.Sprintf("shm-bench-%d-%d-%s", os.Getpid(), caseCounter.Add(1), cs.Transport)
		t := transportByName(cs.Transport)
		res := runCase(ctx, &c, t, cs, per, place)
		res.Description = t.Describe()
		if err := ctx.Err(); err != nil {
			return rep, err
		}
		rep.Results = append(rep.Results, res)
	}
	rep.ratios()
	return rep, nil
}

// ratios fills VsRaw and VsUnix from the raw and unix results of the same
// workload and size.
func (r *Report) ratios() {
	type key struct {
		t string
		w Workload
		s int
	}
	base := map[key]float64{}
	for _, res := range r.Results {
		base[key{res.Transport, res.Workload, res.Size}] = res.cost()
	}
	for i := range r.Results {
		res := &r.Results[i]
		c := res.cost()
		if c == 0 {
			continue
		}
		if b := base[key{Raw, res.Workload, res.Size}]; b > 0 {
			res.VsRaw = c / b
		}
		if b := base[key{Unix, res.Workload, res.Size}]; b > 0 {
			res.VsUnix = c / b
		}
	}
}

// peerSpec is what the driver passes to the peer in PeerEnv.
type peerSpec struct {
	Case  Case   `json:"case"`
	Arg   string `json:"arg"`
	Files int    `json:"files"`
	CPU   int    `json:"cpu"`
}

// peerExitTimeout bounds the wait for a peer to exit after its last message.
const peerExitTimeout = 5 * time.Second

func runCase(ctx context.Context, c *config, t Transport, cs Case, d time.Duration, place Placement) (res Result) {
	res = Result{Transport: cs.Transport, Workload: cs.Workload, Size: cs.Size, DriverCPU: place.Driver, PeerCPU: place.Peer}
	if err := runCaseErr(ctx, c, t, cs, d, place, &res); err != nil {
		res.Error = err.Error()
	}
	return res
}

func runCaseErr(parent context.Context, c *config, t Transport, cs Case, d time.Duration, place Placement, res *Result) (err error) {
	// The watchdog bounds a case whose peer hangs without dying.
	ctx, cancel := context.WithTimeout(parent, 2*d+15*time.Second)
	defer cancel()

	conn, pi, err := t.Prepare(ctx, cs)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, conn.Close()) }()

	spec, err := json.Marshal(peerSpec{Case: cs, Arg: pi.Arg, Files: len(pi.Files), CPU: place.Peer})
	if err != nil {
		return err
	}
	cmd := exec.Command(c.exe, c.args...)
	cmd.Env = append(os.Environ(), PeerEnv+"="+string(spec))
	cmd.ExtraFiles = pi.Files
	stderr := &headBuffer{}
	cmd.Stderr = stderr
	// The peer dies with the thread that started it (see startPeer).
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}

	exited, waitErr, err := startPeer(cmd, cancel)
	for _, f := range pi.Files {
		f.Close()
	}
	if err != nil {
		return fmt.Errorf("start peer: %w", err)
	}
	stopKill := context.AfterFunc(ctx, func() { cmd.Process.Kill() })
	defer func() {
		stopKill()
		cmd.Process.Kill()
		<-exited
	}()

	// The hot loop runs on a thread of its own, pinned, which the runtime
	// destroys when the goroutine returns still locked.
	type outcome struct {
		msgs    uint64
		elapsed time.Duration
		err     error
	}
	done := make(chan outcome, 1)
	h := &Histogram{}
	go func() {
		if err := pinThread(place.Driver); err != nil {
			done <- outcome{err: err}
			return
		}
		var o outcome
		if cs.Workload == RTT {
			start := time.Now()
			o.err = driveRTT(ctx, conn, cs.Size, d, h)
			o.elapsed = time.Since(start)
		} else {
			o.msgs, o.elapsed, o.err = driveStream(ctx, conn, cs.Size, d)
		}
		done <- o
	}()
	o := <-done

	// A peer that finished its part exits by itself; its status tells
	// whether it saw every message intact.
	select {
	case <-exited:
	case <-time.After(peerExitTimeout):
		cmd.Process.Kill()
		<-exited
		if o.err == nil {
			o.err = fmt.Errorf("peer did not exit within %v of the last message", peerExitTimeout)
		}
	}
	if parent.Err() != nil {
		return parent.Err()
	}
	if o.err != nil || *waitErr != nil {
		msg := strings.TrimSpace(stderr.String())
		switch {
		case o.err == nil:
			return fmt.Errorf("peer: %w: %s", *waitErr, msg)
		case msg != "":
			return fmt.Errorf("%w (peer: %s)", o.err, msg)
		case *waitErr != nil:
			return fmt.Errorf("%w (peer: %w)", o.err, *waitErr)
		}
		return o.err
	}

	res.DurationNS = int64(o.elapsed)
	if cs.Workload == RTT {
		res.Hist = h
		res.Samples = h.Count()
		res.MinNS = h.Min()
		res.P50NS = h.Quantile(0.50)
		res.P90NS = h.Quantile(0.90)
		res.P99NS = h.Quantile(0.99)
		res.P999NS = h.Quantile(0.999)
		res.MaxNS = h.Max()
		res.MeanNS = uint64(h.Mean())
		if res.Samples == 0 {
			return errors.New("no round trip was timed")
		}
	} else {
		res.Messages = o.msgs
		secs := o.elapsed.Seconds()
		if o.msgs == 0 || secs <= 0 {
			return errors.New("no message was streamed")
		}
		res.MsgsPerS = float64(o.msgs) / secs
		res.BytesPerS = res.MsgsPerS * float64(cs.Size)
	}
	return nil
}

// startPeer starts cmd from a goroutine locked to its thread until the peer
// has exited and been reaped: Pdeathsig fires when the thread that forked
// the child ends, and a Go thread ends when a goroutine exits while locked
// to it, as the pinned hot loops do. Locking keeps any such goroutine off
// this thread. When the peer exits, cancel is called, which stops a driver
// spinning for a message that will never come.
func startPeer(cmd *exec.Cmd, cancel func()) (exited <-chan struct{}, waitErr *error, err error) {
	started := make(chan error, 1)
	ch := make(chan struct{})
	werr := new(error)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		if err := cmd.Start(); err != nil {
			started <- err
			close(ch)
			return
		}
		started <- nil
		*werr = cmd.Wait()
		close(ch)
		cancel()
	}()
	return ch, werr, <-started
}

// headBuffer keeps the first 4 KiB written to it: the peer's error message.
// exec.Cmd.Wait returns only after the last Write.
type headBuffer struct{ b []byte }

func (h *headBuffer) Write(p []byte) (int, error) {
	if n := 4096 - len(h.b); n > 0 {
		h.b = append(h.b, p[:min(n, len(p))]...)
	}
	return len(p), nil
}

func (h *headBuffer) String() string { return string(h.b) }
