package proxy

import (
	"context"
	"math"
	"sync"
	"time"

	"github.com/mosnctl/mosnctl/internal/filter"
	"github.com/mosnctl/mosnctl/internal/protocol/bolt"
	"github.com/mosnctl/mosnctl/internal/router"
	"github.com/mosnctl/mosnctl/internal/stream"
	"github.com/mosnctl/mosnctl/internal/upstream"
)

// BoltProxy forwards Bolt requests of one listener to Bolt upstreams,
// multiplexed: the reader of the downstream connection writes each request
// upstream and moves on; the upstream connection's reader writes the
// response back. No goroutine per request. On an event loop both readers
// are tasks of the downstream connection's loop: its upstream pools are
// that loop's.
type BoltProxy struct {
	Forwarder
}

// boltRequest is the router's view of a Bolt request: routing keys are
// header-map entries; there is no host or path.
type boltRequest struct{ f *bolt.Frame }

func (r boltRequest) Host() []byte                      { return nil }
func (r boltRequest) Path() []byte                      { return nil }
func (r boltRequest) Header(name string) ([]byte, bool) { return r.f.Get(name) }

// boltCall is one forwarded request waiting for its response.
type boltCall struct {
	p       *BoltProxy
	d       *stream.BoltDownstream
	id      uint32
	codec   byte
	tries   upstream.Tries
	start   time.Time
	bytesIn int
	service []byte // copied only when the access log is on
	// With a per-try timeout and tries to spare, a try that times out goes
	// to the next host: held is the request then, until the call's deadline.
	held     []byte
	perTry   time.Duration
	deadline time.Time
	// e is the call's tracker entry, linked while the call is in flight;
	// t points to it when tracking is on.
	e trackedStream
	t *trackedStream
}

var boltCalls = sync.Pool{New: func() any { return new(boltCall) }}

// ServeBolt forwards one request frame.
func (p *BoltProxy) ServeBolt(d *stream.BoltDownstream, f *bolt.Frame, raw []byte) {
	start := time.Now()
	oneway := f.Type == bolt.TypeOneway
	p.begin()
	if !oneway {
		d.Begin()
	}
	c := boltCalls.Get().(*boltCall)
	*c = boltCall{p: p, d: d, id: f.RequestID, codec: f.Codec, start: start, bytesIn: len(raw), service: c.service[:0], held: c.held[:0]}
	if p.AccessLog != nil || p.Streams != nil {
		svc, _ := f.Get("service")
		c.service = append(c.service, svc...)
	}
	if ts := p.Streams; ts != nil {
		c.t = &c.e
		c.e.listener, c.e.protocol, c.e.conn, c.e.service = p.Listener, "bolt", d.Conn, c.service
		c.e.requestID.Store(f.RequestID)
		c.e.bytesIn.Store(int64(len(raw)))
		ts.register(c.t, f.RequestID)
		ts.begin(c.t, start)
	}
	route, ok := p.resolve(boltRequest{f}, c.t, &c.tries)
	if route == nil || !ok {
		c.fail(oneway, bolt.StatusNoProcessor, flagNoRoute)
		return
	}
	timeout, ok := routeTimeout(route)
	if !ok {
		timeout = math.MaxInt64 // only the request's own timeout bounds it
	}
	// The client gives up after its own timeout: waiting longer for the
	// upstream only keeps the call's state and upstream slot busy.
	if ft := time.Duration(f.Timeout) * time.Millisecond; ft > 0 && ft < timeout {
		timeout = ft
	}
	if len(p.Filters) > 0 {
		v := p.Filters.OnRequest(boltFilterRequest{boltRequest{f}, clusterName(c.tries.Cluster)})
		if v.Delay > 0 {
			// Held apart: the connection's other calls go on meanwhile.
			held := append([]byte(nil), raw...)
			time.AfterFunc(v.Delay, func() {
				d.Conn.Run(func() { c.forward(route, v, held, oneway, timeout) })
			})
			return
		}
		if v.Status != 0 {
			c.forward(route, v, raw, oneway, timeout)
			return
		}
	}
	c.forward(route, filter.Verdict{}, raw, oneway, timeout)
}

// forward answers a direct route or a filter's local reply, or sends the
// request upstream, to another host for each try the route allows.
func (c *boltCall) forward(route *router.Route, v filter.Verdict, raw []byte, oneway bool, timeout time.Duration) {
	switch {
	case v.Status != 0:
		c.fail(oneway, boltStatus(v.Status), flagFault)
		return
	case route.Direct != nil:
		status := bolt.StatusSuccess
		if route.Direct.Status >= 400 {
			status = bolt.StatusServerException
		}
		c.fail(oneway, status, "")
		return
	}
	if pt := route.Retry.PerTryTimeout; pt > 0 && pt < timeout {
		c.perTry, c.deadline = pt, time.Now().Add(timeout)
		if c.tries.Left() > 0 && !oneway {
			c.held = append(c.held[:0], raw...) // raw is the reader's until this returns
			raw = c.held
		}
	}
	c.send(raw, oneway, timeout)
}

