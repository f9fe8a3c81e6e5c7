package bench

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	_ "embed"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// The C rows are the limits the Go transports are held to: programs that
// do the same work (copy every message in and out, busy-poll, two pinned
// processes) with no Go runtime and no queue code. A run builds them with
// gcc into a temporary directory and runs each case as such a program,
// both processes its own (it forks its peer), on amd64 twice from glibc's
// REP MOVSB threshold on, once with each of glibc's copies (cCopies,
// copiesFor); without gcc their rows say so instead of failing the run.

//go:embed testdata/pingpong.c
var pingpongSource string

//go:embed testdata/ring.c
var ringSource string

// cSource is a C program: its file name in testdata, without ".c", and
// its text.
type cSource struct{ file, text string }

var (
	pingpongC = cSource{"pingpong", pingpongSource}
	ringC     = cSource{"ring", ringSource}
)

// cProgram is a transport whose every case is one run of a C program,
// which measures the case by itself.
type cProgram struct {
	name, describe string
	sources        []cSource // the programs its cases run
	workloads      []Workload
}

func (p cProgram) Name() string     { return p.name }
func (p cProgram) Describe() string { return p.describe }

func (p cProgram) supports(w Workload) bool {
	for _, x := range p.workloads {
		if x == w {
			return true
		}
	}
	return false
}

var errWholeProgram = errors.New("a C program measures the whole case itself; it has no Conn")

func (p cProgram) Prepare(ctx context.Context, c Case) (Conn, PeerInfo, error) {
	return nil, PeerInfo{}, errWholeProgram
}

func (p cProgram) Attach(ctx context.Context, c Case, pi PeerInfo) (Conn, error) {
	return nil, errWholeProgram
}

// cPingPongTransport is testdata/pingpong.c in its -m form, one slot per
// direction.
type cPingPongTransport struct{ cProgram }

var cPingPong = cPingPongTransport{cProgram{
	name: CPingPong, sources: []cSource{pingpongC}, workloads: []Workload{RTT},
	describe: "C, no Go: one slot per direction, message copied in and out, release store, busy-poll (testdata/pingpong.c)",
}}

func (t cPingPongTransport) command(cs Case, warm, measure time.Duration, place Placement) (string, []string) {
	return pingpongC.file, pingpongArgs(cs, warm, measure, place)
}

func pingpongArgs(cs Case, warm, measure time.Duration, place Placement) []string {
	return []string{"-m", strconv.Itoa(cs.Size), ns(warm), ns(measure), strconv.Itoa(place.Driver), strconv.Itoa(place.Peer)}
}

// cRingTransport is testdata/ring.c for streams, one message at a time or
// in runs of BatchLen, and testdata/pingpong.c with a ring per direction
// for round trips.
type cRingTransport struct{ cProgram }

var cRing = cRingTransport{cProgram{
	name: CRing, sources: []cSource{ringC, pingpongC}, workloads: []Workload{RTT, Stream, Batch},
	describe: "C, no Go: SPSC ring of line-aligned slots, copied in and out, release/acquire, busy-poll; batch: one cursor store per 64 (testdata/ring.c); round trips: a ring each way (testdata/pingpong.c)",
}}

func (t cRingTransport) command(cs Case, warm, measure time.Duration, place Placement) (string, []string) {
	capacity := strconv.FormatInt(cs.Capacity, 10)
	if cs.Workload == RTT {
		return pingpongC.file, append(pingpongArgs(cs, warm, measure, place), capacity)
	}
	mode := "stream"
	if cs.Workload == Batch {
		mode = "batch"
	}
	return ringC.file, []string{mode, strconv.Itoa(cs.Size), capacity, ns(warm), ns(measure),
		strconv.Itoa(place.Driver), strconv.Itoa(place.Peer)}
}

// capacityFor mirrors ring.c: as many slots as fit, at least two.
func (t cRingTransport) capacityFor(size int, capacity int64) int64 {
	stride := int64(size+7)/8*8 + 8 // the stream form's; the batch form's are no larger
	stride = (stride + 63) / 64 * 64
	return max(capacity, 2*stride)
}

func ns(d time.Duration) string { return strconv.FormatInt(int64(d), 10) }

