package stream

import (
	"cmp"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"sync"
	"time"

	"github.com/mosnctl/mosnctl/internal/lograte"
	"github.com/mosnctl/mosnctl/internal/network"
	"github.com/mosnctl/mosnctl/internal/protocol"
	"github.com/mosnctl/mosnctl/internal/protocol/http1"
)

// HTTP1Options tune the downstream HTTP/1 request loop.
type HTTP1Options struct {
	Limits      http1.Limits
	IdleTimeout time.Duration // keep-alive wait for the next request; default 60s
	ReadTimeout time.Duration // a request head must be complete within it once started; default 30s
	// WriteTimeout bounds writing one response to a client that does not
	// read; 0 means none (a deadline costs a timer update per request).
	WriteTimeout time.Duration
	// SendTimeout, used when WriteTimeout is not, bounds each wait for a
	// client that does not read (network.Conn.SetSendTimeout); default 60s.
	SendTimeout time.Duration
	// Paths says how request paths are normalized before the handler
	// routes them; the zero value leaves them as they came.
	Paths  http1.PathRules
	Logger *slog.Logger
	// LogLimit rate-limits the lines bad requests log, by reason; share
	// one per listener. nil logs every one.
	LogLimit *lograte.Limiter
}

func (o *HTTP1Options) idle() time.Duration {
	if o.IdleTimeout > 0 {
		return o.IdleTimeout
	}
	return 60 * time.Second
}

func (o *HTTP1Options) read() time.Duration {
	if o.ReadTimeout > 0 {
		return o.ReadTimeout
	}
	return 30 * time.Second
}

// HTTP1Handler handles one request at a time of a downstream connection.
// It must answer through the stream (Respond*/WriteResponseHead) and either
// consume the request body or mark the stream to close.
type HTTP1Handler interface {
	ServeHTTP1(s *HTTP1ServerStream)
}

// HTTP1ServerStream is one request on a downstream connection. It is reused
// for every request of the connection: nothing is allocated per request.
// Req's slices point into the connection's buffer and stay valid only until
// the body is read. The handler sees Req's target as it is to be forwarded:
// in origin form, its path normalized by HTTP1Options.Paths
// (http1.Request.RewriteTarget).
type HTTP1ServerStream struct {
	Conn  *network.Conn
	Req   http1.Request
	Body  Body
	Start time.Time
	// Status is the status sent downstream (0 until a response head is written).
	Status int
	// BytesOut counts response bytes written downstream.
	BytesOut int64

	// Scratch and Scratch2 are per-connection spaces the handler may use for
	// the current request (copies, rewritten URIs, response heads).
	Scratch, Scratch2 []byte
	// Extra holds headers the handler adds to the upstream request.
	Extra []http1.Header

	keepAlive    bool
	continueSent bool
	wbuf         []byte
	target       []byte // backs Req.URI when the target was rewritten
}

// Host implements the router's request view.
func (s *HTTP1ServerStream) Host() []byte { return s.Req.Host }

// Path implements the router's request view.
func (s *HTTP1ServerStream) Path() []byte { return s.Req.Path() }

// Method implements the router's MethodRequest, so ":method" and "method"
// header matchers see the request method.
func (s *HTTP1ServerStream) Method() []byte { return s.Req.Method }

// Header implements the router's request view.
func (s *HTTP1ServerStream) Header(name string) ([]byte, bool) { return s.Req.Header(name) }

// AppendLocalAuthority appends the address the client connected to, as a
// Host value ("127.0.0.1:8080", "[::1]:8080"): the authority an HTTP/1.0
// request that names none was sent to, which a proxy forwards as its Host
// (as nginx does). It does not allocate when dst has room.
func (s *HTTP1ServerStream) AppendLocalAuthority(dst []byte) []byte {
	a, ok := s.Conn.LocalAddr().(*net.TCPAddr)
	if !ok || a == nil {
		return append(dst, "localhost"...) // a unix socket has no authority
	}
	ap := a.AddrPort()
	// A dual-stack listener sees IPv4 clients as ::ffff:a.b.c.d, and a zone
	// is no part of a URI host.
	return netip.AddrPortFrom(ap.Addr().Unmap().WithZone(""), ap.Port()).AppendTo(dst)
}

// KeepAlive reports whether the connection will carry another request.
func (s *HTTP1ServerStream) KeepAlive() bool { return s.keepAlive }

