package upstream

import (
	"log/slog"
	"sync"
	"time"

	"github.com/mosnctl/mosnctl/internal/config"
)

// outlierDetector is a cluster's passive outlier detection (Envoy's
// outlier_detection), fed by Tries from the outcome of every real try, so
// every protocol feeds it alike.
//
// "Consecutive" is judged by try sequence numbers: each try of a host takes
// the next number when it ends (Tries.Ended, or a failed connect), and a
// failure extends the host's streak only when no try of the host ended in
// between, that is when the numbers follow. A success therefore needs no
// call of its own (a Bolt answer only ends its try), and the report of a
// failure may come before or after its try ends.
type outlierDetector struct {
	cluster          *Cluster
	consecutive5xx   uint32 // 0: off
	consecutiveGW    uint32 // 0: off
	interval         time.Duration
	baseEjectionTime time.Duration
	maxPercent       uint32
	log              *slog.Logger

	mu sync.Mutex // serialises ejections, for max_ejection_percent
}

func newOutlierDetector(c *Cluster, cfg *config.OutlierDetection, log *slog.Logger) *outlierDetector {
	return &outlierDetector{
		cluster:          c,
		consecutive5xx:   cfg.Consecutive5xxOrDefault(),
		consecutiveGW:    cfg.ConsecutiveGatewayFailure,
		interval:         cfg.Interval.Get(config.DefaultOutlierInterval),
		baseEjectionTime: cfg.BaseEjectionTime.Get(config.DefaultBaseEjectionTime),
		maxPercent:       cfg.MaxEjectionPercentOrDefault(),
		log:              log,
	}
}

// A try's failure, as outlier detection sorts it.
type failure uint8

const (
	fail5xx     failure = 1 << iota // a 5xx answer
	failGateway                     // 502/503/504, or no answer: connect failure, reset, timeout
)

// failureOf sorts an HTTP status; 0 is a success.
func failureOf(status int) failure {
	switch {
	case status == 502 || status == 503 || status == 504:
		return fail5xx | failGateway
	case status >= 500:
		return fail5xx
	}
	return 0
}

// extend adds the failure of try seq to a streak whose last failure was try
// *last: it follows on, or a try in between succeeded and a new streak
// starts. A seq at or below *last is a concurrent try reporting late, part
// of the same run.
func extend(streak *uint32, last *uint64, seq uint64) {
	switch {
	case seq == *last+1 || seq <= *last:
		*streak++
	default:
		*streak = 1
	}
	*last = max(*last, seq)
}

// record counts a failure of h's try seq and ejects h when a streak reaches
// its threshold.
func (d *outlierDetector) record(h *Host, seq uint64, f failure) {
	o := &h.outlier
	o.mu.Lock()
	defer o.mu.Unlock()
	if f&fail5xx != 0 {
		extend(&o.streak5xx, &o.last5xx, seq)
	}
	if f&failGateway != 0 {
		extend(&o.streakGW, &o.lastGW, seq)
	}
	var reason string
	switch {
	case d.consecutive5xx > 0 && o.streak5xx >= d.consecutive5xx:
		reason = "consecutive_5xx"
	case d.consecutiveGW > 0 && o.streakGW >= d.consecutiveGW:
		reason = "consecutive_gateway_failure"
	default:
		return
	}
	if h.Ejected() {
		return
	}
	o.streak5xx, o.streakGW = 0, 0
	d.eject(h, reason)
}

// eject takes h out unless max_ejection_percent of the cluster is out
// already (one host may always go), for base_ejection_time times the number
// of its ejections; the number drops by one for each interval h stayed in
// since its last ejection. h.outlier.mu is held.
func (d *outlierDetector) eject(h *Host, reason string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	hosts := d.cluster.Hosts
	out := 0
	for _, o := range hosts {
		if o.Ejected() {
			out++
		}
	}
	if out > 0 && out*100 >= int(d.maxPercent)*len(hosts) {
		d.log.Warn("outlier detection: host not ejected, max_ejection_percent reached",
			"cluster", d.cluster.Name, "host", h.Address, "reason", reason, "ejected", out)
		return
	}
	o := &h.outlier
	now := time.Now()
	if o.timesEjected > 0 && !o.backAt.IsZero() {
		decay := uint32(min(now.Sub(o.backAt)/d.interval, 1<<20))
		o.timesEjected -= min(decay, o.timesEjected)
	}
	o.timesEjected++
	dur := d.baseEjectionTime * time.Duration(o.timesEjected)
	h.setOut(outEjected, true)
	h.Ejections.Add(1)
	d.log.Warn("outlier detection: host ejected", "cluster", d.cluster.Name, "host", h.Address,
		"reason", reason, "for", dur, "times", o.timesEjected)
	// A timer, not a sweep: nothing runs while no host is out. It outlives a
	// reload harmlessly: the host is the same *Host if it stays.
	time.AfterFunc(dur, func() {
		o.mu.Lock()
		o.backAt = time.Now()
		h.setOut(outEjected, false)
		o.mu.Unlock()
		d.log.Info("outlier detection: host back in rotation", "cluster", d.cluster.Name, "host", h.Address)
	})
}
