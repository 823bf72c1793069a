package upstream

import (
	"sync/atomic"
)

// roundRobin (LB_ROUNDROBIN) hands hosts out in turn from a shared atomic
// counter, so concurrent picks never block one another. An unhealthy host's
// turn goes to the next healthy host after it.
type roundRobin struct {
	hosts []*Host
	next  atomic.Uint64
}

func (lb *roundRobin) Pick(ctx PickContext) *Host {
	n := uint64(len(lb.hosts))
	if n == 0 {
		return nil
	}
	start := lb.next.Add(1) - 1
	for i := uint64(0); i < n; i++ {
		if h := lb.hosts[(start+i)%n]; ctx.allows(h) {
			return h
		}
	}
	// Give the turn back: the pick is tried again with a wider ctx (see
	// pickFrom), which must start where this one did.
	lb.next.Add(^uint64(0))
	return nil
}