// CloseAfter makes the connection close once this response is written.
func (s *HTTP1ServerStream) CloseAfter() { s.keepAlive = false }

// WriteBuffer returns the stream's reusable write buffer, emptied.
func (s *HTTP1ServerStream) WriteBuffer() []byte { return s.wbuf[:0] }

// KeepWriteBuffer stores a grown write buffer for reuse.
func (s *HTTP1ServerStream) KeepWriteBuffer(b []byte) {
	if cap(b) <= 64<<10 {
		s.wbuf = b[:0]
	}
}

// Continue sends "100 Continue" when the client waits for it before sending
// its body; the proxy calls it just before it starts reading the body.
func (s *HTTP1ServerStream) Continue() error {
	if !s.Req.ExpectContinue || s.continueSent || s.Body.Done() {
		return nil
	}
	s.continueSent = true
	_, err := s.Conn.Write(continueLine)
	return err
}

var continueLine = []byte("HTTP/1.1 100 Continue\r\n\r\n")

// Respond writes a complete response generated by the proxy.
func (s *HTTP1ServerStream) Respond(status int, body []byte) error {
	if status >= 400 && !s.Body.Done() {
		// The unread body would be taken for the next request: close instead.
		s.keepAlive = false
	}
	b := http1.AppendLocalResponse(s.wbuf[:0], status, body, s.keepAlive)
	s.Status = status
	_, err := s.Conn.Write(b)
	s.BytesOut += int64(len(b))
	s.KeepWriteBuffer(b)
	return err
}

// WriteResponse writes a response head and the first body bytes with one
// gathered write.
func (s *HTTP1ServerStream) WriteResponse(status int, head, body []byte) error {
	s.Status = status
	s.BytesOut += int64(len(head) + len(body))
	if len(body) == 0 {
		_, err := s.Conn.Write(head)
		return err
	}
	return s.Conn.Writev(head, body)
}

// Write writes more response body bytes.
func (s *HTTP1ServerStream) Write(p []byte) error {
	s.BytesOut += int64(len(p))
	_, err := s.Conn.Write(p)
	return err
}

// http1Streams holds the streams of connections that wait for their next
// request: an idle connection keeps no stream, no write buffer and no
// scratch space.
var http1Streams = sync.Pool{New: func() any { return &HTTP1ServerStream{wbuf: make([]byte, 0, 1024)} }}

func getHTTP1Stream(c *network.Conn) *HTTP1ServerStream {
	s := http1Streams.Get().(*HTTP1ServerStream)
	s.Conn = c
	return s
}

func putHTTP1Stream(s *HTTP1ServerStream) {
	s.Conn = nil
	s.Body = Body{}
	if cap(s.Scratch) > 64<<10 {
		s.Scratch = nil
	}
	if cap(s.Scratch2) > 64<<10 {
		s.Scratch2 = nil
	}
	if cap(s.Extra) > 64 {
		s.Extra = nil
	}
	http1Streams.Put(s)
}

// http1Conn is what a downstream HTTP/1 connection keeps between requests.
type http1Conn struct {
	c    *network.Conn
	h    HTTP1Handler
	opts *HTTP1Options
	wake func() // resume, for ParkIdle (made once)
}

// ServeHTTP1 runs the request loop of a downstream connection until it
// closes, fails, or the listener drains. Between requests the connection
// holds no stream; on an event loop it also gives up its task
// (network.Conn.ParkIdle), so the function may return while the connection
// lives on: the listener's cleanup, and AfterServe, follow its end.
func ServeHTTP1(ctx context.Context, c *network.Conn, h HTTP1Handler, opts *HTTP1Options) {
	if opts.WriteTimeout <= 0 {
		c.SetSendTimeout(cmp.Or(opts.SendTimeout, 60*time.Second))
	}
	hc := &http1Conn{c: c, h: h, opts: opts}
	hc.serve(false)
}

// resume continues a connection parked between requests.
func (hc *http1Conn) resume() { hc.serve(true) }

