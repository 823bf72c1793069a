package stream

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mosnctl/mosnctl/internal/lograte"
	"github.com/mosnctl/mosnctl/internal/network"
	"github.com/mosnctl/mosnctl/internal/protocol/http1"
)

// ErrPoolClosed is returned by Get after Close.
var ErrPoolClosed = errors.New("stream: connection pool closed")

// HTTP1PoolOptions tune an upstream HTTP/1 pool.
type HTTP1PoolOptions struct {
	ConnectTimeout     time.Duration // default 3s
	IdleTimeout        time.Duration // idle keep-alive connections older than this are closed; default 60s
	MaxIdle            int           // idle connections kept; default 256
	MaxRequestsPerConn uint32        // 0: unlimited
	Counters           *network.Counters
	// Loop, when set, makes this the pool of one event loop: its
	// connections are dialled by and belong to that loop, and only the
	// loop's tasks use the pool.
	Loop *network.Loop
	// ProtocolErrors counts connections closed because the upstream sent
	// bytes nobody asked for (after a response, or while idle); may be nil.
	ProtocolErrors *atomic.Uint64
	Log            *slog.Logger // default slog.Default()
	// Limit caps the connections open to the host; Dial fails with
	// ErrOverflow at the cap.
	Limit ConnLimit
	// Handshake, when set, runs on each new connection before its first
	// request (TLS); its failure is the dial's.
	Handshake func(context.Context, *network.Conn) error
}

// HTTP1Pool keeps idle keep-alive connections to one upstream host; each
// connection carries one request at a time. A connection goes back to the
// pool only when its response was read exactly to its end, and is handed out
// again only if nothing arrived on it meanwhile: bytes an upstream sends out
// of turn would otherwise be read as the next request's response.
type HTTP1Pool struct {
	addr string
	opts HTTP1PoolOptions

	limit *lograte.Limiter // a host sending out of turn on every connection logs a line a second

	mu     sync.Mutex
	idle   []*HTTP1ClientConn // LIFO: the most recently used is the warmest
	busy   HTTP1ClientConn    // sentinel of the ring of connections in use, for Abort
	closed bool
}

// HTTP1ClientConn is an upstream connection with its response parser state.
type HTTP1ClientConn struct {
	Conn       *network.Conn
	Resp       http1.Response
	Body       Body
	requests   uint32
	idleAt     time.Time
	pool       *HTTP1Pool
	prev, next *HTTP1ClientConn // the pool's ring of busy connections
}

// NewHTTP1Pool makes a pool for addr.
func NewHTTP1Pool(addr string, opts HTTP1PoolOptions) *HTTP1Pool {
	if opts.ConnectTimeout <= 0 {
		opts.ConnectTimeout = 3 * time.Second
	}
	if opts.IdleTimeout <= 0 {
		opts.IdleTimeout = 60 * time.Second
	}
	if opts.MaxIdle <= 0 {
		opts.MaxIdle = 256
	}
	if opts.Log == nil {
		opts.Log = slog.Default()
	}
	p := &HTTP1Pool{addr: addr, opts: opts, limit: lograte.New(time.Second)}
	p.busy.prev, p.busy.next = &p.busy, &p.busy
	return p
}

// Get returns an idle connection (reused=true) or dials a new one.
func (p *HTTP1Pool) Get(ctx context.Context) (cc *HTTP1ClientConn, reused bool, err error) {
	for {
		cc, err = p.takeIdle()
		if err != nil {
			return nil, false, err
		}
		if cc == nil {
			break
		}
		// The check is outside the lock: it is a system call.
		if err := cc.Conn.CheckIdle(); err != nil {
			p.unclean(cc, err, "while idle")
			continue
		}
		return cc, true, nil
	}
	cc, err = p.Dial(ctx)
	return cc, false, err
}

// takeIdle takes the warmest idle connection that has not outlived the idle
// timeout; nil when there is none.
func (p *HTTP1Pool) takeIdle() (*HTTP1ClientConn, error) {
	now := time.Now()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, ErrPoolClosed
	}
	for len(p.idle) > 0 {
		cc := p.idle[len(p.idle)-1]
		p.idle[len(p.idle)-1] = nil
		p.idle = p.idle[:len(p.idle)-1]
		if now.Sub(cc.idleAt) < p.opts.IdleTimeout {
			p.link(cc)
			return cc, nil
		}
		cc.close()
	}
	return nil, nil
}

// Dial opens a new connection, never an idle one: for a request that must
// not meet a stale connection again.
// Take is a connection for a try: a new one when fresh (the try follows a
// stale one), else a pooled one (reused reports which).
func (p *HTTP1Pool) Take(fresh bool) (cc *HTTP1ClientConn, reused bool, err error) {
	if fresh {
		cc, err = p.Dial(context.Background())
		return cc, false, err
	}
	return p.Get(context.Background())
}

// ConnectResult reports a failure to get a connection from a pool as the
// try's result.
func ConnectResult(err error) Result {
	if errors.Is(err, ErrOverflow) {
		return Result{Outcome: Overflow, Err: err}
	}
	return Result{Outcome: ConnectFailed, Err: err}
}

