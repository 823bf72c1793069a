package stream

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/mosnctl/mosnctl/internal/lograte"
	"github.com/mosnctl/mosnctl/internal/network"
	"github.com/mosnctl/mosnctl/internal/protocol/http1"
	"github.com/mosnctl/mosnctl/internal/protocol/http2"
	xhttp2 "golang.org/x/net/http2"
)

// H2Options tune a downstream HTTP/2 connection.
type H2Options struct {
	// Config holds the engine's limits (streams, windows, frame and header
	// sizes, reset budget); zero fields take its defaults.
	Config http2.Config
	// IdleTimeout closes a connection without streams for this long;
	// default 90s.
	IdleTimeout time.Duration
	// SendTimeout bounds how long output may wait for a client that does
	// not read; default 60s.
	SendTimeout time.Duration
	// ReadTimeout bounds a frame or header block from its first bytes to
	// its last; default 30s.
	ReadTimeout time.Duration
	Logger      *slog.Logger
	// LogLimit rate-limits the lines bad input logs, by reason; nil logs
	// every one.
	LogLimit *lograte.Limiter
	// Paths says how :path is normalized before routing, as HTTP/1's
	// request target is (normalize_path, merge_slashes).
	Paths http1.PathRules
}

func (o *H2Options) withDefaults() H2Options {
	v := *o
	if v.Logger == nil {
		v.Logger = slog.Default()
	}
	if v.IdleTimeout <= 0 {
		v.IdleTimeout = 90 * time.Second
	}
	if v.SendTimeout <= 0 {
		v.SendTimeout = 60 * time.Second
	}
	if v.ReadTimeout <= 0 {
		v.ReadTimeout = 30 * time.Second
	}
	return v
}

// H2Handler receives each request stream of a downstream HTTP/2
// connection, from the connection's reader with no lock held. It may keep
// the stream until it calls Done.
type H2Handler interface {
	ServeH2(s *H2ServerStream)
}

// H2Downstream is a downstream HTTP/2 connection (h2c with prior
// knowledge; TLS with ALPN "h2" only changes who reads the bytes).
type H2Downstream struct {
	h2Conn
	opts    H2Options
	h       H2Handler
	streams map[uint32]*H2ServerStream // under the lock
	// inflight counts streams handed to the handler and not Done, so the
	// connection closes only when they are.
	inflight *network.InFlight
	drain    h2Drain // under the lock
	// The reader's, kept across parks: it sent the last GOAWAY (the
	// connection drains); since when a frame or header block is begun and
	// not complete (read_timeout bounds it); since when the graceful GOAWAY
	// is out (streams are taken until its PING returns); its continuation
	// after a park.
	goingAway    bool
	readingSince time.Time
	graceSince   time.Time
	wake         func()
}

// H2ServerStream is one request stream of a downstream connection: its
// head (routing view and edits: it implements RequestEditor), its body as
// it arrives, and the way its response goes back, from an upstream stream
// (Forward) or the proxy itself (Reply).
type H2ServerStream struct {
	Req   H2Head
	Start time.Time
	// Ext is the handler's own state for the stream.
	Ext any

	d     *H2Downstream
	id    uint32
	body  h2Pipe // the request body
	reply h2Pipe // a local reply's body
	resp  H2Head
	up    atomic.Pointer[H2ClientStream] // the current try
	h1    atomic.Pointer[h1Upstream]     // a try's state on an HTTP/1 upstream (conversion)
	gone  atomic.Bool                    // the client reset the stream or the connection died
	// replying: a local reply's body is being written (Writable resumes it).
	replying atomic.Bool
	status   atomic.Int32 // the response status sent, 0: none yet
	bytesOut atomic.Int64
	done     atomic.Bool
	refs     atomic.Int32 // who can reach the stream (h2pool.go)
	pooled   bool
}

// ServeH2 runs a downstream HTTP/2 connection, handing each request
// stream to h. It returns when the connection ended, once the streams in
// flight finished, or earlier on an event loop when the reader parked
// (network.Conn.ParkIdle): the connection lives on, and the listener's
// cleanup follows its end.
func ServeH2(ctx context.Context, c *network.Conn, h H2Handler, opts *H2Options) {
	d := &H2Downstream{opts: opts.withDefaults(), h: h, streams: make(map[uint32]*H2ServerStream), inflight: network.NewInFlight(c)}
	d.init(c, http2.NewServerConn(d.opts.Config, d), d.opts.Logger)
	c.SetSendTimeout(d.opts.SendTimeout)
	d.wake = func() { d.serve(true) }
	d.onRoom = func() {
		for id, s := range d.streams {
			d.queue(h2EvWritable, id, s)
		}
	}
	d.lock()
	d.flushLocked() // our SETTINGS
	d.unlock()
	d.serve(false)
}

