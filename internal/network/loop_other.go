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

func (g *LoopGroup) adopt(net.Conn, func(net.Conn) *Conn, func(*Conn)) error {
	return errors.New("network: the netpoll IO model needs Linux")
}

func (ln *Listener) serveLoops(context.Context) (bool, error) { return false, nil }

func (ln *Listener) stopLoopAccept() {}

// DialLoop is never called: there are no loops.
func (l *Loop) DialLoop(string, time.Duration) (net.Conn, error) {
	return nil, errors.New("network: the netpoll IO model needs Linux")
}

// Go runs fn on a goroutine; there are no loops to run it on.
func (l *Loop) Go(fn func()) { go fn() }

func (l *Loop) park(**Task) error { return errors.New("network: the netpoll IO model needs Linux") }
func (l *Loop) wake(**Task)       {}

// tryWrite waits for room: only Linux has the raw write it needs.
func (c *Conn) tryWrite(b []byte) (int, error) { return c.nc.Write(b) }

type rawWriter struct{}

type rawPeeker struct{}

// peekIdle finds nothing: only Linux has the raw peek it needs.
func (c *Conn) peekIdle() error { return nil }

func (c *Conn) clock() time.Time { return time.Now() }

func (c *Conn) lockWriteOnLoop() bool   { return false }
func (c *Conn) unlockWriteOnLoop() bool { return false }

// Sleep pauses the calling goroutine for d.
func (c *Conn) Sleep(d time.Duration) { time.Sleep(d) }

// Loop returns nil: connections are served by goroutines.
func (c *Conn) Loop() *Loop { return nil }

type loopTask struct{}

func (c *Conn) goOnLoop(func()) *Task { return nil }
func (t *Task) loopDone() bool        { return true }
func (t *Task) loopWait()             {}
