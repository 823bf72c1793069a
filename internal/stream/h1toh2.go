package stream

import (
	"bytes"
	"errors"
	"sync"
	"time"

	"github.com/mosnctl/mosnctl/internal/network"
	"github.com/mosnctl/mosnctl/internal/protocol/http1"
	"github.com/mosnctl/mosnctl/internal/protocol/http2"
	xhttp2 "golang.org/x/net/http2"
)

// Conversion HTTP/1 downstream -> HTTP/2 upstream. The HTTP/1 stream is the
// h2Peer of an upstream HTTP/2 stream: its body, unframed, fills the
// request pipe the upstream stream relays from; the upstream reader only
// tells it about the response (head, body bytes in the response pipe, the
// end), and the HTTP/1 connection's own task writes it, framed again
// (Content-Length as the upstream gave it, else chunked, with the
// trailers in the chunked trailer section). Nothing of the forwarding loop
// changes: the try is synchronous, as HTTP/1's own.

// h1Peer is an HTTP/1 downstream stream as the peer of one upstream
// HTTP/2 try; it is the try's H2Try too, passing the hooks on.
type h1Peer struct {
	s     *HTTP1ServerStream
	hooks Hooks
	head  H2Head // the request head, copied before the body is read
	body  h2Pipe // the request body, unframed
	news  *network.Signal
	room  *network.Signal // the body pump waits for the pipe to drain

	mu       sync.Mutex
	headNews bool
	ended    bool
	result   Result
}

// maxPiped bounds the request body bytes the pump reads ahead of what the
// upstream stream has taken.
const maxPiped = 256 << 10

// hop-by-hop fields an HTTP/2 message never carries (RFC 9113 §8.2.2),
// plus Host (":authority" carries it) and Expect (answered here).
func hopByHop(name, value []byte) bool {
	switch {
	case http1.EqualFold(name, "connection"), http1.EqualFold(name, "keep-alive"),
		http1.EqualFold(name, "proxy-connection"), http1.EqualFold(name, "transfer-encoding"),
		http1.EqualFold(name, "upgrade"), http1.EqualFold(name, "host"), http1.EqualFold(name, "expect"),
		http1.EqualFold(name, "http2-settings"):
		return true
	case http1.EqualFold(name, "te"):
		return !http1.EqualFold(bytes.TrimSpace(value), "trailers")
	}
	return false
}

// namedByConnection reports a field the Connection header lists.
func namedByConnection(hs []http1.Header, name []byte) bool {
	for _, h := range hs {
		if !http1.EqualFold(h.Name, "connection") {
			continue
		}
		for _, tok := range bytes.Split(h.Value, []byte(",")) {
			if bytes.EqualFold(bytes.TrimSpace(tok), name) {
				return true
			}
		}
	}
	return false
}

var schemeHTTPValue = []byte("http")

// fromHTTP1 copies an HTTP/1 request head (with the proxy's added fields)
// into d as an HTTP/2 request head: the request line and Host become
// pseudo-header fields, hop-by-hop fields are left out.
func (d *H2Head) fromHTTP1(r *http1.Request, extra []http1.Header, host []byte) {
	keep := func(h http1.Header) bool { return !hopByHop(h.Name, h.Value) && !namedByConnection(r.Headers, h.Name) }
	n := len(r.Method) + len(r.URI) + len(host) + len(schemeHTTPValue)
	for _, hs := range [2][]http1.Header{r.Headers, extra} {
		for _, h := range hs {
			n += len(h.Name) + len(h.Value)
		}
	}
	if cap(d.arena) < n {
		d.arena = make([]byte, 0, n)
	}
	d.arena, d.scratch = d.arena[:0], d.scratch[:0]
	d.Method, d.Scheme, d.Authority = d.keep(r.Method), d.keep(schemeHTTPValue), d.keep(host)
	d.Path = d.keep(r.URI)
	if r.Method != nil && string(r.Method) == "OPTIONS" && string(r.URI) == "*" {
		d.Path = d.keep([]byte("*"))
	}
	d.Status = nil
	d.Fields = d.Fields[:0]
	for _, hs := range [2][]http1.Header{r.Headers, extra} {
		for _, h := range hs {
			if keep(h) {
				d.Fields = append(d.Fields, http2.Field{Name: d.keep(h.Name), Value: d.keep(h.Value)})
			}
		}
	}
	d.ContentLength = r.ContentLength
}

