package bench

import (
	"cmp"
	"context"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/shmkit/shm/queue"
)

// DefaultSizes are the message sizes of a run unless Sizes says otherwise.
var DefaultSizes = []int{64, 1 << 10, 64 << 10}

// DefaultCapacities are the ring capacities, in bytes per direction, that a
// run tries for each message size unless Capacities says otherwise (see
// Capacities).
var DefaultCapacities = []int64{256 << 10, 1 << 20, 4 << 20, 16 << 20}

// MinCapacity and MaxCapacity bound the capacities a run accepts.
const (
	MinCapacity = 4 << 10
	MaxCapacity = 1 << 30
)

// sweepShare is the part of a run's Duration that the capacity sweep takes
// when there is one.
const sweepShare = 4 // a quarter

// DefaultDuration is the measuring time of a whole run unless Duration says
// otherwise. Starting a peer process per case adds a little to it.
const DefaultDuration = 20 * time.Second

// peerEnv is the environment variable that makes a process the peer of a
// run: the driver re-executes its own program with it set (to the case, in
// JSON), and the program's main or TestMain hands over to ServePeer.
const peerEnv = "SHM_BENCH_PEER"

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
	capacities []int64
}

// Using restricts a run to the given transports (see Lookup).
func Using(ts ...Transport) Option { return func(c *config) { c.transports = ts } }

// DefaultWorkloads are the workloads of a run unless Workloads says
// otherwise: Wake spends most of its time pausing (WakeGap per round
// trip), so it runs only when asked for.
var DefaultWorkloads = []Workload{RTT, Stream, Batch}

// Workloads restricts a run to the given workloads (see DefaultWorkloads).
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

// PeerCommand sets how the peer is started: exe with args, and peerEnv in
// its environment. The default is this very program (os.Executable) without
// arguments, which suits a program whose main calls ServePeer when IsPeer.
func PeerCommand(exe string, args ...string) Option {
	return func(c *config) { c.exe, c.args = exe, args }
}

// Capacities runs every transport that has a ring (raw, the queue's, sem
// and c-ring) once per capacity, each direction's ring that many bytes
// (MinCapacity to MaxCapacity; a transport that needs more for the
// message size, or a power of two, takes the next size up, and its rows
// say so). Every such row gives its capacity, and the C limit of a
// stream's size is the best of its c-ring rows.
//
// Without Capacities, a run first sweeps DefaultCapacities: for each
// message size it streams through raw, and through c-ring in both its
// forms, at each capacity, in a quarter of the run's Duration, and then
// runs every case at the capacity that was fastest for raw (c-ring's
// streams at their own fastest), comparing capacities within one
// placement of the CPUs (see sweptCapacity). Report.Sweep holds that
// sweep's figures.
// A run with round trips only makes no sweep and uses
// queue.DefaultCapacity.
func Capacities(cs ...int64) Option { return func(c *config) { c.capacities = cs } }

// OnProgress has fn called before each case of the run.
func OnProgress(fn func(Progress)) Option { return func(c *config) { c.progress = fn } }

// Progress tells which case a run is at (the capacity sweep's first, when
// there is one).
type Progress struct {
	Case  Case
	Index int // from 0
	Total int
}

