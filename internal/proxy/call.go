package proxy

import (
	"time"

	"github.com/mosnctl/mosnctl/internal/filter"
	"github.com/mosnctl/mosnctl/internal/network"
	"github.com/mosnctl/mosnctl/internal/protocol/http1"
	"github.com/mosnctl/mosnctl/internal/router"
	"github.com/mosnctl/mosnctl/internal/stream"
	mosntls "github.com/mosnctl/mosnctl/internal/tls"
	"github.com/mosnctl/mosnctl/internal/upstream"
)

// downstream is what the forwarding loop needs of a protocol: its request
// (to route, filter and edit), one try upstream, and its own way of
// answering. The adapters (HTTP/1, Bolt) implement it.
type downstream interface {
	stream.RequestEditor
	// send makes one try to c.tries.Host with c.try, and reports how it
	// ended through c.ended: before it returns (HTTP/1) or later, from the
	// upstream connection's reader (the multiplexed protocols).
	send(c *call)
	// reply answers with the proxy's own response, mapped to the
	// protocol, and returns its class as an HTTP status (for counters).
	reply(r stream.Reply) int
	// wholeBody is the request body when it came whole with the head (a
	// Bolt frame's content), for the data filters to see before any try;
	// a streamed body (HTTP/1) goes through them as it flows.
	wholeBody() (p []byte, whole bool)
	// pause runs resume after d without holding up the connection's other
	// work; HTTP/1, one request at a time, sleeps.
	pause(d time.Duration, resume func())
	// status is the status of a response already sent downstream, in HTTP
	// terms; 0 when none was.
	status() int
	// logEntry completes an access log entry with the protocol's fields.
	logEntry(e *AccessEntry)
	// done ends the request: the adapter releases what it held.
	done(c *call)
}

// call is one request on its way through the proxy: the forwarding loop.
// It runs the decode filters, routes, applies the route's edits and
// timeouts, makes tries to hosts the load balancer picks (upstream.Tries),
// decides each retry, answers locally when nothing else can, and counts
// and logs the request once at its end. Every protocol goes through it; its
// steps run on whichever goroutine or task has the request's next event.
type call struct {
	f     *Forwarder
	ds    downstream
	conn  *network.Conn  // the downstream connection: its TLS state answers the peer identity
	t     *trackedStream // nil: untracked
	route *router.Route
	tries upstream.Tries
	try   stream.Try
	start time.Time
	// expire is the request's own deadline (a Bolt frame's timeout), which
	// bounds the route's; zero: none.
	expire time.Time
	flag   string // why the request failed, for the access log
	// taken are the cluster's circuit-breaker units the current try holds.
	taken    [2]bool // requests, retries
	retrying bool    // a try was made: the next one is a retry
}

// failure reasons recorded in the access log.
const (
	flagNoRoute    = "no_route"
	flagNoHealthy  = "no_healthy_upstream"
	flagConnect    = "connect_failure"
	flagOverflow   = "upstream_overflow"
	flagTimeout    = "upstream_timeout"
	flagUpstream   = "upstream_error"
	flagDownstream = "downstream_error"
	flagFault      = "fault_injected" // a stream filter answered
)

var (
	bodyNoRoute      = []byte("no route for this request\n")
	bodyNoCluster    = []byte("no such cluster\n")
	bodyNoHealthy    = []byte("no healthy upstream\n")
	bodyConnectFail  = []byte("upstream connect error\n")
	bodyOverflow     = []byte("upstream overflow: a connection or request limit is reached\n")
	bodyTimeout      = []byte("upstream request timeout\n")
	bodyUpstreamFail = []byte("upstream connection error\n")
)

// DefaultRouteTimeout bounds a request whose route sets no timeout, as
// Envoy's default route timeout does.
const DefaultRouteTimeout = 15 * time.Second

// run starts the request; the adapter has set f, ds, conn, t and start
// (and expire).
func (c *call) run() {
	c.f.begin()
	// Routed through the call: it answers the peer identity headers.
	route, ok := c.f.resolve(c, c.t, &c.tries)
	switch {
	case route == nil:
		c.answer(stream.Reply{Status: 404, Body: bodyNoRoute, Cause: stream.NoRoute}, flagNoRoute)
		return
	case !ok:
		c.answer(stream.Reply{Status: 503, Body: bodyNoCluster, Cause: stream.NoRoute}, flagNoRoute)
		return
	}
	c.route = route
	if c.f.Filters.Empty() {
		c.forward(filter.Verdict{}, c.start)
		return
	}
	v := c.f.Filters.DecodeHeaders(c)
	if p, whole := c.ds.wholeBody(); whole && v.Status == 0 && c.f.Filters.DecodesData() {
		v = merge(v, c.f.Filters.DecodeData(c, p, true))
	}
	if v.Delay > 0 {
		// The route's timeout counts from the end of the delay, as Envoy's
		// after its filters.
		c.ds.pause(v.Delay, func() { c.forward(v, time.Now()) })
		return
	}
	c.forward(v, c.start)
}

