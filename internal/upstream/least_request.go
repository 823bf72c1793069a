package upstream

// leastRequest (LB_LEAST_REQUEST) prefers hosts with fewer requests in
// flight, as Envoy's least-request balancer does:
//
//   - all weights equal: "power of two choices": draw two distinct hosts at
//     random and take the one with fewer ActiveRequests (the first on a tie).
//     This avoids the herd a global minimum causes and costs O(1).
//   - unequal weights: a weighted random pick where each healthy host's
//     weight is divided by (ActiveRequests+1), Envoy's effective weight with
//     active_request_bias 1. Idle hosts then share traffic by weight, and a
//     host with a backlog loses share in proportion. It costs O(hosts) per
//     pick; Envoy uses an EDF scheduler for the same shares, which is not
//     worth its complexity at the host counts of a static cluster.
type leastRequest struct {
	hosts        []*Host
	weights      []float64
	equalWeights bool
	rnd          randSource
}

func newLeastRequest(hosts []*Host, rnd randSource) *leastRequest {
	lb := &leastRequest{hosts: hosts, weights: make([]float64, len(hosts)), equalWeights: true, rnd: rnd}
	for i, h := range hosts {
		lb.weights[i] = float64(clampWeight(h.Weight))
		if i > 0 && lb.weights[i] != lb.weights[0] {
			lb.equalWeights = false
		}
	}
	return lb
}

func (lb *leastRequest) Pick(ctx PickContext) *Host {
	switch n := len(lb.hosts); {
	case n == 0:
		return nil
	case n == 1:
		if h := lb.hosts[0]; ctx.allows(h) {
			return h
		}
		return nil
	case lb.equalWeights:
		return lb.pickTwoChoices(&ctx)
	}
	return lb.pickWeighted(&ctx)
}

func (lb *leastRequest) pickTwoChoices(ctx *PickContext) *Host {
	n := len(lb.hosts)
	r := lb.rnd()
	// Two indexes from one draw: the high and low 32 bits, each scaled.
	i := int(((r >> 32) * uint64(n)) >> 32)
	j := int(((r & 0xffffffff) * uint64(n-1)) >> 32)
	if j >= i {
		j++
	}
	a, b := lb.hosts[i], lb.hosts[j]
	switch aok, bok := ctx.allows(a), ctx.allows(b); {
	case aok && bok:
		if b.ActiveRequests.Load() < a.ActiveRequests.Load() {
			return b
		}
		return a
	case aok:
		return a
	case bok:
		return b
	}
	// Both draws unhealthy: the healthy host with fewest active requests.
	var best *Host
	var bestActive int64
	for _, h := range lb.hosts {
		if !ctx.allows(h) {
			continue
		}
		if act := h.ActiveRequests.Load(); best == nil || act < bestActive {
			best, bestActive = h, act
		}
	}
	return best
}

func (lb *leastRequest) pickWeighted(ctx *PickContext) *Host {
	var total float64
	for i, h := range lb.hosts {
		if ctx.allows(h) {
			total += lb.effectiveWeight(i, h)
		}
	}
	if total == 0 {
		return nil
	}
	// 53 random bits give a uniform float64 in [0, total).
	x := float64(lb.rnd()>>11) / (1 << 53) * total
	var last *Host
	for i, h := range lb.hosts {
		if !ctx.allows(h) {
			continue
		}
		last = h
		x -= lb.effectiveWeight(i, h)
		if x < 0 {
			return h
		}
	}
	// Counters moved between the two passes; the last healthy host absorbs
	// the difference.
	return last
}

func (lb *leastRequest) effectiveWeight(i int, h *Host) float64 {
	act := h.ActiveRequests.Load()
	if act < 0 {
		act = 0
	}
	return lb.weights[i] / float64(act+1)
}
