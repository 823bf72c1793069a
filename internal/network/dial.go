package network

import (
	"context"
	"net"
	"time"
)

// Dial connects to a TCP address within timeout and wraps the connection.
func Dial(ctx context.Context, addr string, timeout time.Duration, counters *Counters, maxBuf int) (*Conn, error) {
	d := net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second}
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	if tc, ok := nc.(*net.TCPConn); ok {
		tc.SetNoDelay(true)
	}
	return NewConn(nc, counters, maxBuf), nil
}

// DialFrom connects like Dial for a connection served by event loop l
// (Conn.Loop): called from one of l's tasks, the new connection belongs to
// l too. With a nil l it is Dial.
func DialFrom(ctx context.Context, l *Loop, addr string, timeout time.Duration, counters *Counters, maxBuf int) (*Conn, error) {
	if l == nil {
		return Dial(ctx, addr, timeout, counters, maxBuf)
	}
	fc, err := l.dialLoop(addr, timeout)
	if err != nil {
		return nil, err
	}
	return newConnBuffered(fc, fc, counters, maxBuf, nil), nil
}