// upstreamHost is the authority an HTTP/1 request goes upstream with.
func (s *HTTP1ServerStream) upstreamHost() []byte {
	switch {
	case s.hostRewrite != nil:
		return s.hostRewrite
	case len(s.Req.Host) > 0:
		return s.Req.Host
	}
	start := len(s.Scratch)
	s.Scratch = s.AppendLocalAuthority(s.Scratch)
	return s.Scratch[start:]
}

// unframe returns the payload of raw body bytes: chunk framing removed.
func unframe(dec *http1.ChunkedReader, chunked bool, raw, dst []byte) ([]byte, error) {
	if !chunked {
		return append(dst, raw...), nil
	}
	for len(raw) > 0 {
		n, data, done, err := dec.Next(raw)
		if err != nil {
			return dst, err
		}
		dst = append(dst, data...)
		raw = raw[n:]
		if done || n == 0 {
			break
		}
	}
	return dst, nil
}

// ForwardH2 is one try of an HTTP/1 request on an upstream HTTP/2
// stream of a connection from pool, converted both ways. It returns when
// the try is over, like Forward.
func (s *HTTP1ServerStream) ForwardH2(pool *H2Pool, try *Try, h Hooks) Result {
	x := &s.exchange
	p := x.h2
	if p == nil {
		p = &h1Peer{s: s}
		x.h2 = p
		p.head.fromHTTP1(&s.Req, s.Extra, s.upstreamHost()) // the head's views die once the body is read
		p.news, p.room = network.NewSignal(s.Conn), network.NewSignal(s.Conn)
		if err := s.Continue(); err != nil {
			s.CloseAfter()
			return Result{Outcome: DownstreamFailed, Err: err}
		}
		raw, err := s.Body.Buffered()
		if err != nil {
			return s.badBody(err)
		}
		s.exchange.bytesIn += int64(len(raw))
		s.exchange.body.taken = true
		p.body.buf, err = unframe(&x.chunkDec, s.Body.framing == http1.FramingChunked, raw, p.body.buf[:0])
		if err != nil {
			return s.badBody(err)
		}
		p.body.total = int64(len(p.body.buf))
		p.body.end = s.Body.Done()
	} else if !p.body.rewind() {
		return Result{Outcome: UpstreamFailed, Err: errors.New("http1 -> http2: request body already sent, cannot retry")}
	}
	p.hooks = p.resetTry(h)
	p.body.mu.Lock()
	p.body.hold = try.Hold
	end := p.body.end && len(p.body.buf) == 0
	if end {
		p.body.done = true
	}
	p.body.mu.Unlock()
	up := newClientStream(p, p, try.Deadline)
	defer up.unref() // this function's reference
	up.startTimer(try)
	h.Started()
	if err := pool.open(up, p.head.requestFields(), end); err != nil {
		if up.ended.CompareAndSwap(false, true) {
			up.stopTimer()
			up.unref() // the try's: it never started
		}
		if errors.Is(err, ErrOverflow) {
			return Result{Outcome: Overflow, Err: err}
		}
		return Result{Outcome: ConnectFailed, Err: err}
	}
	h.Sent(s.exchange.bytesIn)
	var pump *network.Task
	var pumpErr error
	if !s.Body.Done() {
		pump = s.Conn.Go(func() { pumpErr = p.pump(up) })
	}
	up.relayRequest()
	r := p.respond(up)
	if pump != nil {
		if r.Outcome == Retriable {
			pump.Wait() // the body is whole: the pump is ending, the connection stays usable
		}
		if !pump.Done() {
			s.Conn.NetConn().SetReadDeadline(time.Unix(1, 0)) // the pump is blocked reading the client
			p.room.Notify()
			s.CloseAfter()
		}
		pump.Wait()
		s.Conn.SetReadDeadline(time.Time{})
		if pumpErr != nil && r.Outcome != Answered {
			var perr *http1.Error
			if errors.As(pumpErr, &perr) {
				return s.badBody(pumpErr)
			}
		}
	}
	return r
}

