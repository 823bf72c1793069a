package upstream

// Tries is one request's walk over a cluster's hosts: the load balancer's
// pick for each try, the tries left, and the request counters of the
// cluster and of the host tried. Every proxy (HTTP/1, Bolt, tcp_proxy)
// goes through it, so hosts are picked, tries counted and requests
// accounted in this one place. The zero value has no tries; Reset starts.
type Tries struct {
	Cluster *Cluster
	Host    *Host // the host of the current try

	left  int  // tries left after the current one
	again bool // Again was called: the next try is the same host's
	fresh bool // the current try is an Again
	spent bool // Again was used
}

// Reset starts the tries of a request to c: n of them (at least one).
func (t *Tries) Reset(c *Cluster, n int) {
	*t = Tries{Cluster: c, left: max(n, 1)}
}

// Next picks the host of the next try. It reports false when the tries are
// used up or when no host can be picked (Host is then nil).
func (t *Tries) Next() bool {
	t.fresh = t.again
	if t.again {
		t.again = false
		return true
	}
	if t.left == 0 {
		return false
	}
	t.left--
	t.Host = t.Cluster.LB.Pick()
	return t.Host != nil
}

// Again makes the next try go to the same host on a new connection, without
// using up a try: for a request whose reused connection turned out closed
// by the host before it answered. Once per request; later calls do nothing.
func (t *Tries) Again() {
	if !t.spent {
		t.again, t.spent = true, true
	}
}

// Fresh reports whether the current try must use a new connection (it
// follows an Again).
func (t *Tries) Fresh() bool { return t.fresh }

// ConnectFailed counts a failed connection to the current host.
func (t *Tries) ConnectFailed() {
	t.Host.ConnectFailures.Add(1)
	t.Cluster.ConnectFailures.Add(1)
}

// Started counts the request as sent to the current host; Ended must follow.
func (t *Tries) Started() {
	t.Host.Requests.Add(1)
	t.Cluster.Requests.Add(1)
	t.Host.ActiveRequests.Add(1)
	t.Cluster.ActiveRequests.Add(1)
}

// Ended ends what Started began.
func (t *Tries) Ended() {
	t.Host.ActiveRequests.Add(-1)
	t.Cluster.ActiveRequests.Add(-1)
}

// Failed counts a try that got no usable answer: the host failed, or timed
// out.
func (t *Tries) Failed(timeout bool) {
	t.Host.Errors.Add(1)
	t.Cluster.Errors.Add(1)
	if timeout {
		t.Host.Timeouts.Add(1)
		t.Cluster.Timeouts.Add(1)
	}
}

// Answered counts an answer in HTTP status terms: a 5xx is an error of the
// host.
func (t *Tries) Answered(status int) {
	if status >= 500 {
		t.Host.Errors.Add(1)
		t.Cluster.Errors.Add(1)
	}
}

// Overflowed counts a request the host's connection limit refused.
func (t *Tries) Overflowed() { t.Host.Overflows.Add(1) }

// Left is the number of tries after the current one.
func (t *Tries) Left() int { return t.left }
