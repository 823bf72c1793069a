package proxy

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"syscall"
	"time"

	"github.com/valyala/bytebufferpool"

	"github.com/mosnctl/mosnctl/internal/lograte"
	"github.com/mosnctl/mosnctl/internal/network"
	"github.com/mosnctl/mosnctl/internal/protocol/http1"
	"github.com/mosnctl/mosnctl/internal/router"
	"github.com/mosnctl/mosnctl/internal/stream"
	"github.com/mosnctl/mosnctl/internal/upstream"
)

// DefaultRouteTimeout bounds a request whose route sets no timeout, as
// Envoy's default route timeout does.
const DefaultRouteTimeout = 15 * time.Second

// HTTP1Proxy forwards HTTP/1 requests of one listener to HTTP/1 upstreams.
type HTTP1Proxy struct {
	Forwarder
	Limits   http1.Limits
	LogLimit *lograte.Limiter // rate-limits bad-request lines; nil: off
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
	flagFault      = "fault_injected" // a stream filter answered
)

// exchange is the state of one forwarded request.
type exchange struct {
	tries     upstream.Tries
	flag      string
	bytesIn   int64
	t         *trackedStream // nil: untracked
	route     *router.Route
	deadline  time.Time     // the route timeout's; zero: none
	tryUntil  time.Time     // the current try's wait for a response head
	perTry    bool          // tryUntil is the retry policy's per-try timeout
	elsewhere bool          // the try timed out: retry on the next host
	idle      time.Duration // the route's idle timeout; 0: none
	body      heldBody
}

// ServeHTTP1 forwards one request of an untracked connection (ServeConn
// tracks).
func (p *HTTP1Proxy) ServeHTTP1(s *stream.HTTP1ServerStream) { p.serve(s, nil) }

func (p *HTTP1Proxy) serve(s *stream.HTTP1ServerStream, t *trackedStream) {
	p.begin()
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
	p.count(s.Status, d)
	if p.AccessLog != nil {
		e := AccessEntry{Start: s.Start, Duration: d, Protocol: "HTTP/1.1",
			Remote: s.Conn.RemoteAddr().String(), Method: method, Path: path, Status: s.Status,
			BytesIn: x.bytesIn, BytesOut: s.BytesOut, Flags: x.flag}
		p.logAccess(&e, &x.tries)
	}
}

func (p *HTTP1Proxy) forward(s *stream.HTTP1ServerStream, x *exchange) {
	route, ok := p.resolve(s, x.t, &x.tries)
	switch {
	case route == nil:
		x.flag = flagNoRoute
		s.Respond(404, bodyNoRoute)
		return
	case !ok:
		x.flag = flagNoRoute
		s.Respond(503, bodyNoCluster)
		return
	}
	start := s.Start
	if len(p.Filters) > 0 {
		v := p.Filters.OnRequest(http1FilterRequest{s, clusterName(x.tries.Cluster)})
		if v.Delay > 0 {
			s.Conn.Sleep(v.Delay)
			start = time.Now() // the route's timeout counts from here, as Envoy's after its filters
		}
		if v.Status != 0 {
			x.flag = flagFault
			s.Respond(v.Status, v.Body)
			return
		}
	}
	if route.Direct != nil {
		s.Respond(route.Direct.Status, route.Direct.Body)
		return
	}
	x.route = route
	isHead := string(s.Req.Method) == "HEAD"
	head := p.encodeRequest(s, route)
	defer s.KeepWriteBuffer(head)
	defer x.body.release()

	if timeout, ok := routeTimeout(route); ok {
		x.deadline = start.Add(timeout)
	}
	x.idle = route.IdleTimeout
	for nextHost(&x.tries, x.t) {
		pool := p.Pools.HTTP1(s.Conn.Loop(), x.tries.Cluster, x.tries.Host)
		var cc *stream.HTTP1ClientConn
		var reused bool
		var err error
		if x.tries.Fresh() {
			cc, err = pool.Dial(context.Background())
		} else {
			cc, reused, err = pool.Get(context.Background())
		}
		if err != nil {
			x.tries.ConnectFailed()
			x.flag = flagConnect
			continue
		}
		x.flag = ""
		x.tries.Started()
		retry := p.roundTrip(s, x, pool, cc, reused, head, isHead)
		x.tries.Ended()
		if !retry {
			return
		}
		if x.elsewhere {
			x.elsewhere = false
			continue // the try timed out: the next one goes to the next host
		}
		// The reused connection was stale (the upstream closed it while it
		// idled): the request goes once more, whole, on a new connection;
		// that costs no try of the route's retry policy.
		p.Log.Debug("stale upstream connection, sending the request again on a new one",
			"cluster", x.tries.Cluster.Name, "host", x.tries.Host.Address)
		x.tries.Again()
	}
	if x.tries.Host == nil {
		x.flag = flagNoHealthy
		s.Respond(503, bodyNoHealthy)
		return
	}
	s.Respond(503, bodyConnectFail)
}

