//go:build linux

package network

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"sort"
	"sync"
	"syscall"
	"testing"
	"time"
)

// loopListener serves h on event loops at 127.0.0.1:0.
func loopListener(t *testing.T, loops int, h HandlerFunc) (*Listener, *LoopGroup) {
	return loopListenerOpts(t, loops, h, ListenerOptions{})
}

// loopListenerOpts is loopListener with listener options (Loops is set here).
func loopListenerOpts(t *testing.T, loops int, h HandlerFunc, opts ListenerOptions) (*Listener, *LoopGroup) {
	t.Helper()
	g, err := NewLoopGroup(loops, false)
	if err != nil {
		t.Fatal(err)
	}
	nl, err := Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	opts.Loops = g
	l := NewListener("loop", nl, h, opts)
	go l.Serve(context.Background())
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		l.Shutdown(ctx)
		g.Close()
	})
	return l, g
}

// echo answers every byte it reads, gathering what it has into one writev.
func echo(_ context.Context, c *Conn) {
	for {
		if err := c.Fill(); err != nil {
			return
		}
		b := c.Buffered()
		half := len(b) / 2
		if err := c.Writev(b[:half], b[half:]); err != nil {
			return
		}
		c.Discard(len(b))
	}
}

func TestLoopEchoesLargeStreamsBothWays(t *testing.T) {
	l, _ := loopListener(t, 2, echo)
	var wg sync.WaitGroup
	for i := range 4 { // several connections spread over both loops
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := net.Dial("tcp", l.Addr().String())
			if err != nil {
				t.Error(err)
				return
			}
			defer c.Close()
			// 8 MiB is far more than the socket buffers hold: the loop's
			// writes must wait for room while the client is still sending.
			msg := bytes.Repeat([]byte{byte('a' + i)}, 8<<20)
			go func() {
				c.Write(msg)
				c.(*net.TCPConn).CloseWrite()
			}()
			got, err := io.ReadAll(c)
			if err == nil && !bytes.Equal(got, msg) {
				err = errors.New("echo differs")
			}
			if err != nil {
				t.Errorf("conn %d: %v (got %d bytes)", i, err, len(got))
			}
		}()
	}
	wg.Wait()
}

func TestLoopReadDeadline(t *testing.T) {
	errc := make(chan error, 1)
	l, _ := loopListener(t, 1, func(_ context.Context, c *Conn) {
		c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
		errc <- c.Fill()
	})
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	select {
	case err := <-errc:
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("want a deadline error, got %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the deadline never fired")
	}
}

// A deadline moved later while the task waits must not fire at the old
// time, and must still fire at the new one.
func TestLoopDeadlineMovedLater(t *testing.T) {
	type result struct {
		err     error
		elapsed time.Duration
	}
	res := make(chan result, 1)
	l, _ := loopListener(t, 1, func(_ context.Context, c *Conn) {
		start := time.Now()
		c.SetReadDeadline(start.Add(30 * time.Millisecond))
		c.Go(func() { c.SetReadDeadline(start.Add(300 * time.Millisecond)) }).Wait()
		err := c.Fill()
		res <- result{err, time.Since(start)}
	})
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r := <-res
	if !errors.Is(r.err, os.ErrDeadlineExceeded) || r.elapsed < 300*time.Millisecond {
		t.Fatalf("got %v after %v, want a deadline error after 300ms", r.err, r.elapsed)
	}
}

// Shutdown wakes a connection idle in a read on its loop and closes it.
func TestLoopShutdownWakesIdleConnection(t *testing.T) {
	returned := make(chan error, 1)
	l, _ := loopListener(t, 1, func(_ context.Context, c *Conn) {
		c.SetReadDeadline(time.Now().Add(time.Hour))
		c.SetIdle(true)
		returned <- c.Fill()
	})
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	waitUntil(t, func() bool { return l.ActiveConnections() == 1 })
	time.Sleep(20 * time.Millisecond) // let the task park
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if cut := l.Shutdown(ctx); cut != 0 {
		t.Fatalf("shutdown cut %d connections; the idle one should have been woken", cut)
	}
	if err := <-returned; !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("idle read ended with %v", err)
	}
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("client read %v, want EOF", err)
	}
}