// ID is the stream's identifier on its connection.
func (s *H2ServerStream) ID() uint32 { return s.id }

// Conn is the downstream connection's socket.
func (s *H2ServerStream) Conn() *network.Conn { return s.d.conn }

// Status is the status of the response sent downstream, 0 when none was.
func (s *H2ServerStream) Status() int { return int(s.status.Load()) }

// BytesIn counts the request body bytes received so far.
func (s *H2ServerStream) BytesIn() int64 {
	s.body.mu.Lock()
	defer s.body.mu.Unlock()
	return s.body.total
}

// BytesOut counts the response body bytes sent.
func (s *H2ServerStream) BytesOut() int64 { return s.bytesOut.Load() }

// IsGRPC reports a gRPC request (content-type application/grpc...).
func (s *H2ServerStream) IsGRPC() bool {
	ct, _ := s.Req.get("content-type")
	return isGRPC(ct)
}

// Done ends the handler's use of the stream; the connection may close once
// every stream is done.
func (s *H2ServerStream) Done() {
	if s.done.CompareAndSwap(false, true) {
		s.d.inflight.Done()
		s.unref()
	}
}

// The stream as a RequestEditor.

// Host implements Request: :authority, else the Host field.
func (s *H2ServerStream) Host() []byte {
	if s.Req.Authority != nil {
		return s.Req.Authority
	}
	v, _ := s.Req.get("host")
	return v
}

// Path implements Request: :path without its query.
func (s *H2ServerStream) Path() []byte {
	p := s.Req.Path
	for i, b := range p {
		if b == '?' {
			return p[:i]
		}
	}
	return p
}

// Method implements Request.
func (s *H2ServerStream) Method() []byte { return s.Req.Method }

// Header implements Request.
func (s *H2ServerStream) Header(name string) ([]byte, bool) { return s.Req.Header(name) }

// DelHeader implements HeadEditor.
func (s *H2ServerStream) DelHeader(name []byte) { s.Req.DelHeader(name) }

// AddHeader implements HeadEditor.
func (s *H2ServerStream) AddHeader(name, value []byte) { s.Req.AddHeader(name, value) }

// SetHost implements RequestEditor.
func (s *H2ServerStream) SetHost(host string) { s.Req.setHost(host) }

// ReplacePathPrefix implements RequestEditor.
func (s *H2ServerStream) ReplacePathPrefix(n int, prefix string) { s.Req.replacePathPrefix(n, prefix) }

// The connection as the engine's Handler: under the lock, inside Feed.

// Headers implements http2.Handler.
func (d *H2Downstream) Headers(id uint32, h *http2.Headers, end bool) {
	if h.Trailers {
		if s := d.streams[id]; s != nil {
			s.body.putTrailers(h)
			d.queue(h2EvData, id, s)
		}
		return
	}
	s := d.newServerStream(id)
	s.Req.copyFrom(h)
	s.body.end = end
	d.streams[id] = s
	s.ref()
	d.queue(h2EvHead, id, s)
}

// Data implements http2.Handler.
func (d *H2Downstream) Data(id uint32, p []byte, end bool) {
	s := d.streams[id]
	if s == nil || s.gone.Load() {
		d.eng.Consumed(id, len(p)) // nobody will read it: keep the connection's window open
		return
	}
	s.body.put(p, end)
	d.queue(h2EvData, id, s)
}

// Reset implements http2.Handler.
func (d *H2Downstream) Reset(id uint32, err *http2.StreamError) {
	s := d.streams[id]
	if s == nil {
		if err.Code != xhttp2.ErrCodeNo && err.Code != xhttp2.ErrCodeCancel && err.Reason != "" {
			if ok, suppressed := d.opts.LogLimit.Allow(err.Reason); ok {
				d.log.Info("http2: stream error", "remote", d.conn.RemoteAddr().String(), "stream_id", id,
					"err", err.Error(), "suppressed", suppressed)
			}
		}
		return
	}
	d.queue(h2EvReset, id, s)
	d.forget(id)
}

// Writable implements http2.Handler.
func (d *H2Downstream) Writable(id uint32) {
	if s := d.streams[id]; s != nil {
		d.queue(h2EvWritable, id, s)
	}
}

// Control implements http2.Handler.
func (d *H2Downstream) Control(ev *http2.Event) { d.drain.control(ev) }

