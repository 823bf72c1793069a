package network

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/bytebufferpool"
)

func pair(t *testing.T) (client net.Conn, server *Conn, counters *Counters) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	client, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	counters = &Counters{}
	server = NewConn(<-accepted, counters, 64<<10)
	t.Cleanup(func() { client.Close(); server.Close(); server.FreeBuffer() })
	return client, server, counters
}

func TestConnBufferGrowsCompactsAndLimits(t *testing.T) {
	client, c, counters := pair(t)
	msg := bytes.Repeat([]byte("a"), 40<<10) // larger than the initial buffer
	go client.Write(msg)
	for len(c.Buffered()) < len(msg) {
		if err := c.Fill(); err != nil {
			t.Fatalf("fill: %v", err)
		}
	}
	if !bytes.Equal(c.Buffered(), msg) {
		t.Fatal("buffered bytes differ from what was sent")
	}
	c.Discard(len(msg) - 10)
	go client.Write([]byte("0123456789"))
	for len(c.Buffered()) < 20 {
		if err := c.Fill(); err != nil {
			t.Fatalf("fill: %v", err)
		}
	}
	if got := string(c.Buffered()); got != "aaaaaaaaaa0123456789" {
		t.Fatalf("after compaction: %q", got)
	}
	if counters.BytesIn.Load() != uint64(len(msg)+10) {
		t.Errorf("bytes in = %d", counters.BytesIn.Load())
	}
	// A message over the limit (64 KiB here) fills the buffer: ErrBufferFull.
	go client.Write(bytes.Repeat([]byte("b"), 80<<10))
	var err error
	for err == nil {
		err = c.Fill()
	}
	if !errors.Is(err, ErrBufferFull) {
		t.Fatalf("want ErrBufferFull, got %v", err)
	}
}

// SetMaxBuffer raises the limit for a protocol with large messages; a
// buffer grown past maxPooledBufferSize for one goes to the garbage
// collector, not back to the pool, when released.
func TestConnSetMaxBufferDropsGrownBuffer(t *testing.T) {
	client, c, _ := pair(t) // a 64 KiB limit
	c.SetMaxBuffer(256 << 10)
	msg := bytes.Repeat([]byte("m"), 200<<10)
	go client.Write(msg)
	for len(c.Buffered()) < len(msg) {
		if err := c.Fill(); err != nil {
			t.Fatalf("fill past the old limit: %v", err)
		}
	}
	grown := c.bb
	c.Discard(len(msg))
	c.Release()
	if c.bb != nil {
		t.Fatal("the buffer is kept after Release")
	}
	for range 4 {
		if b := bytebufferpool.Get(); b == grown {
			t.Fatalf("a %d-byte buffer went back to the pool", cap(b.B))
		}
	}
}

func TestConnWritevAndRelease(t *testing.T) {
	client, c, counters := pair(t)
	if err := c.Writev([]byte("head "), []byte("body "), []byte("tail")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 14)
	if _, err := io.ReadFull(client, buf); err != nil || string(buf) != "head body tail" {
		t.Fatalf("got %q %v", buf, err)
	}
	if counters.BytesOut.Load() != 14 {
		t.Errorf("bytes out = %d", counters.BytesOut.Load())
	}
	c.Release() // nothing buffered: the buffer goes back to the pool
	if c.Buffered() != nil {
		t.Error("idle connection still holds a buffer")
	}
}

func TestListenerLimitAndShutdown(t *testing.T) {
	ln, err := Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var busy atomic.Int32
	release := make(chan struct{})
	h := HandlerFunc(func(ctx context.Context, c *Conn) {
		// Echo one line, then wait idle for the next; "slow" stays busy
		// until released.
		for {
			c.SetIdle(true)
			if err := c.Fill(); err != nil {
				return
			}
			if !c.SetIdle(false) && len(c.Buffered()) == 0 {
				return
			}
			line := string(c.Buffered())
			c.Discard(len(line))
			if strings.HasPrefix(line, "slow") {
				busy.Add(1)
				<-release
			}
			c.Write([]byte("ok:" + line))
			if c.Draining() {
				return
			}
		}
	})
	l := NewListener("t", ln, h, ListenerOptions{MaxConnections: 2})
	go l.Serve(context.Background())
	dial := func() net.Conn {
		c, err := net.Dial("tcp", l.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(5 * time.Second))
		return c
	}
	idle, slow := dial(), dial()
	defer idle.Close()
	defer slow.Close()
	io.WriteString(idle, "x")
	buf := make([]byte, 64)
	if n, err := idle.Read(buf); err != nil || string(buf[:n]) != "ok:x" {
		t.Fatalf("idle conn: %q %v", buf[:n], err)
	}
	io.WriteString(slow, "slow")
	for busy.Load() == 0 {
		time.Sleep(5 * time.Millisecond)
	}
	// A third connection is over the limit: closed at once.
	third := dial()
	if _, err := third.Read(buf); err == nil {
		t.Fatal("connection over the limit was served")
	}
	third.Close()
	if got := l.Counters.ConnsRefused.Load(); got != 1 {
		t.Errorf("%d connections counted as refused, want 1", got)
	}

	done := make(chan int, 1)
	go func() { done <- l.Shutdown(context.Background()) }()
	// The idle connection is closed by the drain; the busy one finishes.
	if _, err := idle.Read(buf); err == nil {
		t.Fatal("idle connection not closed by the drain")
	}
	close(release)
	if n, err := slow.Read(buf); err != nil || string(buf[:n]) != "ok:slow" {
		t.Fatalf("busy connection during drain: %q %v", buf[:n], err)
	}
	if cut := <-done; cut != 0 {
		t.Errorf("drain cut %d connections, want 0", cut)
	}
	if _, err := net.Dial("tcp", l.Addr().String()); err == nil {
		t.Error("listener accepts after shutdown")
	}
}