// resetTry starts a new try.
func (p *h1Peer) resetTry(h Hooks) Hooks {
	p.mu.Lock()
	p.headNews, p.ended, p.result = false, false, Result{}
	p.mu.Unlock()
	return h
}

// pump reads the rest of the request body from the client into the pipe,
// as fast as the upstream stream takes it.
func (p *h1Peer) pump(up *H2ClientStream) error {
	s := p.s
	chunked := s.Body.framing == http1.FramingChunked
	var buf []byte
	for !s.Body.Done() {
		raw, err := s.Body.Next()
		if err != nil {
			up.cancel(Result{Outcome: DownstreamFailed, Err: err})
			return err
		}
		s.exchange.bytesIn += int64(len(raw))
		buf, err = unframe(&s.exchange.chunkDec, chunked, raw, buf[:0])
		if err != nil {
			up.cancel(Result{Outcome: DownstreamFailed, Err: err})
			return err
		}
		p.body.put(buf, s.Body.Done())
		up.relayRequest()
		for {
			p.body.mu.Lock()
			piled := len(p.body.buf) - p.body.off
			p.body.mu.Unlock()
			if piled < maxPiped || up.ended.Load() {
				break
			}
			p.room.Wait()
		}
		if up.ended.Load() {
			return nil
		}
	}
	return nil
}

// respond waits for the try's news and writes the response to the client
// as it comes, until the try ends.
func (p *h1Peer) respond(up *H2ClientStream) Result {
	s := p.s
	headDone := false
	chunked := false
	var buf []byte
	for {
		p.news.Wait()
		p.mu.Lock()
		headNews, ended, result := p.headNews, p.ended, p.result
		p.mu.Unlock()
		if headNews && !headDone {
			headDone = true
			var err error
			chunked, err = p.writeHead(up)
			if err != nil {
				up.cancel(Result{Outcome: DownstreamFailed, Responded: true, Err: err})
				continue
			}
		}
		if headDone && !up.ended.Load() {
			var n int
			var complete bool
			var stop Reply
			var err error
			buf, n, complete, stop, err = p.writeBody(up, chunked, buf)
			if n > 0 {
				up.cc.Load().consumed(up.id, n)
				up.active()
			}
			switch {
			case err != nil:
				s.CloseAfter()
				up.cancel(Result{Outcome: DownstreamFailed, Responded: true, Err: err})
			case stop.Status != 0:
				s.CloseAfter()
				up.cancel(Result{Outcome: Stopped, Responded: true, Reply: stop})
			case complete:
				up.finish(Result{Outcome: Answered, Status: s.Status})
			}
			continue
		}
		if ended {
			if result.Outcome != Answered && s.Status != 0 {
				s.CloseAfter() // a response begun and cut: only closing says so
			}
			return result
		}
	}
}

var (
	trailerName = []byte("Trailer")
	chunkedTE   = []http1.Header{{Name: []byte("Transfer-Encoding"), Value: []byte("chunked")}}
	closeHeader = http1.Header{Name: []byte("Connection"), Value: []byte("close")}
)

// writeHead writes the upstream's response head as HTTP/1.1: its fields,
// framed by its content-length, else chunked (a body that may carry
// trailers too).
func (p *h1Peer) writeHead(up *H2ClientStream) (chunked bool, err error) {
	s := p.s
	h := &up.head
	resp := http1.Response{Status: h.StatusCode(), ContentLength: -1, Headers: s.Extra[:0]}
	noBody := resp.Status < 200 || resp.Status == 204 || resp.Status == 304 || string(s.Req.Method) == "HEAD"
	// Declared trailers need chunked framing to reach an HTTP/1 client.
	declared, trailers := h.get("trailer")
	trailers = trailers && !noBody
	for _, f := range h.Fields {
		if trailers && http1.EqualFold(f.Name, "content-length") {
			continue
		}
		resp.Headers = append(resp.Headers, http1.Header{Name: f.Name, Value: f.Value})
	}
	up.body.mu.Lock()
	bodyless := up.body.done && up.body.trailers == nil
	up.body.mu.Unlock()
	var extra []http1.Header
	if trailers {
		extra = append(extra, http1.Header{Name: trailerName, Value: declared})
	}
	if (h.ContentLength < 0 || trailers) && !noBody {
		if bodyless && !trailers {
			extra = append(extra, http1.Header{Name: contentLengthName, Value: []byte("0")})
		} else {
			chunked = true
			extra = append(extra, chunkedTE...)
		}
	}
	if !s.KeepAlive() {
		extra = append(extra, closeHeader)
	}
	s.Extra = resp.Headers
	head := http1.AppendResponseHead(s.Scratch2[:0], &resp, extra)
	s.Scratch2 = head
	if err := s.WriteResponse(resp.Status, head, nil); err != nil {
		return false, err
	}
	p.hooks.Responding(s.BytesOut)
	return chunked && !noBody, nil
}

