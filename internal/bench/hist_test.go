package bench

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

func TestBucketsAreContiguous(t *testing.T) {
	// Every value maps to a bucket whose bounds contain it, and the buckets
	// tile the number line without gaps or overlaps.
	prevHi := uint64(0)
	for i := 0; i < nBuckets; i++ {
		lo, hi := bucketBounds(i)
		if i > 0 && lo != prevHi+1 {
			t.Fatalf("bucket %d starts at %d, previous ended at %d", i, lo, prevHi)
		}
		if bucketOf(lo) != i || bucketOf(hi) != i {
			t.Fatalf("bucket %d [%d,%d]: bucketOf(lo)=%d bucketOf(hi)=%d", i, lo, hi, bucketOf(lo), bucketOf(hi))
		}
		prevHi = hi
		if hi == math.MaxUint64 {
			if i != nBuckets-1 {
				t.Fatalf("bucket %d reaches MaxUint64 but there are %d buckets", i, nBuckets)
			}
			return
		}
	}
	t.Fatalf("buckets end at %d, not at MaxUint64", prevHi)
}

func TestBucketPrecision(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 100000 {
		v := r.Uint64() >> r.IntN(64)
		lo, hi := bucketBounds(bucketOf(v))
		if v < lo || v > hi {
			t.Fatalf("%d outside its bucket [%d,%d]", v, lo, hi)
		}
		if float64(hi-lo) > float64(lo)/subCount {
			t.Fatalf("bucket [%d,%d] of %d is wider than 1/%d of its value", lo, hi, v, subCount)
		}
	}
}

func TestQuantilesAgainstSortedSamples(t *testing.T) {
	tests := []struct {
		name string
		gen  func(r *rand.Rand) uint64
	}{
		{"small exact", func(r *rand.Rand) uint64 { return uint64(r.IntN(200)) }},
		{"log-normal-ish latencies", func(r *rand.Rand) uint64 { return uint64(math.Exp(r.NormFloat64()*1.5 + 8)) }},
		{"bimodal", func(r *rand.Rand) uint64 {
			if r.IntN(100) == 0 {
				return 30000 + uint64(r.IntN(50000))
			}
			return 250 + uint64(r.IntN(50))
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(3, 4))
			var h Histogram
			var all []uint64
			for range 50000 {
				v := tc.gen(r)
				h.Record(v)
				all = append(all, v)
			}
			slices.Sort(all)
			if h.Count() != uint64(len(all)) || h.Min() != all[0] || h.Max() != all[len(all)-1] {
				t.Fatalf("count/min/max = %d/%d/%d, want %d/%d/%d", h.Count(), h.Min(), h.Max(), len(all), all[0], all[len(all)-1])
			}
			prev := uint64(0)
			for _, q := range []float64{0, 0.5, 0.9, 0.99, 0.999, 1} {
				got := h.Quantile(q)
				rank := max(int(math.Ceil(q*float64(len(all)))), 1)
				want := all[rank-1]
				if got < want || float64(got-want) > float64(want)/subCount+1 {
					t.Errorf("Quantile(%v) = %d, exact %d", q, got, want)
				}
				if got < prev {
					t.Errorf("Quantile(%v) = %d < previous quantile %d", q, got, prev)
				}
				prev = got
			}
			if h.Quantile(1) != h.Max() {
				t.Errorf("Quantile(1) = %d, Max = %d", h.Quantile(1), h.Max())
			}
			cdf := h.CDF()
			if len(cdf) == 0 || cdf[len(cdf)-1].Fraction != 1 || cdf[len(cdf)-1].Value != h.Max() {
				t.Errorf("CDF ends at %+v, want fraction 1 at max %d", cdf[len(cdf)-1], h.Max())
			}
		})
	}
}

func TestHistogramEmptyAndMerge(t *testing.T) {
	var h Histogram
	if h.Quantile(0.5) != 0 || h.Max() != 0 || h.Min() != 0 || h.Mean() != 0 || h.CDF() != nil {
		t.Fatal("empty histogram reports values")
	}
	var a, b Histogram
	for v := uint64(1); v <= 1000; v++ {
		a.Record(v)
		b.Record(v + 1000)
	}
	h.Merge(&a)
	h.Merge(&b)
	h.Merge(&Histogram{})
	if h.Count() != 2000 || h.Min() != 1 || h.Max() != 2000 || h.Mean() != 1000.5 {
		t.Fatalf("merged: count %d min %d max %d mean %v", h.Count(), h.Min(), h.Max(), h.Mean())
	}
	if q := h.Quantile(0.5); q < 1000 || q > 1008 {
		t.Fatalf("merged median %d, want about 1000", q)
	}
}

func BenchmarkHistogramRecord(b *testing.B) {
	var h Histogram
	h.Record(1)
	b.ReportAllocs()
	v := uint64(12345)
	for b.Loop() {
		h.Record(v)
		v = v*6364136223846793005 + 1442695040888963407
		v >>= 40
	}
}