// cRunner is a transport of C programs, which a run starts for its cases.
type cRunner interface {
	Transport
	program() cProgram
	// command returns the program (its file) and the arguments that
	// measure case cs.
	command(cs Case, warm, measure time.Duration, place Placement) (file string, args []string)
}

func (p cProgram) program() cProgram { return p }

// cPrograms holds the C programs a run built, or why it could not.
type cPrograms struct {
	dir    string
	bins   map[string]string // by cSource.file
	copies []cCopy           // the ways each case runs them (cCopies)
	// Cases whose messages are larger than over and at most upTo run
	// every copy: glibc copies a block with REP MOVSB when it is larger
	// than its threshold, over in the environment as it is and upTo in
	// the vector loop's, which raises it unless the user's own setting
	// wins (glibcRepMovsbThreshold; repMovsbFloor and no bound when 0).
	over, upTo int
	turns      map[caseKey]int // runs of each case, whose order alternates
	err        error
}

// caseKey is a case as its rounds share it.
type caseKey struct {
	transport string
	workload  Workload
	size      int
	capacity  int64
}

// buildC compiles the programs of the C transports among ts with gcc into
// a new temporary directory; remove cleans it up. A missing gcc or a
// failed build is kept in err, for the C rows to report.
func buildC(ctx context.Context, ts []Transport) *cPrograms {
	var progs []cSource
	for _, t := range ts {
		if r, ok := t.(cRunner); ok {
			for _, src := range r.program().sources {
				if !slices.Contains(progs, src) {
					progs = append(progs, src)
				}
			}
		}
	}
	b := &cPrograms{bins: map[string]string{}, copies: cCopies(runtime.GOARCH, os.Environ())}
	if len(progs) == 0 {
		return b
	}
	if len(b.copies) > 1 {
		b.over, _ = glibcRepMovsbThreshold(ctx, b.copies[0].env)
		b.upTo, _ = glibcRepMovsbThreshold(ctx, b.copies[1].env)
	}
	gcc, err := exec.LookPath("gcc")
	if err != nil {
		b.err = errors.New("not run: gcc is not installed; the C limits are built with it at run time")
		return b
	}
	if b.dir, err = os.MkdirTemp("", "shm-bench-c-"); err != nil {
		b.err = fmt.Errorf("not run: build directory for the C programs: %w", err)
		return b
	}
	for _, p := range progs {
		src := filepath.Join(b.dir, p.file+".c")
		bin := filepath.Join(b.dir, p.file)
		if err := os.WriteFile(src, []byte(p.text), 0o600); err != nil {
			b.err = fmt.Errorf("not run: %w", err)
			return b
		}
		cmd := exec.CommandContext(ctx, gcc, "-O2", "-o", bin, src)
		// A group of its own: a Ctrl-C at the terminal interrupts the run,
		// which then stops gcc, rather than failing the build under it.
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		out, err := cmd.CombinedOutput()
		if err != nil {
			b.err = fmt.Errorf("not run: gcc testdata/%s.c: %v: %s", p.file, err, strings.TrimSpace(string(out)))
			return b
		}
		b.bins[p.file] = bin
	}
	return b
}

func (b *cPrograms) remove() {
	if b.dir != "" {
		os.RemoveAll(b.dir)
	}
}

// runC measures case cs with its C program, one of progs, for about d: a
// run of the program in each of its copies (copiesFor), one after
// another, each with an equal share of the warm-up and the measuring time, of which it
// keeps the faster (fasterCopy). A run that fails fails the case.
func runC(parent context.Context, t cRunner, progs *cPrograms, cs Case, d time.Duration, place Placement) Result {
	ctx, cancel := context.WithTimeout(parent, 2*d+15*time.Second)
	defer cancel()
	warm, measure := caseTimes(d)
	copies := progs.copiesFor(cs)
	n := time.Duration(len(copies))
	file, args := t.command(cs, warm/n, measure/n, place)
	var best Result
	for i, cp := range copies {
		res := runCOnce(ctx, progs.bins[file], args, cp, cs, place)
		if res.Error != "" {
			if cp.name != "" {
				res.Error = fmt.Sprintf("%s copy: %s", cp.name, res.Error)
			}
			return res
		}
		if i == 0 {
			best = res
		} else {
			best = fasterCopy(best, res)
		}
	}
	return best
}