// forward answers a filter's stop or a direct route, or sends the request
// upstream with the route's edits and timeouts.
func (c *call) forward(v filter.Verdict, from time.Time) {
	route := c.route
	switch {
	case v.Status != 0:
		c.answer(stream.Reply{Status: v.Status, Body: v.Body}, flagFault)
		return
	case route.Direct != nil:
		c.answer(stream.Reply{Status: route.Direct.Status, Body: route.Direct.Body}, "")
		return
	}
	dropPeerHeaders(c.ds) // never forwarded: see HeaderPeerURI
	editRequest(c.ds, route)
	c.try = stream.Try{PerTry: route.Retry.PerTryTimeout, Idle: route.IdleTimeout}
	if timeout, ok := routeTimeout(route); ok {
		c.try.Deadline = from.Add(timeout)
	}
	if !c.expire.IsZero() && (c.try.Deadline.IsZero() || c.expire.Before(c.try.Deadline)) {
		// The client gives up then: waiting longer only keeps the
		// request's state and upstream slot busy.
		c.try.Deadline = c.expire
	}
	c.next()
}

// editRequest applies the route's request edits: the host rewrite, header
// removals and additions, the path rewrite.
func editRequest(r stream.RequestEditor, route *router.Route) {
	if route.HostRewrite != "" {
		r.SetHost(route.HostRewrite)
	}
	editHeaders(r, route.RequestHeadersToRemove, route.RequestHeadersToAdd)
	if route.PrefixRewrite != "" {
		r.ReplacePathPrefix(len(route.MatchedPrefix), route.PrefixRewrite)
	}
}

// editHeaders removes, then adds (replacing same-named headers unless an
// addition appends).
func editHeaders(h stream.HeadEditor, remove [][]byte, add []router.Header) {
	for _, name := range remove {
		h.DelHeader(name)
	}
	for _, a := range add {
		if !a.Append {
			h.DelHeader(a.Name)
		}
		h.AddHeader(a.Name, a.Value)
	}
}

// next makes the next try, or answers when none is left.
func (c *call) next() {
	if !nextHost(&c.tries, c.t) {
		c.giveUp()
		return
	}
	c.try.Fresh = c.tries.Fresh()
	// The request is kept for another try when one may follow a try that
	// sent it.
	c.try.Hold = c.tries.Left() > 0 && c.route.Retry.RetriesAfterSend()
	if !c.take() {
		if c.retrying {
			c.giveUp() // a retry over max_retries: the last failure stands, as in Envoy
			return
		}
		c.answer(stream.Reply{Status: 503, Body: bodyOverflow, Cause: stream.Overflowed}, flagOverflow)
		return
	}
	c.ds.send(c)
}

// giveUp answers when no try is left: by the last failure.
func (c *call) giveUp() {
	switch {
	case c.tries.Host == nil:
		c.answer(stream.Reply{Status: 503, Body: bodyNoHealthy, Cause: stream.Unavailable}, flagNoHealthy)
	case c.flag == flagTimeout:
		c.answer(stream.Reply{Status: 504, Body: bodyTimeout, Cause: stream.TimedOut}, flagTimeout)
	case c.flag == flagUpstream:
		c.answer(stream.Reply{Status: 503, Body: bodyUpstreamFail, Cause: stream.Unavailable}, flagUpstream)
	default:
		c.answer(stream.Reply{Status: 503, Body: bodyConnectFail, Cause: stream.Unavailable}, flagConnect)
	}
}

// take takes the circuit-breaker units of a try: a request in flight,
// and a retry unless it is the first try or a stale connection's replay.
func (c *call) take() bool {
	r := c.tries.Cluster.Resources
	if r == nil {
		return true
	}
	retry := c.retrying && !c.try.Fresh
	if retry && !r.TryAcquire(upstream.LimitRetries) {
		return false
	}
	if !r.TryAcquire(upstream.LimitRequests) {
		if retry {
			r.Release(upstream.LimitRetries)
		}
		return false
	}
	c.taken = [2]bool{true, retry}
	c.retrying = true
	return true
}

