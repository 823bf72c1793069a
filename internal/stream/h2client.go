package stream

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mosnctl/mosnctl/internal/network"
	"github.com/mosnctl/mosnctl/internal/protocol/http2"
	xhttp2 "golang.org/x/net/http2"
)

// H2Try is told how a try forwarded on an HTTP/2 upstream stream goes: the
// forwarding loop's hooks, and its end, reported once (from a reader or a
// timer, on the downstream connection's loop when it has one).
type H2Try interface {
	Hooks
	TryEnded(r Result)
}

// H2ClientConn is one multiplexed upstream HTTP/2 connection (h2c with
// prior knowledge, or TLS with ALPN h2 through the pool's Handshake).
// Streams of many downstream connections share it. Dialled
// from a task of an event loop, it belongs to that loop: its reader is a
// task there, and so must be every user.
type H2ClientConn struct {
	h2Conn
	streams map[uint32]*H2ClientStream // under the lock
	dead    atomic.Bool
	away    atomic.Bool // the peer sent GOAWAY: no new streams here
	wake    func()      // the reader's continuation after a park
	limit   ConnLimit
	// opened counts the streams started (under the lock); past
	// maxStreams the connection takes no more and closes once idle.
	opened     uint32
	maxStreams uint32
	idle       time.Duration // close after this long without a stream; 0: never
}

// H2ClientStream is one try of a request on an upstream stream: it relays
// the downstream stream's body up and the response back, and reports the
// try's end to its H2Try once.
type H2ClientStream struct {
	cc   atomic.Pointer[H2ClientConn] // nil until the stream is open
	id   uint32                       // set before cc
	peer h2Peer
	try  H2Try
	head H2Head // the response head
	body h2Pipe // the response body
	// headEnd: the response head came with END_STREAM.
	headEnd  bool
	headSent atomic.Bool // the response head went downstream
	ended    atomic.Bool
	// The try's clock, set before the stream opens: the route's deadline,
	// the per-try one until the response head, the idle timeout from the
	// last activity; the timer is armed for the earliest, at armedAt.
	perTry      atomic.Bool
	deadline    time.Time
	perTryUntil time.Time
	idle        time.Duration
	timer       *time.Timer
	armedAt     atomic.Int64
	resetErr    http2.ErrCode
	expireFn    func()       // expire, bound once: the timer's runs post it
	refs        atomic.Int32 // who can reach the stream (h2pool.go)
	pooled      bool
}

// dialH2 connects to addr and starts the connection's reader.
func dialH2(ctx context.Context, l *network.Loop, addr string, opts *H2PoolOptions) (*H2ClientConn, error) {
	c, err := network.DialFrom(ctx, l, addr, opts.ConnectTimeout, opts.Counters, network.DefaultReadBufferSize)
	if err == nil && opts.Handshake != nil {
		if err = opts.Handshake(ctx, c); err != nil {
			c.Close()
		}
	}
	limit, log := opts.Limit, opts.Log
	if err != nil {
		limit.Release()
		return nil, err
	}
	if log == nil {
		log = slog.Default()
	}
	cc := &H2ClientConn{streams: make(map[uint32]*H2ClientStream), limit: limit, maxStreams: opts.MaxStreamsPerConn, idle: opts.IdleTimeout}
	cc.init(c, http2.NewClientConn(opts.Config, cc), log)
	c.SetSendTimeout(60 * time.Second)
	cc.lock()
	cc.flushLocked() // the preface and our SETTINGS
	cc.unlock()
	cc.wake = func() { cc.read(true) }
	cc.onRoom = func() {
		for id, t := range cc.streams {
			cc.queue(h2EvWritable, id, t)
		}
	}
	c.Go(func() { cc.read(false) })
	return cc, nil
}

// usable reports whether a new stream may go on the connection.
func (cc *H2ClientConn) usable() bool { return !cc.dead.Load() && !cc.away.Load() }