// runCOnce runs program bin with args in the environment of copy cp and
// reads the figures of case cs from what it prints.
func runCOnce(ctx context.Context, bin string, args []string, cp cCopy, cs Case, place Placement) (res Result) {
	res = Result{Transport: cs.Transport, Workload: cs.Workload, Size: cs.Size, Capacity: cs.Capacity, DriverCPU: place.Driver, PeerCPU: place.Peer}
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = cp.env
	var stdout bytes.Buffer
	stderr := &headBuffer{}
	cmd.Stdout, cmd.Stderr = &stdout, stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	// Pdeathsig fires when the forking thread ends: keep it until the
	// program has been reaped (see startPeer).
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if err := cmd.Run(); err != nil {
		res.Error = fmt.Sprintf("%s: %v: %s", filepath.Base(bin), err, strings.TrimSpace(stderr.String()))
		return res
	}
	var err error
	if cs.Workload.streaming() {
		err = parseRate(stdout.String(), &res)
	} else {
		err = parseHistogram(stdout.String(), &res)
	}
	if err != nil {
		res.Error = fmt.Sprintf("%s printed %q: %v", filepath.Base(bin), firstLine(stdout.String()), err)
		return res
	}
	res.Copy = cp.name
	return res
}

// fasterCopy returns the faster of two runs of one case of a C program,
// neither failed: for a stream the higher message rate, for round trips
// the lower p50 (see Result.cost); a, the run made first, on a tie.
func fasterCopy(a, b Result) Result {
	if b.cost() < a.cost() {
		return b
	}
	return a
}

// The ways the C programs copy messages on amd64, as Result.Copy names them.
const (
	// copyMemcpy is glibc's memcpy as glibc chooses: a vector loop for
	// small blocks, REP MOVSB above a few KiB (its rep_movsb_threshold),
	// non-temporal stores above its non-temporal threshold.
	copyMemcpy = "memcpy"
	// copyVector is glibc's vector loop at every size below the
	// non-temporal threshold (repMovsbTunable).
	copyVector = "vector"
)

// A cCopy is one way of running the C programs: the name Result.Copy
// gives it ("" where it is the only way) and the environment.
type cCopy struct {
	name string
	env  []string
}

// cCopies returns the ways each case of a C program runs on architecture
// arch (runtime.GOARCH) given the environment env. On amd64 there are
// two, as which of glibc's copies is faster depends on the CPU, the
// message size and the link between the two CPUs: env as it is
// (copyMemcpy) and env with repMovsbTunable (copyVector). On AMD's
// family 26, pinned, ring.c streamed 8 KiB messages at 108 GB/s with the
// vector loop and 67 GB/s with REP MOVSB, but 64 KiB at 62-64 against
// 67-68 GB/s, and with the two CPUs farther apart REP MOVSB was about
// three times faster from 8 KiB up (docs/BENCHMARKS-LOG.md). Elsewhere
// the tunable means nothing, and there is one way, env.
func cCopies(arch string, env []string) []cCopy {
	if arch != "amd64" {
		return []cCopy{{env: env}}
	}
	return []cCopy{{copyMemcpy, env}, {copyVector, vectorCopy(env)}}
}

// repMovsbTunable tells glibc on x86 to copy with its vector loop rather
// than switch to REP MOVSB at a few KiB (up to its non-temporal threshold,
// where it switches to non-temporal stores either way).
const repMovsbTunable = "glibc.cpu.x86_rep_movsb_threshold=1073741824"

// vectorCopy returns env with repMovsbTunable put first in GLIBC_TUNABLES,
// so that a threshold the user set, later in the list, still wins.
func vectorCopy(env []string) []string {
	out := make([]string, 0, len(env)+1)
	tunables := repMovsbTunable
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "GLIBC_TUNABLES="); ok {
			if v != "" {
				tunables = repMovsbTunable + ":" + v
			}
			continue
		}
		out = append(out, kv)
	}
	return append(out, "GLIBC_TUNABLES="+tunables)
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// parseRate reads ring.c's "messages N ns T slots S".
func parseRate(out string, res *Result) error {
	var msgs, elapsed, slots uint64
	if _, err := fmt.Sscanf(out, "messages %d ns %d slots %d\n", &msgs, &elapsed, &slots); err != nil {
		return err
	}
	if msgs == 0 || elapsed == 0 || elapsed > 1<<62 {
		return fmt.Errorf("%d messages in %dns", msgs, elapsed)
	}
	res.DurationNS = int64(elapsed)
	res.setRate(msgs, time.Duration(elapsed))
	return nil
}

