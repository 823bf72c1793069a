//go:build linux

package network

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"sync/atomic"
	"testing"
	"time"
)

// parkingEcho echoes what it reads and parks its connection whenever it
// has nothing buffered, the way the stream loops wait for a next request.
type parkingEcho struct {
	c       *Conn
	idle    time.Duration
	parks   *atomic.Int64
	endings chan error // the error that ended each connection
	wake    func()
	err     error
}

func parkingEchoHandler(idle time.Duration, parks *atomic.Int64, endings chan error) HandlerFunc {
	return func(_ context.Context, c *Conn) {
		e := &parkingEcho{c: c, idle: idle, parks: parks, endings: endings}
		e.wake = e.resume
		defer c.AfterServe(func() { endings <- e.err })
		e.serve()
	}
}

func (e *parkingEcho) resume() {
	err := e.c.Fill()
	e.c.SetIdle(false)
	if err != nil {
		e.err = err
		return
	}
	e.serve()
}

func (e *parkingEcho) serve() {
	c := e.c
	for {
		if b := c.Buffered(); len(b) > 0 {
			if _, err := c.Write(b); err != nil {
				e.err = err
				return
			}
			c.Discard(len(b))
		}
		c.SetReadDeadline(time.Now().Add(e.idle))
		if !c.SetIdle(true) {
			e.err = errDraining
			return
		}
		if c.ParkIdle(e.wake) {
			e.parks.Add(1)
			return
		}
		err := c.Fill()
		c.SetIdle(false)
		if err != nil {
			e.err = err
			return
		}
	}
}

var errDraining = errors.New("draining")

func exchange(t *testing.T, c net.Conn, msg string) {
	t.Helper()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write([]byte(msg)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, len(msg))
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != msg {
		t.Fatalf("echo %q %v, want %q", buf, err, msg)
	}
}

// An idle connection holds no task: many idle connections add no
// goroutines (a loop task is a coroutine, counted as one), and each is
// served again when bytes arrive.
func TestParkedConnectionsHoldNoTask(t *testing.T) {
	var parks atomic.Int64
	endings := make(chan error, 1000)
	l, _ := loopListener(t, 2, parkingEchoHandler(time.Hour, &parks, endings))
	warm, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer warm.Close()
	exchange(t, warm, "warm")
	waitUntil(t, func() bool { return parks.Load() >= 1 })
	before := runtime.NumGoroutine()
	const n = 200
	conns := make([]net.Conn, n)
	for i := range conns {
		c, err := net.Dial("tcp", l.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		exchange(t, c, fmt.Sprint("hello ", i))
		conns[i] = c
	}
	waitUntil(t, func() bool { return parks.Load() >= n+1 })
	after := runtime.NumGoroutine()
	if after-before > 20 {
		t.Fatalf("%d goroutines with %d idle connections, %d before: idle connections hold tasks", after, n, before)
	}
	for i, c := range conns { // each is served again
		exchange(t, c, fmt.Sprint("again ", i))
	}
	if got := l.ActiveConnections(); got != n+1 {
		t.Fatalf("%d active connections, want %d", got, n+1)
	}
}

// The read deadline of a parked connection ends it, through its handler.
func TestParkedConnectionIdleTimeout(t *testing.T) {
	var parks atomic.Int64
	endings := make(chan error, 1)
	l, _ := loopListener(t, 1, parkingEchoHandler(50*time.Millisecond, &parks, endings))
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	exchange(t, c, "x")
	select {
	case err := <-endings:
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("parked connection ended with %v, want its deadline", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the idle deadline did not end the parked connection")
	}
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("client read %v, want EOF", err)
	}
	waitUntil(t, func() bool { return l.ActiveConnections() == 0 })
	if parks.Load() == 0 {
		t.Fatal("the connection never parked")
	}
}

// A drain wakes a parked connection (its handler sees the wake-up and
// returns), and a peer's close ends one too; AfterServe runs once, at the
// end.
func TestParkedConnectionDrainAndClose(t *testing.T) {
	var parks atomic.Int64
	endings := make(chan error, 2)
	l, _ := loopListener(t, 1, parkingEchoHandler(time.Hour, &parks, endings))
	closer, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	exchange(t, closer, "a")
	drained, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer drained.Close()
	exchange(t, drained, "b")
	waitUntil(t, func() bool { return parks.Load() >= 2 })

	closer.Close()
	if err := <-endings; err != io.EOF {
		t.Fatalf("parked connection closed by its peer ended with %v, want EOF", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if cut := l.Shutdown(ctx); cut != 0 {
		t.Fatalf("shutdown cut %d connections; the parked one should have been woken", cut)
	}
	if err := <-endings; !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("drained parked connection ended with %v, want the drain's wake-up", err)
	}
	select {
	case err := <-endings:
		t.Fatalf("a connection ended twice (%v)", err)
	default:
	}
}

// Shutdown past its deadline closes parked connections too.
func TestShutdownCutsParkedConnection(t *testing.T) {
	var parks atomic.Int64
	endings := make(chan error, 1)
	l, _ := loopListener(t, 1, func(ctx context.Context, c *Conn) {
		// Parks without marking itself idle: a drain lets it be.
		c.SetReadDeadline(time.Now().Add(time.Hour))
		defer c.AfterServe(func() { endings <- nil })
		if c.ParkIdle(func() { c.Fill() }) {
			parks.Add(1)
		}
	})
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	waitUntil(t, func() bool { return parks.Load() == 1 })
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if cut := l.Shutdown(ctx); cut != 1 {
		t.Fatalf("shutdown cut %d connections, want 1", cut)
	}
	<-endings
	if got := l.ActiveConnections(); got != 0 {
		t.Fatalf("%d active connections after shutdown", got)
	}
}

// In the goroutine model ParkIdle declines: the handler waits in Fill.
func TestParkIdleDeclinesWithoutLoop(t *testing.T) {
	_, server, _ := pair(t)
	if server.ParkIdle(func() {}) {
		t.Fatal("a connection without a loop parked")
	}
}
