package stream

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mosnctl/mosnctl/internal/network"
	"github.com/mosnctl/mosnctl/internal/protocol/bolt"
)

// BoltResult is told how a forwarded request ended: with the upstream's
// response frame (raw, valid only during the call) or with a status the
// proxy generated (timeout, connection closed).
type BoltResult interface {
	BoltResponse(raw []byte, f *bolt.Frame)
	BoltFailed(status uint16)
}

// BoltClientConn is one multiplexed upstream Bolt connection. Requests from
// many downstream connections share it; each gets a fresh request id here
// and the response is matched back by that id. Dialled from a task of an
// event loop, it belongs to that loop: its reader is a task there, and so
// must be every sender.
type BoltClientConn struct {
	conn    *network.Conn
	log     *slog.Logger
	nextID  atomic.Uint32
	wbuf    []byte // under the connection's write lock
	mu      sync.Mutex
	pending map[uint32]*boltPending
	dead    bool
	reader  *network.Task
	limit   ConnLimit // released when the reader ends
}

type boltPending struct {
	cc     *BoltClientConn
	id     uint32
	result BoltResult
	timer  *time.Timer
}

var pendingPool sync.Pool

// fire runs on the timer's goroutine; on an event loop the timeout is
// answered by a task of the loop, like every write to its connections.
func (p *boltPending) fire() {
	if l := p.cc.conn.Loop(); l != nil {
		l.Go(p.expire)
		return
	}
	p.expire()
}

func (p *boltPending) expire() {
	if p.cc.take(p.id, p) {
		p.result.BoltFailed(bolt.StatusTimeout)
	}
}

// DialBolt connects to addr and starts the response reader; from a task of
// event loop l (nil: a goroutine), on that loop.
func DialBolt(ctx context.Context, l *network.Loop, addr string, timeout time.Duration, counters *network.Counters, log *slog.Logger) (*BoltClientConn, error) {
	return dialBolt(ctx, l, addr, BoltPoolOptions{ConnectTimeout: timeout, Counters: counters, Log: log})
}

// dialBolt dials a connection with a pool's options, counted in its limit
// (acquired by the caller), through its handshake (TLS) when it has one.
func dialBolt(ctx context.Context, l *network.Loop, addr string, opts BoltPoolOptions) (*BoltClientConn, error) {
	limit, log := opts.Limit, opts.Log
	// The read buffer may grow to a whole frame: Decode reads it in place.
	c, err := network.DialFrom(ctx, l, addr, opts.ConnectTimeout, opts.Counters, bolt.DefaultMaxFrameSize)
	if err == nil && opts.Handshake != nil {
		if err = opts.Handshake(ctx, c); err != nil {
			c.Close()
		}
	}
	if err != nil {
		limit.Release()
		return nil, err
	}
	if log == nil {
		log = slog.Default()
	}
	cc := &BoltClientConn{conn: c, log: log, pending: make(map[uint32]*boltPending), limit: limit}
	cc.reader = c.Go(cc.readLoop)
	return cc, nil
}

// Alive reports whether the connection still carries requests.
func (cc *BoltClientConn) Alive() bool {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	return !cc.dead
}

// Send forwards the encoded request raw (not modified) with a new request id;
// for a one-way request result may be nil and nothing waits. timeout bounds
// the wait for the response. When Send fails, result is never told.
func (cc *BoltClientConn) Send(raw []byte, oneway bool, timeout time.Duration, result BoltResult) error {
	id := cc.nextID.Add(1)
	var p *boltPending
	if !oneway {
		p = cc.newPending(id, result)
		cc.mu.Lock()
		if cc.dead {
			cc.mu.Unlock()
			return errors.New("bolt: upstream connection closed")
		}
		cc.pending[id] = p
		// Armed under mu: the reader and the timer both need mu to take p,
		// so neither sees p half set up.
		if p.timer == nil {
			p.timer = time.AfterFunc(timeout, p.fire)
		} else {
			p.timer.Reset(timeout)
		}
		cc.mu.Unlock()
	}
	cc.conn.LockWrite()
	cc.wbuf = append(cc.wbuf[:0], raw...)
	bolt.PutRequestID(cc.wbuf, id)
	_, err := cc.conn.Write(cc.wbuf)
	if cap(cc.wbuf) > 64<<10 {
		cc.wbuf = nil
	}
	cc.conn.UnlockWrite()
	if err != nil {
		// An error means the result will not be told; when the reader or
		// the timer took the request first, it has been (or is being).
		taken := p == nil || cc.take(id, p)
		if p != nil && taken {
			p.stop()
		}
		cc.Close()
		if !taken {
			return nil
		}
		return err
	}
	return nil
}

func (cc *BoltClientConn) newPending(id uint32, r BoltResult) *boltPending {
	p, _ := pendingPool.Get().(*boltPending)
	if p == nil {
		p = &boltPending{}
	}
	p.cc, p.id, p.result = cc, id, r
	return p
}