// parseHistogram reads pingpong.c's buckets and totals into a Histogram.
func parseHistogram(out string, res *Result) error {
	h := &Histogram{}
	sc := bufio.NewScanner(strings.NewReader(out))
	var total, sum, lo, hi uint64
	done := false
	for sc.Scan() {
		line := sc.Text()
		var b int
		var n uint64
		switch {
		case done:
			return fmt.Errorf("line %q after the totals", line)
		case strings.HasPrefix(line, "bucket "):
			if _, err := fmt.Sscanf(line, "bucket %d %d", &b, &n); err != nil {
				return err
			}
			if err := h.addBucket(b, n); err != nil {
				return err
			}
		default:
			if _, err := fmt.Sscanf(line, "total %d sum %d min %d max %d", &total, &sum, &lo, &hi); err != nil {
				return err
			}
			done = true
		}
	}
	if !done {
		return errors.New("no totals")
	}
	if err := h.setTotals(total, sum, lo, hi); err != nil {
		return err
	}
	res.DurationNS = int64(sum)
	res.setLatencies(h)
	return nil
}

// repMovsbFloor is the least REP MOVSB threshold glibc picks by itself:
// 2048 bytes times its vector size over 16 (more with FSRM), lower only
// when GLIBC_TUNABLES sets it so.
const repMovsbFloor = 2048

// glibcRepMovsbThreshold returns glibc's REP MOVSB threshold in
// environment env, as its dynamic loader lists it (ld.so --list-tunables,
// glibc 2.33 on): memcpy copies a larger block with REP MOVSB, a block of
// at most that size with its vector loop. ok is false, and the threshold
// repMovsbFloor, when the loader cannot tell.
func glibcRepMovsbThreshold(ctx context.Context, env []string) (threshold int, ok bool) {
	cmd := exec.CommandContext(ctx, "/lib64/ld-linux-x86-64.so.2", "--list-tunables")
	cmd.Env = env
	if cmd.Env == nil {
		cmd.Env = []string{} // nil would inherit this process's environment
	}
	out, err := cmd.Output()
	if err != nil {
		return repMovsbFloor, false
	}
	for line := range strings.Lines(string(out)) {
		v, found := strings.CutPrefix(line, "glibc.cpu.x86_rep_movsb_threshold:")
		if !found {
			continue
		}
		fields := strings.Fields(v) // "0x840 (min: 0x100, max: ...)"
		if len(fields) == 0 {
			break
		}
		n, err := strconv.ParseInt(fields[0], 0, 64)
		if err != nil || n <= 0 {
			break
		}
		return int(min(n, 1<<40)), true
	}
	return repMovsbFloor, false
}

// copiesFor returns the copies case cs runs, in the order it runs them:
// all of b.copies where they differ, the first one first in every other
// round of the case, so that neither always runs first; elsewhere (at
// most b.over bytes, where both are glibc's vector loop, or more than
// b.upTo, where the user's GLIBC_TUNABLES makes both REP MOVSB) a single
// run as glibc chooses, which names no copy.
func (b *cPrograms) copiesFor(cs Case) []cCopy {
	if len(b.copies) < 2 {
		return b.copies
	}
	if cs.Size <= cmp.Or(b.over, repMovsbFloor) || b.upTo > 0 && cs.Size > b.upTo {
		return []cCopy{{env: b.copies[0].env}}
	}
	if b.turns == nil {
		b.turns = map[caseKey]int{}
	}
	k := caseKey{cs.Transport, cs.Workload, cs.Size, cs.Capacity}
	b.turns[k]++
	if b.turns[k]%2 == 0 {
		return []cCopy{b.copies[1], b.copies[0]}
	}
	return b.copies
}