// Result holds the figures of one case. Latencies are in nanoseconds and
// present for RTT and Wake; rates are present for Stream and Batch.
type Result struct {
	Transport string   `json:"transport"`
	Workload  Workload `json:"workload"`
	Size      int      `json:"size"`
	// Capacity is the size of each direction's ring in bytes, for the
	// transports that have one.
	Capacity int64 `json:"capacity,omitempty"`
	// Sweep marks a row of the capacity sweep (Report.Sweep).
	Sweep bool `json:"sweep,omitempty"`
	// Copy says, for a C program's case on amd64, which of glibc's copies
	// its figures are from: each such case whose messages are larger than
	// glibc's REP MOVSB threshold (2 KiB or more; up to it glibc's two
	// copies are one loop) runs the program twice, half its time each,
	// copying messages with glibc's memcpy as glibc chooses ("memcpy": REP
	// MOVSB above that threshold) and with glibc's vector loop at every
	// size ("vector"), and keeps the faster run. With Rounds, the copies that won the rounds, each once in the order they
	// first won, joined with "+" ("vector+memcpy"). Empty for the other
	// transports and where a C case runs once.
	Copy string `json:"copy,omitempty"`

	Samples uint64 `json:"samples,omitempty"` // timed round trips
	MinNS   uint64 `json:"min_ns,omitempty"`
	P50NS   uint64 `json:"p50_ns,omitempty"`
	P90NS   uint64 `json:"p90_ns,omitempty"`
	P99NS   uint64 `json:"p99_ns,omitempty"`
	P999NS  uint64 `json:"p999_ns,omitempty"`
	MaxNS   uint64 `json:"max_ns,omitempty"`
	MeanNS  uint64 `json:"mean_ns,omitempty"`

	Messages   uint64  `json:"messages,omitempty"` // streamed while measuring
	MsgsPerS   float64 `json:"msgs_per_s,omitempty"`
	BytesPerS  float64 `json:"bytes_per_s,omitempty"`
	DurationNS int64   `json:"duration_ns"`
	VsC        float64 `json:"vs_c,omitempty"`        // time per message over the C limit's (see Report.ratios)
	VsRaw      float64 `json:"vs_raw,omitempty"`      // time per message over raw's
	VsUnix     float64 `json:"vs_unix,omitempty"`     // time per message over unix's
	VsPipe     float64 `json:"vs_pipe,omitempty"`     // time per message over pipe's
	VsSem      float64 `json:"vs_sem,omitempty"`      // time per message over sem's
	VsRawLow   float64 `json:"vs_raw_low,omitempty"`  // with Rounds: the lowest round's ratio to raw
	VsRawHigh  float64 `json:"vs_raw_high,omitempty"` // and the highest
	VsCLow     float64 `json:"vs_c_low,omitempty"`    // with Rounds: the lowest round's ratio to the C limit
	VsCHigh    float64 `json:"vs_c_high,omitempty"`   // and the highest
	// VsCTail is, for round trips, the p99.9 over the least p99.9 of the
	// C limit's cases at the same size (see Report.ratios); with Rounds
	// the median of the rounds' ratios, each from that round's round
	// trips alone.
	VsCTail float64 `json:"vs_c_p999,omitempty"`
	// VsQueue is the time per message over the queue's (default waiting),
	// the yardstick of the patterns built on it (topics, competing
	// consumers); with Rounds the median of the rounds' ratios, with their
	// lowest and highest.
	VsQueue     float64 `json:"vs_queue,omitempty"`
	VsQueueLow  float64 `json:"vs_queue_low,omitempty"`
	VsQueueHigh float64 `json:"vs_queue_high,omitempty"`
	// ByPlacement holds the ratios within each placement of the run's
	// CPUs, the faster first, when the run saw two (see link.go).
	ByPlacement []PlacementRatios `json:"by_placement,omitempty"`
	DriverCPU   int               `json:"driver_cpu"` // the CPU it was pinned to, or -1
	PeerCPU     int               `json:"peer_cpu"`   // the CPU it was pinned to, or -1
	// LinkLowNS and LinkHighNS are the lowest and highest round trip of a
	// cache line between the two CPUs that the probes before and after
	// the case's rounds measured (see link.go); 0 when not probed.
	LinkLowNS  uint64 `json:"link_low_ns,omitempty"`
	LinkHighNS uint64 `json:"link_high_ns,omitempty"`
	// LinkBeforeNS and LinkAfterNS are the probes around one round of the
	// case.
	LinkBeforeNS uint64 `json:"-"`
	LinkAfterNS  uint64 `json:"-"`
	Error        string `json:"error,omitempty"`
	// Skipped says why a case did not run: the C rows without gcc.
	Skipped     string `json:"skipped,omitempty"`
	Description string `json:"-"`

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
	case r.Error != "" || r.Skipped != "":
		return 0
	case r.Workload == RTT || r.Workload == Wake:
		return float64(r.P50NS)
	case r.MsgsPerS > 0:
		return 1 / r.MsgsPerS
	}
	return 0
}

