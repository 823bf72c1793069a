package stream

import (
	"errors"
	"io"
	"net"
	"os"
	"syscall"
	"time"

	"github.com/valyala/bytebufferpool"

	"github.com/mosnctl/mosnctl/internal/network"
	"github.com/mosnctl/mosnctl/internal/protocol/http1"
)

// http1Exchange is what one request's tries share: the upstream head,
// encoded once, and the request body held for sending again.
type http1Exchange struct {
	head    []byte
	isHead  bool // a HEAD request: its response has no body
	body    heldBody
	bytesIn int64
	// An HTTP/2 upstream's (ForwardH2): the converted request, and the
	// decoder that unframes a chunked body.
	h2       *h1Peer
	chunkDec http1.ChunkedReader
}

// BytesIn is the request body bytes read from the client so far.
func (s *HTTP1ServerStream) BytesIn() int64 { return s.exchange.bytesIn }

// endExchange releases what the request's tries held.
func (s *HTTP1ServerStream) endExchange() {
	x := &s.exchange
	if x.head != nil {
		s.KeepWriteBuffer(x.head)
	}
	x.body.release()
	*x = http1Exchange{}
}

var connClose = []http1.Header{{Name: []byte("Connection"), Value: []byte("close")}}

// Forward is one try of the request: it takes a connection from pool (a
// new one when try.Fresh), sends the request with its edits and relays the
// answer downstream, streaming both bodies. The request head is encoded by
// the first try; the caller's edits must be done by then.
func (s *HTTP1ServerStream) Forward(pool *HTTP1Pool, try *Try, h Hooks, lim http1.Limits) Result {
	cc, reused, err := pool.Take(try.Fresh)
	if err != nil {
		return ConnectResult(err)
	}
	h.Started()
	x := &s.exchange
	if x.head == nil {
		x.head = s.EncodeRequestHead()
		x.isHead = string(s.Req.Method) == "HEAD" // the views die once the body is read
	}
	return s.roundTrip(pool, cc, reused, try, h, lim)
}

// roundTrip sends the request on cc and relays the response.
func (s *HTTP1ServerStream) roundTrip(pool *HTTP1Pool, cc *HTTP1ClientConn, reused bool, try *Try, h Hooks, lim http1.Limits) Result {
	x := &s.exchange
	up := cc.Conn
	if !x.body.taken {
		if !s.Body.Done() {
			if err := s.Continue(); err != nil {
				pool.Discard(cc)
				s.CloseAfter()
				return Result{Outcome: DownstreamFailed, Err: err}
			}
		}
		first, err := s.Body.Buffered()
		if err != nil {
			pool.Discard(cc)
			return s.badBody(err)
		}
		x.bytesIn = int64(len(first))
		if len(first) > 0 {
			if stop := h.RequestData(first, s.Body.Done()); stop.Status != 0 {
				pool.Discard(cc)
				s.CloseAfter()
				return Result{Outcome: Stopped, Reply: stop}
			}
		}
		// Held for sending again: on a reused connection (it may be stale),
		// and when more tries may follow.
		x.body.take(first, reused || try.Hold, s.Body.Done())
	}
	until, perTry := try.Until()
	var err error
	if len(x.body.b) > 0 {
		err = up.Writev(x.head, x.body.b)
	} else {
		_, err = up.Write(x.head)
	}
	if err != nil {
		pool.Discard(cc)
		if reused && x.body.whole(s) {
			return Result{Outcome: Stale, Replayable: true, Err: err}
		}
		return Result{Outcome: UpstreamFailed, Timeout: isTimeout(err), Err: err}
	}
	h.Sent(x.bytesIn)
	var pump *bodyPump
	if !s.Body.Done() {
		// The rest of the body streams on its own goroutine while this one
		// waits for the response: an upstream that answers while it reads
		// (an echo, an early 413) would otherwise deadlock with us.
		pump = startPump(s, up, try, h)
	}
	defer pump.finish(s, up, true)

	armRead(up, until, try.Idle)
	interim := false
	n, err := cc.ReadResponseHead(lim)
	for err == nil && cc.Resp.Status < 200 && cc.Resp.Status != 101 {
		// Interim responses (103 Early Hints...) are relayed as they are.
		interim = true
		if werr := s.Write(cc.Conn.Buffered()[:n]); werr != nil {
			pool.Discard(cc)
			s.CloseAfter()
			return Result{Outcome: DownstreamFailed, Err: werr}
		}
		cc.Conn.Discard(n)
		n, err = cc.ReadResponseHead(lim)
	}
	if err != nil {
		// A reused connection that failed before a byte of a response came
		// was stale: the request may go again if its body can be held whole,
		// so the pump (its writes failing now) reads the rest of it first.
		silent := !interim && len(up.Buffered()) == 0
		stale := reused && silent && isConnReset(err)
		// The per-try timeout, not the route's, ran out with no answer
		// begun: the request may go to the next host.
		tryTimeout := perTry && silent && isTimeout(err)
		pool.Discard(cc)
		r := pump.finish(s, up, !((stale || tryTimeout) && x.body.holding()))
		switch {
		case r.stop.Status != 0:
			return Result{Outcome: Stopped, Reply: r.stop}
		case r.err != nil && !r.upstream:
			return s.badBody(r.err)
		case stale && x.body.whole(s):
			return Result{Outcome: Stale, Replayable: true, Err: err}
		case tryTimeout:
			return Result{Outcome: TryTimedOut, Replayable: x.body.whole(s), Err: err}
		}
		return Result{Outcome: UpstreamFailed, Timeout: isTimeout(err), Replayable: x.body.whole(s), Err: err}
	}
	return s.relay(pool, cc, n, pump, try, perTry, h)
}