// event runs a stream's news, from the reader, without locks.
func (s *H2ServerStream) event(kind h2EventKind) {
	switch kind {
	case h2EvHead:
		if err := s.normalizePath(s.d.opts.Paths); err != nil {
			s.Reply(Reply{Status: 400, Body: []byte(err.Error() + "\n"), Cause: Malformed})
			return
		}
		s.d.inflight.Add()
		s.ref() // the handler's, until Done
		s.d.h.ServeH2(s)
	case h2EvData:
		if up := s.upRef(); up != nil {
			up.relayRequest()
			up.unref()
		} else {
			s.h1News(true)
		}
	case h2EvReset:
		s.clientGone()
	case h2EvWritable:
		up := s.upRef()
		switch {
		case up != nil && up.headSent.Load():
			up.relayResponse()
		case s.replying.Load():
			s.relayReply()
		default:
			s.h1News(false)
		}
		if up != nil {
			up.unref()
		}
	}
}

// normalizePath applies the listener's path rules to :path, as HTTP/1
// does to its request target, so routes see the same path either way.
func (s *H2ServerStream) normalizePath(rules http1.PathRules) error {
	p := s.Req.Path
	if rules == (http1.PathRules{}) || len(p) == 0 || p[0] != '/' {
		return nil
	}
	if bytes.IndexByte(p, '%') < 0 && !bytes.Contains(p, dotSegment) && !(rules.MergeSlashes && bytes.Contains(p, doubleSlash)) {
		return nil // nothing to normalize: the common case costs no rewrite
	}
	r := http1.Request{URI: s.Req.Path}
	buf, err := r.RewriteTarget(s.Req.pathBuf[:0], rules)
	s.Req.pathBuf = buf
	if err != nil {
		return err
	}
	s.Req.Path = r.URI
	return nil
}

var (
	dotSegment  = []byte("/.")
	doubleSlash = []byte("//")
)

// clientGone ends the stream's exchange after the client reset it or the
// connection ended: the upstream stream is reset (CANCEL).
func (s *H2ServerStream) clientGone() {
	s.gone.Store(true)
	if n := s.body.drop(); n > 0 {
		s.d.consumed(s.id, n)
	}
	if up := s.upRef(); up != nil {
		up.cancel(Result{Outcome: DownstreamFailed, Responded: up.headSent.Load(), Err: errClientReset})
		up.unref()
	}
	s.h1Gone()
}

var errClientReset = errors.New("http2: client reset the stream")

// consumed reports n bytes of stream id's DATA used.
func (c *h2Conn) consumed(id uint32, n int) {
	c.lock()
	c.eng.Consumed(id, n)
	c.flushLocked()
	c.unlock()
}

// resetStream resets stream id with code.
func (c *h2Conn) resetStream(id uint32, code http2.ErrCode) {
	c.lock()
	c.eng.Reset(id, code)
	c.flushLocked()
	ev := c.takeEvents()
	c.unlock()
	c.dispatch(ev)
}

// forget drops a downstream stream whose response is complete, or which
// ended otherwise. The lock is held.
func (d *H2Downstream) forget(id uint32) {
	if s := d.streams[id]; s != nil {
		delete(d.streams, id)
		s.unref()
	}
}

// Reply answers the request with the proxy's own response and returns its
// status. A gRPC request gets a gRPC answer: HTTP 200 with grpc-status and
// grpc-message in a trailers-only response, mapped from r's cause.
func (s *H2ServerStream) Reply(r Reply) int {
	d := s.d
	h := &s.resp
	h.reset()
	var code [3]byte
	d.lock()
	if s.IsGRPC() && (r.Cause != Local || r.Status >= 400) {
		st, msg := GRPCStatus(r)
		h.Status = append(code[:0], "200"...)
		h.scratch = strconv.AppendInt(h.scratch[:0], int64(st), 10)
		h.Fields = append(h.Fields, http2.F("content-type", "application/grpc"),
			http2.Field{Name: grpcStatusName, Value: h.scratch}, http2.Field{Name: grpcMessageName, Value: msg})
		if d.eng.WriteHeaders(s.id, h.responseFields(), true) == nil {
			s.status.Store(200)
			d.forget(s.id)
		}
		d.flushLocked()
		d.unlock()
		return r.Status
	}
	h.Status = strconv.AppendInt(code[:0], int64(r.Status), 10)
	h.scratch = strconv.AppendInt(h.scratch[:0], int64(len(r.Body)), 10)
	h.Fields = append(h.Fields, http2.F("content-type", "text/plain; charset=utf-8"),
		http2.Field{Name: contentLengthName, Value: h.scratch})
	err := d.eng.WriteHeaders(s.id, h.responseFields(), len(r.Body) == 0)
	d.flushLocked()
	d.unlock()
	if err != nil {
		return r.Status
	}
	s.status.Store(int32(r.Status))
	if len(r.Body) == 0 {
		d.lock()
		d.forget(s.id)
		d.unlock()
		return r.Status
	}
	s.bytesOut.Add(int64(len(r.Body))) // for the access log, which the caller writes next
	s.reply.put(r.Body, true)
	s.replying.Store(true)
	s.relayReply()
	return r.Status
}

