package proxy

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"syscall"
	"time"

	"github.com/mosnctl/mosnctl/internal/lograte"
	"github.com/mosnctl/mosnctl/internal/metrics"
	"github.com/mosnctl/mosnctl/internal/network"
	"github.com/mosnctl/mosnctl/internal/protocol/http1"
	"github.com/mosnctl/mosnctl/internal/router"
	"github.com/mosnctl/mosnctl/internal/stream"
	"github.com/mosnctl/mosnctl/internal/upstream"
)

// DefaultRouteTimeout bounds a request whose route sets no timeout, as
// Envoy's default route timeout does.
const DefaultRouteTimeout = 15 * time.Second

// Routes is the route table a proxy listener uses; the server swaps it on a
// config change.
type Routes interface {
	Match(req router.Request) *router.Route
}

// Clusters resolves cluster names.
type Clusters interface {
	Get(name string) *upstream.Cluster
}

// HTTP1Proxy forwards HTTP/1 requests of one listener to HTTP/1 upstreams.
type HTTP1Proxy struct {
	Listener  string
	Routes    Routes
	Clusters  Clusters
	Pools     *Pools
	Stats     *metrics.RequestStats
	AccessLog *AccessLog // nil: off
	Limits    http1.Limits
	Log       *slog.Logger     // carries the listener key (log.With)
	LogLimit  *lograte.Limiter // rate-limits bad-request lines; nil: off
	Streams   *StreamTracker   // nil: streams are not listed
}

var (
	connClose        = []http1.Header{{Name: []byte("Connection"), Value: []byte("close")}}
	bodyNoRoute      = []byte("no route for this request\n")
	bodyNoCluster    = []byte("no such cluster\n")
	bodyNoHealthy    = []byte("no healthy upstream\n")
	bodyConnectFail  = []byte("upstream connect error\n")
	bodyTimeout      = []byte("upstream request timeout\n")
	bodyUpstreamFail = []byte("upstream connection error\n")
)

// failure reasons recorded in the access log.
const (
	flagNoRoute    = "no_route"
	flagNoHealthy  = "no_healthy_upstream"
	flagConnect    = "connect_failure"
	flagTimeout    = "upstream_timeout"
	flagUpstream   = "upstream_error"
	flagDownstream = "downstream_error"
)

// exchange is the state of one forwarded request.
type exchange struct {
	cluster *upstream.Cluster
	host    *upstream.Host
	flag    string
	bytesIn int64
	t       *trackedStream // nil: untracked
}

// ServeHTTP1 forwards one request of an untracked connection (ServeConn
// tracks).
func (p *HTTP1Proxy) ServeHTTP1(s *stream.HTTP1ServerStream) { p.serve(s, nil) }

func (p *HTTP1Proxy) serve(s *stream.HTTP1ServerStream, t *trackedStream) {
	p.Stats.Active.Add(1)
	if t != nil {
		p.Streams.begin(t, s.Start)
	}
	x := exchange{t: t}
	var method, path []byte
	if p.AccessLog != nil {
		// Views into the read buffer die once the body is read: keep copies.
		s.Scratch = append(append(s.Scratch[:0], s.Req.Method...), s.Req.URI...)
		method, path = s.Scratch[:len(s.Req.Method)], s.Scratch[len(s.Req.Method):]
	}
	p.forward(s, &x)
	if s.Status == 0 {
		s.CloseAfter()
	}
	t.setState(StreamIdle)
	d := time.Since(s.Start)
	p.Stats.Active.Add(-1)
	p.Stats.Done(s.Status, d)
	if p.AccessLog != nil {
		e := AccessEntry{Start: s.Start, Duration: d, Listener: p.Listener, Protocol: "HTTP/1.1",
			Remote: s.Conn.RemoteAddr().String(), Method: method, Path: path, Status: s.Status,
			BytesIn: x.bytesIn, BytesOut: s.BytesOut, Flags: x.flag}
		if x.cluster != nil {
			e.Cluster = x.cluster.Name
		}
		if x.host != nil {
			e.Upstream = x.host.Address
		}
		p.AccessLog.Log(&e)
	}
}

