package bench

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// MaxRounds bounds Rounds: every round of every case starts a peer process.
const MaxRounds = 100

// Rounds runs the whole list of cases n times over (1 to MaxRounds): the
// cases of a round one after another (each workload and size's capacity
// by capacity, see runOrder), then the next round, the run's Duration
// shared among all of them. A case's figures merge its rounds
// (every round trip, every message), and its ratios to raw, unix and sem
// are the median of the ratios taken within each round, where the two
// cases ran moments apart. On a machine whose speed drifts, such as a VM
// whose host moves its CPUs, that keeps a drift between two cases of one
// pass out of their ratio; a round whose two cases ran in different
// placements of the CPUs has no ratio and does not count (see link.go).
// VsRawLow and VsRawHigh give the spread of the rounds' ratios to raw.
func Rounds(n int) Option { return func(c *config) { c.rounds = n } }

// mergeRounds folds the results of one case's rounds, in round order, into
// one: the first failure, if any round failed; otherwise round trips and
// messages added up, percentiles, means and rates taken over all of
// them, and the copies of a C case listed (mergeCopies). The ratios are
// left to roundRatios.
func mergeRounds(rounds []Result) Result {
	m := rounds[0]
	m.VsC, m.VsRaw, m.VsUnix, m.VsPipe, m.VsSem, m.VsQueue = 0, 0, 0, 0, 0, 0
	if m.Skipped != "" {
		return m
	}
	for i, r := range rounds {
		if r.Error != "" {
			m.Error, m.Copy = r.Error, ""
			if len(rounds) > 1 {
				m.Error = fmt.Sprintf("round %d of %d: %s", i+1, len(rounds), r.Error)
			}
			return m
		}
	}
	if len(rounds) == 1 {
		return m
	}
	m.Copy = mergeCopies(rounds)
	m.DurationNS, m.PeerCPUNS, m.Messages = 0, 0, 0
	cpuWeighted := 0.0
	for _, r := range rounds {
		m.DurationNS += r.DurationNS
		m.PeerCPUNS += r.PeerCPUNS
		m.Messages += r.Messages
		cpuWeighted += r.PeerCPUPercent * float64(r.DurationNS)
	}
	if m.DurationNS > 0 {
		m.PeerCPUPercent = cpuWeighted / float64(m.DurationNS)
	}
	if m.Hist != nil {
		h := &Histogram{}
		for _, r := range rounds {
			h.Merge(r.Hist)
		}
		m.setLatencies(h)
	}
	if m.Messages > 0 && m.DurationNS > 0 {
		m.setRate(m.Messages, time.Duration(m.DurationNS))
	}
	return m
}

// mergeCopies returns the copies that a C case's rounds kept (see
// Result.Copy), each once in the order they first appear, joined with
// "+"; "" when no round names one.
func mergeCopies(rounds []Result) string {
	var copies []string
	for _, r := range rounds {
		if r.Copy != "" && !slices.Contains(copies, r.Copy) {
			copies = append(copies, r.Copy)
		}
	}
	return strings.Join(copies, "+")
}

// roundRatios sets each merged result's ratios to the median of its
// rounds' ratios: rounds[i] holds round i's results in the order of
// merged, each round's ratios already filled in by Report.ratios. A round
// without a ratio (its yardstick failed there, or ran in another
// placement of the CPUs) does not count; a ratio no round has stays unset.
func roundRatios(merged []Result, rounds [][]Result) {
	for i := range merged {
		m := &merged[i]
		if m.Error != "" || m.Skipped != "" {
			continue
		}
		var c, raw, unix, pipe, sem, q, tail []float64
		for _, round := range rounds {
			x := round[i]
			c, raw, unix = append(c, x.VsC), append(raw, x.VsRaw), append(unix, x.VsUnix)
			pipe, sem, q = append(pipe, x.VsPipe), append(sem, x.VsSem), append(q, x.VsQueue)
			tail = append(tail, x.VsCTail)
		}
		m.VsC, m.VsRaw, m.VsUnix, m.VsPipe, m.VsSem = median(c), median(raw), median(unix), median(pipe), median(sem)
		m.VsQueue, m.VsCTail = median(q), median(tail)
		if len(rounds) > 1 {
			m.VsQueueLow, m.VsQueueHigh = spread(q)
			m.VsRawLow, m.VsRawHigh = spread(raw)
			m.VsCLow, m.VsCHigh = spread(c)
		}
	}
}

// known returns the values of vs that are known (not 0), sorted.
func known(vs []float64) []float64 {
	s := slices.DeleteFunc(slices.Clone(vs), func(v float64) bool { return v == 0 })
	slices.Sort(s)
	return s
}

// spread returns the lowest and highest known value of vs, or 0 and 0.
func spread(vs []float64) (low, high float64) {
	s := known(vs)
	if len(s) == 0 {
		return 0, 0
	}
	return s[0], s[len(s)-1]
}

// median is the middle value of the known values of vs (the mean of the
// two middle ones for an even count; 0 is unknown), or 0 when none is
// known.
func median(vs []float64) float64 {
	s := known(vs)
	if len(s) == 0 {
		return 0
	}
	if n := len(s); n%2 == 0 {
		return (s[n/2-1] + s[n/2]) / 2
	}
	return s[len(s)/2]
}
