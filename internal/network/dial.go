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

// DialOnLoop connects like Dial from a task of event loop l; the connection
// belongs to l.
func DialOnLoop(l *Loop, addr string, timeout time.Duration, counters *Counters, maxBuf int) (*Conn, error) {
	nc, err := l.DialLoop(addr, timeout)
	if err != nil {
		return nil, err
	}
	return NewConn(nc, counters, maxBuf), nil
}