func (p *HTTP1Proxy) forward(s *stream.HTTP1ServerStream, x *exchange) {
	route := p.Routes.Match(s)
	if route == nil {
		x.flag = flagNoRoute
		s.Respond(404, bodyNoRoute)
		return
	}
	x.t.setRoute(route)
	if route.Direct != nil {
		s.Respond(route.Direct.Status, route.Direct.Body)
		return
	}
	x.cluster = p.Clusters.Get(route.PickCluster(rand.Uint32()))
	if x.cluster == nil {
		x.flag = flagNoRoute
		s.Respond(503, bodyNoCluster)
		return
	}
	x.t.setCluster(x.cluster)
	isHead := string(s.Req.Method) == "HEAD"
	head := p.encodeRequest(s, route)
	defer s.KeepWriteBuffer(head)

	timeout := route.Timeout
	if timeout <= 0 {
		timeout = DefaultRouteTimeout
	}
	deadline := s.Start.Add(timeout)
	attempts := 1 + route.Retry.NumRetries
	for attempt := 0; attempt < attempts; attempt++ {
		x.host = x.cluster.LB.Pick()
		if x.host == nil {
			x.flag = flagNoHealthy
			s.Respond(503, bodyNoHealthy)
			return
		}
		x.t.setHost(x.host)
		pool := p.Pools.HTTP1(s.Conn.Loop(), x.cluster, x.host)
		cc, reused, err := pool.Get(context.Background())
		if err != nil {
			x.host.ConnectFailures.Add(1)
			x.cluster.ConnectFailures.Add(1)
			x.flag = flagConnect
			continue
		}
		x.flag = ""
		x.host.Requests.Add(1)
		x.cluster.Requests.Add(1)
		x.host.ActiveRequests.Add(1)
		x.cluster.ActiveRequests.Add(1)
		retry := p.roundTrip(s, x, pool, cc, reused, head, isHead, deadline)
		x.host.ActiveRequests.Add(-1)
		x.cluster.ActiveRequests.Add(-1)
		if !retry {
			return
		}
		if reused {
			attempt-- // a stale pooled connection does not use up a retry
		}
	}
	s.Respond(503, bodyConnectFail)
}

// encodeRequest writes the upstream request head while the request's views
// are valid, applying the route's header edits and rewrites.
func (p *HTTP1Proxy) encodeRequest(s *stream.HTTP1ServerStream, route *router.Route) []byte {
	req := &s.Req
	if len(route.RequestHeadersToRemove) > 0 || route.HostRewrite != "" {
		kept := req.Headers[:0]
		for _, h := range req.Headers {
			if route.HostRewrite != "" && http1.EqualFold(h.Name, "host") {
				h.Value = []byte(route.HostRewrite)
			}
			if !nameIn(h.Name, route.RequestHeadersToRemove) {
				kept = append(kept, h)
			}
		}
		req.Headers = kept
	}
	if route.PrefixRewrite != "" && len(route.MatchedPrefix) <= len(req.URI) {
		// The rewritten URI lives in the stream's scratch space after any
		// access-log copy.
		start := len(s.Scratch)
		s.Scratch = append(append(s.Scratch, route.PrefixRewrite...), req.URI[len(route.MatchedPrefix):]...)
		req.URI = s.Scratch[start:]
	}
	s.Extra = s.Extra[:0]
	for _, h := range route.RequestHeadersToAdd {
		if !h.Append {
			req.Headers = removeHeader(req.Headers, h.Name)
		}
		s.Extra = append(s.Extra, http1.Header{Name: h.Name, Value: h.Value})
	}
	return http1.AppendRequestHead(s.WriteBuffer(), req, s.Extra)
}

// removeHeader drops every header named name, in place.
func removeHeader(hs []http1.Header, name []byte) []http1.Header {
	kept := hs[:0]
	for _, h := range hs {
		if !http1.EqualFold(h.Name, string(name)) {
			kept = append(kept, h)
		}
	}
	return kept
}

func nameIn(name []byte, list [][]byte) bool {
	for _, n := range list {
		if http1.EqualFold(name, string(n)) {
			return true
		}
	}
	return false
}

