package stream

import (
	"errors"
	"strconv"
	"sync/atomic"

	"github.com/mosnctl/mosnctl/internal/network"
	"github.com/mosnctl/mosnctl/internal/protocol/http1"
	"github.com/mosnctl/mosnctl/internal/protocol/http2"
	xhttp2 "golang.org/x/net/http2"
)

// Conversion HTTP/2 downstream -> HTTP/1 upstream. A task of the
// downstream connection runs each try, as HTTP/1's own loop does: it
// writes the request line, Host (from :authority) and the fields, framed
// by content-length, else chunked (with the request's trailers in the
// chunked trailer section); a second task streams the body from the
// stream's pipe as it arrives. The response head becomes an HTTP/2 head
// (hop-by-hop fields dropped), its body, unframed, goes downstream
// through a pipe within the stream's flow-control window. The HTTP/1
// response's chunked trailers are not carried (the HTTP/1 codec does not
// surface them).

// h1Upstream is an HTTP/2 stream's state while a try runs on an HTTP/1
// upstream.
type h1Upstream struct {
	reqNews  *network.Signal // request body bytes arrived, or the client left
	respNews *network.Signal // the downstream window opened, or the client left
	conn     atomic.Pointer[network.Conn]
	head     H2Head
	resp     h2Pipe
	dec      http1.ChunkedReader
	reqDec   bool
	wbuf     []byte
}

// ForwardHTTP1 makes one try of the request on an HTTP/1 connection from
// pool, converted both ways; a task of the downstream connection runs it
// and reports its end to t.
func (s *H2ServerStream) ForwardHTTP1(pool *HTTP1Pool, try *Try, t H2Try, lim http1.Limits) {
	u := s.h1.Load()
	if u == nil {
		u = &h1Upstream{reqNews: network.NewSignal(s.d.conn), respNews: network.NewSignal(s.d.conn)}
		s.h1.Store(u)
	}
	tr := *try
	s.d.conn.Go(func() { t.TryEnded(s.roundTripHTTP1(u, pool, &tr, t, lim)) })
}

// h1News tells a try running on an HTTP/1 upstream about the stream.
func (s *H2ServerStream) h1News(request bool) bool {
	u := s.h1.Load()
	if u == nil {
		return false
	}
	if request {
		u.reqNews.Notify()
	} else {
		u.respNews.Notify()
	}
	return true
}

// h1Gone cuts a try running on an HTTP/1 upstream: the client left.
func (s *H2ServerStream) h1Gone() {
	if u := s.h1.Load(); u != nil {
		if c := u.conn.Load(); c != nil {
			c.Close()
		}
		u.reqNews.Notify()
		u.respNews.Notify()
	}
}

var (
	http11Line   = []byte(" HTTP/1.1\r\nHost: ")
	teChunked    = []byte("Transfer-Encoding: chunked\r\n")
	lastChunkEnd = []byte("0\r\n")
)

// requestHead encodes the HTTP/1.1 request head; chunked reports a body
// sent chunked.
func (s *H2ServerStream) requestHead(dst []byte) (head []byte, chunked bool) {
	r := &s.Req
	dst = append(append(append(dst, r.Method...), ' '), r.Path...)
	dst = append(append(dst, http11Line...), s.Host()...)
	dst = append(dst, '\r', '\n')
	for _, f := range r.Fields {
		if hopByHop(f.Name, f.Value) || http1.EqualFold(f.Name, "te") {
			continue
		}
		dst = append(append(append(append(dst, f.Name...), ':', ' '), f.Value...), '\r', '\n')
	}
	s.body.mu.Lock()
	whole := s.body.end && s.body.trailers == nil
	n := len(s.body.buf)
	s.body.mu.Unlock()
	switch {
	case r.ContentLength >= 0:
	case whole && (n > 0 || !bodylessMethod(r.Method)):
		dst = append(append(append(dst, contentLengthName...), ':', ' '), strconv.Itoa(n)...)
		dst = append(dst, '\r', '\n')
	case !whole:
		chunked = true
		dst = append(dst, teChunked...)
	}
	return append(dst, '\r', '\n'), chunked
}

func bodylessMethod(m []byte) bool {
	return string(m) == "GET" || string(m) == "HEAD" || string(m) == "DELETE" || string(m) == "OPTIONS"
}

