package network

import (
	"context"
	"net"

	"github.com/valyala/bytebufferpool"
)

// HandoffFunc takes over a downstream connection during a hot upgrade: it
// passes the socket and c.Buffered() (bytes read and not yet processed) to
// another process and reports whether it did. protocol names how the
// connection continues ("Http1", "bolt"). It is called from the
// connection's reading goroutine at a message boundary, with nothing in
// flight; on true the caller returns without writing to or closing the
// client: the listener's cleanup closes only this process's descriptor.
type HandoffFunc func(c *Conn, protocol string) bool

// SetHandoff installs (or, with nil, removes) the listener's handoff
// function. Install it before Shutdown: draining connections then offer
// themselves at their next idle point instead of closing.
func (l *Listener) SetHandoff(h HandoffFunc) {
	if h == nil {
		l.handoff.Store(nil)
		return
	}
	l.handoff.Store(&h)
}

// CanHandoff reports whether the connection's listener has a handoff
// function, i.e. whether a draining connection should stay keep-alive and
// be handed over rather than closed.
//
// A wrapped (TLS) connection is never handed over: its session keys stay
// in this process, so it drains instead.
func (c *Conn) CanHandoff() bool {
	return c.ln != nil && !c.wrapped() && c.ln.handoff.Load() != nil
}

// Handoff offers the connection to its listener's handoff function; stream
// loops call it when Draining() at a point where no message is half-read
// and no answer is pending. False means the caller closes as usual.
func (c *Conn) Handoff(protocol string) bool {
	if c.ln == nil || c.wrapped() || c.closed.Load() {
		return false
	}
	h := c.ln.handoff.Load()
	if h == nil || !(*h)(c, protocol) {
		return false
	}
	c.handedOff.Store(true)
	return true
}

// HandedOff reports whether the connection was passed to another process.
func (c *Conn) HandedOff() bool { return c.handedOff.Load() }

// NewConnBuffered wraps nc like NewConn, with buffered as bytes already
// read from it: a connection received from another process continues where
// that process stopped.
func NewConnBuffered(nc net.Conn, counters *Counters, maxBuf int, buffered []byte) *Conn {
	return newConnBuffered(nc, nil, counters, maxBuf, buffered)
}

// newConnBuffered is NewConnBuffered for a socket served by event loop
// socket ls (nil: by goroutines).
func newConnBuffered(nc net.Conn, ls *fdConn, counters *Counters, maxBuf int, buffered []byte) *Conn {
	c := NewConn(nc, counters, maxBuf)
	c.ls = ls
	if len(buffered) > 0 {
		c.bb = bytebufferpool.Get()
		size := max(DefaultReadBufferSize, len(buffered))
		if cap(c.bb.B) < size {
			c.bb.B = make([]byte, size)
		}
		c.bb.B = c.bb.B[:cap(c.bb.B)]
		c.w = int32(copy(c.bb.B, buffered))
	}
	return c
}

// Adopt serves a connection received from another process as if this
// listener had accepted it: it is tracked (so Shutdown drains it and
// counters include it) and served by h on its own goroutine (nil h: the
// listener's handler). It reports false, closing nc, when the listener is
// already closed.
func (l *Listener) Adopt(ctx context.Context, nc net.Conn, buffered []byte, h Handler) bool {
	if tc, ok := nc.(*net.TCPConn); ok {
		tc.SetNoDelay(true)
	}
	if h == nil {
		h = l.handler
	}
	if l.opts.Loops != nil {
		return l.moveToLoop(ctx, nc, buffered, h)
	}
	c := NewConnBuffered(nc, &l.Counters, l.opts.MaxBufferSize, buffered)
	c.ln = l
	if !l.track(c) {
		c.Close()
		c.FreeBuffer()
		return false
	}
	go l.serveConnWith(ctx, c, h)
	return true
}