// A task dials upstream on its loop, streams to it from a second task
// while reading the answer, and sees connection errors as errors.
func TestLoopDialAndTasks(t *testing.T) {
	up, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer up.Close()
	go func() {
		for {
			c, err := up.Accept()
			if err != nil {
				return
			}
			go func() { io.Copy(c, c); c.Close() }()
		}
	}()
	refused, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refusedAddr := refused.Addr().String()
	refused.Close()

	type result struct {
		n       int
		err     error
		dialErr error
	}
	res := make(chan result, 1)
	const size = 4 << 20
	l, _ := loopListener(t, 1, func(_ context.Context, c *Conn) {
		var r result
		defer func() { res <- r }()
		if _, r.dialErr = DialFrom(context.Background(), c.Loop(), refusedAddr, time.Second, nil, 0); r.dialErr == nil {
			return
		}
		// By name: resolved off the loop.
		_, port, _ := net.SplitHostPort(up.Addr().String())
		u, err := DialFrom(context.Background(), c.Loop(), net.JoinHostPort("localhost", port), time.Second, nil, 0)
		if err != nil {
			r.err = err
			return
		}
		defer u.Close()
		writer := c.Go(func() {
			u.Write(bytes.Repeat([]byte("x"), size))
			u.CloseWrite()
		})
		for r.err == nil {
			r.err = u.Fill()
			r.n += len(u.Buffered())
			u.Discard(len(u.Buffered()))
		}
		writer.Wait()
	})
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r := <-res
	if !errors.Is(r.dialErr, syscall.ECONNREFUSED) {
		t.Errorf("dial to a closed port: %v, want connection refused", r.dialErr)
	}
	if r.n != size || r.err != io.EOF {
		t.Errorf("echoed %d bytes, ended with %v; want %d and EOF", r.n, r.err, size)
	}
}

func TestDeadlineHeapOrder(t *testing.T) {
	var h deadlineHeap
	in := []int64{50, 10, 40, 10, 30, 20, 60, 5}
	for _, w := range in {
		h.push(deadline{when: w})
	}
	var out []int64
	for len(h) > 0 {
		out = append(out, h.pop().when)
	}
	want := append([]int64(nil), in...)
	sort.Slice(want, func(i, j int) bool { return want[i] < want[j] })
	for i := range want {
		if out[i] != want[i] {
			t.Fatalf("popped %v, want %v", out, want)
		}
	}
}

func waitUntil(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in 5s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Connections over the listener's limit are closed by the loop that
// accepted them; those within it are served.
func TestLoopConnectionLimit(t *testing.T) {
	l, _ := loopListenerOpts(t, 2, echo, ListenerOptions{MaxConnections: 2})
	buf := make([]byte, 8)
	var kept []net.Conn
	for i := range 2 {
		c, err := net.Dial("tcp", l.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(5 * time.Second))
		c.Write([]byte("hi"))
		if n, err := io.ReadFull(c, buf[:2]); err != nil || string(buf[:n]) != "hi" {
			t.Fatalf("conn %d: %q %v", i, buf[:n], err)
		}
		kept = append(kept, c)
	}
	third, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer third.Close()
	third.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := third.Read(buf); err == nil {
		t.Fatal("connection over the limit was served")
	}
	if got := l.ActiveConnections(); got != 2 {
		t.Fatalf("%d active connections, want 2", got)
	}
	if got := l.Counters.ConnsRefused.Load(); got != 1 {
		t.Fatalf("%d connections counted as refused, want 1", got)
	}
	for _, c := range kept { // the first two still work
		c.Write([]byte("ok"))
		if _, err := io.ReadFull(c, buf[:2]); err != nil {
			t.Fatal(err)
		}
	}
}

// A short read drains the socket unless the peer's FIN is queued behind the
// bytes: then the next read must happen and returns EOF.
func TestEdgeReadShortReadAndFIN(t *testing.T) {
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_NONBLOCK, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(fds[0])
	defer syscall.Close(fds[1])
	buf := make([]byte, 64)
	syscall.Write(fds[1], []byte("abc"))
	if n, drained, err := EdgeRead(fds[0], buf, false); n != 3 || !drained || err != nil {
		t.Fatalf("short read: %d %v %v, want 3 drained", n, drained, err)
	}
	if n, drained, err := EdgeRead(fds[0], buf, false); n != 0 || !drained || err != nil {
		t.Fatalf("empty socket: %d %v %v, want EAGAIN as drained", n, drained, err)
	}
	syscall.Write(fds[1], []byte("def"))
	syscall.Shutdown(fds[1], syscall.SHUT_WR)
	if n, drained, err := EdgeRead(fds[0], buf, true); n != 3 || drained || err != nil {
		t.Fatalf("bytes then FIN: %d %v %v, want 3 not drained", n, drained, err)
	}
	if n, _, err := EdgeRead(fds[0], buf, true); n != 0 || err != io.EOF {
		t.Fatalf("after the bytes: %d %v, want EOF", n, err)
	}
}

// Several tasks writing one socket (a multiplexed protocol's answers) take
// its write lock: a write that waits for room does not let another task's
// bytes in between. InFlight holds the connection open until all are done.
func TestLoopWriteLockAndInFlight(t *testing.T) {
	const writers, size = 4, 4 << 20
	l, _ := loopListener(t, 1, func(_ context.Context, c *Conn) {
		if c.Fill() != nil {
			return
		}
		pending := NewInFlight(c)
		for i := range writers {
			pending.Add()
			c.Go(func() {
				defer pending.Done()
				msg := bytes.Repeat([]byte{byte('a' + i)}, size)
				c.LockWrite()
				defer c.UnlockWrite()
				c.Write(msg[:size/2])
				c.Write(msg[size/2:]) // two writes: one message under one lock
			})
		}
		pending.Wait()
	})
	// A small receive buffer makes the writers wait for room.
	d := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		return rc.Control(func(fd uintptr) { syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 64<<10) })
	}}
	c, err := d.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	c.Write([]byte{1})
	time.Sleep(20 * time.Millisecond)
	got, err := io.ReadAll(c)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != writers*size {
		t.Fatalf("read %d bytes, want %d", len(got), writers*size)
	}
	seen := map[byte]bool{}
	for off := 0; off < len(got); off += size {
		msg := got[off : off+size]
		if seen[msg[0]] || bytes.Count(msg, msg[:1]) != size {
			t.Fatalf("message at %d is not one writer's whole message (starts with %q)", off, msg[0])
		}
		seen[msg[0]] = true
	}
}