// roundTripHTTP1 is one try on an HTTP/1 connection.
func (s *H2ServerStream) roundTripHTTP1(u *h1Upstream, pool *HTTP1Pool, try *Try, h Hooks, lim http1.Limits) Result {
	if s.gone.Load() {
		return Result{Outcome: DownstreamFailed, Err: errClientReset}
	}
	if !s.body.rewind() {
		return Result{Outcome: UpstreamFailed, Err: errors.New("http2 -> http1: request body already sent, cannot retry")}
	}
	cc, reused, err := pool.Take(try.Fresh)
	if err != nil {
		return ConnectResult(err)
	}
	up := cc.Conn
	u.conn.Store(up)
	defer u.conn.Store(nil)
	if s.gone.Load() {
		pool.Discard(cc)
		return Result{Outcome: DownstreamFailed, Err: errClientReset}
	}
	h.Started()
	s.body.mu.Lock()
	s.body.hold = try.Hold || reused
	s.body.mu.Unlock()
	head, chunked := s.requestHead(u.wbuf[:0])
	u.wbuf = head
	until, perTry := try.Until()
	armRead(up, until, try.Idle)
	if _, err := up.Write(head); err != nil {
		pool.Discard(cc)
		if reused && s.body.replayable() {
			return Result{Outcome: Stale, Replayable: true, Err: err}
		}
		return Result{Outcome: UpstreamFailed, Timeout: isTimeout(err), Err: err}
	}
	h.Sent(0)
	pump := up.Go(func() { s.pumpHTTP1(u, up, chunked, h) })
	defer func() {
		u.reqNews.Notify() // a pump waiting for body bytes looks again: the try is over
		pump.Wait()
	}()
	n, err := cc.ReadResponseHead(lim)
	for err == nil && cc.Resp.Status < 200 {
		up.Discard(n) // interim responses are not relayed
		n, err = cc.ReadResponseHead(lim)
	}
	if err != nil {
		pool.Discard(cc)
		u.reqNews.Notify()
		switch {
		case s.gone.Load():
			return Result{Outcome: DownstreamFailed, Err: err}
		case reused && isConnReset(err) && s.body.replayable():
			return Result{Outcome: Stale, Replayable: true, Err: err}
		case perTry && isTimeout(err):
			return Result{Outcome: TryTimedOut, Replayable: s.body.replayable(), Err: err}
		}
		return Result{Outcome: UpstreamFailed, Timeout: isTimeout(err), Err: err}
	}
	resp := &cc.Resp
	if s.body.heldWhole() && h.RetryAnswer(resp.Status) {
		pool.Discard(cc) // its body is not read
		return Result{Outcome: Retriable, Status: resp.Status, Replayable: true}
	}
	framing := resp.Framing(s.Req.Method)
	u.head.fromHTTP1Response(resp)
	if stop := h.ResponseHead(h2Response{&u.head}); stop.Status != 0 {
		pool.Discard(cc)
		return Result{Outcome: Stopped, Reply: stop}
	}
	up.Discard(n)
	cc.Body.Reset(up, framing, resp.ContentLength)
	end := cc.Body.Done()
	d := s.d
	d.lock()
	err = d.eng.WriteHeaders(s.id, u.head.responseFields(), end)
	if end && err == nil {
		d.forget(s.id)
	}
	d.flushLocked()
	d.unlock()
	if err != nil {
		pool.Discard(cc)
		return Result{Outcome: DownstreamFailed, Err: err}
	}
	status := resp.Status
	s.status.Store(int32(status))
	h.Responding(0)
	if perTry {
		up.SetReadDeadline(try.Deadline)
	}
	u.dec.Reset()
	u.resp = h2Pipe{buf: u.resp.buf[:0]}
	for !end {
		if try.Idle > 0 {
			armRead(up, try.Deadline, try.Idle)
		}
		raw, err := cc.Body.Next()
		if err == nil {
			u.resp.mu.Lock()
			u.resp.buf, err = unframe(&u.dec, framing == http1.FramingChunked, raw, u.resp.buf)
			u.resp.total += int64(len(raw))
			u.resp.end = cc.Body.Done()
			u.resp.mu.Unlock()
		}
		if err != nil {
			pool.Discard(cc)
			d.resetStream(s.id, xhttp2.ErrCodeInternal)
			return Result{Outcome: UpstreamFailed, Timeout: isTimeout(err), Responded: true, Err: err}
		}
		var r Result
		if end, r = s.relayHTTP1(u, h); r.Outcome != Answered {
			pool.Discard(cc)
			return r
		}
	}
	if !pump.Done() || !resp.KeepAlive || framing == http1.FramingUntilClose {
		pool.Discard(cc) // answered before the request was sent whole: the connection is unusable
		u.reqNews.Notify()
	} else {
		pool.Put(cc)
	}
	return Result{Outcome: Answered, Status: status}
}

