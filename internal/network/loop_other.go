//go:build !linux

package network

import (
	"context"
	"errors"
	"net"
	"time"
)

// LoopSupported reports whether this platform has the netpoll IO model.
const LoopSupported = false

// LoopGroup is a set of event loops; only Linux has them.
type LoopGroup struct{}

// Loop is one event loop; only Linux has them.
type Loop struct{}

// NewLoopGroup fails: the netpoll IO model needs epoll.
func NewLoopGroup(int, bool) (*LoopGroup, error) {
	return nil, errors.New("network: the netpoll IO model needs Linux")
}

// Len is the number of loops.
func (g *LoopGroup) Len() int { return 0 }

// Close does nothing.
func (g *LoopGroup) Close() {}

// fdConn is an event loop's socket; only Linux has them, so a Conn's is
// always nil here.
type fdConn struct{ l *Loop }

// Interrupt is never called: there are no loop sockets.
func (c *fdConn) Interrupt() {}

// Read, Write and the rest make fdConn a net.Conn, as on Linux.
func (c *fdConn) Read([]byte) (int, error)         { return 0, net.ErrClosed }
func (c *fdConn) Write([]byte) (int, error)        { return 0, net.ErrClosed }
func (c *fdConn) Close() error                     { return nil }
func (c *fdConn) LocalAddr() net.Addr              { return nil }
func (c *fdConn) RemoteAddr() net.Addr             { return nil }
func (c *fdConn) SetDeadline(time.Time) error      { return nil }
func (c *fdConn) SetReadDeadline(time.Time) error  { return nil }
func (c *fdConn) SetWriteDeadline(time.Time) error { return nil }

func (g *LoopGroup) adopt(net.Conn, func(*fdConn) *Conn, func(*Conn)) error {
	return errors.New("network: the netpoll IO model needs Linux")
}

func (ln *Listener) serveLoops(context.Context) (bool, error) { return false, nil }

func (ln *Listener) stopLoopAccept() {}

// dialLoop is never called: there are no loops.
func (l *Loop) dialLoop(string, time.Duration) (*fdConn, error) {
	return nil, errors.New("network: the netpoll IO model needs Linux")
}

// Go runs fn on a goroutine; there are no loops to run it on.
func (l *Loop) Go(fn func()) { go fn() }

func (l *Loop) park(**Task) error { return errors.New("network: the netpoll IO model needs Linux") }
func (l *Loop) wake(**Task)       {}

// tryWrite waits for room: only Linux has the raw write it needs.
func (c *Conn) tryWrite(b []byte) (int, error) { return c.nc.Write(b) }

type rawIO struct{}

// writevOnLoop declines: there are no loop sockets.
func (c *Conn) writevOnLoop([][]byte) (int64, error, bool) { return 0, nil, false }

// SendRoom can't tell: only Linux has the socket query it needs.
func (c *Conn) SendRoom() (int, bool) { return 0, false }

// peekIdle finds nothing: only Linux has the raw peek it needs.
func (c *Conn) peekIdle() error { return nil }

func (c *Conn) clock() time.Time { return time.Now() }

// AfterPass declines: without loops there are no passes to batch by.
func (c *Conn) AfterPass(func()) bool { return false }

func (c *Conn) lockWriteOnLoop() bool   { return false }
func (c *Conn) unlockWriteOnLoop() bool { return false }

// Sleep pauses the calling goroutine for d.
func (c *Conn) Sleep(d time.Duration) { time.Sleep(d) }

// Loop returns nil: connections are served by goroutines.
func (c *Conn) Loop() *Loop { return nil }

type loopTask struct{}

// parkOnLoop fails: there are no loops to park on.
func (c *Conn) parkOnLoop() bool { return false }

func (c *Conn) unpark() { c.resume, c.idlePark = nil, false }

func (c *Conn) leaveLoop() {}

func (c *Conn) goOnLoop(func()) *Task { return nil }
func (t *Task) loopDone() bool        { return true }
func (t *Task) loopWait()             {}
