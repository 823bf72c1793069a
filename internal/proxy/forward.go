package proxy

import (
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/mosnctl/mosnctl/internal/filter"
	"github.com/mosnctl/mosnctl/internal/lograte"
	"github.com/mosnctl/mosnctl/internal/metrics"
	"github.com/mosnctl/mosnctl/internal/router"
	"github.com/mosnctl/mosnctl/internal/upstream"
)

// Forwarder is what the proxies of every protocol share: the listener's
// routes, the clusters and their pools, its filters, and where requests are
// counted and logged. The protocol adapters (HTTP1Proxy, BoltProxy) embed
// it; each request goes through the forwarding loop (call) with it.
type Forwarder struct {
	Listener  string
	Routes    Routes
	Clusters  Clusters
	Pools     *Pools
	Stats     *metrics.RequestStats
	AccessLog AccessLogger // nil: off
	Log       *slog.Logger
	Streams   *StreamTracker // nil: streams are not listed
	// Filters run on every request once its route is known; the zero
	// Chain has none and costs nothing.
	Filters filter.Chain
	// LogLimit rate-limits the lines bad input logs; nil: off.
	LogLimit *lograte.Limiter
}

// Routes is the route table a proxy listener uses; the server swaps it on a
// config change.
type Routes interface {
	Match(req router.Request) *router.Route
}

// Clusters resolves cluster names.
type Clusters interface {
	Get(name string) *upstream.Cluster
}

// resolve matches req to a route and, unless the route answers directly,
// the route to a cluster, whose tries it starts. It returns the route (nil:
// no route) and whether the request can go on: false when the route names
// a cluster that does not exist.
func (f *Forwarder) resolve(req router.Request, t *trackedStream, tries *upstream.Tries) (*router.Route, bool) {
	route := f.Routes.Match(req)
	if route == nil {
		return nil, false
	}
	t.setRoute(route)
	if route.Direct != nil {
		return route, true
	}
	cluster := f.Clusters.Get(route.PickCluster(rand.Uint32()))
	if cluster == nil {
		return route, false
	}
	t.setCluster(cluster)
	tries.Reset(cluster, 1+route.Retry.NumRetries, route.MetadataMatch)
	return route, true
}

// routeTimeout is the route's bound on the whole exchange: its timeout, or
// DefaultRouteTimeout when it sets none; ok is false when the route turned
// it off ("0s").
func routeTimeout(r *router.Route) (d time.Duration, ok bool) {
	switch {
	case r.Timeout == 0:
		return DefaultRouteTimeout, true
	case r.Timeout < 0:
		return 0, false
	}
	return r.Timeout, true
}

// clusterName names c for stream filters: "" for none (a direct response).
func clusterName(c *upstream.Cluster) string {
	if c == nil {
		return ""
	}
	return c.Name
}

// nextHost picks the host of the next try (upstream.Tries.Next) and shows
// it in the stream list.
func nextHost(tries *upstream.Tries, t *trackedStream) bool {
	if !tries.Next() {
		return false
	}
	t.setHost(tries.Host)
	return true
}

// begin counts a request in flight; count ends it.
func (f *Forwarder) begin() { f.Stats.Active.Add(1) }

// count ends a request: its response class (an HTTP status; other
// protocols map theirs) and duration.
func (f *Forwarder) count(status int, d time.Duration) {
	f.Stats.Active.Add(-1)
	f.Stats.Done(status, d)
}
