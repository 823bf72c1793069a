package proxy

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/mosnctl/mosnctl/internal/metrics"
	"github.com/mosnctl/mosnctl/internal/protocol/bolt"
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
	Listener  string
	Routes    Routes
	Clusters  Clusters
	Pools     *Pools
	Stats     *metrics.RequestStats
	AccessLog *AccessLog
	Log       *slog.Logger   // carries the listener key (log.With)
	Streams   *StreamTracker // nil: streams are not listed
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
	cluster *upstream.Cluster
	host    *upstream.Host
	start   time.Time
	bytesIn int
	service []byte // copied only when the access log is on
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
	p.Stats.Active.Add(1)
	if !oneway {
		d.Begin()
	}
	c := boltCalls.Get().(*boltCall)
	*c = boltCall{p: p, d: d, id: f.RequestID, codec: f.Codec, start: start, bytesIn: len(raw), service: c.service[:0]}
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
	route := p.Routes.Match(boltRequest{f})
	if route == nil {
		c.fail(oneway, bolt.StatusNoProcessor, flagNoRoute)
		return
	}
	c.t.setRoute(route)
	if route.Direct != nil {
		status := bolt.StatusSuccess
		if route.Direct.Status >= 400 {
			status = bolt.StatusServerException
		}
		c.fail(oneway, status, "")
		return
	}
	c.cluster = p.Clusters.Get(route.PickCluster(rand.Uint32()))
	if c.cluster == nil {
		c.fail(oneway, bolt.StatusNoProcessor, flagNoRoute)
		return
	}
	c.t.setCluster(c.cluster)
	timeout := route.Timeout
	if timeout <= 0 {
		if f.Timeout > 0 {
			timeout = time.Duration(f.Timeout) * time.Millisecond
		} else {
			timeout = DefaultRouteTimeout
		}
	}
	attempts := 1 + route.Retry.NumRetries
	for attempt := 0; attempt < attempts; attempt++ {
		c.host = c.cluster.LB.Pick()
		if c.host == nil {
			c.fail(oneway, bolt.StatusConnectionClosed, flagNoHealthy)
			return
		}
		c.t.setHost(c.host)
		cc, err := p.Pools.Bolt(d.Conn.Loop(), c.cluster, c.host).Get(context.Background())
		if err != nil {
			c.host.ConnectFailures.Add(1)
			c.cluster.ConnectFailures.Add(1)
			continue
		}
		c.host.Requests.Add(1)
		c.cluster.Requests.Add(1)
		c.host.ActiveRequests.Add(1)
		c.cluster.ActiveRequests.Add(1)
		var result stream.BoltResult = c
		if oneway {
			result = nil
		}
		// Waiting before Send: the answer may finish the call before Send
		// returns.
		c.t.setState(StreamWaiting)
		if err := cc.Send(raw, oneway, timeout, result); err != nil {
			c.host.ActiveRequests.Add(-1)
			c.cluster.ActiveRequests.Add(-1)
			c.host.Errors.Add(1)
			continue
		}
		if oneway {
			c.host.ActiveRequests.Add(-1)
			c.cluster.ActiveRequests.Add(-1)
			c.finish(200, "")
		}
		return
	}
	c.fail(oneway, bolt.StatusConnectionClosed, flagConnect)
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
	c.host.ActiveRequests.Add(-1)
	c.cluster.ActiveRequests.Add(-1)
	if f.Status != bolt.StatusSuccess {
		c.host.Errors.Add(1)
		c.cluster.Errors.Add(1)
	}
	c.finish(httpClass(f.Status), "")
}

// BoltFailed answers a timeout or a lost upstream connection.
func (c *boltCall) BoltFailed(status uint16) {
	c.d.WriteError(c.id, c.codec, status)
	c.d.End()
	c.host.ActiveRequests.Add(-1)
	c.cluster.ActiveRequests.Add(-1)
	c.host.Errors.Add(1)
	c.cluster.Errors.Add(1)
	flag := flagUpstream
	if status == bolt.StatusTimeout {
		flag = flagTimeout
		c.host.Timeouts.Add(1)
		c.cluster.Timeouts.Add(1)
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
	p.Stats.Active.Add(-1)
	p.Stats.Done(class, d)
	if p.AccessLog != nil {
		e := AccessEntry{Start: c.start, Duration: d, Listener: p.Listener, Protocol: "bolt",
			Remote: c.d.Conn.RemoteAddr().String(), Status: class, BytesIn: int64(c.bytesIn),
			RequestID: c.id, Service: c.service, Flags: flag}
		if c.cluster != nil {
			e.Cluster = c.cluster.Name
		}
		if c.host != nil {
			e.Upstream = c.host.Address
		}
		p.AccessLog.Log(&e)
	}
	svc := c.service[:0]
	*c = boltCall{service: svc}
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
