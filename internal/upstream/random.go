package upstream

// randomLB (LB_RANDOM) picks a uniformly random healthy host.
type randomLB struct {
	hosts []*Host
	rnd   randSource
}

func (lb *randomLB) Pick(ctx PickContext) *Host {
	n := len(lb.hosts)
	if n == 0 {
		return nil
	}
	r := lb.rnd()
	if h := lb.hosts[below(r, n)]; ctx.allows(h) {
		return h
	}
	return pickHealthyUniform(lb.hosts, &ctx, lb.rnd())
}