// http1FilterRequest is an HTTP/1 request as stream filters see it.
type http1FilterRequest struct {
	*stream.HTTP1ServerStream
	cluster string
}

func (r http1FilterRequest) Cluster() string { return r.cluster }

// encodeRequest writes the upstream request head while the request's views
// are valid, applying the route's header edits and rewrites.
func (p *HTTP1Proxy) encodeRequest(s *stream.HTTP1ServerStream, route *router.Route) []byte {
	req := &s.Req
	var hostRewrite []byte
	if route.HostRewrite != "" {
		// Copied to scratch space: converting the string would allocate.
		start := len(s.Scratch)
		s.Scratch = append(s.Scratch, route.HostRewrite...)
		hostRewrite = s.Scratch[start:]
	}
	if len(route.RequestHeadersToRemove) > 0 || hostRewrite != nil {
		kept := req.Headers[:0]
		for _, h := range req.Headers {
			if hostRewrite != nil && http1.EqualFold(h.Name, "host") {
				h.Value = hostRewrite
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
	if !req.HasHost && !addsHost(route) {
		s.Extra = append(s.Extra, http1.Header{Name: hostName, Value: upstreamHost(s, hostRewrite)})
	}
	for _, h := range route.RequestHeadersToAdd {
		if !h.Append {
			req.Headers = removeHeader(req.Headers, h.Name)
		}
		s.Extra = append(s.Extra, http1.Header{Name: h.Name, Value: h.Value})
	}
	return http1.AppendRequestHead(s.WriteBuffer(), req, s.Extra)
}

// editResponseHeaders applies the route's response header edits: removals
// first, then additions (replacing same-named headers unless they append),
// which it returns appended to extra.
func editResponseHeaders(resp *http1.Response, route *router.Route, extra []http1.Header) []http1.Header {
	if len(route.ResponseHeadersToRemove) > 0 {
		kept := resp.Headers[:0]
		for _, h := range resp.Headers {
			if !nameIn(h.Name, route.ResponseHeadersToRemove) {
				kept = append(kept, h)
			}
		}
		resp.Headers = kept
	}
	for _, h := range route.ResponseHeadersToAdd {
		if !h.Append {
			resp.Headers = removeHeader(resp.Headers, h.Name)
		}
		extra = append(extra, http1.Header{Name: h.Name, Value: h.Value})
	}
	return extra
}

var hostName = []byte("Host")

// upstreamHost is the Host of a request forwarded without one (HTTP/1.0
// allows that; an HTTP/1.1 upstream answers 400): the route's host_rewrite,
// else the authority of an absolute-form target, else the address the
// client connected to.
func upstreamHost(s *stream.HTTP1ServerStream, hostRewrite []byte) []byte {
	if hostRewrite != nil {
		return hostRewrite
	}
	if len(s.Req.Host) > 0 {
		return s.Req.Host
	}
	start := len(s.Scratch)
	s.Scratch = s.AppendLocalAuthority(s.Scratch)
	return s.Scratch[start:]
}

// addsHost reports whether the route sets a Host header itself.
func addsHost(route *router.Route) bool {
	for _, h := range route.RequestHeadersToAdd {
		if http1.EqualFold(h.Name, "host") {
			return true
		}
	}
	return false
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
// true when cc was a reused connection that failed before any response byte
// arrived and the whole request body is held: the request may be sent again
// on a new connection.
func (p *HTTP1Proxy) roundTrip(s *stream.HTTP1ServerStream, x *exchange, pool *stream.HTTP1Pool, cc *stream.HTTP1ClientConn, reused bool, head []byte, isHead bool) (retry bool) {
	up := cc.Conn
	if !x.body.taken {
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
		// Held for sending again: on a reused connection (it may be stale),
		// and when a try that times out is retried.
		retriesTimeouts := x.route.Retry.PerTryTimeout > 0 && x.tries.Left() > 0
		x.body.take(first, reused || retriesTimeouts, s.Body.Done())
	}
	x.startTry()
	var err error
	if len(x.body.b) > 0 {
		err = up.Writev(head, x.body.b)
	} else {
		_, err = up.Write(head)
	}
	if err != nil {
		pool.Discard(cc)
		if reused && x.body.whole(s) {
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
		pump = startPump(s, up, x)
	}
	defer pump.finish(s, up, x, true)

	x.armRead(up, x.tryUntil)
	interim := false
	n, err := cc.ReadResponseHead(p.Limits)
	for err == nil && cc.Resp.Status < 200 && cc.Resp.Status != 101 {
		// Interim responses (103 Early Hints...) are relayed as they are.
		interim = true
		if werr := s.Write(cc.Conn.Buffered()[:n]); werr != nil {
			pool.Discard(cc)
			s.CloseAfter()
			return false
		}
		cc.Conn.Discard(n)
		n, err = cc.ReadResponseHead(p.Limits)
	}
	if err != nil {
		// A reused connection that failed before a byte of a response came
		// was stale: the request may go again if its body can be held whole,
		// so the pump (its writes failing now) reads the rest of it first.
		silent := !interim && len(up.Buffered()) == 0
		stale := reused && silent && isConnReset(err)
		// The retry policy's per-try timeout, not the route's, ran out
		// with no answer begun: the request may go to the next host.
		tryTimeout := x.perTry && silent && isTimeout(err) && x.tries.Left() > 0 &&
			(x.deadline.IsZero() || time.Now().Before(x.deadline))
		pool.Discard(cc)
		if r := pump.finish(s, up, x, !((stale || tryTimeout) && x.body.holding())); r.err != nil && !r.upstream {
			return p.badRequestBody(s, x, nil, nil, r.err)
		}
		switch {
		case stale && x.body.whole(s):
			return true
		case tryTimeout && x.body.whole(s):
			x.failed(err)
			x.elsewhere = true
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
	if len(x.route.ResponseHeadersToAdd) > 0 || len(x.route.ResponseHeadersToRemove) > 0 {
		// The request head is out: its edits' space serves the response.
		s.Extra = editResponseHeaders(resp, x.route, s.Extra[:0])
		extra = s.Extra
	}
	if !s.KeepAlive() {
		if extra == nil {
			extra = connClose
		} else {
			extra = append(extra, connClose...)
			s.Extra = extra
		}
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
	if x.perTry {
		up.SetReadDeadline(x.deadline) // the answer has begun: the route's timeout bounds the rest
	}
	for !cc.Body.Done() {
		if x.idle > 0 {
			x.armRead(up, x.deadline)
		}
		chunk, err := cc.Body.Next()
		if err != nil {
			// Headers are out: the only honest signal left is to close.
			pool.Discard(cc)
			x.failed(err)
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
	x.tries.Answered(status)
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

// startTry sets the current try's deadline for its response head: the
// route's, or sooner the retry policy's per-try timeout.
func (x *exchange) startTry() {
	x.tryUntil, x.perTry = x.deadline, false
	if pt := x.route.Retry.PerTryTimeout; pt > 0 {
		if t := time.Now().Add(pt); x.deadline.IsZero() || t.Before(x.deadline) {
			x.tryUntil, x.perTry = t, true
		}
	}
}

// armRead sets c's read deadline for the next wait of the exchange: until,
// or sooner the idle timeout from now. The deadline may fire up to 1% early
// (at most 100ms), so a busy keep-alive connection re-arms its timer
// rarely, not per request.
func (x *exchange) armRead(c *network.Conn, until time.Time) {
	d := until
	var slack time.Duration
	if !d.IsZero() {
		slack = time.Until(d) / 100
	}
	if x.idle > 0 {
		if i := time.Now().Add(x.idle); d.IsZero() || i.Before(d) {
			d, slack = i, x.idle/100
		}
	}
	c.ExtendReadDeadline(d, min(slack, 100*time.Millisecond))
}

// maxHeldBody bounds the request body kept for sending again on a new
// connection; a longer body streams through and is not sent again.
const maxHeldBody = 64 << 10

// heldBody is the request body sent so far, kept for a request whose reused
// upstream connection may turn out stale.
type heldBody struct {
	taken bool   // the first bytes were taken from the downstream buffer
	hold  bool   // keep what streams: the request may be sent again
	over  bool   // outgrew maxHeldBody
	b     []byte // the bytes: a view into the downstream buffer, or buf's
	buf   *bytebufferpool.ByteBuffer
}

// take records the body bytes that came with the head. A whole body stays a
// view (nothing reads the downstream connection again during the request);
// the start of a body still arriving is copied if it is to be held.
func (h *heldBody) take(first []byte, hold, whole bool) {
	h.taken, h.hold, h.b = true, hold, first
	if hold && !whole {
		h.b = nil
		h.add(first)
	}
}

// add keeps more streamed body bytes, up to maxHeldBody.
func (h *heldBody) add(p []byte) {
	if !h.hold || h.over || len(p) == 0 {
		return
	}
	if len(h.b)+len(p) > maxHeldBody {
		h.over = true
		return
	}
	if h.buf == nil {
		h.buf = bytebufferpool.Get()
		h.buf.B = h.buf.B[:0]
	}
	h.buf.B = append(h.buf.B, p...)
	h.b = h.buf.B
}

// holding reports whether streamed bytes are still being kept.
func (h *heldBody) holding() bool { return h.hold && !h.over }

// whole reports whether the request body is read to its end and held, so
// the request can be sent again.
func (h *heldBody) whole(s *stream.HTTP1ServerStream) bool {
	return h.hold && !h.over && s.Body.Done()
}

func (h *heldBody) release() {
	if h.buf != nil {
		bytebufferpool.Put(h.buf)
	}
	*h = heldBody{}
}

// bodyPump streams a request body upstream concurrently with reading the
// response (a goroutine, or a task of the connection's event loop).
type bodyPump struct {
	task     *network.Task
	done     bool
	res      pumpResult
	held     heldBody // the exchange's, while the pump runs
	deadline time.Time
	idle     time.Duration
}

func startPump(s *stream.HTTP1ServerStream, up *network.Conn, x *exchange) *bodyPump {
	p := &bodyPump{held: x.body, deadline: x.deadline, idle: x.idle}
	t := x.t
	p.task = s.Conn.Go(func() { p.res = p.run(s, up, t) })
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

// errPumpCut is a pump's result when the exchange cut it short: the
// upstream failed or answered before the body was sent.
var errPumpCut = errors.New("request body cut: the upstream exchange ended")

// finish waits for the pump; with abort it first unblocks it by cutting
// the reads and writes it may be blocked in. A nil pump is a no-op.
func (p *bodyPump) finish(s *stream.HTTP1ServerStream, up *network.Conn, x *exchange, abort bool) pumpResult {
	if p == nil {
		return pumpResult{}
	}
	if !p.done {
		cut := abort && !p.task.Done()
		if cut {
			s.Conn.NetConn().SetReadDeadline(time.Unix(1, 0)) // not the wrapper: the pump owns it
			up.Close()
		}
		p.task.Wait()
		p.done = true
		x.bytesIn += p.res.n
		x.body = p.held
		if cut && p.res.err != nil && !p.res.upstream && isTimeout(p.res.err) {
			// The deadline is ours, not a failure of the client.
			p.res.err, p.res.upstream = errPumpCut, true
		}
	}
	if (p.res.err != nil && !p.res.upstream) || !s.Body.Done() {
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

// run streams the rest of the request body upstream. A body that fails on
// the client's side (gone, malformed) closes the upstream connection at
// once: it holds a partial request, and the reader waiting for its response
// must not wait for the route timeout. When writing upstream fails, a body
// being held is still read to its end (up to the hold limit), so the
// request can be sent again whole.
func (p *bodyPump) run(s *stream.HTTP1ServerStream, up *network.Conn, t *trackedStream) (r pumpResult) {
	x := exchange{deadline: p.deadline, idle: p.idle}
	x.armRead(s.Conn, x.deadline)
	defer s.Conn.SetReadDeadline(time.Time{})
	for !s.Body.Done() {
		if p.idle > 0 {
			x.armRead(s.Conn, x.deadline)
		}
		chunk, err := s.Body.Next()
		if err != nil {
			r.err, r.upstream = err, false
			up.Close()
			return r
		}
		r.n += int64(len(chunk))
		t.addBytesIn(int64(len(chunk)))
		p.held.add(chunk)
		if r.err == nil {
			if _, err := up.Write(chunk); err != nil {
				r.err, r.upstream = err, true
			}
		}
		if r.err != nil && !p.held.holding() {
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
	if x.failed(err) {
		s.Respond(504, bodyTimeout)
		return false
	}
	p.Log.Debug("upstream failed", "cluster", x.tries.Cluster.Name, "host", x.tries.Host.Address, "err", err, "after_send", afterSend)
	s.Respond(502, bodyUpstreamFail)
	return false
}

// failed counts a try that ended in err and flags it; it reports whether
// err was a timeout.
func (x *exchange) failed(err error) (timeout bool) {
	timeout = isTimeout(err)
	x.tries.Failed(timeout)
	x.flag = flagUpstream
	if timeout {
		x.flag = flagTimeout
	}
	return timeout
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
