// Package router owns route tables: it compiles a MOSN router configuration
// (virtual hosts, path and header matchers, weighted clusters, direct
// responses, header edits) into an immutable Table and matches requests
// against it on the per-request path without allocating.
//
// It imports only internal/config; it knows nothing of connections, codecs or
// streams. The proxy hands it a Request view over its decoded headers.
package router

import (
	"time"

	"github.com/mosnctl/mosnctl/internal/config"
)

// Request is what a route is matched against. The proxy's HTTP/1, HTTP/2 and
// Bolt request views implement it over their decoded bytes, so matching reads
// the request without copying it.
type Request interface {
	// Host is the authority, possibly with ":port"; empty for Bolt.
	Host() []byte
	// Path is the path without the query; empty for Bolt.
	Path() []byte
	// Header returns a header's value. HTTP views compare names ASCII
	// case-insensitively; Bolt views compare header keys as they are.
	Header(name string) ([]byte, bool)
}

// Header is one header to add to a request or a response.
type Header struct {
	Name, Value []byte
	// Append adds Value after an existing value ("old,new") instead of
	// replacing it. MOSN's default when the config omits "append" is true.
	Append bool
}

// DirectResponse answers a request without an upstream.
type DirectResponse struct {
	Status int
	Body   []byte
}

// RetryPolicy says how often a failed request is retried. The zero value
// means no retries.
type RetryPolicy struct {
	NumRetries    int
	PerTryTimeout time.Duration // 0: each try gets what is left of the route timeout
	// What is retried: a failed connection; a connection that broke after
	// the request went out, before any answer; answers by status.
	ConnectFailure, Reset bool
	On5xx, GatewayError   bool
	StatusCodes           []int
}

// RetriesAnswer reports whether an answer with this status is retried.
func (p *RetryPolicy) RetriesAnswer(status int) bool {
	if p.On5xx && status >= 500 || p.GatewayError && status >= 502 && status <= 504 {
		return true
	}
	for _, c := range p.StatusCodes {
		if c == status {
			return true
		}
	}
	return false
}

// RetriesAfterSend reports whether a try that has sent its request may be
// retried, so its request must be kept.
func (p *RetryPolicy) RetriesAfterSend() bool {
	return p.NumRetries > 0 && (p.PerTryTimeout > 0 || p.Reset || p.On5xx || p.GatewayError || len(p.StatusCodes) > 0)
}

// NoTimeout is Route.Timeout for a route that disabled its timeout.
const NoTimeout time.Duration = -1

// WeightedCluster is one cluster of a weighted route and its share of traffic.
type WeightedCluster struct {
	Name   string
	Weight uint32
}

// Route is the compiled action of one matched route. A Route is shared by all
// requests that match it: callers must treat it, and every slice in it, as
// read-only.
type Route struct {
	ClusterName string // "" when Weighted or Direct is set
	Weighted    []WeightedCluster
	// Timeout bounds the whole request including retries, from the request
	// head to the last byte of the response; 0 means the proxy's default,
	// NoTimeout none at all.
	Timeout time.Duration
	// IdleTimeout bounds each wait for the next byte of the exchange (the
	// response head, a body chunk either way); 0: none.
	IdleTimeout time.Duration
	Retry       RetryPolicy
	Direct      *DirectResponse

	// MetadataMatch is the route's metadata_match: the "mosn.lb" labels,
	// sorted by key, of the cluster subset it goes to (nil: any host).
	MetadataMatch []config.Label

	PrefixRewrite string // replaces MatchedPrefix at the start of the path
	HostRewrite   string

	// Header edits of the route, its virtual host and its table, resolved at
	// build time: for the same (case-insensitive) name the more specific level
	// wins. Route entries come first, then the virtual host's, then the table's.
	RequestHeadersToAdd    []Header
	ResponseHeadersToAdd   []Header
	RequestHeadersToRemove [][]byte
	// ResponseHeadersToRemove apply before ResponseHeadersToAdd, as
	// Envoy's do.
	ResponseHeadersToRemove [][]byte

	// MatchedPrefix is the prefix of a prefix route, or the path of an exact
	// path route (so PrefixRewrite replaces the whole path, as in Envoy).
	MatchedPrefix []byte

	// VirtualHost names the virtual host the route belongs to (for logs and
	// stats).
	VirtualHost string
}

// PickCluster returns the cluster to forward to: ClusterName, or for a
// weighted route the cluster whose share of the total weight holds rnd, which
// the caller draws uniformly from the whole uint32 range. Scaling rnd by the
// total (instead of rnd % total) keeps every cluster's share exact to within
// total/2^32. It allocates nothing.
func (r *Route) PickCluster(rnd uint32) string {
	if len(r.Weighted) == 0 {
		return r.ClusterName
	}
	var total uint64
	for i := range r.Weighted {
		total += uint64(r.Weighted[i].Weight)
	}
	if total == 0 {
		return r.Weighted[0].Name
	}
	x := (uint64(rnd) * total) >> 32
	var acc uint64
	for i := range r.Weighted {
		acc += uint64(r.Weighted[i].Weight)
		if x < acc {
			return r.Weighted[i].Name
		}
	}
	return r.Weighted[len(r.Weighted)-1].Name
}