// relay writes the response whose head (n bytes) cc has read downstream,
// through the encode-side hooks, and streams its body.
func (s *HTTP1ServerStream) relay(pool *HTTP1Pool, cc *HTTP1ClientConn, n int, pump *bodyPump, try *Try, perTry bool, h Hooks) Result {
	resp := &cc.Resp
	up := cc.Conn
	framing := resp.Framing(methodFor(s.exchange.isHead))
	if framing == http1.FramingUntilClose {
		s.CloseAfter()
	}
	upstreamKeepAlive := resp.KeepAlive && framing != http1.FramingUntilClose
	if s.heldWhole(pump, up) && h.RetryAnswer(resp.Status) {
		pool.Discard(cc)
		return Result{Outcome: Retriable, Status: resp.Status, Replayable: true}
	}
	// The request head is out: its edits' space serves the response.
	s.resp = http1Response{resp: resp, extra: s.Extra[:0]}
	if stop := h.ResponseHead(&s.resp); stop.Status != 0 {
		pool.Discard(cc)
		return Result{Outcome: Stopped, Reply: stop}
	}
	extra := s.resp.extra
	if !s.KeepAlive() {
		extra = append(extra, connClose...)
	}
	s.Extra = extra
	status := resp.Status
	rhead := http1.AppendResponseHead(s.Scratch2[:0], resp, extra)
	s.Scratch2 = rhead
	up.Discard(n)
	cc.Body.Reset(up, framing, resp.ContentLength)
	body, err := cc.Body.Buffered()
	if err != nil {
		pool.Discard(cc)
		return Result{Outcome: UpstreamFailed, Timeout: isTimeout(err), Err: err}
	}
	if len(body) > 0 {
		if stop := h.ResponseData(body, cc.Body.Done()); stop.Status != 0 {
			pool.Discard(cc)
			return Result{Outcome: Stopped, Reply: stop}
		}
	}
	if err := s.WriteResponse(status, rhead, body); err != nil {
		pool.Discard(cc)
		s.CloseAfter()
		return Result{Outcome: DownstreamFailed, Err: err}
	}
	h.Responding(s.BytesOut)
	if perTry {
		up.SetReadDeadline(try.Deadline) // the answer has begun: the route's timeout bounds the rest
	}
	for !cc.Body.Done() {
		if try.Idle > 0 {
			armRead(up, try.Deadline, try.Idle)
		}
		chunk, err := cc.Body.Next()
		if err != nil {
			// Headers are out: the only honest signal left is to close.
			pool.Discard(cc)
			s.CloseAfter()
			return Result{Outcome: UpstreamFailed, Timeout: isTimeout(err), Responded: true, Err: err}
		}
		if stop := h.ResponseData(chunk, cc.Body.Done()); stop.Status != 0 {
			pool.Discard(cc)
			s.CloseAfter()
			return Result{Outcome: Stopped, Responded: true, Reply: stop}
		}
		if err := s.Write(chunk); err != nil {
			pool.Discard(cc)
			s.CloseAfter()
			return Result{Outcome: DownstreamFailed, Responded: true, Err: err}
		}
	}
	if pump != nil && !pump.finished() {
		// The response is complete while the body still flows: the
		// upstream answered early, so neither connection can be reused.
		upstreamKeepAlive = false
		pump.finish(s, up, true)
	}
	if upstreamKeepAlive {
		pool.Put(cc)
	} else {
		pool.Discard(cc)
	}
	return Result{Outcome: Answered, Status: status}
}