// relayHTTP1 sends the response pipe downstream, waiting while the
// stream's window is closed; complete once the body is.
func (s *H2ServerStream) relayHTTP1(u *h1Upstream, h Hooks) (complete bool, r Result) {
	d := s.d
	for {
		d.lock()
		n, complete, stop, err := u.resp.relay(d.eng, d.room(), s.id, h, false)
		if complete {
			d.forget(s.id)
		}
		d.flushLocked()
		d.unlock()
		s.bytesOut.Add(int64(n))
		switch {
		case err != nil || s.gone.Load():
			return false, Result{Outcome: DownstreamFailed, Responded: true, Err: errClientReset}
		case stop.Status != 0:
			d.resetStream(s.id, xhttp2.ErrCodeInternal)
			return false, Result{Outcome: Stopped, Responded: true, Reply: stop}
		case complete:
			return true, Result{Outcome: Answered}
		}
		u.resp.mu.Lock()
		piled, upstreamDone := len(u.resp.buf)-u.resp.off, u.resp.end
		u.resp.mu.Unlock()
		if piled < maxPiped && !upstreamDone {
			return false, Result{Outcome: Answered}
		}
		u.respNews.Wait()
	}
}

// pumpHTTP1 writes the request body upstream as it arrives, framed.
func (s *H2ServerStream) pumpHTTP1(u *h1Upstream, up *network.Conn, chunked bool, h Hooks) {
	p := &s.body
	var buf []byte
	for {
		if s.gone.Load() || up.Closed() {
			return
		}
		p.mu.Lock()
		data := p.buf[p.off:]
		buf = buf[:0]
		if chunked {
			buf = http1.AppendChunk(buf, data)
		} else {
			buf = append(buf, data...)
		}
		last := p.end && !p.done
		if last && chunked {
			buf = append(buf, lastChunkEnd...)
			if p.trailers != nil {
				for _, f := range p.trailers.Fields {
					buf = append(append(append(append(buf, f.Name...), ':', ' '), f.Value...), '\r', '\n')
				}
			}
			buf = append(buf, '\r', '\n')
		}
		n := len(data)
		p.off += n
		consume := p.off - p.consumed
		p.consumed = p.off
		if last {
			p.done = true
		}
		if p.hold && len(p.buf) > maxHeld {
			p.hold = false // held no longer: the request is not sent again
		}
		if !p.hold && p.off == len(p.buf) {
			p.dropped = p.dropped || p.off > 0
			p.buf, p.off, p.consumed = p.buf[:0], 0, 0
		}
		p.mu.Unlock()
		if n > 0 || last {
			if stop := h.RequestData(data[:n:n], last); stop.Status != 0 {
				up.Close()
				return
			}
		}
		if len(buf) > 0 {
			if _, err := up.Write(buf); err != nil {
				return
			}
		}
		if consume > 0 {
			s.d.consumed(s.id, consume)
		}
		if last || p.done {
			return
		}
		u.reqNews.Wait()
	}
}

// fromHTTP1Response copies an HTTP/1 response head into d as an HTTP/2
// response head: hop-by-hop fields are left out, names lower-cased by the
// engine as it encodes them.
func (d *H2Head) fromHTTP1Response(r *http1.Response) {
	n := 3
	for _, h := range r.Headers {
		n += len(h.Name) + len(h.Value)
	}
	if cap(d.arena) < n {
		d.arena = make([]byte, 0, n)
	}
	d.arena, d.scratch = d.arena[:0], d.scratch[:0]
	d.Method, d.Scheme, d.Authority, d.Path = nil, nil, nil, nil
	var code [3]byte
	d.Status = d.keep(strconv.AppendInt(code[:0], int64(r.Status), 10))
	d.Fields = d.Fields[:0]
	for _, h := range r.Headers {
		if hopByHop(h.Name, h.Value) || http1.EqualFold(h.Name, "te") || namedByConnection(r.Headers, h.Name) {
			continue
		}
		d.Fields = append(d.Fields, http2.Field{Name: d.keep(h.Name), Value: d.keep(h.Value)})
	}
	d.ContentLength = r.ContentLength
}