// give gives back what take took.
func (c *call) give() {
	r := c.tries.Cluster.Resources
	if c.taken[0] {
		r.Release(upstream.LimitRequests)
	}
	if c.taken[1] {
		r.Release(upstream.LimitRetries)
	}
	c.taken = [2]bool{}
}

// ended takes the report of a try: the one place that decides retries.
func (c *call) ended(r stream.Result) {
	c.give()
	if r.Outcome != stream.ConnectFailed && r.Outcome != stream.Overflow {
		c.tries.Ended()
	}
	switch r.Outcome {
	case stream.Answered:
		c.tries.Answered(r.Status)
		if r.HostError && r.Status < 500 {
			c.tries.Failed(false)
		}
		c.flag = ""
		c.end(r.Status)
	case stream.ConnectFailed:
		c.tries.ConnectFailed()
		c.flag = flagConnect
		c.retryOr(c.route.Retry.ConnectFailure, stream.Reply{Status: 503, Body: bodyConnectFail, Cause: stream.Unavailable})
	case stream.Overflow:
		c.tries.Overflowed()
		c.answer(stream.Reply{Status: 503, Body: bodyOverflow, Cause: stream.Overflowed}, flagOverflow)
	case stream.NotSent:
		// Nothing reached the host: as a connection that failed.
		c.tries.Failed(false)
		c.flag = flagUpstream
		c.retryOr(c.route.Retry.ConnectFailure || c.route.Retry.Reset, stream.Reply{Status: 503, Body: bodyUpstreamFail, Cause: stream.Unavailable})
	case stream.Retriable:
		c.tries.Answered(r.Status)
		c.flag = flagUpstream
		c.next()
	case stream.Stale:
		// The reused connection was closed by the host while it idled: the
		// request goes once more, whole, on a new connection; that costs no
		// try of the route's retry policy.
		c.f.Log.Debug("stale upstream connection, sending the request again on a new one",
			"cluster", c.tries.Cluster.Name, "host", c.tries.Host.Address)
		c.tries.Again()
		c.next()
	case stream.TryTimedOut:
		c.tries.Failed(true)
		c.flag = flagTimeout
		c.retryOr(r.Replayable, stream.Reply{Status: 504, Body: bodyTimeout, Cause: stream.TimedOut})
	case stream.UpstreamFailed:
		c.tries.Failed(r.Timeout)
		c.flag = flagUpstream
		if r.Timeout {
			c.flag = flagTimeout
		}
		if r.Responded {
			c.end(c.ds.status())
			return
		}
		c.f.Log.Debug("upstream failed", "cluster", c.tries.Cluster.Name, "host", c.tries.Host.Address, "err", r.Err)
		if r.Timeout {
			c.answer(stream.Reply{Status: 504, Body: bodyTimeout, Cause: stream.TimedOut}, flagTimeout)
			return
		}
		c.retryOr(r.Replayable && c.route.Retry.Reset, stream.Reply{Status: 502, Body: bodyUpstreamFail, Cause: stream.Unavailable})
	case stream.DownstreamFailed:
		c.flag = flagDownstream
		c.end(c.ds.status())
	case stream.BadRequest:
		c.answer(stream.Reply{Status: r.Status, Body: []byte(http1.StatusText(r.Status) + "\n"), Cause: stream.Malformed}, "")
	case stream.Stopped:
		c.flag = flagFault
		if r.Responded {
			c.end(c.ds.status())
			return
		}
		c.answer(r.Reply, flagFault)
	}
}

// retryOr makes the next try when the policy retries this failure and a try
// is left in time; else it answers with r (under the flag set).
func (c *call) retryOr(retry bool, r stream.Reply) {
	if retry && c.tries.Left() > 0 && c.inTime() {
		c.next()
		return
	}
	c.answer(r, c.flag)
}

// inTime reports whether the route's deadline (if any) is still ahead.
func (c *call) inTime() bool { return c.try.Deadline.IsZero() || time.Now().Before(c.try.Deadline) }

// RetryAnswer implements stream.Hooks: an answer the retry policy retries,
// while a try is left in time.
func (c *call) RetryAnswer(status int) bool {
	return c.route.Retry.RetriesAnswer(status) && c.tries.Left() > 0 && c.inTime()
}

