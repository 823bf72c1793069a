package proxy

import (
	"context"
	"errors"
	"time"

	"github.com/mosnctl/mosnctl/internal/network"
	"github.com/mosnctl/mosnctl/internal/protocol/http1"
	"github.com/mosnctl/mosnctl/internal/stream"
)

// HTTP1Proxy forwards HTTP/1 requests of one listener to HTTP/1 upstreams.
type HTTP1Proxy struct {
	Forwarder
	Limits http1.Limits
	// UpstreamHTTP2 sends the requests to HTTP/2 upstreams, converted.
	UpstreamHTTP2 bool
}

// http1Call is the HTTP/1 adapter of the forwarding loop: it gives the
// loop the request's stream (promoted: routing view, edits), its tries and
// its answers. It lives with a pooled stream (HTTP1ServerStream.Ext) and
// is reused with it, so a request allocates nothing and an idle
// connection keeps none.
type http1Call struct {
	*stream.HTTP1ServerStream
	p            *HTTP1Proxy
	c            call
	method, path []byte // copies for the access log
}

// http1ConnHandler serves a tracked connection: it carries the
// connection's entry in the stream tracker to each request.
type http1ConnHandler struct {
	p *HTTP1Proxy
	e trackedStream
}

func (h *http1ConnHandler) ServeHTTP1(s *stream.HTTP1ServerStream) { h.p.serve(s, &h.e) }

// ServeConn runs the request loop of a downstream connection. With a
// tracker, the connection is registered once here and each request only
// updates its entry.
func (p *HTTP1Proxy) ServeConn(ctx context.Context, c *network.Conn, opts *stream.HTTP1Options) {
	t := p.Streams
	if t == nil {
		stream.ServeHTTP1(ctx, c, p, opts)
		return
	}
	h := &http1ConnHandler{p: p}
	h.e.listener, h.e.protocol, h.e.conn = p.Listener, "HTTP/1.1", c
	t.register(&h.e, t.next.Add(1))
	// The connection may outlive this call, parked between requests.
	defer c.AfterServe(func() { t.unregister(&h.e) })
	stream.ServeHTTP1(ctx, c, h, opts)
}

// ServeHTTP1 forwards one request of an untracked connection.
func (p *HTTP1Proxy) ServeHTTP1(s *stream.HTTP1ServerStream) { p.serve(s, nil) }

func (p *HTTP1Proxy) serve(s *stream.HTTP1ServerStream, t *trackedStream) {
	h, _ := s.Ext.(*http1Call)
	if h == nil {
		h = new(http1Call) // once per pooled stream
		s.Ext = h
	}
	h.HTTP1ServerStream, h.p = s, p
	if t != nil {
		p.Streams.begin(t, s.Start)
	}
	if p.AccessLog != nil {
		// Views into the read buffer die once the body is read: keep copies.
		s.Scratch = append(append(s.Scratch[:0], s.Req.Method...), s.Req.URI...)
		h.method, h.path = s.Scratch[:len(s.Req.Method)], s.Scratch[len(s.Req.Method):]
	}
	if p.Filters.Streams() {
		s.KeepHead()
	}
	h.c = call{f: &p.Forwarder, ds: h, conn: s.Conn, t: t, start: s.Start}
	h.c.run()
}

// send makes one try on a connection of the host's pool (this event
// loop's, on one), the whole exchange on this goroutine or task.
func (h *http1Call) send(c *call) {
	s := h.HTTP1ServerStream
	var r stream.Result
	if h.p.UpstreamHTTP2 {
		r = s.ForwardH2(h.p.Pools.HTTP2(s.Conn.Loop(), c.tries.Cluster, c.tries.Host), &c.try, c)
	} else {
		r = s.Forward(h.p.Pools.HTTP1(s.Conn.Loop(), c.tries.Cluster, c.tries.Host), &c.try, c, h.p.Limits)
	}
	if r.Outcome == stream.BadRequest {
		h.p.badBody(s, r.Err)
	}
	c.ended(r)
}

func (h *http1Call) reply(r stream.Reply) int { return h.Reply(r) }

func (h *http1Call) wholeBody() ([]byte, bool) { return nil, false } // it streams through RequestData

func (h *http1Call) status() int { return h.HTTP1ServerStream.Status }

// pause sleeps: the connection has no other request to serve meanwhile,
// and on an event loop the sleep parks the task, not the loop.
func (h *http1Call) pause(d time.Duration, resume func()) {
	h.Conn.Sleep(d)
	if resume != nil {
		resume()
	}
}

func (h *http1Call) logEntry(e *AccessEntry) {
	s := h.HTTP1ServerStream
	e.Protocol, e.Remote = "HTTP/1.1", s.Conn.RemoteAddr().String()
	e.Method, e.Path = h.method, h.path
	e.BytesIn, e.BytesOut = s.BytesIn(), s.BytesOut
}

func (h *http1Call) done(c *call) {
	if h.HTTP1ServerStream.Status == 0 {
		h.CloseAfter() // nothing was answered: the client must not wait
	}
	c.t.setState(StreamIdle)
}

// badBody logs a malformed request body, rate-limited by reason.
func (p *HTTP1Proxy) badBody(s *stream.HTTP1ServerStream, err error) {
	var perr *http1.Error
	if !errors.As(err, &perr) {
		return
	}
	if ok, suppressed := p.LogLimit.Allow(perr.Reason); ok {
		p.Log.Info("bad request body, closing connection", "remote", s.Conn.RemoteAddr().String(), "err", err,
			"suppressed", suppressed)
	}
}
