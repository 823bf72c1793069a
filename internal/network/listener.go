package network

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// DefaultMaxConnections bounds a listener's concurrent connections when the
// config sets no limit; it keeps a flood from exhausting file descriptors.
const DefaultMaxConnections = 16384

// Handler serves one accepted connection; it returns when the connection is
// done. The listener closes the connection afterwards.
type Handler interface {
	ServeConn(ctx context.Context, c *Conn)
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(ctx context.Context, c *Conn)

// ServeConn calls f.
func (f HandlerFunc) ServeConn(ctx context.Context, c *Conn) { f(ctx, c) }

// ListenerOptions tune a Listener.
type ListenerOptions struct {
	MaxConnections int // <= 0: DefaultMaxConnections
	MaxBufferSize  int // per-connection read buffer limit
	Logger         *slog.Logger
	// Loops, when set, serves the connections in the netpoll IO model:
	// each runs as a task of one of these event loops instead of on its
	// own goroutine. The handler must then do all its socket IO from that
	// task (or tasks it starts with Go).
	Loops *LoopGroup
}

// Listener accepts connections and hands each to its Handler on its own
// goroutine, tracking them so that Shutdown can drain them.
type Listener struct {
	Name     string
	Counters Counters

	ln      net.Listener
	handler Handler
	opts    ListenerOptions
	log     *slog.Logger

	// handoff is set during a hot upgrade (SetHandoff); nil otherwise, so
	// the idle points pay one atomic load.
	handoff atomic.Pointer[HandoffFunc]
	// limitLogged is when atLimit last logged (unix ns).
	limitLogged atomic.Int64

	mu    sync.Mutex
	conns map[*Conn]struct{}
	wg    sync.WaitGroup
	done  chan struct{}

	// netpoll IO model: the socket the loops accept from (-1: none) and
	// Serve's context for the connections they start.
	loopFD   atomic.Int64
	serveCtx context.Context
}

// Listen opens a TCP (or unix) listening socket with SO_REUSEADDR, which Go
// sets by default on Linux.
func Listen(network, addr string) (net.Listener, error) {
	if network == "" {
		network = "tcp"
	}
	return net.Listen(network, addr)
}

// NewListener wraps an open socket.
func NewListener(name string, ln net.Listener, h Handler, opts ListenerOptions) *Listener {
	if opts.MaxConnections <= 0 {
		opts.MaxConnections = DefaultMaxConnections
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	l := &Listener{
		Name: name, ln: ln, handler: h, opts: opts,
		log:   log.With("listener", name),
		conns: make(map[*Conn]struct{}),
		done:  make(chan struct{}),
	}
	l.loopFD.Store(-1)
	return l
}

// UseLoops switches the listener to the netpoll IO model (see
// ListenerOptions.Loops); call it before Serve.
func (l *Listener) UseLoops(g *LoopGroup) { l.opts.Loops = g }

// Addr is the bound address (useful with port 0).
func (l *Listener) Addr() net.Addr { return l.ln.Addr() }

// NetListener returns the socket (for fd passing on hot upgrade).
func (l *Listener) NetListener() net.Listener { return l.ln }

// Serve accepts until the listener is closed. It returns nil after Close.
func (l *Listener) Serve(ctx context.Context) error {
	if l.opts.Loops != nil {
		if handled, err := l.serveLoops(ctx); handled {
			return err
		}
	}
	var backoff time.Duration
	for {
		nc, err := l.ln.Accept()
		if err != nil {
			select {
			case <-l.done:
				return nil
			default:
			}
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			// Out of fds and similar: back off instead of spinning.
			var ne net.Error
			if errors.As(err, &ne) || errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) {
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				l.log.Warn("accept failed", "err", err, "retry_in", backoff)
				time.Sleep(backoff)
				continue
			}
			return err
		}
		backoff = 0
		if l.atLimit(nc.RemoteAddr()) {
			nc.Close()
			continue
		}
		if tc, ok := nc.(*net.TCPConn); ok {
			tc.SetNoDelay(true)
		}
		if l.opts.Loops != nil {
			l.moveToLoop(ctx, nc, nil, l.handler)
			continue
		}
		c := NewConn(nc, &l.Counters, l.opts.MaxBufferSize)
		c.ln = l
		if !l.track(c) {
			c.Close()
			continue
		}
		go l.serveConn(ctx, c)
	}
}

// moveToLoop hands a connection accepted by Serve (unix sockets), or
// received from another process, to an event loop. It reports whether the
// connection is being served.
func (l *Listener) moveToLoop(ctx context.Context, nc net.Conn, buffered []byte, h Handler) bool {
	tracked := false
	err := l.opts.Loops.adopt(nc, func(fc *fdConn) *Conn {
		c := newConnBuffered(fc, fc, &l.Counters, l.opts.MaxBufferSize, buffered)
		c.ln = l
		if tracked = l.track(c); !tracked {
			c.Close()
			c.FreeBuffer()
		}
		return c
	}, func(c *Conn) {
		if tracked {
			l.serveConnWith(ctx, c, h)
		} else {
			c.leaveLoop()
		}
	})
	if err != nil {
		l.log.Warn("cannot move connection to an event loop, closing it", "err", err)
		nc.Close()
		return false
	}
	return tracked
}

// track registers a connection about to be served (serveConnWith
// unregisters it), unless the listener is closed. The WaitGroup is added to
// under the same lock Close takes, so a Shutdown never waits before a
// connection it lets through is counted.
func (l *Listener) track(c *Conn) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	select {
	case <-l.done:
		return false
	default:
	}
	l.conns[c] = struct{}{}
	l.wg.Add(1)
	return true
}

