package upstream

import (
	"fmt"
	"math/bits"
	"math/rand/v2"

	"github.com/mosnctl/mosnctl/internal/config"
)

// LoadBalancer picks the host for one request. Pick returns nil when no host
// is healthy. Implementations are safe for concurrent use and allocate
// nothing per pick.
type LoadBalancer interface {
	Pick() *Host
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
func pickHealthyUniform(hosts []*Host, r uint64) *Host {
	healthy := 0
	for _, h := range hosts {
		if h.Healthy() {
			healthy++
		}
	}
	if healthy == 0 {
		return nil
	}
	k := below(r, healthy)
	for _, h := range hosts {
		if h.Healthy() {
			if k == 0 {
				return h
			}
			k--
		}
	}
	// Health changed between the two passes: any healthy host will do.
	for _, h := range hosts {
		if h.Healthy() {
			return h
		}
	}
	return nil
}