func (p *HTTP1Pool) Dial(ctx context.Context) (*HTTP1ClientConn, error) {
	if !p.opts.Limit.Acquire() {
		return nil, ErrOverflow
	}
	c, err := network.DialFrom(ctx, p.opts.Loop, p.addr, p.opts.ConnectTimeout, p.opts.Counters, 0)
	if err == nil && p.opts.Handshake != nil {
		if err = p.opts.Handshake(ctx, c); err != nil {
			c.Close()
		}
	}
	if err != nil {
		p.opts.Limit.Release()
		return nil, err
	}
	cc := &HTTP1ClientConn{Conn: c, pool: p}
	p.mu.Lock()
	closed := p.closed
	if !closed {
		p.link(cc)
	}
	p.mu.Unlock()
	if closed {
		cc.close()
		return nil, ErrPoolClosed
	}
	return cc, nil
}

// Put returns a connection whose last response was read completely and that
// may be reused; otherwise the caller must call Discard.
func (p *HTTP1Pool) Put(cc *HTTP1ClientConn) {
	cc.requests++
	if len(cc.Conn.Buffered()) > 0 {
		// Bytes after a complete response: the upstream is out of sync.
		p.mu.Lock()
		p.unlink(cc)
		p.mu.Unlock()
		p.unclean(cc, network.ErrUnsolicited, "after a response")
		return
	}
	reuse := p.opts.MaxRequestsPerConn == 0 || cc.requests < p.opts.MaxRequestsPerConn
	if reuse {
		cc.Conn.Release()
		cc.idleAt = time.Now()
	}
	p.mu.Lock()
	p.unlink(cc)
	reuse = reuse && !p.closed && len(p.idle) < p.opts.MaxIdle
	if reuse {
		p.idle = append(p.idle, cc)
	}
	p.mu.Unlock()
	if !reuse {
		cc.close()
	}
}

// Discard closes a connection that must not be reused.
func (p *HTTP1Pool) Discard(cc *HTTP1ClientConn) {
	p.mu.Lock()
	p.unlink(cc)
	p.mu.Unlock()
	cc.close()
}

// unclean closes a connection that CheckIdle (or Put) found out of sync: a
// closed one quietly (upstreams close idle connections), one that received
// bytes out of turn with a log line and a count.
func (p *HTTP1Pool) unclean(cc *HTTP1ClientConn, err error, when string) {
	cc.close()
	if !errors.Is(err, network.ErrUnsolicited) {
		if !errors.Is(err, io.EOF) {
			p.opts.Log.Debug("idle upstream connection failed", "host", p.addr, "err", err)
		}
		return
	}
	if p.opts.ProtocolErrors != nil {
		p.opts.ProtocolErrors.Add(1)
	}
	if ok, suppressed := p.limit.Allow(when); ok {
		p.opts.Log.Warn("upstream sent bytes nobody asked for, closing its connection", "host", p.addr, "when", when,
			"suppressed", suppressed)
	}
}

// Close closes idle connections and refuses new Gets; connections in use are
// closed when they are put back.
func (p *HTTP1Pool) Close() {
	p.mu.Lock()
	p.closed = true
	idle := p.idle
	p.idle = nil
	p.mu.Unlock()
	for _, cc := range idle {
		cc.close()
	}
}

// Abort is Close that also cuts the connections in use, so requests still
// waiting for their upstream end now (a drain that ran out of time).
func (p *HTTP1Pool) Abort() {
	p.Close()
	p.mu.Lock()
	for cc := p.busy.next; cc != &p.busy; cc = cc.next {
		cc.Conn.Close() // its owner frees the buffer when it discards it
	}
	p.mu.Unlock()
}

// IdleCount is the number of pooled idle connections.
func (p *HTTP1Pool) IdleCount() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.idle)
}

// link and unlink keep the ring of busy connections; call under p.mu.
func (p *HTTP1Pool) link(cc *HTTP1ClientConn) {
	cc.prev, cc.next = &p.busy, p.busy.next
	p.busy.next.prev = cc
	p.busy.next = cc
}

func (p *HTTP1Pool) unlink(cc *HTTP1ClientConn) {
	if cc.next == nil {
		return
	}
	cc.prev.next, cc.next.prev = cc.next, cc.prev
	cc.prev, cc.next = nil, nil
}

func (cc *HTTP1ClientConn) close() {
	cc.Conn.Close()
	cc.Conn.FreeBuffer()
	cc.pool.opts.Limit.Release()
}

// ReadResponseHead reads and parses the next response head. 1xx responses
// other than 101 are returned too; the caller decides to relay and read on.
func (cc *HTTP1ClientConn) ReadResponseHead(lim http1.Limits) (n int, err error) {
	cc.Resp.Reset()
	for {
		if len(cc.Conn.Buffered()) > 0 {
			n, err = http1.ParseResponse(cc.Conn.Buffered(), &cc.Resp, lim)
			if !errors.Is(err, http1.ErrNeedMore) {
				return n, err
			}
		}
		if err := cc.Conn.Fill(); err != nil {
			if errors.Is(err, network.ErrBufferFull) {
				return 0, &http1.Error{Status: 502, Reason: "upstream response head too large"}
			}
			return 0, err
		}
	}
}
