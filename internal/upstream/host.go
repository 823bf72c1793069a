// Package upstream owns what the proxy forwards to: clusters, their hosts and
// the load balancers that pick a host per request. A Manager built from the
// cluster_manager config is immutable; hosts carry atomic counters the proxy
// updates and the admin API and metrics read.
//
// It imports only internal/config: connection pools live in the stream layer,
// which asks this package for a Host and dials its Address.
package upstream

import (
	"sync/atomic"
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

	// unhealthy rather than healthy, so that the zero Host starts healthy.
	unhealthy atomic.Bool
}

// Healthy reports whether load balancers may pick the host.
func (h *Host) Healthy() bool { return !h.unhealthy.Load() }

// SetHealthy marks the host healthy or not (health checks, outlier detection).
func (h *Host) SetHealthy(ok bool) { h.unhealthy.Store(!ok) }

func clampWeight(w uint32) uint32 {
	switch {
	case w < MinHostWeight:
		return MinHostWeight
	case w > MaxHostWeight:
		return MaxHostWeight
	}
	return w
}
