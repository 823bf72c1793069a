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

// Loop returns nil: connections are served by goroutines.
func (c *Conn) Loop() *Loop { return nil }

// Task is a function running concurrently with its creator.
type Task struct{ ch chan struct{} }

// Go runs fn on a new goroutine.
func (c *Conn) Go(fn func()) *Task {
	t := &Task{ch: make(chan struct{})}
	go func() {
		defer close(t.ch)
		fn()
	}()
	return t
}

// Done reports whether the task has returned, without waiting.
func (t *Task) Done() bool {
	select {
	case <-t.ch:
		return true
	default:
		return false
	}
}

// Wait waits until the task has returned.
func (t *Task) Wait() { <-t.ch }