// atLimit reports a new connection from remote that the connection limit
// turns away, counts it (Counters.ConnsRefused) and logs it: at most one
// line a second, with the count, so that a flood does not flood the log.
func (l *Listener) atLimit(remote net.Addr) bool {
	if int(l.Counters.ConnsActive.Load()) < l.opts.MaxConnections {
		return false
	}
	refused := l.Counters.ConnsRefused.Add(1)
	now := time.Now().UnixNano()
	if last := l.limitLogged.Load(); now-last >= int64(time.Second) && l.limitLogged.CompareAndSwap(last, now) {
		l.log.Warn("connection limit reached, closing new connections", "limit", l.opts.MaxConnections,
			"remote", remote.String(), "refused_total", refused)
	}
	return true
}

func (l *Listener) serveConn(ctx context.Context, c *Conn) { l.serveConnWith(ctx, c, l.handler) }

func (l *Listener) serveConnWith(ctx context.Context, c *Conn, h Handler) {
	defer l.endServe(c)
	h.ServeConn(ctx, c)
}

// endServe follows a connection's handler, first run or resumed after
// ParkIdle: unless the handler parked the connection, it is closed and
// forgotten. Call it as a defer: it recovers a handler's panic.
func (l *Listener) endServe(c *Conn) {
	r := recover()
	if r != nil {
		// A bug in one connection's handling must not take the process down.
		l.log.Error("connection handler panic", "remote", c.RemoteAddr().String(), "panic", r)
		c.unpark()
		c.detached = false
		c.Close() // no goodbye: the handler may have died holding the writing side
	}
	if c.resume != nil || c.detached || c.ended {
		return // parked, or left to its tasks: its loop resumes it, Finish ends it
	}
	c.ended = true
	if after := c.after; after != nil {
		c.after = nil
		after()
	}
	c.CloseOwned()
	c.FreeBuffer()
	l.mu.Lock()
	delete(l.conns, c)
	l.mu.Unlock()
	c.leaveLoop()
	l.wg.Done()
}

// Close stops accepting; live connections keep running.
func (l *Listener) Close() error {
	l.mu.Lock()
	select {
	case <-l.done:
		l.mu.Unlock()
		return nil
	default:
		close(l.done)
	}
	l.mu.Unlock()
	l.stopLoopAccept()
	return l.ln.Close()
}

// Shutdown stops accepting, closes idle connections and waits for busy ones
// to finish their current message; at ctx's deadline it closes what is left
// and returns how many connections it had to cut.
func (l *Listener) Shutdown(ctx context.Context) int {
	l.Close()
	l.mu.Lock()
	for c := range l.conns {
		c.StartDrain()
	}
	l.mu.Unlock()
	finished := make(chan struct{})
	go func() { l.wg.Wait(); close(finished) }()
	select {
	case <-finished:
		return 0
	case <-ctx.Done():
	}
	l.mu.Lock()
	cut := len(l.conns)
	for c := range l.conns {
		c.Close()
	}
	l.mu.Unlock()
	<-finished
	return cut
}

// ActiveConnections is the number of open connections.
func (l *Listener) ActiveConnections() int64 { return l.Counters.ConnsActive.Load() }
