// Package metrics holds the proxy's request statistics as atomic counters
// and fixed-bucket histograms, resolved once per listener or cluster so the
// hot path never looks a metric up by label, and exposes them to Prometheus
// by reading the atomics at scrape time. It imports only the network and
// upstream side of the data path.
package metrics

import (
	"math"
	"sync/atomic"
	"time"
)

// DurationBuckets are the upper bounds, in seconds, of the request duration
// histogram: fine below a millisecond, where a sidecar hop should sit.
var DurationBuckets = []float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}

// Histogram is a lock-free histogram over DurationBuckets.
type Histogram struct {
	counts [17]atomic.Uint64 // one per bucket plus +Inf
	sumNs  atomic.Uint64
}

// Observe records one duration.
func (h *Histogram) Observe(d time.Duration) {
	s := d.Seconds()
	i := 0
	for i < len(DurationBuckets) && s > DurationBuckets[i] {
		i++
	}
	h.counts[i].Add(1)
	h.sumNs.Add(uint64(d))
}

// Snapshot returns cumulative bucket counts (Prometheus style), the total
// count and the sum in seconds.
func (h *Histogram) Snapshot() (buckets map[float64]uint64, count uint64, sum float64) {
	buckets = make(map[float64]uint64, len(DurationBuckets))
	var cum uint64
	for i, ub := range DurationBuckets {
		cum += h.counts[i].Load()
		buckets[ub] = cum
	}
	count = cum + h.counts[len(DurationBuckets)].Load()
	return buckets, count, float64(h.sumNs.Load()) / 1e9
}

// Quantile estimates the q-quantile (0..1) in seconds by linear
// interpolation inside the bucket that holds it.
func (h *Histogram) Quantile(q float64) float64 {
	var counts [17]uint64
	var total uint64
	for i := range counts {
		counts[i] = h.counts[i].Load()
		total += counts[i]
	}
	if total == 0 {
		return 0
	}
	rank := q * float64(total)
	var cum float64
	for i, c := range counts {
		if cum+float64(c) >= rank && c > 0 {
			lo := 0.0
			if i > 0 {
				lo = DurationBuckets[i-1]
			}
			if i == len(DurationBuckets) {
				return lo
			}
			hi := DurationBuckets[i]
			return lo + (hi-lo)*(rank-cum)/float64(c)
		}
		cum += float64(c)
	}
	return math.NaN()
}

// Classes of responses: index = status/100; index 0 counts requests that got
// no response at all (the downstream went away).
const numClasses = 6

// ClassLabel names a response class index.
func ClassLabel(i int) string {
	if i == 0 {
		return "none"
	}
	return string(rune('0'+i)) + "xx"
}

// RequestStats are the per-listener request counters.
type RequestStats struct {
	Listener string
	Protocol string
	Active   atomic.Int64
	ByClass  [numClasses]atomic.Uint64
	Duration Histogram
}

// Done records a finished request with the status returned downstream (for
// Bolt the proxy maps its status to the HTTP class that means the same).
func (s *RequestStats) Done(status int, d time.Duration) {
	c := status / 100
	if c < 0 || c >= numClasses {
		c = 0
	}
	s.ByClass[c].Add(1)
	s.Duration.Observe(d)
}

// Total is the number of finished requests.
func (s *RequestStats) Total() uint64 {
	var t uint64
	for i := range s.ByClass {
		t += s.ByClass[i].Load()
	}
	return t
}

// Merge adds o's observations to h.
func (h *Histogram) Merge(o *Histogram) {
	for i := range h.counts {
		h.counts[i].Add(o.counts[i].Load())
	}
	h.sumNs.Add(o.sumNs.Load())
}
