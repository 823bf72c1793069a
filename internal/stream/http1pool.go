package stream

import (
	"context"
	"errors"
	"sync"
	"time"

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
}

// HTTP1Pool keeps idle keep-alive connections to one upstream host; each
// connection carries one request at a time.
type HTTP1Pool struct {
	addr string
	opts HTTP1PoolOptions

	mu     sync.Mutex
	idle   []*HTTP1ClientConn // LIFO: the most recently used is the warmest
	closed bool
}

// HTTP1ClientConn is an upstream connection with its response parser state.
type HTTP1ClientConn struct {
	Conn     *network.Conn
	Resp     http1.Response
	Body     Body
	requests uint32
	idleAt   time.Time
	pool     *HTTP1Pool
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
	return &HTTP1Pool{addr: addr, opts: opts}
}

// Get returns an idle connection (reused=true) or dials a new one.
func (p *HTTP1Pool) Get(ctx context.Context) (cc *HTTP1ClientConn, reused bool, err error) {
	now := time.Now()
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil, false, ErrPoolClosed
	}
	for len(p.idle) > 0 {
		cc = p.idle[len(p.idle)-1]
		p.idle[len(p.idle)-1] = nil
		p.idle = p.idle[:len(p.idle)-1]
		if now.Sub(cc.idleAt) < p.opts.IdleTimeout {
			p.mu.Unlock()
			return cc, true, nil
		}
		cc.close()
	}
	p.mu.Unlock()
	c, err := network.DialFrom(ctx, p.opts.Loop, p.addr, p.opts.ConnectTimeout, p.opts.Counters, 0)
	if err != nil {
		return nil, false, err
	}
	return &HTTP1ClientConn{Conn: c, pool: p}, false, nil
}

// Put returns a connection whose last response was read completely and that
// may be reused; otherwise the caller must call Discard.
func (p *HTTP1Pool) Put(cc *HTTP1ClientConn) {
	cc.requests++
	if p.opts.MaxRequestsPerConn > 0 && cc.requests >= p.opts.MaxRequestsPerConn {
		cc.close()
		return
	}
	if len(cc.Conn.Buffered()) > 0 {
		// Bytes after a complete response: the upstream is out of sync.
		cc.close()
		return
	}
	cc.Conn.Release()
	cc.idleAt = time.Now()
	p.mu.Lock()
	if p.closed || len(p.idle) >= p.opts.MaxIdle {
		p.mu.Unlock()
		cc.close()
		return
	}
	p.idle = append(p.idle, cc)
	p.mu.Unlock()
}

// Discard closes a connection that must not be reused.
func (p *HTTP1Pool) Discard(cc *HTTP1ClientConn) { cc.close() }

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

// IdleCount is the number of pooled idle connections.
func (p *HTTP1Pool) IdleCount() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.idle)
}

func (cc *HTTP1ClientConn) close() {
	cc.Conn.Close()
	cc.Conn.FreeBuffer()
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