// serve is the request loop; resumed means the connection was parked idle
// and is woken: it reads before anything else.
func (hc *http1Conn) serve(resumed bool) {
	c, h, opts := hc.c, hc.h, hc.opts
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	idle, readTimeout := opts.idle(), opts.read()
	var s *HTTP1ServerStream // taken when a request arrives
	defer func() {
		if s != nil {
			putHTTP1Stream(s)
		}
	}()
	for {
		if !resumed && c.Draining() && c.Handoff(protocol.HTTP1) {
			// Between requests (pipelined bytes ride along): the socket
			// went to the upgraded process.
			return
		}
		if resumed || len(c.Buffered()) == 0 {
			if !resumed {
				c.Release()
				// The deadline goes first: a drain that finds this
				// connection idle kicks it with a past deadline, which must
				// not be overwritten afterwards.
				c.ExtendReadDeadline(time.Now().Add(idle), time.Second)
				if !c.SetIdle(true) {
					c.Handoff(protocol.HTTP1)
					return
				}
				if s != nil {
					putHTTP1Stream(s)
					s = nil
				}
				if hc.wake == nil {
					hc.wake = hc.resume
				}
				if c.ParkIdle(hc.wake) {
					return
				}
			}
			resumed = false
			err := c.Fill()
			if !c.SetIdle(false) && err != nil {
				if errors.Is(err, os.ErrDeadlineExceeded) {
					// Woken by drain while idle: nothing was read.
					c.Handoff(protocol.HTTP1)
				}
				return
			}
			if err != nil {
				logReadError(log, c, err)
				return
			}
		}
		if s == nil {
			s = getHTTP1Stream(c)
		}
		s.Req.Reset()
		n, err := http1.ParseRequest(c.Buffered(), &s.Req, opts.Limits)
		if errors.Is(err, http1.ErrNeedMore) {
			// Only a head split over reads pays for a second deadline; the
			// idle deadline set above otherwise stays (the body reader and
			// the next idle wait set their own).
			c.SetReadDeadline(time.Now().Add(readTimeout))
		}
		for errors.Is(err, http1.ErrNeedMore) {
			if ferr := c.Fill(); ferr != nil {
				if errors.Is(ferr, network.ErrBufferFull) {
					err = &http1.Error{Status: 431, Reason: "request head exceeds the buffer limit"}
					break
				}
				logReadError(log, c, ferr)
				return
			}
			n, err = http1.ParseRequest(c.Buffered(), &s.Req, opts.Limits)
		}
		if err == nil {
			// Before routing: a route must see the path the upstream gets.
			s.target, err = s.Req.RewriteTarget(s.target[:0], opts.Paths)
		}
		if err != nil {
			status, reason := 400, ""
			var perr *http1.Error
			if errors.As(err, &perr) {
				status, reason = perr.Status, perr.Reason
			} else {
				reason = err.Error()
			}
			if ok, suppressed := opts.LogLimit.Allow(reason); ok {
				log.Info("bad request, closing connection", "remote", c.RemoteAddr().String(), "status", status, "err", err,
					"suppressed", suppressed)
			}
			c.Write(http1.AppendLocalResponse(s.wbuf[:0], status, []byte(http1.StatusText(status)+"\n"), false))
			return
		}
		s.Start = time.Now()
		s.Status, s.BytesOut = 0, 0
		s.continueSent = false
		s.Scratch = s.Scratch[:0]
		// A draining connection closes after this response unless it can be
		// handed to an upgraded process, which keeps it alive.
		s.keepAlive = s.Req.KeepAlive && (!c.Draining() || c.CanHandoff())
		framing := s.Req.Framing()
		c.Discard(n)
		s.Body.Reset(c, framing, s.Req.ContentLength)

		if opts.WriteTimeout > 0 {
			c.SetWriteDeadline(s.Start.Add(opts.WriteTimeout))
		}
		h.ServeHTTP1(s)

		if !s.keepAlive || c.Closed() {
			return
		}
		if !s.Body.Done() {
			// The handler answered without reading the body (e.g. a local
			// reply): skip it unless the client still waits for 100-continue.
			if s.Req.ExpectContinue && !s.continueSent {
				return
			}
			c.SetReadDeadline(time.Now().Add(readTimeout))
			if err := s.Body.Drain(); err != nil {
				return
			}
		}
	}
}

func logReadError(log *slog.Logger, c *network.Conn, err error) {
	if errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) || errors.Is(err, os.ErrDeadlineExceeded) {
		return
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return
	}
	log.Debug("downstream read failed", "remote", c.RemoteAddr().String(), "err", err)
}