// open starts t's stream with the request head; ErrStreamLimit and
// ErrGoAway send the caller to another connection.
func (cc *H2ClientConn) open(t *H2ClientStream, fields []http2.Field, end bool) error {
	cc.lock()
	if cc.dead.Load() {
		cc.unlock()
		return errConnClosed
	}
	id, err := cc.eng.OpenStream(fields, end)
	if err == nil {
		t.id = id
		t.cc.Store(cc)
		cc.streams[id] = t
		t.ref()
		if cc.opened++; cc.maxStreams > 0 && cc.opened >= cc.maxStreams {
			cc.away.Store(true) // max_request_per_conn: the next stream goes to a new connection
		}
	}
	cc.flushLocked()
	ev := cc.takeEvents()
	cc.unlock()
	cc.dispatch(ev)
	return err
}

// The connection as the engine's Handler: under the lock, inside Feed.

// Headers implements http2.Handler.
func (cc *H2ClientConn) Headers(id uint32, h *http2.Headers, end bool) {
	t := cc.streams[id]
	if t == nil {
		return
	}
	switch {
	case h.Trailers:
		t.body.putTrailers(h)
		cc.queue(h2EvData, id, t)
	case len(h.Status) == 3 && h.Status[0] == '1':
		// Informational: not relayed (100-continue was not asked for).
	default:
		t.head.copyFrom(h)
		t.headEnd = end
		if end {
			t.body.put(nil, true)
		}
		cc.queue(h2EvHead, id, t)
	}
	if end {
		cc.forgetLocked(id)
	}
}

// forgetLocked drops stream id from the connection's map; the lock is
// held.
func (cc *H2ClientConn) forgetLocked(id uint32) {
	if t := cc.streams[id]; t != nil {
		delete(cc.streams, id)
		t.unref()
	}
}

// Data implements http2.Handler.
func (cc *H2ClientConn) Data(id uint32, p []byte, end bool) {
	t := cc.streams[id]
	if t == nil || t.ended.Load() {
		cc.eng.Consumed(id, len(p))
		if end {
			cc.forgetLocked(id)
		}
		return
	}
	t.body.put(p, end)
	cc.queue(h2EvData, id, t)
	if end {
		cc.forgetLocked(id)
	}
}

// Reset implements http2.Handler.
func (cc *H2ClientConn) Reset(id uint32, err *http2.StreamError) {
	t := cc.streams[id]
	if t == nil {
		return
	}
	t.resetErr = err.Code
	cc.queue(h2EvReset, id, t)
	cc.forgetLocked(id)
}

// Writable implements http2.Handler.
func (cc *H2ClientConn) Writable(id uint32) {
	if t := cc.streams[id]; t != nil {
		cc.queue(h2EvWritable, id, t)
	}
}

// Control implements http2.Handler: a GOAWAY sends new streams elsewhere;
// those below its last stream id finish here.
func (cc *H2ClientConn) Control(ev *http2.Event) {
	if ev.Kind == http2.EventGoAway {
		cc.away.Store(true)
	}
}

// read reads responses until the connection ends, then fails the streams
// still open. A connection the peer sent GOAWAY on closes once its last
// stream is done. Waiting for bytes with nothing buffered, the reader
// gives up its task on an event loop (network.Conn.ParkRead): a pooled
// connection without streams holds no task. resumed: woken from such a
// park.
func (cc *H2ClientConn) read(resumed bool) {
	c := cc.conn
	var err error
	for {
		cc.lock()
		n := cc.eng.ActiveStreams()
		cc.unlock()
		if cc.away.Load() && n == 0 {
			err = errConnClosed
			break
		}
		if !resumed {
			if len(c.Buffered()) == 0 {
				c.Release()
			}
			if cc.idle > 0 {
				if n == 0 {
					c.SetReadDeadline(time.Now().Add(cc.idle))
				} else {
					c.SetReadDeadline(time.Time{})
				}
			}
			if c.ParkRead(cc.wake) {
				return
			}
		}
		resumed = false
		if err = c.Fill(); err != nil {
			if cc.idle > 0 && errors.Is(err, os.ErrDeadlineExceeded) {
				cc.lock()
				n = cc.eng.ActiveStreams()
				cc.unlock()
				if n > 0 {
					continue // a stream started as the idle time ran out
				}
				cc.away.Store(true) // idle_timeout
			}
			break
		}
		if err = cc.feed(); err != nil {
			cc.log.Info("http2: upstream connection error, closing connection", "upstream", c.RemoteAddr().String(), "err", err.Error())
			break
		}
	}
	cc.fail(err)
}

