package upstream

import (
	"sync/atomic"

	"github.com/mosnctl/mosnctl/internal/config"
)

// Limit names one circuit-breaker limit of a cluster.
type Limit int

// The limits of circuit_breakers.thresholds[], in config order.
const (
	LimitConnections     Limit = iota // max_connections: open upstream connections of the cluster
	LimitPendingRequests              // max_pending_requests: requests waiting for a connection
	LimitRequests                     // max_requests: requests in flight
	LimitRetries                      // max_retries: retries in flight
	numLimits
)

var limitNames = [numLimits]string{"max_connections", "max_pending_requests", "max_requests", "max_retries"}

// String is the limit's config name, also its metric label.
func (l Limit) String() string { return limitNames[l] }

// Limits lists every Limit, for metrics and tables.
func Limits() []Limit {
	return []Limit{LimitConnections, LimitPendingRequests, LimitRequests, LimitRetries}
}

// Resources is a cluster's circuit breaker: a counter per limit that callers
// take with TryAcquire before the thing the limit bounds and give back with
// Release after it. Over a limit TryAcquire fails at once and counts an
// overflow; nothing waits. It is lock-free and allocation-free.
//
// Where each limit is meant to be taken (by the forwarding loop and the
// pools, which hold the *Cluster of the request, so a reload that replaces
// the cluster never unbalances a counter):
//   - LimitRequests: before a request is sent upstream (beside
//     Tries.Started), released when it ends;
//   - LimitRetries: before each try after the first, released when it ends;
//   - LimitPendingRequests: while a request waits for a pooled connection;
//   - LimitConnections: before dialling an upstream connection, released
//     when it closes.
//
// A refused request fails at once (HTTP 503 with x-mosn-overflow: true, a
// Bolt/gRPC unavailable status).
type Resources struct {
	res [numLimits]resource
}

type resource struct {
	max      int64
	open     atomic.Int64
	overflow atomic.Uint64
}

// newResources sets the limits of cb's DEFAULT thresholds; limits it leaves
// out, or no circuit_breakers at all, are DefaultCircuitBreakerLimit.
func newResources(cb *config.CircuitBreakers) *Resources {
	r := &Resources{}
	var t config.Thresholds
	if cb != nil && len(cb.Thresholds) > 0 {
		t = cb.Thresholds[0] // validation allows one set, DEFAULT
	}
	for l, v := range [numLimits]uint32{t.MaxConnections, t.MaxPendingRequests, t.MaxRequests, t.MaxRetries} {
		switch {
		case v != 0:
		case Limit(l) == LimitRetries:
			v = config.DefaultMaxRetries
		default:
			v = config.DefaultCircuitBreakerLimit
		}
		r.res[l].max = int64(v)
	}
	return r
}

// TryAcquire takes one unit of l and reports true, or reports false and
// counts an overflow when l's limit is reached. Each true must be matched
// by one Release.
func (r *Resources) TryAcquire(l Limit) bool {
	x := &r.res[l]
	// One atomic add on the way in (a compare-and-swap loop would retry
	// under contention on every request); near the limit, racing takers
	// may both be refused, never both let through.
	if x.open.Add(1) > x.max {
		x.open.Add(-1)
		x.overflow.Add(1)
		return false
	}
	return true
}

// Release gives back a unit TryAcquire took.
func (r *Resources) Release(l Limit) { r.res[l].open.Add(-1) }

// Open is the number of units of l taken now (a refused taker may count
// for an instant: never more than the limit is shown).
func (r *Resources) Open(l Limit) int64 { return min(r.res[l].open.Load(), r.res[l].max) }

// Max is l's limit.
func (r *Resources) Max(l Limit) int64 { return r.res[l].max }

// AcquireConnection and ReleaseConnection take and give back one of the
// cluster's connections (stream.ConnBreaker); a nil Resources limits
// nothing.
func (r *Resources) AcquireConnection() bool { return r == nil || r.TryAcquire(LimitConnections) }

func (r *Resources) ReleaseConnection() {
	if r != nil {
		r.Release(LimitConnections)
	}
}

// Overflows counts the TryAcquire calls l refused.
func (r *Resources) Overflows(l Limit) uint64 { return r.res[l].overflow.Load() }