// writeBody writes what the response pipe holds; buf is the caller's
// scratch space, returned grown.
func (p *h1Peer) writeBody(up *H2ClientStream, chunked bool, buf []byte) ([]byte, int, bool, Reply, error) {
	s := p.s
	b := &up.body
	b.mu.Lock()
	data := append(buf[:0], b.buf...)
	n := len(b.buf) - b.consumed
	b.buf, b.off, b.consumed = b.buf[:0], 0, 0
	end := b.end
	trailers := b.trailers
	if end {
		b.done = true
	}
	b.mu.Unlock()
	if len(data) == 0 && !end {
		return data, n, false, Reply{}, nil
	}
	stop := p.hooks.ResponseData(data, end)
	if stop.Status != 0 {
		return data, n, false, stop, nil
	}
	out := data
	if chunked {
		out = http1.AppendChunk(s.Scratch[:0], data)
		if end {
			out = append(out, "0\r\n"...)
			if trailers != nil {
				for _, f := range trailers.Fields {
					out = append(append(append(append(out, f.Name...), ": "...), f.Value...), "\r\n"...)
				}
			}
			out = append(out, "\r\n"...)
		}
		s.Scratch = out[:0]
	}
	if len(out) > 0 {
		if err := s.Write(out); err != nil {
			return data, n, false, Reply{}, err
		}
	}
	return data, n, end, Reply{}, nil
}

// The HTTP/1 stream as the peer of its upstream HTTP/2 stream.

func (p *h1Peer) requestBody() *h2Pipe    { return &p.body }
func (p *h1Peer) requestConsumed(int)     { p.room.Notify() }
func (p *h1Peer) cut(xhttp2.ErrCode)      { p.s.CloseAfter() }
func (p *h1Peer) run(fn func())           { p.s.Conn.Run(fn) }
func (p *h1Peer) release(*H2ClientStream) {}
func (p *h1Peer) ref()                    {}
func (p *h1Peer) unref()                  {}

func (p *h1Peer) responseHead(*H2ClientStream, bool) bool {
	p.mu.Lock()
	p.headNews = true
	p.mu.Unlock()
	p.news.Notify()
	return true
}

func (p *h1Peer) responseBody(*H2ClientStream) (int, bool, Reply, error) {
	p.news.Notify()
	return 0, false, Reply{}, nil
}

// The peer as the try's H2Try: the hooks, and the end.

func (p *h1Peer) TryEnded(r Result) {
	p.mu.Lock()
	p.ended, p.result = true, r
	p.mu.Unlock()
	p.news.Notify()
	p.room.Notify()
}

func (p *h1Peer) Started()                             { p.hooks.Started() }
func (p *h1Peer) Sent(n int64)                         { p.hooks.Sent(n) }
func (p *h1Peer) RequestData(b []byte, end bool) Reply { return p.hooks.RequestData(b, end) }
func (p *h1Peer) ResponseHead(r Response) Reply        { return p.hooks.ResponseHead(r) }

func (p *h1Peer) RetryAnswer(status int) bool           { return p.hooks.RetryAnswer(status) }
func (p *h1Peer) Responding(int64)                      {} // the HTTP/1 task tells, once the head is written
func (p *h1Peer) ResponseData(b []byte, end bool) Reply { return Reply{} }