// fail marks the connection dead and fails every stream still open on it.
func (cc *H2ClientConn) fail(err error) {
	cc.dead.Store(true)
	cc.lock()
	cc.writeLocked() // before the socket closes
	open := make([]*H2ClientStream, 0, len(cc.streams))
	for _, t := range cc.streams {
		open = append(open, t) // with the map's reference
	}
	clear(cc.streams)
	cc.unlock()
	cc.conn.Close()
	for _, t := range open {
		t.resetErr = xhttp2.ErrCodeInternal
		t.upstreamReset(err)
		t.unref()
	}
	cc.conn.FreeBuffer()
	cc.limit.Release()
}

// Close closes the connection; its streams fail.
func (cc *H2ClientConn) Close() {
	cc.dead.Store(true)
	cc.conn.Close()
}

// event runs a stream's news, from the upstream reader, without locks.
func (t *H2ClientStream) event(kind h2EventKind) {
	switch kind {
	case h2EvHead:
		t.responseHead()
	case h2EvData:
		if t.headSent.Load() {
			t.relayResponse()
		}
	case h2EvReset:
		t.upstreamReset(nil)
	case h2EvWritable:
		t.relayRequest()
	}
}

// Forward makes one try of the request on a stream of a connection from
// pool; the try's end goes to t. An error means no stream could be opened
// (nothing was sent) and t is not told.
func (s *H2ServerStream) Forward(pool *H2Pool, try *Try, t H2Try) error {
	if s.gone.Load() {
		t.TryEnded(Result{Outcome: DownstreamFailed, Err: errClientReset})
		return nil
	}
	if !s.body.rewind() {
		t.TryEnded(Result{Outcome: UpstreamFailed, Err: errors.New("http2: request body already sent, cannot retry")})
		return nil
	}
	up := newClientStream(s, t, try.Deadline)
	defer up.unref() // Forward's reference
	s.body.mu.Lock()
	s.body.hold = try.Hold
	end := s.body.end && len(s.body.buf) == 0 && s.body.trailers == nil
	if end {
		s.body.done = true
	}
	s.body.mu.Unlock()
	up.startTimer(try)
	t.Started()
	if err := pool.open(up, s.Req.requestFields(), end); err != nil {
		if !up.ended.CompareAndSwap(false, true) {
			return nil // the timer ended the try already
		}
		up.stopTimer()
		up.unref() // the try's: it never started
		return err
	}
	up.ref() // s.up's, until release
	s.up.Store(up)
	t.Sent(0)
	if s.gone.Load() { // the client left while the stream opened
		up.cancel(Result{Outcome: DownstreamFailed, Err: errClientReset})
		return nil
	}
	up.relayRequest()
	return nil
}

// startTimer sets the try's clock from try and arms its timer.
func (t *H2ClientStream) startTimer(try *Try) {
	t.deadline, t.idle = try.Deadline, try.Idle
	until, perTry := try.Until()
	if perTry {
		t.perTry.Store(true)
		t.perTryUntil = until
	}
	if at := t.due(); !at.IsZero() {
		t.armedAt.Store(at.UnixNano())
		t.arm(at)
	}
}

// arm schedules the timer's run at at; each pending run holds a reference
// to the stream, released when its expire has run.
func (t *H2ClientStream) arm(at time.Time) {
	d := max(time.Until(at), time.Nanosecond)
	if t.timer == nil {
		t.expireFn = t.expire
		t.ref()
		t.timer = time.AfterFunc(d, t.fire)
		return
	}
	if !t.timer.Reset(d) {
		t.ref() // a new run: the last one ran (or runs) with its own
	}
}

// fire is the timer's run: the expiry goes where the downstream's work
// runs.
func (t *H2ClientStream) fire() { t.peer.run(t.expireFn) }

// stopTimer stops the timer; a run it cancels gives its reference back.
func (t *H2ClientStream) stopTimer() {
	if t.timer != nil && t.timer.Stop() {
		t.unref()
	}
}

// due is when the try's time runs out, as of now.
func (t *H2ClientStream) due() time.Time {
	d := t.deadline
	if t.perTry.Load() && (d.IsZero() || t.perTryUntil.Before(d)) {
		d = t.perTryUntil
	}
	if t.idle > 0 {
		if i := time.Now().Add(t.idle); d.IsZero() || i.Before(d) {
			d = i
		}
	}
	return d
}