// roundTrip sends the request on cc and relays the response. It reports
// true when nothing reached the upstream and nothing was answered
// downstream, so the request may be tried again on another connection.
func (p *HTTP1Proxy) roundTrip(s *stream.HTTP1ServerStream, x *exchange, pool *stream.HTTP1Pool, cc *stream.HTTP1ClientConn, reused bool, head []byte, isHead bool, deadline time.Time) (retry bool) {
	up := cc.Conn
	bodyStreamed := false
	if !s.Body.Done() {
		if err := s.Continue(); err != nil {
			pool.Discard(cc)
			x.flag = flagDownstream
			s.CloseAfter()
			return false
		}
	}
	first, err := s.Body.Buffered()
	if err != nil {
		return p.badRequestBody(s, x, pool, cc, err)
	}
	x.bytesIn = int64(len(first))
	if len(first) > 0 {
		err = up.Writev(head, first)
	} else {
		_, err = up.Write(head)
	}
	if err != nil {
		pool.Discard(cc)
		if reused && s.Body.Done() {
			return true
		}
		return p.upstreamFailed(s, x, err, false)
	}
	x.t.setBytesIn(x.bytesIn)
	x.t.setState(StreamWaiting)
	var pump *bodyPump
	if !s.Body.Done() {
		// The rest of the body streams on its own goroutine while this one
		// waits for the response: an upstream that answers while it reads
		// (an echo, an early 413) would otherwise deadlock with us.
		bodyStreamed = true
		pump = startPump(s, up, deadline, x.t)
	}
	defer pump.finish(s, up, x, true)

	// The route timeout may fire up to 1% early (at most 100ms), so a busy
	// keep-alive connection re-arms its timer rarely, not per request.
	up.ExtendReadDeadline(deadline, min(time.Until(deadline)/100, 100*time.Millisecond))
	n, err := cc.ReadResponseHead(p.Limits)
	for err == nil && cc.Resp.Status < 200 && cc.Resp.Status != 101 {
		// Interim responses (103 Early Hints...) are relayed as they are.
		if werr := s.Write(cc.Conn.Buffered()[:n]); werr != nil {
			pool.Discard(cc)
			s.CloseAfter()
			return false
		}
		cc.Conn.Discard(n)
		n, err = cc.ReadResponseHead(p.Limits)
	}
	if err != nil {
		pool.Discard(cc)
		if r := pump.finish(s, up, x, true); r.err != nil && !r.upstream {
			return p.badRequestBody(s, x, nil, nil, r.err)
		}
		if reused && !bodyStreamed && isConnReset(err) {
			return true
		}
		return p.upstreamFailed(s, x, err, true)
	}
	resp := &cc.Resp
	framing := resp.Framing(methodFor(isHead))
	if framing == http1.FramingUntilClose {
		s.CloseAfter()
	}
	upstreamKeepAlive := resp.KeepAlive && framing != http1.FramingUntilClose
	var extra []http1.Header
	if !s.KeepAlive() {
		extra = connClose
	}
	status := resp.Status
	rhead := http1.AppendResponseHead(s.Scratch2[:0], resp, extra)
	s.Scratch2 = rhead
	cc.Conn.Discard(n)
	cc.Body.Reset(cc.Conn, framing, resp.ContentLength)
	body, err := cc.Body.Buffered()
	if err != nil {
		pool.Discard(cc)
		return p.upstreamFailed(s, x, err, true)
	}
	if err := s.WriteResponse(status, rhead, body); err != nil {
		pool.Discard(cc)
		x.flag = flagDownstream
		s.CloseAfter()
		return false
	}
	x.t.setBytesOut(s.BytesOut)
	x.t.setState(StreamResponding)
	for !cc.Body.Done() {
		chunk, err := cc.Body.Next()
		if err != nil {
			// Headers are out: the only honest signal left is to close.
			pool.Discard(cc)
			x.flag = flagUpstream
			if isTimeout(err) {
				x.flag = flagTimeout
				x.host.Timeouts.Add(1)
			}
			x.host.Errors.Add(1)
			s.CloseAfter()
			return false
		}
		if err := s.Write(chunk); err != nil {
			pool.Discard(cc)
			x.flag = flagDownstream
			s.CloseAfter()
			return false
		}
		x.t.setBytesOut(s.BytesOut)
	}
	if status >= 500 {
		x.host.Errors.Add(1)
		x.cluster.Errors.Add(1)
	}
	if pump != nil && !pump.finished() {
		// The response is complete while the body still flows: the
		// upstream answered early, so neither connection can be reused.
		upstreamKeepAlive = false
		pump.finish(s, up, x, true)
	}
	if upstreamKeepAlive {
		pool.Put(cc)
	} else {
		pool.Discard(cc)
	}
	return false
}