func TestLoopSendTimeout(t *testing.T) {
	res := make(chan error, 1)
	l, _ := loopListener(t, 1, func(_ context.Context, c *Conn) { res <- sendStalls(c) })
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := <-res; !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("write to a peer that does not read: %v, want a deadline error", err)
	}
	peers := make(chan net.Conn, 1)
	l, _ = loopListener(t, 1, func(_ context.Context, c *Conn) { res <- sendSlowly(c, <-peers) })
	if c, err = net.Dial("tcp", l.Addr().String()); err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	peers <- c
	if err := <-res; err != nil {
		t.Fatalf("write to a peer that reads slowly: %v", err)
	}
}

// passthrough wraps a socket the way a TLS layer would, adding nothing.
type passthrough struct{ net.Conn }

func (p passthrough) NetConn() net.Conn { return p.Conn }

// A connection whose socket is wrapped stays on its loop: it reports the
// loop, its second task is a task of that loop, its writes yield to the
// loop, and TryWrite refuses rather than block.
func TestLoopWrappedSocketStaysOnLoop(t *testing.T) {
	type result struct {
		loop    bool
		task    bool
		tryErr  error
		echoErr error
	}
	res := make(chan result, 1)
	l, _ := loopListener(t, 1, func(_ context.Context, c *Conn) {
		c.Wrap(func(nc net.Conn) net.Conn { return passthrough{nc} })
		var r result
		r.loop = c.Loop() != nil
		task := c.Go(func() {})
		r.task = task.ch == nil
		task.Wait()
		c.LockWrite()
		_, r.tryErr = c.TryWrite([]byte("x"))
		c.UnlockWrite()
		for r.echoErr == nil && len(c.Buffered()) < 4 {
			r.echoErr = c.Fill() // a wrapped connection's first Fill brings one byte
		}
		if r.echoErr == nil {
			r.echoErr = c.Writev(c.Buffered())
		}
		res <- r
	})
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write([]byte("ping"))
	r := <-res
	if !r.loop || !r.task {
		t.Errorf("wrapped connection: on its loop %v, second task a loop task %v; want both", r.loop, r.task)
	}
	if !errors.Is(r.tryErr, errNoTryWrite) {
		t.Errorf("TryWrite through a wrapper without one: %v, want errNoTryWrite", r.tryErr)
	}
	if r.echoErr != nil {
		t.Fatalf("echo through the wrapper: %v", r.echoErr)
	}
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	got, _ := io.ReadAll(io.LimitReader(c, 4))
	if string(got) != "ping" {
		t.Fatalf("echo %q, want ping", got)
	}
}

// Stale deadline entries (closed sockets, moved deadlines) do not pile up:
// past four per socket the heap keeps only the live ones, in order.
func TestDeadlineHeapDropsStaleEntries(t *testing.T) {
	l := &Loop{conns: make([]*fdConn, 8)}
	live := &fdConn{l: l, fd: 3, gen: 2}
	l.conns[3], l.sockets = live, 1
	live.rdl.Store(500)
	live.arm(false)
	live.wdl.Store(700)
	live.arm(true)
	for i := range 10000 { // sockets that came and went on descriptor 4
		l.pushDeadline(deadline{when: int64(1000 + i), fd: 4, gen: uint32(2 * (i + 2))})
	}
	if n := len(l.timers); n > 1030 {
		t.Fatalf("%d entries in the heap for one live socket", n)
	}
	var got []int64
	for len(l.timers) > 0 {
		e := l.timers.pop()
		if e.fd == 3 {
			got = append(got, e.when)
		}
	}
	if len(got) != 2 || got[0] != 500 || got[1] != 700 {
		t.Fatalf("live entries after compaction: %v, want [500 700]", got)
	}
}