// stop recycles p when its timer was stopped before firing; a timer that
// already fired may still run fire, so such an entry is left to the GC.
func (p *boltPending) stop() {
	if p.timer == nil || p.timer.Stop() {
		p.result = nil
		pendingPool.Put(p)
	}
}

// take removes id from the pending map if it still maps to p.
func (cc *BoltClientConn) take(id uint32, p *boltPending) bool {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	if q, ok := cc.pending[id]; ok && q == p {
		delete(cc.pending, id)
		return true
	}
	return false
}

func (cc *BoltClientConn) readLoop() {
	var f bolt.Frame
	c := cc.conn
	for {
		buf := c.Buffered()
		f.Reset()
		n, err := bolt.Decode(buf, &f, bolt.DefaultMaxFrameSize)
		if errors.Is(err, bolt.ErrNeedMore) {
			if len(buf) == 0 {
				c.Release()
			}
			if ferr := c.Fill(); ferr != nil {
				cc.fail(ferr)
				return
			}
			continue
		}
		if err != nil {
			cc.log.Warn("bolt: malformed frame from upstream, closing connection", "upstream", c.RemoteAddr().String(), "err", err)
			cc.fail(err)
			return
		}
		if !f.IsRequest() {
			cc.mu.Lock()
			p := cc.pending[f.RequestID]
			delete(cc.pending, f.RequestID)
			cc.mu.Unlock()
			if p != nil {
				p.result.BoltResponse(buf[:n], &f)
				p.stop()
			}
		}
		c.Discard(n)
	}
}

// fail marks the connection dead and fails every pending request.
func (cc *BoltClientConn) fail(err error) {
	cc.mu.Lock()
	cc.dead = true
	pending := cc.pending
	cc.pending = make(map[uint32]*boltPending)
	cc.mu.Unlock()
	cc.conn.Close()
	for _, p := range pending {
		p.result.BoltFailed(bolt.StatusConnectionClosed)
		p.stop()
	}
	cc.conn.FreeBuffer()
	cc.limit.Release()
}

// Close closes the connection; pending requests fail with
// StatusConnectionClosed. It waits for a reader goroutine to finish; a
// loop's reader task finishes on the loop, which may not be waited for
// from elsewhere.
func (cc *BoltClientConn) Close() {
	cc.mu.Lock()
	cc.dead = true
	cc.mu.Unlock()
	cc.conn.Close()
	if cc.conn.Loop() == nil {
		cc.reader.Wait()
	}
}

// BoltPool keeps a few multiplexed connections to one upstream host, for
// the connections of one event loop (or, with a nil loop, of goroutines).
type BoltPool struct {
	addr string
	opts BoltPoolOptions

	mu     sync.Mutex
	conns  []*BoltClientConn
	next   uint32
	closed bool
}

// BoltPoolOptions tune a BoltPool.
type BoltPoolOptions struct {
	Loop *network.Loop // whose tasks use the pool; nil: goroutines
	// Size is the connections kept (default 1: one multiplexed connection
	// carries thousands of requests per second).
	Size           int
	ConnectTimeout time.Duration // default 3s
	Counters       *network.Counters
	Log            *slog.Logger
	// Limit caps the connections open to the host: at the cap a pool
	// shares the connections it has, and without one Get fails with
	// ErrOverflow.
	Limit ConnLimit
	// Handshake, when set, runs on each new connection before its first
	// request (TLS); its failure is the dial's.
	Handshake func(context.Context, *network.Conn) error
}

// NewBoltPool makes a pool for the host at addr.
func NewBoltPool(addr string, opts BoltPoolOptions) *BoltPool {
	if opts.Size <= 0 {
		opts.Size = 1
	}
	if opts.ConnectTimeout <= 0 {
		opts.ConnectTimeout = 3 * time.Second
	}
	return &BoltPool{addr: addr, opts: opts}
}

// Get returns a live connection, dialing when the pool is not full or holds
// only dead ones.
func (p *BoltPool) Get(ctx context.Context) (*BoltClientConn, error) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil, ErrPoolClosed
	}
	live := p.conns[:0]
	for _, cc := range p.conns {
		if cc.Alive() {
			live = append(live, cc)
		}
	}
	clear(p.conns[len(live):])
	p.conns = live
	// One more connection when the pool is not full and the host's limit
	// allows it; else the ones there are share the load.
	if len(p.conns) >= p.opts.Size || !p.opts.Limit.Acquire() {
		if len(p.conns) == 0 {
			p.mu.Unlock()
			return nil, ErrOverflow
		}
		p.next++
		cc := p.conns[int(p.next)%len(p.conns)]
		p.mu.Unlock()
		return cc, nil
	}
	p.mu.Unlock()
	cc, err := dialBolt(ctx, p.opts.Loop, p.addr, p.opts)
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		cc.Close()
		return nil, ErrPoolClosed
	}
	p.conns = append(p.conns, cc)
	p.mu.Unlock()
	return cc, nil
}

// Close closes every connection.
func (p *BoltPool) Close() {
	p.mu.Lock()
	p.closed = true
	conns := p.conns
	p.conns = nil
	p.mu.Unlock()
	for _, cc := range conns {
		cc.Close()
	}
}
