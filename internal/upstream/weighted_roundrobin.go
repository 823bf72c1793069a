package upstream

import (
	"sync"
)

// weightedRoundRobin (LB_WEIGHTED_ROUNDROBIN) is nginx's smooth weighted
// round robin: each pick adds every healthy host's weight to its current
// value, takes the host with the largest current value (the first on a tie)
// and subtracts the total weight from it. Weights 5,1,1 give a a b a c a a:
// exact shares per cycle, with the heavy host's turns spread out rather than
// bunched. The state is shared and small, so a mutex guards it.
type weightedRoundRobin struct {
	hosts   []*Host
	weights []int64

	mu      sync.Mutex
	current []int64
}

func newWeightedRoundRobin(hosts []*Host) *weightedRoundRobin {
	lb := &weightedRoundRobin{
		hosts:   hosts,
		weights: make([]int64, len(hosts)),
		current: make([]int64, len(hosts)),
	}
	for i, h := range hosts {
		lb.weights[i] = int64(clampWeight(h.Weight))
	}
	return lb
}

func (lb *weightedRoundRobin) Pick(ctx PickContext) *Host {
	lb.mu.Lock()
	defer lb.mu.Unlock()
	best := -1
	var total int64
	for i, h := range lb.hosts {
		if !ctx.allows(h) {
			continue
		}
		lb.current[i] += lb.weights[i]
		total += lb.weights[i]
		if best < 0 || lb.current[i] > lb.current[best] {
			best = i
		}
	}
	if best < 0 {
		return nil
	}
	lb.current[best] -= total
	return lb.hosts[best]
}
