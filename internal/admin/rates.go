package admin

import (
	"sync"
	"time"
)

// rateHistory turns the request and error counters of clusters and hosts
// into per-second rates without a ticker: each /api/v1/clusters answer
// records a sample, and rates compare the current counters with the newest
// earlier sample old enough to mean something. Nobody asking costs nothing;
// a client polling every second gets the rate over its own interval.
type rateHistory struct {
	mu      sync.Mutex
	samples []rateSample // oldest first
}

type rateSample struct {
	at     time.Time
	counts map[string][2]uint64 // "cluster" or "cluster\x00host" -> requests, errors
}

// Bounds of the rate window: samples closer than minRateWindow to now are
// too noisy to divide by, and older than maxRateWindow too stale.
const (
	minRateWindow = 500 * time.Millisecond
	maxRateWindow = time.Minute
	maxRateSample = 128
)

// annotate fills the rate fields of cs from the counters' change since an
// earlier sample, and records cs as a sample.
func (h *rateHistory) annotate(now time.Time, cs []ClusterInfo) {
	cur := rateSample{at: now, counts: make(map[string][2]uint64, len(cs)*4)}
	for _, c := range cs {
		cur.counts[c.Name] = [2]uint64{c.Requests, c.Errors}
		for _, hi := range c.Hosts {
			cur.counts[c.Name+"\x00"+hi.Address] = [2]uint64{hi.Requests, hi.Errors}
		}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	// Drop samples too old to use.
	i := 0
	for i < len(h.samples) && now.Sub(h.samples[i].at) > maxRateWindow {
		i++
	}
	h.samples = h.samples[i:]
	var base *rateSample
	for j := len(h.samples) - 1; j >= 0; j-- {
		if now.Sub(h.samples[j].at) >= minRateWindow {
			base = &h.samples[j]
			break
		}
	}
	if base != nil {
		secs := now.Sub(base.at).Seconds()
		rate := func(key string, req, errs uint64) (float64, float64) {
			old, ok := base.counts[key]
			if !ok || req < old[0] || errs < old[1] {
				return 0, 0 // new or restarted counters
			}
			return float64(req-old[0]) / secs, float64(errs-old[1]) / secs
		}
		for ci := range cs {
			c := &cs[ci]
			c.RateWindowSeconds = secs
			c.RPS, c.ErrorsPerSecond = rate(c.Name, c.Requests, c.Errors)
			for hi := range c.Hosts {
				hh := &c.Hosts[hi]
				hh.RPS, hh.ErrorsPerSecond = rate(c.Name+"\x00"+hh.Address, hh.Requests, hh.Errors)
			}
		}
	}
	// Keep one sample per minRateWindow: a burst of pollers must not push
	// the useful ones out.
	if n := len(h.samples); n == 0 || now.Sub(h.samples[n-1].at) >= minRateWindow {
		if n >= maxRateSample {
			h.samples = append(h.samples[:0], h.samples[1:]...)
		}
		h.samples = append(h.samples, cur)
	}
}