// rearm moves the timer after the response head or, with an idle timeout,
// after activity.
func (t *H2ClientStream) rearm() {
	if t.timer == nil || t.ended.Load() {
		return
	}
	at := t.due()
	if at.IsZero() {
		t.stopTimer()
		return
	}
	t.armedAt.Store(at.UnixNano())
	t.arm(at)
}

// active notes bytes moving, for the idle timeout.
func (t *H2ClientStream) active() {
	if t.idle > 0 {
		t.rearm()
	}
}

// expire ends a try whose time ran out: the upstream stream is cancelled.
func (t *H2ClientStream) expire() {
	defer t.unref() // the run's reference
	if t.ended.Load() || time.Now().UnixNano() < t.armedAt.Load() {
		return // a run that lost the race with the try's end or a re-arm
	}
	if t.perTry.Load() && !t.headSent.Load() {
		t.cancel(Result{Outcome: TryTimedOut, Replayable: t.peer.requestBody().replayable()})
		return
	}
	responded := t.headSent.Load()
	if responded {
		t.peer.cut(xhttp2.ErrCodeCancel)
	}
	t.cancel(Result{Outcome: UpstreamFailed, Timeout: true, Responded: responded})
}

// finish reports the try's end, once.
func (t *H2ClientStream) finish(r Result) bool {
	if !t.ended.CompareAndSwap(false, true) {
		return false
	}
	t.stopTimer()
	if n := t.body.drop(); n > 0 {
		if cc := t.cc.Load(); cc != nil {
			cc.consumed(t.id, n)
		}
	}
	t.peer.release(t)
	t.try.TryEnded(r)
	t.unref() // the try's
	return true
}

// cancel resets the upstream stream and ends the try with r.
func (t *H2ClientStream) cancel(r Result) {
	if t.ended.Load() {
		return
	}
	if cc := t.cc.Load(); cc != nil {
		cc.lock()
		if cc.streams[t.id] == t {
			cc.forgetLocked(t.id)
		}
		cc.eng.Reset(t.id, xhttp2.ErrCodeCancel)
		cc.flushLocked()
		cc.unlock()
	}
	t.finish(r)
}

// h2Peer is the downstream end of an upstream HTTP/2 stream: where its
// request body comes from and where its response goes. A downstream
// HTTP/2 stream relays at once, from the upstream connection's reader; an
// HTTP/1 one (conversion) is told, and its own task writes.
type h2Peer interface {
	requestBody() *h2Pipe
	// requestConsumed: n bytes of the request body went upstream.
	requestConsumed(n int)
	// responseHead sends t.head downstream, ending the response when end;
	// false means the client is gone (its own event ends the try).
	responseHead(t *H2ClientStream, end bool) bool
	// responseBody relays what t.body holds: the bytes taken (to report
	// consumed upstream), whether the body is complete, a filter's stop.
	responseBody(t *H2ClientStream) (n int, complete bool, stop Reply, err error)
	// cut ends a response already begun, abnormally.
	cut(code xhttp2.ErrCode)
	// run runs fn where the downstream's work runs (its loop).
	run(fn func())
	// release forgets t as the current try.
	release(t *H2ClientStream)
	// ref and unref count t's reference to the peer (h2pool.go).
	ref()
	unref()
}

// relayRequest sends what the downstream's request body holds.
func (t *H2ClientStream) relayRequest() {
	cc := t.cc.Load()
	if cc == nil || t.ended.Load() {
		return
	}
	cc.lock()
	n, _, stop, err := t.peer.requestBody().relay(cc.eng, cc.room(), t.id, t.try, true)
	cc.flushLocked()
	ev := cc.takeEvents()
	cc.unlock()
	cc.dispatch(ev)
	if n > 0 {
		t.peer.requestConsumed(n)
		t.active()
	}
	if err == nil && stop.Status != 0 {
		t.cancel(Result{Outcome: Stopped, Reply: stop})
	}
}

