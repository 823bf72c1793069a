package network

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"net"
	"os"
	"sync/atomic"
	"testing"
	"time"
)

// lineHandler echoes each line prefixed with its tag, offering the
// connection for handoff at idle points the way the stream loops do.
func lineHandler(tag string) HandlerFunc {
	return func(_ context.Context, c *Conn) {
		for {
			if c.Draining() && c.Handoff("line") {
				return
			}
			if i := bytes.IndexByte(c.Buffered(), '\n'); i >= 0 {
				c.Write(append([]byte(tag+":"), c.Buffered()[:i+1]...))
				c.Discard(i + 1)
				continue
			}
			if len(c.Buffered()) == 0 {
				c.Release()
				if !c.SetIdle(true) {
					c.Handoff("line")
					return
				}
			}
			err := c.Fill()
			if !c.SetIdle(false) && err != nil {
				if errors.Is(err, os.ErrDeadlineExceeded) {
					c.Handoff("line")
				}
				return
			}
			if err != nil {
				return
			}
		}
	}
}

func serveListener(t *testing.T, name string, h Handler) *Listener {
	t.Helper()
	ln, err := Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := NewListener(name, ln, h, ListenerOptions{})
	go l.Serve(context.Background())
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		l.Shutdown(ctx)
	})
	return l
}

// TestHandoffMovesIdleConnection drains listener A with a handoff function
// that passes each connection (a duplicate of its socket and its unread
// bytes) to listener B: the client keeps its connection and B answers.
func TestHandoffMovesIdleConnection(t *testing.T) {
	a := serveListener(t, "a", lineHandler("A"))
	b := serveListener(t, "b", lineHandler("B"))
	var handed atomic.Int32
	a.SetHandoff(func(c *Conn, protocol string) bool {
		if protocol != "line" {
			t.Errorf("protocol %q", protocol)
		}
		f, err := c.NetConn().(*net.TCPConn).File()
		if err != nil {
			t.Error(err)
			return false
		}
		nc, err := net.FileConn(f)
		f.Close()
		if err != nil {
			t.Error(err)
			return false
		}
		handed.Add(1)
		return b.Adopt(context.Background(), nc, c.Buffered(), nil)
	})

	client, err := net.Dial("tcp", a.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	client.SetDeadline(time.Now().Add(5 * time.Second))
	r := bufio.NewReader(client)
	exchange := func(line, want string) {
		t.Helper()
		if _, err := client.Write([]byte(line)); err != nil {
			t.Fatal(err)
		}
		got, err := r.ReadString('\n')
		if err != nil || got != want {
			t.Fatalf("sent %q: got %q, %v; want %q", line, got, err, want)
		}
	}
	exchange("one\n", "A:one\n")

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if cut := a.Shutdown(ctx); cut != 0 {
		t.Fatalf("shutdown cut %d connections", cut)
	}
	if handed.Load() != 1 {
		t.Fatalf("handed over %d connections, want 1", handed.Load())
	}
	exchange("two\n", "B:two\n")
	if n := b.ActiveConnections(); n != 1 {
		t.Errorf("listener b tracks %d connections, want 1", n)
	}
	if n := a.ActiveConnections(); n != 0 {
		t.Errorf("listener a still has %d connections", n)
	}
}

// TestAdoptServesBufferedBytesFirst: bytes the previous owner read but did
// not process are served before anything read from the socket.
func TestAdoptServesBufferedBytesFirst(t *testing.T) {
	b := serveListener(t, "b", lineHandler("B"))
	client, server, _ := pair(t)
	client.SetDeadline(time.Now().Add(5 * time.Second))
	if !b.Adopt(context.Background(), server.NetConn(), []byte("early\nhalf"), nil) {
		t.Fatal("adopt refused")
	}
	r := bufio.NewReader(client)
	if got, _ := r.ReadString('\n'); got != "B:early\n" {
		t.Fatalf("got %q", got)
	}
	client.Write([]byte("-done\n"))
	if got, _ := r.ReadString('\n'); got != "B:half-done\n" {
		t.Fatalf("got %q", got)
	}
}

// TestHandoffRefusedClosesAsBefore: without a handoff function (or when it
// declines) a draining idle connection closes as it always did.
func TestHandoffRefusedClosesAsBefore(t *testing.T) {
	a := serveListener(t, "a", lineHandler("A"))
	a.SetHandoff(func(*Conn, string) bool { return false })
	client, err := net.Dial("tcp", a.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	client.SetDeadline(time.Now().Add(5 * time.Second))
	client.Write([]byte("x\n"))
	r := bufio.NewReader(client)
	r.ReadString('\n')
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	a.Shutdown(ctx)
	if _, err := r.ReadString('\n'); err == nil {
		t.Fatal("connection still open after drain")
	}
}