// heldWhole reports whether the request body is read to its end and held,
// so the request can be sent again. While the pump streams it, the pump
// has the hold: it is asked once it is done.
func (s *HTTP1ServerStream) heldWhole(pump *bodyPump, up *network.Conn) bool {
	if pump != nil {
		if !pump.finished() {
			return false
		}
		pump.finish(s, up, false)
	}
	return s.exchange.body.whole(s)
}

// badBody reports a request body that could not be read: a framing error
// gets an answer, a vanished client none.
func (s *HTTP1ServerStream) badBody(err error) Result {
	s.CloseAfter()
	var perr *http1.Error
	if errors.As(err, &perr) {
		return Result{Outcome: BadRequest, Status: perr.Status, Err: err}
	}
	return Result{Outcome: DownstreamFailed, Err: err}
}

// armRead sets c's read deadline for the next wait of an exchange: until,
// or sooner the idle timeout from now. The deadline may fire up to 1% early
// (at most 100ms), so a busy keep-alive connection re-arms its timer
// rarely, not per request.
func armRead(c *network.Conn, until time.Time, idle time.Duration) {
	d := until
	var slack time.Duration
	if !d.IsZero() {
		slack = time.Until(d) / 100
	}
	if idle > 0 {
		if i := time.Now().Add(idle); d.IsZero() || i.Before(d) {
			d, slack = i, idle/100
		}
	}
	c.ExtendReadDeadline(d, min(slack, 100*time.Millisecond))
}

// maxHeldBody bounds the request body kept for sending again on a new
// connection; a longer body streams through and is not sent again.
const maxHeldBody = 64 << 10

// heldBody is the request body sent so far, kept for a request that may be
// sent again.
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
func (h *heldBody) whole(s *HTTP1ServerStream) bool {
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
	task *network.Task
	done bool
	res  pumpResult
	held heldBody // the exchange's, while the pump runs
}

func startPump(s *HTTP1ServerStream, up *network.Conn, try *Try, h Hooks) *bodyPump {
	p := &bodyPump{held: s.exchange.body}
	deadline, idle := try.Deadline, try.Idle
	p.task = s.Conn.Go(func() { p.res = p.run(s, up, deadline, idle, h) })
	return p
}

// finished reports whether the body has been sent (or failed), without
// waiting; finish must still follow.
func (p *bodyPump) finished() bool { return p.done || p.task.Done() }

// errPumpCut is a pump's result when the exchange cut it short: the
// upstream failed or answered before the body was sent.
var errPumpCut = errors.New("request body cut: the upstream exchange ended")

// finish waits for the pump; with abort it first unblocks it by cutting
// the reads and writes it may be blocked in. A nil pump is a no-op.
func (p *bodyPump) finish(s *HTTP1ServerStream, up *network.Conn, abort bool) pumpResult {
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
		s.exchange.bytesIn += p.res.n
		s.exchange.body = p.held
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
	upstream bool  // err came from writing upstream
	stop     Reply // a filter stopped the body
}

// run streams the rest of the request body upstream. A body that fails on
// the client's side (gone, malformed) or that a filter stops closes the
// upstream connection at once: it holds a partial request, and the reader
// waiting for its response must not wait for the route timeout. When
// writing upstream fails, a body being held is still read to its end (up
// to the hold limit), so the request can be sent again whole.
func (p *bodyPump) run(s *HTTP1ServerStream, up *network.Conn, deadline time.Time, idle time.Duration, h Hooks) (r pumpResult) {
	armRead(s.Conn, deadline, idle)
	defer s.Conn.SetReadDeadline(time.Time{})
	for !s.Body.Done() {
		if idle > 0 {
			armRead(s.Conn, deadline, idle)
		}
		chunk, err := s.Body.Next()
		if err != nil {
			r.err, r.upstream = err, false
			up.Close()
			return r
		}
		r.n += int64(len(chunk))
		if stop := h.RequestData(chunk, s.Body.Done()); stop.Status != 0 {
			r.stop = stop
			r.err, r.upstream = errPumpCut, true
			up.Close()
			return r
		}
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

var methodHead = []byte("HEAD")

// methodFor is the method the response framing depends on: HEAD or any.
func methodFor(isHead bool) []byte {
	if isHead {
		return methodHead
	}
	return nil
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
