package proxy

import (
	"context"
	"time"

	"github.com/mosnctl/mosnctl/internal/network"
	"github.com/mosnctl/mosnctl/internal/protocol/http1"
	"github.com/mosnctl/mosnctl/internal/stream"
)

// HTTP2Proxy forwards the streams of a downstream HTTP/2 connection to
// HTTP/2 upstreams, multiplexed like Bolt: the downstream reader hands each
// request stream to the forwarding loop, which opens a stream upstream and
// moves on; bodies are relayed by the readers of both connections as flow
// control lets them, and the upstream reader brings the response back.
type HTTP2Proxy struct {
	Forwarder
	// UpstreamHTTP1 sends the requests to HTTP/1 upstreams, converted.
	UpstreamHTTP1 bool
	Limits        http1.Limits
}

// http2Call is the HTTP/2 adapter of one request stream: the stream
// (promoted: routing view, edits), the call of the forwarding loop, and
// the tracker entry.
type http2Call struct {
	*stream.H2ServerStream
	p *HTTP2Proxy
	c call
	e trackedStream
}

// ServeConn serves a downstream HTTP/2 connection.
func (p *HTTP2Proxy) ServeConn(ctx context.Context, c *network.Conn, opts *stream.H2Options) {
	stream.ServeH2(ctx, c, p, opts)
}

// ServeH2 forwards one request stream. Its adapter stays with the stream
// (Ext), which the stream layer pools: a stream in steady state allocates
// none.
func (p *HTTP2Proxy) ServeH2(s *stream.H2ServerStream) {
	h, _ := s.Ext.(*http2Call)
	if h == nil {
		h = new(http2Call)
		s.Ext = h
	}
	*h = http2Call{H2ServerStream: s, p: p}
	h.c = call{f: &p.Forwarder, ds: h, conn: s.Conn(), start: s.Start}
	if t := p.Streams; t != nil {
		h.e.listener, h.e.protocol, h.e.conn = p.Listener, "HTTP/2", s.Conn()
		h.e.requestID.Store(s.ID())
		t.register(&h.e, s.ID())
		t.begin(&h.e, s.Start)
		h.c.t = &h.e
	}
	if v, ok := s.Header("grpc-timeout"); ok {
		// The client gives up then: the route's timeout waits no longer.
		if d, ok := stream.ParseGRPCTimeout(v); ok && d > 0 && d < maxGRPCTimeout {
			h.c.expire = s.Start.Add(d)
		}
	}
	h.c.run()
}

// maxGRPCTimeout is the longest grpc-timeout taken as a deadline: past it
// the route's timeout decides alone.
const maxGRPCTimeout = 365 * 24 * time.Hour

// send makes one try on a stream of the host's multiplexed connections;
// its end comes back to TryEnded.
func (h *http2Call) send(c *call) {
	if h.p.UpstreamHTTP1 {
		h.ForwardHTTP1(h.p.Pools.HTTP1(h.Conn().Loop(), c.tries.Cluster, c.tries.Host), &c.try, h, h.p.Limits)
		return
	}
	pool := h.p.Pools.HTTP2(h.Conn().Loop(), c.tries.Cluster, c.tries.Host)
	if err := h.Forward(pool, &c.try, h); err != nil {
		c.ended(stream.ConnectResult(err))
	}
}

// TryEnded implements stream.H2Try.
func (h *http2Call) TryEnded(r stream.Result) { h.c.ended(r) }

// The call's hooks, promoted for stream.H2Try.
func (h *http2Call) Started()                                     { h.c.Started() }
func (h *http2Call) Sent(n int64)                                 { h.c.Sent(n) }
func (h *http2Call) RequestData(p []byte, end bool) stream.Reply  { return h.c.RequestData(p, end) }
func (h *http2Call) ResponseHead(r stream.Response) stream.Reply  { return h.c.ResponseHead(r) }
func (h *http2Call) RetryAnswer(status int) bool                  { return h.c.RetryAnswer(status) }
func (h *http2Call) Responding(n int64)                           { h.c.Responding(n) }
func (h *http2Call) ResponseData(p []byte, end bool) stream.Reply { return h.c.ResponseData(p, end) }

func (h *http2Call) reply(r stream.Reply) int { return h.Reply(r) }

func (h *http2Call) wholeBody() ([]byte, bool) { return nil, false } // it streams through RequestData

func (h *http2Call) status() int { return h.H2ServerStream.Status() }

// pause resumes the request after d; meanwhile the connection's other
// streams go on. A delay asked for inside a try (a data filter's) is not
// waited for: the stream's bytes are already moving.
func (h *http2Call) pause(d time.Duration, resume func()) {
	if resume == nil {
		return
	}
	time.AfterFunc(d, func() { h.Conn().Run(resume) })
}

func (h *http2Call) logEntry(e *AccessEntry) {
	s := h.H2ServerStream
	e.Protocol, e.Remote = "HTTP/2", s.Conn().RemoteAddr().String()
	e.Method, e.Path = s.Req.Method, s.Req.Path
	e.BytesIn, e.BytesOut = s.BytesIn(), s.BytesOut()
	e.RequestID = s.ID()
}

func (h *http2Call) done(c *call) {
	if c.t != nil {
		// Unlinked before the stream is pooled: no snapshot reads it.
		h.p.Streams.unregister(c.t)
	}
	h.Done()
}
