// Package upstream owns what the proxy forwards to: clusters, their hosts and
// the load balancers that pick a host per request. A Manager built from the
// cluster_manager config is immutable; hosts carry atomic counters the proxy
// updates and the admin API and metrics read.
//
// Around the pick it owns the cluster's resilience state: a host's health
// (set by the active checks of package healthcheck) and its ejection by
// outlier detection (outlier.go, fed by Tries from every try's outcome);
// subsets of hosts by label (subset.go); the circuit breaker's resource
// counters (resources.go). Tries is the one place every proxy picks hosts
// and reports outcomes. State lives on the Host, which a Manager.Rebuild
// keeps for a host that stays, so it survives a reload.
//
// It imports only internal/config: connection pools live in the stream layer,
// which asks this package for a Host and dials its Address.
package upstream

import (
	"sync"
	"sync/atomic"
	"time"
)

// Host weights are MOSN's range. A config weight above it is refused; the
// balancers still clamp, for Hosts built by hand (0 counts as 1).
const (
	MinHostWeight = 1
	MaxHostWeight = 128
)

// Host is one upstream endpoint. A Host holds atomics: always use it through
// its pointer.
type Host struct {
	Address  string
	Hostname string
	Weight   uint32 // in [MinHostWeight, MaxHostWeight]
	Metadata map[string]any
	Cluster  string // name of the cluster the host belongs to
	// TLSDisable dials the host in plaintext in a cluster with TLS.
	TLSDisable bool

	// Per-host stats: the proxy updates them, metrics and admin read them.
	ActiveRequests  atomic.Int64
	Requests        atomic.Uint64
	ConnectFailures atomic.Uint64
	Errors          atomic.Uint64
	Timeouts        atomic.Uint64
	// ProtocolErrors counts connections closed because the host broke its
	// protocol: bytes sent out of turn (after a response, or while idle).
	ProtocolErrors atomic.Uint64
	// OpenConnections counts the connections open to the host over all
	// its pools; the cluster's max_connections caps it.
	OpenConnections atomic.Int64
	// Overflows counts requests refused because the cap was reached.
	Overflows atomic.Uint64

	// Ejections counts outlier detection's ejections of the host.
	Ejections atomic.Uint64

	// out holds the reasons the host takes no traffic (outFailedCheck,
	// outEjected); 0, the zero Host, takes traffic. One word, so that a
	// balancer's test is one atomic load.
	out atomic.Uint32

	// Active health check streaks, written by the cluster's checker only.
	checkOK, checkFailed atomic.Uint32

	// Outlier detection state (outlier.go).
	tries   atomic.Uint64 // sequence number of finished tries
	outlier outlierState
}

const (
	outFailedCheck uint32 = 1 << iota
	outEjected
)

// Available reports whether load balancers may pick the host: it passes
// its health checks and is not ejected.
func (h *Host) Available() bool { return h.out.Load() == 0 }

// Healthy reports whether the host passes its active health checks (always
// true without them).
func (h *Host) Healthy() bool { return h.out.Load()&outFailedCheck == 0 }

// Ejected reports whether outlier detection holds the host out.
func (h *Host) Ejected() bool { return h.out.Load()&outEjected != 0 }

// SetHealthy records the host's active health: a host that failed its
// checks takes no traffic until it passes them again.
func (h *Host) SetHealthy(ok bool) { h.setOut(outFailedCheck, !ok) }

// CheckPassed records a passed active health check and reports whether it
// brought the host back: healthy healthy checks in a row after it failed.
// One checker per host calls it (and CheckFailed).
func (h *Host) CheckPassed(healthy uint32) bool {
	h.checkFailed.Store(0)
	n := h.checkOK.Add(1)
	if !h.Healthy() && n >= healthy {
		h.SetHealthy(true)
		return true
	}
	return false
}

// CheckFailed records a failed active health check and reports whether it
// took the host out: unhealthy failures in a row.
func (h *Host) CheckFailed(unhealthy uint32) bool {
	h.checkOK.Store(0)
	n := h.checkFailed.Add(1)
	if h.Healthy() && n >= unhealthy {
		h.SetHealthy(false)
		return true
	}
	return false
}

// inheritHealth takes over prev's active health and its streaks, for a host
// rebuilt at the same address. An ejection is not taken over: its timer
// ends prev's, and outlier detection judges the new host afresh.
func (h *Host) inheritHealth(prev *Host) {
	h.SetHealthy(prev.Healthy())
	h.checkOK.Store(prev.checkOK.Load())
	h.checkFailed.Store(prev.checkFailed.Load())
}

func (h *Host) setOut(bit uint32, on bool) {
	if on {
		h.out.Or(bit)
	} else {
		h.out.And(^bit)
	}
}

// outlierState is a host's run of failures and its ejection record,
// guarded by mu (taken on failures and ejections only).
type outlierState struct {
	mu                  sync.Mutex
	streak5xx, streakGW uint32
	last5xx, lastGW     uint64 // try sequence numbers of the streaks' last failures
	timesEjected        uint32
	backAt              time.Time // when the last ejection ended
}

func clampWeight(w uint32) uint32 {
	switch {
	case w < MinHostWeight:
		return MinHostWeight
	case w > MaxHostWeight:
		return MaxHostWeight
	}
	return w
}
