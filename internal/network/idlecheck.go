package network

import (
	"errors"
	"net"
)

// ErrUnsolicited is CheckIdle's verdict on a connection that received bytes
// while nobody had asked it for any.
var ErrUnsolicited = errors.New("network: bytes arrived on an idle connection")

// CheckIdle tells whether a connection that waited idle (a pooled upstream
// connection between requests) is still clean, without consuming anything:
// nil when nothing arrived and the peer has not closed; io.EOF when the peer
// closed it; ErrUnsolicited when bytes arrived (an upstream that answers
// what nobody asked, whose bytes would be read as the next request's
// response); another error when the socket failed. On an event loop it
// answers from the loop's readiness state (what arrived by the loop's last
// epoll wait), with a peek only when that says readable; a socket of Go's
// netpoller costs one non-blocking peek.
//
// On a wrapped (TLS) connection, bytes under the wrapper are a record it
// has not read: most often the close_notify alert of a peer closing an
// idle connection, so it is ErrIdleRecord, a close like io.EOF rather
// than a protocol error.
func (c *Conn) CheckIdle() error {
	if len(c.Buffered()) > 0 {
		return ErrUnsolicited
	}
	if c.closed.Load() {
		return net.ErrClosed
	}
	err := c.peekIdle()
	if c.wrapped() && err == ErrUnsolicited {
		return ErrIdleRecord
	}
	return err
}

// ErrIdleRecord is CheckIdle's verdict on a wrapped connection with a
// record waiting under the wrapper (a TLS close_notify, typically).
var ErrIdleRecord = errors.New("network: a record arrived on an idle wrapped (TLS) connection, most likely its close")
