package upstream

import "github.com/mosnctl/mosnctl/internal/config"

// Tries is one request's walk over a cluster's hosts: the load balancer's
// pick for each try, the tries left, and the request counters of the
// cluster and of the host tried. Every proxy (HTTP/1, Bolt, tcp_proxy)
// goes through it, so hosts are picked, tries counted, requests accounted
// and outlier detection fed in this one place. The zero value has no
// tries; Reset starts.
//
// Picks skip hosts that failed their health checks or are ejected, and
// hosts this request already tried, while another host is left (see
// pickFrom). A try's outcome is its Answered or Failed call (before or
// after Ended) or ConnectFailed; a try that ends with none of them counts
// as a success.
type Tries struct {
	Cluster *Cluster
	Host    *Host // the host of the current try

	set *hostSet // the hosts the request may go to (its subset); nil: none
	ctx PickContext

	left    int     // tries left after the current one
	seq     uint64  // the current try's sequence number once it ended; 0 before
	pending failure // a failure reported before the try ended
	again   bool    // Again was called: the next try is the same host's
	fresh   bool    // the current try is an Again
	spent   bool    // Again was used
}

// Reset starts the tries of a request to c: n of them (at least one), among
// the hosts whose labels are match (the route's metadata_match, sorted by
// key; nil for any host, see Cluster.hostSet).
func (t *Tries) Reset(c *Cluster, n int, match []config.Label) {
	*t = Tries{Cluster: c, left: max(n, 1), set: c.hostSet(match)}
}

// Next picks the host of the next try. It reports false when the tries are
// used up or when no host can be picked (Host is then nil).
func (t *Tries) Next() bool {
	t.fresh = t.again
	t.seq, t.pending = 0, 0
	if t.again {
		t.again = false
		return true
	}
	if t.left == 0 {
		return false
	}
	t.left--
	t.Host = nil
	if t.set != nil {
		t.Host = pickFrom(t.set.lb, &t.ctx)
	}
	if t.Host == nil {
		return false
	}
	t.ctx.Tried(t.Host)
	return true
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
	if d := t.Cluster.outlier; d != nil {
		d.record(t.Host, t.Host.tries.Add(1), fail5xx|failGateway)
	}
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
	if d := t.Cluster.outlier; d != nil {
		t.seq = t.Host.tries.Add(1)
		if t.pending != 0 {
			d.record(t.Host, t.seq, t.pending)
		}
	}
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
	t.outcome(fail5xx | failGateway)
}

// Answered counts an answer in HTTP status terms: a 5xx is an error of the
// host.
func (t *Tries) Answered(status int) {
	if status >= 500 {
		t.Host.Errors.Add(1)
		t.Cluster.Errors.Add(1)
		t.outcome(failureOf(status))
	}
}

// outcome hands a failure to outlier detection, now if the try ended, else
// when it does.
func (t *Tries) outcome(f failure) {
	d := t.Cluster.outlier
	switch {
	case d == nil:
	case t.seq != 0:
		d.record(t.Host, t.seq, f)
	default:
		t.pending = f
	}
}

// Overflowed counts a request the host's connection limit refused.
func (t *Tries) Overflowed() { t.Host.Overflows.Add(1) }

// Left is the number of tries after the current one.
func (t *Tries) Left() int { return t.left }