// bodyPump streams a request body upstream concurrently with reading the
// response (a goroutine, or a task of the connection's event loop).
type bodyPump struct {
	task *network.Task
	done bool
	res  pumpResult
}

func startPump(s *stream.HTTP1ServerStream, up *network.Conn, deadline time.Time, t *trackedStream) *bodyPump {
	p := &bodyPump{}
	p.task = s.Conn.Go(func() { p.res = pumpBody(s, up, deadline, t) })
	return p
}

// finished reports whether the body has been sent (or failed), without
// waiting.
func (p *bodyPump) finished() bool {
	if !p.done && p.task.Done() {
		p.done = true
	}
	return p.done
}

// finish waits for the pump; with abort it first unblocks it by cutting
// the reads and writes it may be blocked in. A nil pump is a no-op.
func (p *bodyPump) finish(s *stream.HTTP1ServerStream, up *network.Conn, x *exchange, abort bool) pumpResult {
	if p == nil {
		return pumpResult{}
	}
	if !p.done {
		if abort {
			s.Conn.NetConn().SetReadDeadline(time.Unix(1, 0)) // not the wrapper: the pump owns it
			up.Close()
		}
		p.task.Wait()
		p.done = true
		x.bytesIn += p.res.n
	}
	if p.res.err != nil || !s.Body.Done() {
		s.CloseAfter()
	}
	return p.res
}

// pumpResult is how the request body goroutine ended.
type pumpResult struct {
	n        int64
	err      error
	upstream bool // err came from writing upstream
}

// pumpBody streams the rest of the request body upstream.
func pumpBody(s *stream.HTTP1ServerStream, up *network.Conn, deadline time.Time, t *trackedStream) (r pumpResult) {
	s.Conn.SetReadDeadline(deadline)
	defer s.Conn.SetReadDeadline(time.Time{})
	for !s.Body.Done() {
		chunk, err := s.Body.Next()
		if err != nil {
			r.err = err
			return r
		}
		r.n += int64(len(chunk))
		t.addBytesIn(int64(len(chunk)))
		if _, err := up.Write(chunk); err != nil {
			r.err, r.upstream = err, true
			return r
		}
	}
	return r
}

func methodFor(isHead bool) []byte {
	if isHead {
		return methodHead
	}
	return nil
}

var methodHead = []byte("HEAD")

// badRequestBody handles a request body that could not be read: a framing
// error gets a 400, a vanished client just ends the exchange.
func (p *HTTP1Proxy) badRequestBody(s *stream.HTTP1ServerStream, x *exchange, pool *stream.HTTP1Pool, cc *stream.HTTP1ClientConn, err error) bool {
	if cc != nil {
		pool.Discard(cc)
	}
	s.CloseAfter()
	var perr *http1.Error
	if errors.As(err, &perr) {
		if ok, suppressed := p.LogLimit.Allow(perr.Reason); ok {
			p.Log.Info("bad request body, closing connection", "remote", s.Conn.RemoteAddr().String(), "err", err,
				"suppressed", suppressed)
		}
		s.Respond(perr.Status, []byte(http1.StatusText(perr.Status)+"\n"))
		return false
	}
	x.flag = flagDownstream
	return false
}

// upstreamFailed answers 504 on a timeout and 502 otherwise.
func (p *HTTP1Proxy) upstreamFailed(s *stream.HTTP1ServerStream, x *exchange, err error, afterSend bool) bool {
	x.host.Errors.Add(1)
	x.cluster.Errors.Add(1)
	if isTimeout(err) {
		x.flag = flagTimeout
		x.host.Timeouts.Add(1)
		x.cluster.Timeouts.Add(1)
		s.Respond(504, bodyTimeout)
		return false
	}
	x.flag = flagUpstream
	p.Log.Debug("upstream failed", "cluster", x.cluster.Name, "host", x.host.Address, "err", err, "after_send", afterSend)
	s.Respond(502, bodyUpstreamFail)
	return false
}

func isTimeout(err error) bool {
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// isConnReset tells a connection the upstream closed while it sat in the
// pool, before it answered anything.
func isConnReset(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}