// responseHead sends the response head downstream, through the route's
// edits and the encode filters (ResponseHead).
func (t *H2ClientStream) responseHead() {
	if t.ended.Load() {
		return
	}
	if t.perTry.Load() || t.idle > 0 {
		t.perTry.Store(false)
		t.rearm()
	}
	if t.retryAnswer() {
		return
	}
	if stop := t.try.ResponseHead(h2Response{&t.head}); stop.Status != 0 {
		t.cancel(Result{Outcome: Stopped, Reply: stop})
		return
	}
	t.body.mu.Lock()
	end := t.body.end && len(t.body.buf) == 0 && t.body.trailers == nil
	if end {
		t.body.done = true
	}
	t.body.mu.Unlock()
	if !t.peer.responseHead(t, end) {
		return
	}
	t.headSent.Store(true)
	t.try.Responding(0)
	if end {
		t.finish(Result{Outcome: Answered, Status: t.head.StatusCode()})
		return
	}
	t.relayResponse()
}

// relayResponse sends what the response body holds downstream.
func (t *H2ClientStream) relayResponse() {
	if t.ended.Load() {
		return
	}
	n, complete, stop, err := t.peer.responseBody(t)
	if n > 0 {
		t.cc.Load().consumed(t.id, n)
		t.active()
	}
	switch {
	case err != nil:
		// The client reset the stream: its event ends the try.
	case stop.Status != 0:
		t.peer.cut(xhttp2.ErrCodeInternal)
		t.cancel(Result{Outcome: Stopped, Reply: stop, Responded: true})
	case complete:
		t.finish(Result{Outcome: Answered, Status: t.head.StatusCode()})
	}
}

// deadlineSlack is how close to the try's deadline an upstream's CANCEL
// counts as the deadline: timers on both sides fire a little apart.
const deadlineSlack = 20 * time.Millisecond

// upstreamReset ends the try of a stream the upstream reset or lost.
func (t *H2ClientStream) upstreamReset(err error) {
	if t.ended.Load() {
		return
	}
	if err == nil {
		err = &http2.StreamError{StreamID: t.id, Code: t.resetErr, Reason: "reset by the upstream"}
	}
	if t.headSent.Load() {
		code := xhttp2.ErrCodeInternal
		if t.resetErr == xhttp2.ErrCodeCancel {
			code = xhttp2.ErrCodeCancel
		}
		t.peer.cut(code)
		t.finish(Result{Outcome: UpstreamFailed, Responded: true, Err: err})
		return
	}
	if t.resetErr == xhttp2.ErrCodeCancel && !t.deadline.IsZero() && time.Until(t.deadline) < deadlineSlack {
		// The upstream gave up at our deadline (a gRPC server enforces the
		// grpc-timeout it was sent): that is the deadline, not a failure.
		t.finish(Result{Outcome: UpstreamFailed, Timeout: true, Err: err})
		return
	}
	if t.resetErr == xhttp2.ErrCodeRefusedStream && t.peer.requestBody().replayable() {
		// Refused (over its stream limit, or above its GOAWAY): the host
		// processed nothing, the request may go again.
		t.finish(Result{Outcome: NotSent, Err: err})
		return
	}
	t.finish(Result{Outcome: UpstreamFailed, Err: err})
}

// The downstream HTTP/2 stream as the peer of its upstream stream.

func (s *H2ServerStream) requestBody() *h2Pipe    { return &s.body }
func (s *H2ServerStream) requestConsumed(n int)   { s.d.consumed(s.id, n) }
func (s *H2ServerStream) cut(code xhttp2.ErrCode) { s.d.resetStream(s.id, code) }
func (s *H2ServerStream) run(fn func())           { s.d.conn.Run(fn) }
func (s *H2ServerStream) release(t *H2ClientStream) {
	if s.up.CompareAndSwap(t, nil) {
		t.unref()
	}
}

func (s *H2ServerStream) responseHead(t *H2ClientStream, end bool) bool {
	d := s.d
	d.lock()
	err := d.eng.WriteHeaders(s.id, t.head.responseFields(), end)
	if end {
		d.forget(s.id)
	}
	d.flushLocked()
	ev := d.takeEvents()
	d.unlock()
	d.dispatch(ev)
	if err != nil {
		return false
	}
	s.status.Store(int32(t.head.StatusCode()))
	return true
}

func (s *H2ServerStream) responseBody(t *H2ClientStream) (int, bool, Reply, error) {
	d := s.d
	d.lock()
	n, complete, stop, err := t.body.relay(d.eng, d.room(), s.id, t.try, false)
	if complete {
		d.forget(s.id)
	}
	d.flushLocked()
	ev := d.takeEvents()
	d.unlock()
	d.dispatch(ev)
	s.bytesOut.Add(int64(n))
	return n, complete, stop, err
}

