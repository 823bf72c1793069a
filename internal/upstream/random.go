package upstream

// randomLB (LB_RANDOM) picks a uniformly random healthy host.
type randomLB struct {
	hosts []*Host
	rnd   randSource
}

func (lb *randomLB) Pick() *Host {
	n := len(lb.hosts)
	if n == 0 {
		return nil
	}
	r := lb.rnd()
	if h := lb.hosts[below(r, n)]; h.Healthy() {
		return h
	}
	return pickHealthyUniform(lb.hosts, lb.rnd())
}
