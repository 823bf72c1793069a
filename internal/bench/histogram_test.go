package bench

import (
	"math"
	"math/rand/v2"
	"sort"
	"testing"
	"time"
)

func TestHistogramBuckets(t *testing.T) {
	// Every value falls in the bucket whose bounds hold it, and bucket
	// widths stay within the precision.
	for _, v := range []int64{0, 1, 255, 256, 257, 1000, 1 << 20, 123456789, 1<<45 - 1} {
		i := histIndex(v)
		lo, hi := histLow(i), histHigh(i)
		if v < lo || v > hi {
			t.Errorf("value %d in bucket %d [%d,%d]", v, i, lo, hi)
		}
		if hi > lo && float64(hi-lo+1)/float64(lo) > HistogramPrecision+1e-9 {
			t.Errorf("bucket %d [%d,%d] wider than the precision", i, lo, hi)
		}
	}
	for i := 0; i < histBuckets-1; i++ {
		if histHigh(i)+1 != histLow(i+1) {
			t.Fatalf("buckets %d and %d not contiguous", i, i+1)
		}
	}
}

func TestHistogramQuantilesMatchSortedSamples(t *testing.T) {
	dists := map[string]func(r *rand.Rand) time.Duration{
		"uniform":   func(r *rand.Rand) time.Duration { return time.Duration(r.Int64N(int64(10 * time.Millisecond))) },
		"lognormal": func(r *rand.Rand) time.Duration { return time.Duration(math.Exp(r.NormFloat64()*1.5+12) + 1) },
		"bimodal": func(r *rand.Rand) time.Duration {
			if r.IntN(100) < 3 {
				return time.Duration(200e6 + r.Int64N(1e6))
			}
			return time.Duration(50e3 + r.Int64N(10e3))
		},
		"tiny": func(r *rand.Rand) time.Duration { return time.Duration(r.Int64N(300)) },
	}
	for name, gen := range dists {
		t.Run(name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(1, 2))
			// Several histograms merged, as the workers' are.
			var parts [4]Histogram
			var samples []time.Duration
			for i := 0; i < 20000; i++ {
				v := gen(r)
				samples = append(samples, v)
				parts[i%4].Record(v)
			}
			var h Histogram
			for i := range parts {
				h.Merge(&parts[i])
			}
			sort.Slice(samples, func(i, j int) bool { return samples[i] < samples[j] })
			if h.Count() != uint64(len(samples)) || h.Min() != samples[0] || h.Max() != samples[len(samples)-1] {
				t.Fatalf("count/min/max %d/%v/%v, want %d/%v/%v", h.Count(), h.Min(), h.Max(), len(samples), samples[0], samples[len(samples)-1])
			}
			for _, q := range []float64{0, 0.5, 0.9, 0.99, 0.999, 1} {
				rank := int(math.Ceil(q * float64(len(samples))))
				if rank < 1 {
					rank = 1
				}
				want := samples[rank-1]
				got := h.Quantile(q)
				tol := math.Max(float64(want)*HistogramPrecision, 1)
				if math.Abs(float64(got-want)) > tol {
					t.Errorf("q%.3f = %v, sorted sample %v (tolerance %.0fns)", q, got, want, tol)
				}
			}
		})
	}
}

func TestHistogramEmpty(t *testing.T) {
	var h Histogram
	if h.Quantile(0.99) != 0 || h.Mean() != 0 || len(h.Buckets()) != 0 {
		t.Fatal("empty histogram reports values")
	}
}

func BenchmarkHistogramRecord(b *testing.B) {
	var h Histogram
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		h.Record(time.Duration(i&0xfffff) * 37)
	}
}
