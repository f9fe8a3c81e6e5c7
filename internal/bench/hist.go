package bench

import (
	"fmt"
	"math"
	"math/bits"
)

// subBits sets the histogram's precision: every power of two is split into
// 1<<subBits linear sub-buckets, so a recorded value is known to within
// 1/128 (0.8 %) of itself, from 1 ns up to the largest uint64.
const (
	subBits  = 7
	subCount = 1 << subBits
	nBuckets = (64 - subBits + 1) * subCount
)

// Histogram counts non-negative values (nanoseconds, here) in log-linear
// buckets, in the manner of HdrHistogram: values below 128 are exact, and
// above that each power-of-two range [2^k, 2^(k+1)) is cut into 128 equal
// buckets. Recording is a few instructions and never allocates, so every
// sample of a run can be kept; quantiles are then exact to within one
// bucket, and clamped to the exact minimum and maximum seen.
//
// The zero value is empty and ready to use. A Histogram is not safe for
// concurrent use.
type Histogram struct {
	counts   []uint64 // nBuckets, allocated on first Record
	n        uint64
	sum      float64
	min, max uint64
}

// bucketOf returns the index of the bucket that holds v.
//
// For v < 2*subCount the index is v itself. Above, with shift = msb(v) -
// subBits, v>>shift lies in [subCount, 2*subCount) and the index is
// shift*subCount + v>>shift: consecutive powers of two take consecutive runs
// of subCount buckets.
func bucketOf(v uint64) int {
	msb := bits.Len64(v) - 1
	if msb <= subBits {
		return int(v)
	}
	shift := msb - subBits
	return shift*subCount + int(v>>shift)
}

// bucketBounds returns the smallest and largest value that fall in bucket i.
func bucketBounds(i int) (lo, hi uint64) {
	if i < 2*subCount {
		return uint64(i), uint64(i)
	}
	shift := i/subCount - 1
	m := uint64(i - shift*subCount)
	lo = m << shift
	return lo, lo + (1 << shift) - 1
}

// Record adds one value.
func (h *Histogram) Record(v uint64) {
	if h.counts == nil {
		h.counts = make([]uint64, nBuckets)
		h.min = math.MaxUint64
	}
	h.counts[bucketOf(v)]++
	h.n++
	h.sum += float64(v)
	h.min = min(h.min, v)
	h.max = max(h.max, v)
}

// Count returns how many values were recorded.
func (h *Histogram) Count() uint64 { return h.n }

// Min returns the smallest value recorded, or 0 when there is none.
func (h *Histogram) Min() uint64 {
	if h.n == 0 {
		return 0
	}
	return h.min
}

// Max returns the largest value recorded, or 0 when there is none.
func (h *Histogram) Max() uint64 { return h.max }

// Mean returns the arithmetic mean, or 0 when there is nothing recorded.
func (h *Histogram) Mean() float64 {
	if h.n == 0 {
		return 0
	}
	return h.sum / float64(h.n)
}

// Quantile returns the value below or at which a fraction q (0 to 1) of the
// recorded values lie: the upper bound of the bucket holding the value of
// rank ceil(q*Count), clamped to [Min, Max]. Quantile is monotonic in q, so
// Quantile(0.5) <= Quantile(0.99) <= Max always holds. It returns 0 when
// nothing was recorded.
func (h *Histogram) Quantile(q float64) uint64 {
	if h.n == 0 {
		return 0
	}
	q = min(max(q, 0), 1)
	rank := uint64(math.Ceil(q * float64(h.n)))
	rank = max(rank, 1)
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			_, hi := bucketBounds(i)
			return min(max(hi, h.min), h.max)
		}
	}
	return h.max
}

// Merge adds every value recorded in o to h.
func (h *Histogram) Merge(o *Histogram) {
	if o.n == 0 {
		return
	}
	if h.counts == nil {
		h.counts = make([]uint64, nBuckets)
		h.min = math.MaxUint64
	}
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.n += o.n
	h.sum += o.sum
	h.min = min(h.min, o.min)
	h.max = max(h.max, o.max)
}

// A CDFPoint says that a fraction Fraction of the values were at most Value.
type CDFPoint struct {
	Value    uint64
	Fraction float64
}

// CDF returns the cumulative distribution: one point per non-empty bucket,
// at the bucket's upper bound (clamped to Max), in increasing order. The last
// point has Fraction 1.
func (h *Histogram) CDF() []CDFPoint {
	var pts []CDFPoint
	var seen uint64
	for i, c := range h.counts {
		if c == 0 {
			continue
		}
		seen += c
		_, hi := bucketBounds(i)
		pts = append(pts, CDFPoint{Value: min(max(hi, h.min), h.max), Fraction: float64(seen) / float64(h.n)})
	}
	return pts
}

// addBucket adds n values to bucket i, for a histogram recorded elsewhere
// (the C ping-pong's); setTotals must follow.
func (h *Histogram) addBucket(i int, n uint64) error {
	if i < 0 || i >= nBuckets {
		return fmt.Errorf("histogram bucket %d is outside 0 to %d", i, nBuckets-1)
	}
	if h.counts == nil {
		h.counts = make([]uint64, nBuckets)
	}
	h.counts[i] += n
	h.n += n
	return nil
}

// setTotals completes a histogram built with addBucket: n values (as many
// as the buckets hold) adding up to sum, the smallest lo and the largest
// hi, which must lie in the first and last non-empty buckets.
func (h *Histogram) setTotals(n, sum, lo, hi uint64) error {
	if n == 0 || n != h.n {
		return fmt.Errorf("histogram of %d values has %d in its buckets", n, h.n)
	}
	first, last := -1, -1
	for i, c := range h.counts {
		if c > 0 {
			if first < 0 {
				first = i
			}
			last = i
		}
	}
	if bucketOf(lo) != first || bucketOf(hi) != last || lo > hi {
		return fmt.Errorf("histogram's minimum %d and maximum %d are not in its first and last buckets", lo, hi)
	}
	h.sum, h.min, h.max = float64(sum), lo, hi
	return nil
}
