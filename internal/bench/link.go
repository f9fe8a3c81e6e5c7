package bench

import "slices"

// Placements.
//
// A VM's host may move its vCPUs while a run goes on, from one placement
// on the physical CPUs to another, and a cache line's round trip between
// the run's two CPUs can change several-fold with the move. Every
// transport here moves cache lines between the two CPUs, C's as much as
// Go's, so a ratio of two cases that ran in different placements measures
// the move, not the transports.
//
// So a run probes the link (probeLink) before its first case and after
// every case, and sorts the probes into at most two placements, split at
// the widest step between two probes in sorted order when that step is
// linkJump or more and leaves two probes or more on each side (one slow
// probe is noise, not a placement). A case ran in a placement when the
// probes before and after it both fall in it, and it moved when they do
// not. With several rounds, ratios are taken between cases of one
// placement only: within a round, a row that moved, or whose yardstick
// ran in the other placement (any of its cases, when it ran at several
// capacities), has no ratio, and the row's ratio is the median of the
// rounds that have one. With two placements, each row also gets its
// ratios within each (Result.ByPlacement). The capacity sweep is probed
// too, and chooses among the capacities of one placement (sweptCapacity).

// linkJump is the least step, as a factor, between two probes in sorted
// order that splits them into two placements. The probes of one placement
// can spread by more than that from least to most (47-85 ns in one run on
// the VM of docs/BENCHMARKS.md), but with one probe per case they lie close
// together in sorted order, where the step between placements is
// several-fold.
const linkJump = 1.5

// PlacementRange is one placement a run saw: the lowest and highest probes
// of the link in it, in nanoseconds.
type PlacementRange struct {
	LowNS  uint64 `json:"link_low_ns"`
	HighNS uint64 `json:"link_high_ns"`
}

// PlacementRatios are a row's ratios within one placement: the medians of
// the ratios of the Compared rounds in which the row and its yardstick both
// ran there, with the lowest and highest round's ratio to the C limit, and
// for round trips the ratio of the p99.9s (Result.VsCTail); Rounds is how
// many of the run's rounds the row ran there.
type PlacementRatios struct {
	PlacementRange
	Rounds   int     `json:"rounds"`
	Compared int     `json:"compared"`
	VsC      float64 `json:"vs_c,omitempty"`
	VsCLow   float64 `json:"vs_c_low,omitempty"`
	VsCHigh  float64 `json:"vs_c_high,omitempty"`
	VsCTail  float64 `json:"vs_c_p999,omitempty"`
	VsRaw    float64 `json:"vs_raw,omitempty"`
}

// placements sorts the probes of a run's rounds into placements: the
// boundary, the least probe of the slower placement (0 when there is one
// placement), and the range of each placement, the faster first (none
// when nothing was probed). The probe after one case is the probe before
// the next, so each is counted once, as a case's LinkAfterNS (the probe
// before the run's first case is left out).
func placements(rounds [][]Result) (boundary uint64, ranges []PlacementRange) {
	var probes []uint64
	for _, round := range rounds {
		for _, r := range round {
			if r.LinkAfterNS > 0 {
				probes = append(probes, r.LinkAfterNS)
			}
		}
	}
	if len(probes) == 0 {
		return 0, nil
	}
	slices.Sort(probes)
	widest := linkJump
	for i := 2; i < len(probes)-1; i++ {
		if step := float64(probes[i]) / float64(probes[i-1]); step >= widest {
			widest, boundary = step, probes[i]
		}
	}
	if boundary == 0 {
		return 0, []PlacementRange{{probes[0], probes[len(probes)-1]}}
	}
	k := slices.Index(probes, boundary)
	return boundary, []PlacementRange{{probes[0], probes[k-1]}, {probes[k], probes[len(probes)-1]}}
}

// placementOf says where a case ran: 0 in the faster placement (or the
// only one), 1 in the slower, -1 when it moved between them or a probe
// around it is missing while the run saw two placements.
func placementOf(r Result, boundary uint64) int {
	if boundary == 0 {
		return 0
	}
	if r.LinkBeforeNS == 0 || r.LinkAfterNS == 0 {
		return -1
	}
	before, after := r.LinkBeforeNS >= boundary, r.LinkAfterNS >= boundary
	switch {
	case before != after:
		return -1
	case before:
		return 1
	}
	return 0
}

// linkRange returns the lowest and highest probe around a case's rounds.
func linkRange(rounds []Result) (low, high uint64) {
	for _, r := range rounds {
		for _, p := range []uint64{r.LinkBeforeNS, r.LinkAfterNS} {
			if p > 0 {
				if low == 0 || p < low {
					low = p
				}
				high = max(high, p)
			}
		}
	}
	return low, high
}