func TestShutdownCutsAtDeadline(t *testing.T) {
	ln, err := Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	started := make(chan struct{}, 1)
	h := HandlerFunc(func(ctx context.Context, c *Conn) {
		started <- struct{}{}
		c.Fill() // busy (never marked idle) until the connection is cut
	})
	l := NewListener("t", ln, h, ListenerOptions{})
	go l.Serve(context.Background())
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	<-started
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if cut := l.Shutdown(ctx); cut != 1 {
		t.Fatalf("cut %d, want 1", cut)
	}
}

// sendStalls writes to a peer that never reads until the send timeout
// fails the write, and reports what the writes ended with.
func sendStalls(c *Conn) error {
	c.SetSendTimeout(200 * time.Millisecond)
	chunk := make([]byte, 1<<20)
	for range 256 { // far beyond what the sockets buffer
		if _, err := c.Write(chunk); err != nil {
			return err
		}
	}
	return nil
}

// sendSlowly writes 32 MiB to a peer reading 256 KiB every 20 ms: the
// sockets take a few MiB at once, the rest takes over two seconds, past the
// send timeout, which bounds each wait, not the total. A second per wait
// leaves a loaded machine room to schedule the reader.
func sendSlowly(c *Conn, peer net.Conn) error {
	c.SetSendTimeout(time.Second)
	go func() {
		buf := make([]byte, 256<<10)
		for {
			time.Sleep(20 * time.Millisecond)
			if _, err := io.ReadFull(peer, buf); err != nil {
				return
			}
		}
	}()
	chunk := make([]byte, 64<<10)
	for range 512 {
		if _, err := c.Write(chunk); err != nil {
			return err
		}
	}
	return nil
}

func TestSendTimeout(t *testing.T) {
	_, c, _ := pair(t)
	if err := sendStalls(c); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("write to a peer that does not read: %v, want a deadline error", err)
	}
	peer, c, _ := pair(t)
	if err := sendSlowly(c, peer); err != nil {
		t.Fatalf("write to a peer that reads slowly: %v", err)
	}
}

// recordConn reads its socket a whole record at a time and hands the
// record out as asked, as a TLS layer does.
type recordConn struct {
	net.Conn
	size   int
	record []byte
}

func (r *recordConn) NetConn() net.Conn { return r.Conn }
func (r *recordConn) ReadAhead() bool   { return len(r.record) > 0 }

func (r *recordConn) Read(b []byte) (int, error) {
	if len(r.record) == 0 {
		buf := make([]byte, r.size)
		if _, err := io.ReadFull(r.Conn, buf); err != nil {
			return 0, err
		}
		r.record = buf
	}
	n := copy(b, r.record)
	r.record = r.record[n:]
	return n, nil
}

// A reader that consumes everything and releases its buffer between
// reads (as the HTTP/2 readers do) gets a wrapped connection's record in
// two reads (its first byte, then the rest), not a byte at a time; once
// the record is taken, the buffer goes back to the pool.
func TestConnWrappedReadsRecordsWhole(t *testing.T) {
	client, c, _ := pair(t)
	const record, records = 4 << 10, 16
	c.Wrap(func(nc net.Conn) net.Conn { return &recordConn{Conn: nc, size: record} })
	go client.Write(bytes.Repeat([]byte("x"), record*records))
	fills, total := 0, 0
	for total < record*records {
		if len(c.Buffered()) == 0 {
			c.Release()
		}
		if err := c.Fill(); err != nil {
			t.Fatal(err)
		}
		fills++
		total += len(c.Buffered())
		c.Discard(len(c.Buffered()))
	}
	if fills > 2*records {
		t.Errorf("%d fills for %d records, want at most 2 each", fills, records)
	}
	c.Release()
	if c.Buffered() != nil || c.bb != nil {
		t.Error("a wrapped connection whose record was read whole still holds its buffer")
	}
}

// SendRoom answers from the kernel's count: less room once bytes wait in
// the socket for a peer that does not read, and no allocation to ask.
func TestConnSendRoom(t *testing.T) {
	_, c, _ := pair(t)
	empty, ok := c.SendRoom()
	if !ok {
		t.Skip("the socket can't be asked here")
	}
	if empty <= 0 {
		t.Fatalf("room of an empty socket: %d", empty)
	}
	// The peer reads nothing: once its receive buffer is full, bytes
	// wait in ours until it takes no more.
	chunk := make([]byte, 64<<10)
	for total := 0; ; total += len(chunk) {
		n, err := c.TryWrite(chunk)
		if err != nil {
			t.Fatal(err)
		}
		if n < len(chunk) || total > 256<<20 {
			break
		}
	}
	if room, _ := c.SendRoom(); room >= empty {
		t.Errorf("room %d with the socket full, %d empty: want less", room, empty)
	}
	if n := testing.AllocsPerRun(100, func() { c.SendRoom() }); n != 0 {
		t.Errorf("SendRoom allocates %.0f times", n)
	}
}