var (
	grpcStatusName    = []byte("grpc-status")
	grpcMessageName   = []byte("grpc-message")
	contentLengthName = []byte("content-length")
)

// relayReply writes what is left of a local reply's body.
func (s *H2ServerStream) relayReply() {
	d := s.d
	d.lock()
	_, complete, _, err := s.reply.relay(d.eng, d.room(), s.id, nil, false)
	if complete || err != nil {
		d.forget(s.id)
		s.replying.Store(false)
	}
	d.flushLocked()
	ev := d.takeEvents()
	d.unlock()
	d.dispatch(ev)
}

// serve is the connection's reader: bytes to the engine, events to the
// streams, GOAWAY on drain; when the connection ends, every stream still
// open is ended as if reset, and the streams the handler holds finish.
// Waiting for bytes with nothing buffered, the reader gives up its task on
// an event loop (network.Conn.ParkIdle), streams in flight or not: their
// responses come from the upstream readers, and the function may return
// while the connection lives on. resumed: woken from such a park.
func (d *H2Downstream) serve(resumed bool) {
	c := d.conn
	idle := d.opts.IdleTimeout
	for {
		d.lock()
		active := d.eng.ActiveStreams()
		d.unlock()
		if d.goingAway && active == 0 {
			break
		}
		polling := d.goingAway || !d.graceSince.IsZero()
		draining := false
		if !resumed {
			if len(c.Buffered()) == 0 {
				c.Release()
			}
			if polling {
				// Nothing wakes the reader when the last stream ends: look
				// again soon.
				c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
			} else if !d.readingSince.IsZero() {
				c.SetReadDeadline(d.readingSince.Add(d.opts.ReadTimeout))
			} else {
				c.ExtendReadDeadline(time.Now().Add(idle), time.Second)
			}
			// Between frames the reader counts as idle, so that a drain
			// wakes it (with a read deadline in the past) to send GOAWAY.
			draining = !c.SetIdle(true)
			if !draining && !polling && c.ParkIdle(d.wake) {
				return
			}
		}
		resumed = false
		var err error
		if !draining || polling {
			err = c.Fill()
		}
		c.SetIdle(false)
		if err == nil && (!draining || polling) {
			if err = d.feed(); err != nil {
				d.logConnError(err)
				break
			}
			d.readingSince = d.reading(d.readingSince)
		} else if err != nil && d.slowFrame(err, d.readingSince) {
			break
		} else if err != nil && (!errors.Is(err, os.ErrDeadlineExceeded) || !d.goingAway && !c.Draining() && active == 0) {
			logReadError(d.log, c, err)
			break
		}
		if c.Draining() && !d.goingAway {
			if d.graceSince.IsZero() {
				d.graceSince = time.Now()
			}
			d.goingAway = d.goAway(d.graceSince)
		}
	}
	d.end()
}

// logConnError logs why the engine ended the connection.
func (d *H2Downstream) logConnError(err error) {
	var ce *http2.ConnError
	reason := err.Error()
	if errors.As(err, &ce) {
		if ce.Remote {
			return
		}
		reason = ce.Reason
	}
	if ok, suppressed := d.opts.LogLimit.Allow(reason); ok {
		d.log.Info("http2: connection error, closing connection", "remote", d.conn.RemoteAddr().String(), "err", err.Error(),
			"suppressed", suppressed)
	}
}

// end fails the streams still open, waits for those the handler holds and
// for the output to be written, and lets the socket go.
func (d *H2Downstream) end() {
	d.lock()
	d.writeLocked() // a GOAWAY the engine queued, before the socket closes
	open := make([]*H2ServerStream, 0, len(d.streams))
	for _, s := range d.streams {
		open = append(open, s) // with the map's reference
	}
	clear(d.streams)
	f := d.flusher
	d.unlock()
	for _, s := range open {
		s.clientGone()
		s.unref()
	}
	d.inflight.Wait()
	if f != nil {
		f.Wait()
	}
	d.conn.CloseOwned() // TLS: close_notify first
	d.conn.FreeBuffer()
}