// answer replies locally and ends the request.
func (c *call) answer(r stream.Reply, flag string) {
	c.flag = flag
	c.end(c.ds.reply(r))
}

// end counts and logs the request, once, and lets the adapter release it.
func (c *call) end(class int) {
	d := time.Since(c.start)
	c.f.count(class, d)
	if c.f.AccessLog != nil {
		e := AccessEntry{Start: c.start, Duration: d, Status: class, Flags: c.flag, Listener: c.f.Listener, Conn: c.conn}
		if c.tries.Cluster != nil {
			e.Cluster = c.tries.Cluster.Name
		}
		if c.tries.Host != nil {
			e.Upstream = c.tries.Host.Address
		}
		c.ds.logEntry(&e)
		e.TLS = c.peer()
		c.f.AccessLog.Log(&e)
	}
	c.ds.done(c)
}

// encodeWhole runs the encode side on a response that came whole (head
// and body at once: a Bolt frame).
func (c *call) encodeWhole(r stream.Response, body []byte) filter.Verdict {
	v := c.responseHead(r)
	if v.Status == 0 && c.f.Filters.EncodesData() {
		v = merge(v, c.f.Filters.EncodeData(c, body, true))
	}
	return v
}

// merge adds a later phase's verdict to an earlier one's: delays add up,
// the later one stops.
func merge(v, later filter.Verdict) filter.Verdict {
	later.Delay += v.Delay
	return later
}

// The call as stream.Hooks: what a try tells the loop while it runs.

func (c *call) Started() {
	c.tries.Started()
	c.t.setState(StreamWaiting)
}

func (c *call) Sent(bytesIn int64) { c.t.setBytesIn(bytesIn) }

func (c *call) RequestData(p []byte, end bool) stream.Reply {
	c.t.addBytesIn(int64(len(p)))
	if !c.f.Filters.DecodesData() {
		return stream.Reply{}
	}
	return c.verdict(c.f.Filters.DecodeData(c, p, end))
}

func (c *call) ResponseHead(r stream.Response) stream.Reply { return c.verdict(c.responseHead(r)) }

// responseHead applies the route's response edits (removals, then
// additions) and runs the encode-side head filters.
func (c *call) responseHead(r stream.Response) filter.Verdict {
	editHeaders(r, c.route.ResponseHeadersToRemove, c.route.ResponseHeadersToAdd)
	if !c.f.Filters.EncodesHeaders() {
		return filter.Verdict{}
	}
	return c.f.Filters.EncodeHeaders(c, r)
}

func (c *call) Responding(bytesOut int64) {
	c.t.setBytesOut(bytesOut)
	c.t.setState(StreamResponding)
}

func (c *call) ResponseData(p []byte, end bool) stream.Reply {
	c.t.addBytesOut(int64(len(p)))
	if !c.f.Filters.EncodesData() {
		return stream.Reply{}
	}
	return c.verdict(c.f.Filters.EncodeData(c, p, end))
}

// verdict carries out a filter's verdict inside a try of a protocol that
// runs a try on its own goroutine or task (HTTP/1, one request at a time
// per connection): a delay is slept there.
func (c *call) verdict(v filter.Verdict) stream.Reply {
	if v.Delay > 0 {
		c.ds.pause(v.Delay, nil)
	}
	return stream.Reply{Status: v.Status, Body: v.Body}
}

// Cluster implements filter.Request: the cluster the route chose.
func (c *call) Cluster() string { return clusterName(c.tries.Cluster) }

// The call as router.Request and filter.Request reads the request through
// its adapter, except the peer identity headers: those the connection
// answers (peerHeader).
func (c *call) Host() []byte   { return c.ds.Host() }
func (c *call) Path() []byte   { return c.ds.Path() }
func (c *call) Method() []byte { return c.ds.Method() }

func (c *call) Header(name string) ([]byte, bool) {
	// Most names differ from the prefix in the first byte or the length.
	if len(name) > len(peerHeaderPrefix) && name[0]|0x20 == 'x' {
		if v, ok, reserved := peerHeader(c.peer(), name); reserved {
			return v, ok
		}
	}
	return c.ds.Header(name)
}

// peer is the downstream connection's TLS state, nil for plaintext.
func (c *call) peer() *mosntls.State {
	if c.conn == nil {
		return nil
	}
	return mosntls.StateOf(c.conn)
}