// send sends the request to a host, the next one for each try left, and
// answers locally when none takes it.
func (c *boltCall) send(raw []byte, oneway bool, timeout time.Duration) {
	if c.perTry > 0 {
		timeout = min(c.perTry, time.Until(c.deadline))
	}
	flag := flagConnect
	for nextHost(&c.tries, c.t) {
		cc, err := c.p.Pools.Bolt(c.d.Conn.Loop(), c.tries.Cluster, c.tries.Host).Get(context.Background())
		if err != nil {
			c.tries.ConnectFailed()
			flag = flagConnect
			continue
		}
		c.tries.Started()
		var result stream.BoltResult = c
		if oneway {
			result = nil
		}
		// Waiting before Send: the answer may finish the call before Send
		// returns.
		c.t.setState(StreamWaiting)
		if err := cc.Send(raw, oneway, timeout, result); err != nil {
			c.tries.Ended()
			c.tries.Failed(false)
			flag = flagUpstream
			continue
		}
		if oneway {
			c.tries.Ended()
			c.finish(200, "")
		}
		return
	}
	if c.tries.Host == nil {
		flag = flagNoHealthy
	}
	c.fail(oneway, bolt.StatusConnectionClosed, flag)
}

// boltFilterRequest is a Bolt request as stream filters see it.
type boltFilterRequest struct {
	boltRequest
	cluster string
}

func (r boltFilterRequest) Cluster() string { return r.cluster }

// boltStatus maps a local reply's HTTP status to the nearest Bolt status.
func boltStatus(status int) uint16 {
	switch {
	case status < 400:
		return bolt.StatusSuccess
	case status == 404:
		return bolt.StatusNoProcessor
	case status == 504 || status == 408:
		return bolt.StatusTimeout
	case status == 503 || status == 429:
		return bolt.StatusServerThreadpoolBusy
	case status < 500:
		return bolt.StatusCodecException
	}
	return bolt.StatusServerException
}

// fail answers the request locally (nothing for one-way) and finishes it.
func (c *boltCall) fail(oneway bool, status uint16, flag string) {
	if !oneway {
		c.d.WriteError(c.id, c.codec, status)
		c.d.End()
	}
	c.finish(httpClass(status), flag)
}

// BoltResponse relays the upstream's response with the original id.
func (c *boltCall) BoltResponse(raw []byte, f *bolt.Frame) {
	c.d.WriteResponse(raw, c.id)
	c.d.End()
	c.tries.Ended()
	class := httpClass(f.Status)
	if f.Status != bolt.StatusSuccess {
		c.tries.Failed(false) // a Bolt error status is the host's error, whatever its class
	}
	c.finish(class, "")
}

// BoltFailed answers a timeout or a lost upstream connection.
func (c *boltCall) BoltFailed(status uint16) {
	c.tries.Ended()
	timeout := status == bolt.StatusTimeout
	c.tries.Failed(timeout)
	if timeout && len(c.held) > 0 && c.tries.Left() > 0 && time.Until(c.deadline) > 0 {
		// The per-try timeout ran out: the next host. This runs on the
		// connection's loop (or a timer's goroutine), as sends may.
		c.send(c.held, false, 0)
		return
	}
	c.d.WriteError(c.id, c.codec, status)
	c.d.End()
	flag := flagUpstream
	if timeout {
		flag = flagTimeout
	}
	c.finish(httpClass(status), flag)
}

func (c *boltCall) finish(class int, flag string) {
	p := c.p
	if c.t != nil {
		// Unlinked before the call is reset and pooled: no snapshot reads
		// it after this.
		p.Streams.unregister(c.t)
	}
	d := time.Since(c.start)
	p.count(class, d)
	if p.AccessLog != nil {
		e := AccessEntry{Start: c.start, Duration: d, Protocol: "bolt",
			Remote: c.d.Conn.RemoteAddr().String(), Status: class, BytesIn: int64(c.bytesIn),
			RequestID: c.id, Service: c.service, Flags: flag}
		p.logAccess(&e, &c.tries)
	}
	svc, held := c.service[:0], c.held[:0]
	if cap(held) > 64<<10 {
		held = nil // a pooled call keeps no large frame
	}
	*c = boltCall{service: svc, held: held}
	boltCalls.Put(c)
}

// httpClass maps a Bolt status to the HTTP status meaning the same, so
// Bolt requests land in the same response-class metrics.
func httpClass(status uint16) int {
	switch status {
	case bolt.StatusSuccess:
		return 200
	case bolt.StatusNoProcessor:
		return 404
	case bolt.StatusTimeout:
		return 504
	case bolt.StatusConnectionClosed, bolt.StatusServerThreadpoolBusy:
		return 503
	case bolt.StatusCodecException, bolt.StatusServerDeserialException:
		return 400
	}
	return 500
}
