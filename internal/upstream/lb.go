package upstream

import (
	"fmt"
	"math/bits"
	"math/rand/v2"

	"github.com/mosnctl/mosnctl/internal/config"
)

// LoadBalancer picks the host for one request among the hosts ctx allows
// (the zero PickContext: every available host); it returns nil when ctx
// allows none. Implementations are safe for concurrent use and allocate
// nothing per pick. ctx is passed by value: a pointer handed to an
// interface method escapes, and would drag the request state holding it
// to the heap.
type LoadBalancer interface {
	Pick(ctx PickContext) *Host
}

// maxTried bounds the hosts a PickContext remembers (a few words in every
// request's state): retries past it may return to a host already tried.
const maxTried = 4

// PickContext is what a pick knows of its request: the hosts its earlier
// tries went to, so that a retry goes elsewhere when it can. It lives in
// Tries, inside the request's pooled state, so a pick allocates nothing.
type PickContext struct {
	tried  [maxTried]*Host
	nTried uint8
	// relax widens what allows accepts, in the order Cluster.pick tries:
	// 0 available and untried, relaxTried available, relaxHealth untried
	// (panic: every host is out), both: any host.
	relax uint8
}

const (
	relaxTried uint8 = 1 << iota
	relaxHealth
)

// allows reports whether the pick may return h.
func (c *PickContext) allows(h *Host) bool {
	if c.relax&relaxHealth == 0 && !h.Available() {
		return false
	}
	if c.relax&relaxTried == 0 {
		for _, t := range c.tried[:c.nTried] {
			if t == h {
				return false
			}
		}
	}
	return true
}

// Tried records h as tried by the request.
func (c *PickContext) Tried(h *Host) {
	if int(c.nTried) < maxTried {
		c.tried[c.nTried] = h
		c.nTried++
	}
}

// Reset forgets the hosts tried.
func (c *PickContext) Reset() { *c = PickContext{} }

// pickFrom asks lb for a host, relaxing ctx step by step: an available host
// not tried yet; an available one tried before (when every available host
// was tried); then, when none is available (all failed their checks or are
// ejected: Envoy's panic mode), any host not tried, then any host. So a
// cluster whose hosts are all down still sends traffic rather than none.
func pickFrom(lb LoadBalancer, ctx *PickContext) *Host {
	var c PickContext
	if ctx != nil {
		c = *ctx
	}
	for _, r := range [...]uint8{0, relaxTried, relaxHealth, relaxHealth | relaxTried} {
		if r&relaxTried != 0 && c.nTried == 0 {
			continue // same as the step before
		}
		c.relax = r
		if h := lb.Pick(c); h != nil {
			return h
		}
	}
	return nil
}

// randSource returns uniformly random 64-bit values. Production load
// balancers use math/rand/v2's global generator (concurrency-safe,
// allocation-free); tests pass a seeded one so their counts are exact.
type randSource func() uint64

// NewLoadBalancer returns the load balancer named by lbType (MOSN's lb_type;
// "" means LB_ROUNDROBIN, MOSN's default) over hosts. The hosts slice is kept,
// not copied: it must not change afterwards.
func NewLoadBalancer(lbType string, hosts []*Host) (LoadBalancer, error) {
	return newLoadBalancer(lbType, hosts, rand.Uint64)
}

func newLoadBalancer(lbType string, hosts []*Host, rnd randSource) (LoadBalancer, error) {
	switch lbType {
	case "", config.LBRoundRobin:
		return &roundRobin{hosts: hosts}, nil
	case config.LBRandom:
		return &randomLB{hosts: hosts, rnd: rnd}, nil
	case config.LBWeightedRoundRobin:
		return newWeightedRoundRobin(hosts), nil
	case config.LBLeastRequest:
		return newLeastRequest(hosts, rnd), nil
	}
	return nil, fmt.Errorf("unknown lb_type %q (want %s, %s, %s or %s)", lbType,
		config.LBRoundRobin, config.LBRandom, config.LBWeightedRoundRobin, config.LBLeastRequest)
}

// below returns a uniform integer in [0, n) from 64 random bits (Lemire's
// multiply-shift: no division, no modulo bias worth measuring).
func below(r uint64, n int) int {
	hi, _ := bits.Mul64(r, uint64(n))
	return int(hi)
}

// pickHealthyUniform returns the k-th healthy host for a uniform k, or nil.
// It is the slow path for when a first random draw hit an unhealthy host:
// redrawing among the healthy ones keeps their shares equal, where probing to
// the next index would double the share of an unhealthy host's neighbour.
func pickHealthyUniform(hosts []*Host, ctx *PickContext, r uint64) *Host {
	healthy := 0
	for _, h := range hosts {
		if ctx.allows(h) {
			healthy++
		}
	}
	if healthy == 0 {
		return nil
	}
	k := below(r, healthy)
	for _, h := range hosts {
		if ctx.allows(h) {
			if k == 0 {
				return h
			}
			k--
		}
	}
	// Health changed between the two passes: any healthy host will do.
	for _, h := range hosts {
		if ctx.allows(h) {
			return h
		}
	}
	return nil
}
