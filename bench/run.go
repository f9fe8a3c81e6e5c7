package bench

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"strings"
	"sync/atomic"
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
	rounds     int
}

// Using restricts a run to the given transports (see Lookup).
func Using(ts ...Transport) Option { return func(c *config) { c.transports = ts } }

// Workloads restricts a run to the given workloads. The default is RTT
// and Stream: Wake spends most of its time pausing (WakeGap per round
// trip), so it runs only when asked for.
func Workloads(ws ...Workload) Option { return func(c *config) { c.workloads = ws } }

// Sizes sets the message sizes, each MinSize to MaxSize bytes.
func Sizes(sizes ...int) Option { return func(c *config) { c.sizes = sizes } }

// Duration sets the measuring time of the whole run, shared evenly by its
// cases and their rounds (each gets at least a millisecond).
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
// present for RTT and Wake; rates are present for Stream only.
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
	VsRaw       float64 `json:"vs_raw,omitempty"`      // time per message over raw's
	VsUnix      float64 `json:"vs_unix,omitempty"`     // time per message over unix's
	VsSem       float64 `json:"vs_sem,omitempty"`      // time per message over sem's
	VsRawLow    float64 `json:"vs_raw_low,omitempty"`  // with Rounds: the lowest round's ratio to raw
	VsRawHigh   float64 `json:"vs_raw_high,omitempty"` // and the highest
	DriverCPU   int     `json:"driver_cpu"`            // the CPU it was pinned to, or -1
	PeerCPU     int     `json:"peer_cpu"`              // the CPU it was pinned to, or -1
	Error       string  `json:"error,omitempty"`
	Description string  `json:"-"`

	// PeerCPUNS is the CPU time, user and system in all its threads, that
	// the peer process used in the measured part of the case: after its
	// start-up, attach and the warm-up, until the last timed round trip or
	// the acknowledgement of the stream. PeerCPUPercent is that over the
	// measured part's wall time, in percent of one CPU.
	PeerCPUNS      int64   `json:"peer_cpu_ns"`
	PeerCPUPercent float64 `json:"peer_cpu_percent"`

	// Hist holds every round trip of an RTT or Wake case.
	Hist *Histogram `json:"-"`
}

// cost is the time one message costs: the median round trip, or the
// inverse of the streaming rate. Zero means unknown.
func (r *Result) cost() float64 {
	switch {
	case r.Error != "":
		return 0
	case r.Workload == RTT || r.Workload == Wake:
		return float64(r.P50NS)
	case r.MsgsPerS > 0:
		return 1 / r.MsgsPerS
	}
	return 0
}

// setLatencies sets the round-trip figures from h, which holds every timed
// round trip of the case.
func (r *Result) setLatencies(h *Histogram) {
	r.Hist = h
	r.Samples, r.MinNS, r.MaxNS, r.MeanNS = h.Count(), h.Min(), h.Max(), uint64(h.Mean())
	r.P50NS, r.P90NS = h.Quantile(0.50), h.Quantile(0.90)
	r.P99NS, r.P999NS = h.Quantile(0.99), h.Quantile(0.999)
}

// setRate sets the streaming figures from msgs messages sent in d (which
// is not zero).
func (r *Result) setRate(msgs uint64, d time.Duration) {
	r.Messages = msgs
	r.MsgsPerS = float64(msgs) / d.Seconds()
	r.BytesPerS = r.MsgsPerS * float64(r.Size)
}

// Report is the outcome of a run.
type Report struct {
	Placement Placement
	Duration  time.Duration // per case and round
	Rounds    int           // passes over the cases (see Rounds)
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
// the figures (with Rounds, several passes over the cases, merged). A case
// that fails is reported in its Result and the run goes on; when ctx ends,
// Run kills the peer, removes what the case created and returns what it
// has with ctx's error: the rounds it completed, or the cases of the first
// round that it got through.
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
	switch {
	case c.rounds == 0:
		c.rounds = 1
	case c.rounds < 1 || c.rounds > MaxRounds:
		return nil, fmt.Errorf("bench: %d rounds is outside 1 to %d", c.rounds, MaxRounds)
	}
	for _, s := range c.sizes {
		if s < MinSize || s > MaxSize {
			return nil, fmt.Errorf("bench: message size %d is outside %d to %d bytes", s, MinSize, MaxSize)
		}
	}
	for _, w := range c.workloads {
		if !w.valid() {
			return nil, fmt.Errorf("bench: unknown workload %q (known: %s)", w, strings.Join(WorkloadNames(), ", "))
		}
	}
	if err := supported(); err != nil {
		return nil, err
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
	per := max(c.duration/time.Duration(max(len(cases)*c.rounds, 1)), time.Millisecond)
	rep := &Report{Placement: place, Duration: per, Rounds: c.rounds}
	var done [][]Result // complete rounds
	for round := range c.rounds {
		results := make([]Result, 0, len(cases))
		for i, cs := range cases {
			if err := ctx.Err(); err != nil {
				rep.fold(done, results)
				return rep, err
			}
			if c.progress != nil {
				c.progress(Progress{Case: cs, Index: round*len(cases) + i, Total: len(cases) * c.rounds})
			}
			cs.Name = fmt.Sprintf("shm-bench-%d-%d-%s", os.Getpid(), caseCounter.Add(1), cs.Transport)
			t := transportByName(cs.Transport)
			res := runCase(ctx, &c, t, cs, per, place)
			res.Description = t.Describe()
			if err := ctx.Err(); err != nil {
				rep.fold(done, results)
				return rep, err
			}
			results = append(results, res)
		}
		done = append(done, results)
	}
	rep.fold(done, nil)
	return rep, nil
}

// fold sets the report's results from the complete rounds, each case's
// rounds merged and its ratios the median of the rounds' ratios; with no
// complete round, from the cases of the first round so far.
func (r *Report) fold(rounds [][]Result, partial []Result) {
	if len(rounds) == 0 {
		r.Results = partial
		r.ratios()
		return
	}
	for _, round := range rounds {
		(&Report{Results: round}).ratios()
	}
	r.Results = make([]Result, len(rounds[0]))
	for i := range r.Results {
		column := make([]Result, len(rounds))
		for k, round := range rounds {
			column[k] = round[i]
		}
		r.Results[i] = mergeRounds(column)
	}
	roundRatios(r.Results, rounds)
}

// ratios fills VsRaw, VsUnix and VsSem from the raw, unix and sem results
// of the same workload and size.
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
		if b := base[key{Sem, res.Workload, res.Size}]; b > 0 {
			res.VsSem = c / b
		}
	}
}
