package top

import (
	"time"

	"github.com/mosnctl/mosnctl/internal/admin"
)

// point is one poll's overview values.
type point struct {
	at                 time.Time
	rps, eps           float64 // requests and 5xx responses per second
	rateKnown          bool
	conns, streams     float64
	p50, p99           float64 // ms: of the last interval when latencyKnown, else since start
	latencyOfInterval  bool
	bytesIn, bytesOut  float64 // per second
	upstreamErrsPerSec float64
}

// historyWindow is how far back the sparklines reach.
const historyWindow = time.Minute

// history keeps the overview points of the last minute (by the proxy's
// clock, so the view never reads a wall clock).
type history struct{ points []point }

func (h *history) add(p point) {
	h.points = append(h.points, p)
	i := 0
	for i < len(h.points) && p.at.Sub(h.points[i].at) > historyWindow {
		i++
	}
	h.points = h.points[i:]
}

func (h *history) series(f func(*point) float64) []float64 {
	out := make([]float64, 0, len(h.points))
	for i := range h.points {
		if h.points[i].rateKnown {
			out = append(out, f(&h.points[i]))
		}
	}
	return out
}

func (h *history) last() (point, bool) {
	if len(h.points) == 0 {
		return point{}, false
	}
	return h.points[len(h.points)-1], true
}

// errorsOf counts responses that mean the proxy or upstream failed.
func errorsOf(byClass map[string]uint64) uint64 { return byClass["5xx"] }

// interval is the time between the two latest polls by the proxy's clock;
// 0 when there is no earlier poll.
func (m *Model) interval() float64 {
	if m.prev == nil || m.snap == nil {
		return 0
	}
	return m.snap.Stats.Time.Sub(m.prev.Stats.Time).Seconds()
}

func perSecond(cur, old uint64, secs float64) float64 {
	if secs <= 0 || cur < old {
		return 0
	}
	return float64(cur-old) / secs
}

// overviewPoint computes the overview values of the latest poll.
func (m *Model) overviewPoint() point {
	s := &m.snap.Stats
	p := point{at: s.Time, conns: float64(s.ConnectionsActive), streams: float64(s.RequestsActive),
		p50: s.LatencyP50Ms, p99: s.LatencyP99Ms}
	if secs := m.interval(); secs > 0 {
		o := &m.prev.Stats
		p.rateKnown = true
		p.rps = perSecond(s.RequestsTotal, o.RequestsTotal, secs)
		p.eps = perSecond(errorsOf(s.RequestsByClass), errorsOf(o.RequestsByClass), secs)
		p.bytesIn = perSecond(s.BytesIn, o.BytesIn, secs)
		p.bytesOut = perSecond(s.BytesOut, o.BytesOut, secs)
		p.upstreamErrsPerSec = perSecond(s.UpstreamErrors, o.UpstreamErrors, secs)
		p50, ok50 := intervalQuantile(s, o, 0.5)
		p99, ok99 := intervalQuantile(s, o, 0.99)
		p.latencyOfInterval = true
		p.p50, p.p99 = 0, 0 // no request finished in the interval
		if ok50 && ok99 {
			p.p50, p.p99 = p50, p99
		}
	}
	return p
}

// intervalQuantile estimates the q-quantile, in ms, of the requests that
// finished between two polls, from the difference of their cumulative
// latency histograms (interpolating inside the bucket, as Prometheus'
// histogram_quantile does). ok is false when none finished or the
// histograms do not line up (an older proxy sends none).
func intervalQuantile(cur, old *admin.Stats, q float64) (ms float64, ok bool) {
	n := len(cur.LatencyCounts)
	if n == 0 || n != len(old.LatencyCounts) || len(cur.LatencyBucketsMs) != n-1 {
		return 0, false
	}
	total := float64(cur.LatencyCounts[n-1]) - float64(old.LatencyCounts[n-1])
	if total <= 0 {
		return 0, false
	}
	rank := q * total
	prev := 0.0
	for i := 0; i < n; i++ {
		cum := float64(cur.LatencyCounts[i]) - float64(old.LatencyCounts[i])
		if cum >= rank && cum > prev {
			lo := 0.0
			if i > 0 {
				lo = cur.LatencyBucketsMs[i-1]
			}
			if i == n-1 {
				return lo, true // beyond the last bound: its lower edge is all we know
			}
			return lo + (cur.LatencyBucketsMs[i]-lo)*(rank-prev)/(cum-prev), true
		}
		prev = cum
	}
	return 0, false
}

// listenerRates returns a listener's requests/s and 5xx/s since the last
// poll.
func (m *Model) listenerRates(l *admin.ListenerInfo) (rps, eps float64, known bool) {
	secs := m.interval()
	if secs <= 0 {
		return 0, 0, false
	}
	for i := range m.prev.Listeners {
		o := &m.prev.Listeners[i]
		if o.Name == l.Name {
			return perSecond(l.RequestsTotal, o.RequestsTotal, secs),
				perSecond(errorsOf(l.RequestsByClass), errorsOf(o.RequestsByClass), secs), true
		}
	}
	return 0, 0, false
}

// clusterRates returns requests/s and errors/s of a cluster (host == nil)
// or of one of its hosts: from this client's last two polls when it has
// them, else the rates the admin API computed from its own last poll.
func (m *Model) clusterRates(c *admin.ClusterInfo, h *admin.HostInfo) (rps, eps float64, known bool) {
	if secs := m.interval(); secs > 0 {
		for i := range m.prev.Clusters {
			oc := &m.prev.Clusters[i]
			if oc.Name != c.Name {
				continue
			}
			if h == nil {
				return perSecond(c.Requests, oc.Requests, secs), perSecond(c.Errors, oc.Errors, secs), true
			}
			for j := range oc.Hosts {
				if oh := &oc.Hosts[j]; oh.Address == h.Address {
					return perSecond(h.Requests, oh.Requests, secs), perSecond(h.Errors, oh.Errors, secs), true
				}
			}
		}
	}
	if c.RateWindowSeconds > 0 {
		if h == nil {
			return c.RPS, c.ErrorsPerSecond, true
		}
		return h.RPS, h.ErrorsPerSecond, true
	}
	return 0, 0, false
}