// tailCost is the p99.9 of a round-trip case, or zero (unknown) for other
// workloads and for a case that timed too few round trips to have one
// above it.
func (r *Result) tailCost() float64 {
	if r.Workload != RTT || r.cost() == 0 || !hasQuantile(0.999, r.Samples) {
		return 0
	}
	return float64(r.P999NS)
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
	// Sweep holds the capacity sweep that chose the capacities of a run
	// without Capacities (see there), and SweepDuration the time of each
	// of its cases.
	Sweep         []Result
	SweepDuration time.Duration
	// Placements are the placements of the two CPUs that the probes of
	// the link saw, the faster first: one, or two when the host moved
	// the CPUs during the run (see link.go); none when not probed.
	Placements []PlacementRange
	// Interrupted says that ctx ended the run: Results then hold the
	// Rounds rounds that were complete, or, with none complete (Rounds
	// 0), the cases of the first round that finished; a run stopped in
	// its sweep has none.
	Interrupted bool
	// placed says that the ratios compare only cases of one placement.
	placed bool
}

// Failed returns the results whose case failed, the sweep's included.
func (r *Report) Failed() []Result {
	var out []Result
	for _, rs := range [][]Result{r.Results, r.Sweep} {
		for _, res := range rs {
			if res.Error != "" {
				out = append(out, res)
			}
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
		c.workloads = DefaultWorkloads
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
	for _, cp := range c.capacities {
		if cp < MinCapacity || cp > MaxCapacity {
			return nil, fmt.Errorf("bench: capacity %d is outside %d to %d bytes", cp, MinCapacity, MaxCapacity)
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
	progs := buildC(ctx, c.transports)
	defer progs.remove()
	if err := ctx.Err(); err != nil {
		return &Report{Placement: place, Rounds: c.rounds}, err
	}
	r := &runner{c: &c, place: place, progs: progs, shared: place.Available < 2}

	sweep := r.sweepCases()
	main := r.cases(nil)
	total := len(sweep) + len(main)*c.rounds
	budget := c.duration
	if len(sweep) > 0 {
		budget -= c.duration / sweepShare
	}
	per := max(budget/time.Duration(max(len(main)*c.rounds, 1)), time.Millisecond)
	rep := &Report{Placement: place, Duration: per, Rounds: c.rounds}
	link := probeLink(place)
	if len(sweep) > 0 {
		rep.SweepDuration = max(c.duration/sweepShare/time.Duration(len(sweep)), time.Millisecond)
		for i, cs := range sweep {
			if err := ctx.Err(); err != nil {
				rep.Interrupted = true
				return rep, err
			}
			r.progress(cs, i, total)
			res := r.run(ctx, cs, rep.SweepDuration)
			if err := ctx.Err(); err != nil {
				rep.Interrupted = true
				return rep, err
			}
			res.Sweep = true
			res.LinkBeforeNS, link = link, probeLink(place)
			res.LinkAfterNS = link
			rep.Sweep = append(rep.Sweep, res)
		}
		main = r.cases(rep.Sweep)
	}
	order := runOrder(main)
	var done [][]Result // complete rounds, each in report order
	for round := range c.rounds {
		results := make([]Result, len(main))
		for k, i := range order {
			if err := ctx.Err(); err != nil {
				rep.stopped(done, ran(results, order[:k]))
				return rep, err
			}
			r.progress(main[i], len(sweep)+round*len(main)+k, total)
			res := r.run(ctx, main[i], per)
			if err := ctx.Err(); err != nil {
				rep.stopped(done, ran(results, order[:k]))
				return rep, err
			}
			res.LinkBeforeNS, link = link, probeLink(place)
			res.LinkAfterNS = link
			results[i] = res
		}
		done = append(done, results)
	}
	rep.fold(done, nil)
	return rep, nil
}

// stopped folds what an interrupted run measured: its complete rounds, or
// the cases of its first round that finished.
func (r *Report) stopped(done [][]Result, partial []Result) {
	r.fold(done, partial)
	r.Rounds, r.Interrupted = len(done), true
}

// runOrder returns the order in which a round runs cases, which are in
// report order (workload, size, transport, capacity), as indices into
// cases: a workload and size at a time, and within it the transports
// without a ring first, then capacity by capacity (the capacity a case
// has, which a transport may have rounded up). The cases of one capacity
// (a queue and c-ring at 4 MiB, say) then run one after another, rather
// than a size's whole list apart, on a machine whose speed can change
// within seconds.
func runOrder(cases []Case) []int {
	block := make([]int, len(cases)) // which workload and size
	for i := 1; i < len(cases); i++ {
		block[i] = block[i-1]
		if cases[i].Workload != cases[i-1].Workload || cases[i].Size != cases[i-1].Size {
			block[i]++
		}
	}
	order := make([]int, len(cases))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int {
		return cmp.Or(cmp.Compare(block[a], block[b]), cmp.Compare(cases[a].Capacity, cases[b].Capacity))
	})
	return order
}

// ran returns the results of the cases at indices done, in report order.
func ran(results []Result, done []int) []Result {
	idx := slices.Sorted(slices.Values(done))
	out := make([]Result, len(idx))
	for k, i := range idx {
		out[k] = results[i]
	}
	return out
}

// runner runs the cases of one Run.
type runner struct {
	c      *config
	place  Placement
	progs  *cPrograms
	shared bool // the two sides may share a CPU
}

func (r *runner) progress(cs Case, i, total int) {
	if r.c.progress != nil {
		r.c.progress(Progress{Case: cs, Index: i, Total: total})
	}
}

// run measures one case for d: through its C program, or against a fresh
// peer process.
func (r *runner) run(ctx context.Context, cs Case, d time.Duration) Result {
	cs.Name = fmt.Sprintf("shm-bench-%d-%d-%s", os.Getpid(), caseCounter.Add(1), cs.Transport)
	t := transportByName(cs.Transport)
	var res Result
	if cr, ok := t.(cRunner); ok {
		if r.progs.err != nil {
			res = Result{Transport: cs.Transport, Workload: cs.Workload, Size: cs.Size, Capacity: cs.Capacity,
				DriverCPU: r.place.Driver, PeerCPU: r.place.Peer, Skipped: r.progs.err.Error()}
		} else {
			res = runC(ctx, cr, r.progs, cs, d, r.place)
		}
	} else {
		res = runCase(ctx, r.c, t, cs, d, r.place)
		res.Capacity = cs.Capacity
	}
	res.Description = t.Describe()
	return res
}

func (r *runner) newCase(t Transport, w Workload, size int, capacity int64) Case {
	cs := Case{Transport: t.Name(), Workload: w, Size: size, Dir: r.c.dir, SharedCPU: r.shared}
	if st, ok := t.(sizedTransport); ok {
		cs.Capacity = st.capacityFor(size, capacity)
	}
	return cs
}

// cases lists the run's cases in report order: workload, size, transport,
// capacity. A transport with a ring gets a case per capacity of
// Capacities or, after a sweep, the one the sweep chose: raw's fastest
// stream for the size, or c-ring's own for c-ring's streams
// (queue.DefaultCapacity where the sweep has no figure; see
// sweptCapacity). c-ring's round trips take raw's, as the Go rows they are
// read beside do.
func (r *runner) cases(sweep []Result) []Case {
	boundary, _ := placements([][]Result{sweep})
	fastest := func(transport string, w Workload, size int) int64 {
		return sweptCapacity(sweep, boundary, transport, w, size)
	}
	var out []Case
	for _, w := range r.c.workloads {
		for _, s := range r.c.sizes {
			for _, t := range r.c.transports {
				if !supports(t, w) {
					continue
				}
				if _, ok := t.(sizedTransport); !ok {
					out = append(out, r.newCase(t, w, s, 0))
					continue
				}
				caps := r.c.capacities
				if caps == nil {
					_, isC := t.(cRunner)
					switch {
					case isC && w != RTT:
						caps = []int64{fastest(CRing, w, s)}
					default:
						caps = []int64{fastest(Raw, Stream, s)}
					}
				}
				for _, cp := range caps {
					out = append(out, r.newCase(t, w, s, cp))
				}
			}
		}
	}
	return out
}

// sweptCapacity returns the capacity at which a transport's workload and
// size streamed fastest in the capacity sweep, or queue.DefaultCapacity
// when the sweep has no figure for it. Its cases are compared within one
// placement of the CPUs (see link.go), the one most of them ran in (the
// faster placement on a tie): a capacity whose case ran in the other, or
// while the CPUs moved, is not chosen.
func sweptCapacity(sweep []Result, boundary uint64, transport string, w Workload, size int) int64 {
	in := sweepPlacement(sweep, boundary, transport, w, size)
	best, at := 0.0, int64(queue.DefaultCapacity)
	for _, res := range sweep {
		if res.Transport == transport && res.Workload == w && res.Size == size && res.MsgsPerS > best && placementOf(res, boundary) == in {
			best, at = res.MsgsPerS, res.Capacity
		}
	}
	return at
}

// sweepPlacement returns the placement in which most of the sweep's cases
// of a transport's workload and size ran, the faster one on a tie.
func sweepPlacement(sweep []Result, boundary uint64, transport string, w Workload, size int) int {
	var n [2]int
	for _, res := range sweep {
		if res.Transport == transport && res.Workload == w && res.Size == size {
			if p := placementOf(res, boundary); p >= 0 {
				n[p]++
			}
		}
	}
	if n[1] > n[0] {
		return 1
	}
	return 0
}

// fold sets the report's results from the complete rounds, each case's
// rounds merged and its ratios the median of the rounds' ratios; with no
// complete round, from the cases of the first round so far.
//
// With several rounds, ratios are taken between cases that ran in one
// placement of the two CPUs (see link.go), and with two placements each
// row also gets its ratios within each. A single round compares every
// case with every other, as a round that lacked a pair would leave a row
// without its ratio.
func (r *Report) fold(rounds [][]Result, partial []Result) {
	first := len(rounds) == 0 // only the first round's cases so far
	if first {
		rounds = [][]Result{partial}
	}
	boundary, ranges := placements(rounds)
	r.Placements = ranges
	if len(rounds) == 1 {
		boundary = 0
	}
	r.placed = boundary != 0
	where := func(res Result) int { return placementOf(res, boundary) }
	for _, round := range rounds {
		(&Report{Results: round}).ratios(where)
	}
	if first {
		r.Results = partial
		for i := range partial {
			partial[i].LinkLowNS, partial[i].LinkHighNS = linkRange(partial[i : i+1])
		}
		return
	}
	r.Results = make([]Result, len(rounds[0]))
	for i := range r.Results {
		column := make([]Result, len(rounds))
		for k, round := range rounds {
			column[k] = round[i]
		}
		r.Results[i] = mergeRounds(column)
		r.Results[i].LinkLowNS, r.Results[i].LinkHighNS = linkRange(column)
	}
	roundRatios(r.Results, rounds)
	if !r.placed {
		return
	}
	for p, rg := range ranges {
		only := func(res Result) int {
			if where(res) == p {
				return 0
			}
			return -1
		}
		within := make([][]Result, len(rounds))
		for k, round := range rounds {
			within[k] = slices.Clone(round)
			(&Report{Results: within[k]}).ratios(only)
		}
		merged := slices.Clone(r.Results)
		roundRatios(merged, within)
		for i := range r.Results {
			m := &merged[i]
			pr := PlacementRatios{PlacementRange: rg, VsC: m.VsC, VsCLow: m.VsCLow, VsCHigh: m.VsCHigh, VsCTail: m.VsCTail, VsRaw: m.VsRaw}
			for _, round := range within {
				if where(round[i]) == p {
					pr.Rounds++
				}
				if round[i].VsC > 0 || round[i].VsRaw > 0 {
					pr.Compared++
				}
			}
			r.Results[i].ByPlacement = append(r.Results[i].ByPlacement, pr)
		}
	}
}

// ratios fills VsC, VsRaw, VsQueue, VsUnix, VsPipe and VsSem: the row's
// time per message over that of the same workload and size through the C
// limit (c-ring for streams; the faster of c-pingpong and c-ring for round
// trips), raw, queue, unix, pipe and sem, each taken at its best where it
// ran at several capacities. For round trips it also fills VsCTail, the
// row's p99.9 over the least p99.9 of the C limit's cases. where says in
// which placement of the CPUs each case ran (see placementOf): a row where
// says -1 for gets no ratios, and a yardstick counts for a row only when
// all of its cases ran in the row's placement (its best capacity in another
// placement could have been slower in this one, or faster).
func (r *Report) ratios(where func(Result) int) {
	type key struct {
		t string
		w Workload
		s int
	}
	type yardstick struct {
		cost  float64
		tail  float64 // the least p99.9 of its round-trip cases
		place int     // where its cases ran,
		split bool    // unless they ran in different placements
	}
	best := map[key]*yardstick{}
	for _, res := range r.Results {
		c, t := res.cost(), res.tailCost()
		if c == 0 {
			continue
		}
		k, place := key{res.Transport, res.Workload, res.Size}, where(res)
		if y := best[k]; y != nil {
			y.cost, y.split = min(y.cost, c), y.split || place != y.place
			if t > 0 && (y.tail == 0 || t < y.tail) {
				y.tail = t
			}
		} else {
			best[k] = &yardstick{cost: c, tail: t, place: place, split: place < 0}
		}
	}
	limits := map[Workload][]string{RTT: {CPingPong, CRing}, Stream: {CRing}, Batch: {CRing}}
	for i := range r.Results {
		res := &r.Results[i]
		res.VsC, res.VsRaw, res.VsUnix, res.VsPipe, res.VsSem, res.VsQueue, res.VsCTail = 0, 0, 0, 0, 0, 0, 0
		c, place := res.cost(), where(*res)
		if c == 0 || place < 0 {
			continue
		}
		// vs divides c by the least of figure over the cases of the
		// transports ts, or returns 0 when none is known or a yardstick's
		// cases ran outside the row's placement.
		vs := func(c float64, figure func(*yardstick) float64, ts ...string) float64 {
			least := 0.0
			for _, t := range ts {
				y := best[key{t, res.Workload, res.Size}]
				switch {
				case y == nil:
					continue
				case y.split || y.place != place:
					return 0
				case figure(y) == 0:
					continue
				case least == 0 || figure(y) < least:
					least = figure(y)
				}
			}
			if c > 0 && least > 0 {
				return c / least
			}
			return 0
		}
		cost := func(y *yardstick) float64 { return y.cost }
		res.VsC, res.VsRaw = vs(c, cost, limits[res.Workload]...), vs(c, cost, Raw)
		res.VsUnix, res.VsPipe, res.VsSem = vs(c, cost, Unix), vs(c, cost, Pipe), vs(c, cost, Sem)
		res.VsQueue = vs(c, cost, Queue)
		res.VsCTail = vs(res.tailCost(), func(y *yardstick) float64 { return y.tail }, limits[res.Workload]...)
	}
}
