package bench

import (
	"math"
	"math/bits"
	"time"
)

// Histogram records latencies in log-linear buckets, HDR-histogram style:
// values below 2*histSub are exact, and every power of two above is split
// into histSub equal buckets, so a recorded value is known to within
// 1/histSub (0.78%) of itself. Recording is an index computation and an
// increment; one histogram per worker avoids sharing, and Merge adds them up.
type Histogram struct {
	counts [histBuckets]uint64
	n      uint64
	sum    float64
	min    int64
	max    int64
}

const (
	histSubBits = 7
	histSub     = 1 << histSubBits // buckets per power of two above 2*histSub
	// histMaxShift bounds the values kept: 2^(histMaxShift+histSubBits+1) ns
	// is about 9.8 hours, far past any sane request timeout.
	histMaxShift = 37
	histBuckets  = (histMaxShift + 2) * histSub
)

// HistogramPrecision is the largest relative error of a value read back from
// a Histogram.
const HistogramPrecision = 1.0 / histSub

func histIndex(v int64) int {
	if v < 2*histSub {
		if v < 0 {
			return 0
		}
		return int(v)
	}
	shift := bits.Len64(uint64(v)) - histSubBits - 1
	if shift > histMaxShift {
		return histBuckets - 1
	}
	return shift*histSub + int(v>>uint(shift))
}

// histLow and histHigh give the smallest and largest value of bucket i.
func histLow(i int) int64 {
	if i < 2*histSub {
		return int64(i)
	}
	shift := i/histSub - 1
	return int64(i-shift*histSub) << uint(shift)
}

func histHigh(i int) int64 { return histLow(i+1) - 1 }

// Record adds one latency.
func (h *Histogram) Record(d time.Duration) {
	v := int64(d)
	h.counts[histIndex(v)]++
	if h.n == 0 || v < h.min {
		h.min = v
	}
	if v > h.max {
		h.max = v
	}
	h.n++
	h.sum += float64(v)
}

// Merge adds o's counts to h.
func (h *Histogram) Merge(o *Histogram) {
	if o.n == 0 {
		return
	}
	for i, c := range o.counts {
		h.counts[i] += c
	}
	if h.n == 0 || o.min < h.min {
		h.min = o.min
	}
	if o.max > h.max {
		h.max = o.max
	}
	h.n += o.n
	h.sum += o.sum
}

// Reset empties h for reuse.
func (h *Histogram) Reset() { *h = Histogram{} }

// Count is the number of recorded values.
func (h *Histogram) Count() uint64 { return h.n }

// Min and Max are exact.
func (h *Histogram) Min() time.Duration { return time.Duration(h.min) }

// Max is the largest recorded value, exact.
func (h *Histogram) Max() time.Duration { return time.Duration(h.max) }

// Mean is exact (computed from the running sum, not the buckets).
func (h *Histogram) Mean() time.Duration {
	if h.n == 0 {
		return 0
	}
	return time.Duration(h.sum / float64(h.n))
}

// Quantile returns the value at quantile q in [0,1] under the nearest-rank
// definition: the smallest recorded value v such that at least q*n values are
// <= v, read back as the middle of its bucket and clamped to [min,max], so it
// is within HistogramPrecision of the exact sample.
func (h *Histogram) Quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(h.n)))
	if rank < 1 {
		rank = 1
	}
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			lo, hi := histLow(i), histHigh(i)
			v := lo + (hi-lo)/2
			if v < h.min {
				v = h.min
			}
			if v > h.max {
				v = h.max
			}
			return time.Duration(v)
		}
	}
	return time.Duration(h.max)
}

// Bucket is one non-empty histogram bucket: values in [Low, High].
type Bucket struct {
	Low   time.Duration
	High  time.Duration
	Count uint64
}

// Buckets lists the non-empty buckets in increasing order.
func (h *Histogram) Buckets() []Bucket {
	var out []Bucket
	for i, c := range h.counts {
		if c != 0 {
			out = append(out, Bucket{Low: time.Duration(histLow(i)), High: time.Duration(histHigh(i)), Count: c})
		}
	}
	return out
}