// H2PoolOptions tune an H2Pool.
type H2PoolOptions struct {
	Loop           *network.Loop // whose tasks use the pool; nil: goroutines
	ConnectTimeout time.Duration // default 3s
	Counters       *network.Counters
	Log            *slog.Logger
	// Config holds the client engine's limits.
	Config http2.Config
	// Limit caps the connections open to the host, over all its pools.
	Limit ConnLimit
	// MaxStreamsPerConn retires a connection after that many streams
	// (the cluster's max_request_per_conn); 0: no limit.
	MaxStreamsPerConn uint32
	// IdleTimeout closes a connection that carried no stream for that long
	// (the cluster's idle_timeout); 0: never.
	IdleTimeout time.Duration
	// Handshake, when set, runs on each new connection before the preface
	// (TLS, which must pick h2 by ALPN); its failure is the dial's.
	Handshake func(context.Context, *network.Conn) error
}

// H2Pool keeps the multiplexed connections to one upstream host, for the
// connections of one event loop (or, with a nil loop, of goroutines). A
// stream goes on the first connection that takes it; a new connection is
// dialled when every one is at the peer's concurrent stream limit or going
// away (GOAWAY: its streams in flight finish there).
type H2Pool struct {
	addr string
	opts H2PoolOptions

	mu      sync.Mutex
	conns   []*H2ClientConn
	dialing *h2Dial // the connection being dialled, if any
	closed  bool
}

// NewH2Pool makes a pool for the host at addr.
func NewH2Pool(addr string, opts H2PoolOptions) *H2Pool {
	if opts.ConnectTimeout <= 0 {
		opts.ConnectTimeout = 3 * time.Second
	}
	return &H2Pool{addr: addr, opts: opts}
}

// open starts t's stream on a connection of the pool. One connection is
// dialled at a time: streams that find no room while it is dialled wait
// for it (and share its failure) instead of dialling one each.
func (p *H2Pool) open(t *H2ClientStream, fields []http2.Field, end bool) error {
	dialled := false
	for {
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			return ErrPoolClosed
		}
		live := p.conns[:0]
		for _, cc := range p.conns {
			if cc.usable() {
				live = append(live, cc)
			}
		}
		clear(p.conns[len(live):])
		p.conns = live
		var few [4]*H2ClientConn // tried outside the pool's lock; on the stack for a few
		conns := append(few[:0], live...)
		p.mu.Unlock()
		for _, cc := range conns {
			err := cc.open(t, fields, end)
			if err == nil {
				return nil
			}
			if !errors.Is(err, http2.ErrStreamLimit) && !errors.Is(err, http2.ErrGoAway) && !errors.Is(err, errConnClosed) {
				return err
			}
		}
		if dialled {
			return ErrOverflow // its own new connection took no stream
		}
		p.mu.Lock()
		if d := p.dialing; d != nil {
			p.mu.Unlock()
			d.done.Wait()
			if d.err != nil {
				return d.err
			}
			continue
		}
		d := &h2Dial{done: network.NewLatch(p.opts.Loop)}
		p.dialing = d
		p.mu.Unlock()
		dialled = true
		d.err = p.dial()
		p.mu.Lock()
		p.dialing = nil
		p.mu.Unlock()
		d.done.Open()
		if d.err != nil {
			return d.err
		}
	}
}

// h2Dial is a connection being dialled, which streams wait for.
type h2Dial struct {
	done *network.Latch
	err  error // set before done opens
}

// dial adds a new connection to the pool.
func (p *H2Pool) dial() error {
	if !p.opts.Limit.Acquire() {
		return ErrOverflow
	}
	cc, err := dialH2(context.Background(), p.opts.Loop, p.addr, &p.opts)
	if err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		cc.Close()
		return ErrPoolClosed
	}
	p.conns = append(p.conns, cc)
	return nil
}

// Conns reports how many connections the pool holds (live or not yet
// noticed dead).
func (p *H2Pool) Conns() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.conns)
}

// Close closes every connection; streams on them fail.
func (p *H2Pool) Close() {
	p.mu.Lock()
	p.closed = true
	conns := p.conns
	p.conns = nil
	p.mu.Unlock()
	for _, cc := range conns {
		cc.Close()
	}
}
