package network

import (
	"context"
	"errors"
	"io"
	"net"
	"testing"
	"time"
)

// CheckIdle sees bytes and a close that arrive on a connection nobody reads,
// in both IO models, without consuming them.
func TestCheckIdle(t *testing.T) {
	for _, model := range []string{"goroutine", "netpoll"} {
		t.Run(model, func(t *testing.T) {
			up, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer up.Close()
			stray, hangUp, done := make(chan struct{}), make(chan struct{}), make(chan struct{})
			go func() {
				c, err := up.Accept()
				if err != nil {
					return
				}
				c.Write([]byte("hello"))
				<-stray
				c.Write([]byte("stray")) // on loopback, queued at the peer when Write returns
				done <- struct{}{}
				<-hangUp
				c.Close()
				done <- struct{}{}
			}()

			got := make(chan []error, 1)
			handler := func(_ context.Context, c *Conn) {
				var errs []error
				defer func() { got <- errs }()
				u, err := DialFrom(context.Background(), c.Loop(), up.Addr().String(), time.Second, nil, 0)
				if err != nil {
					errs = append(errs, err)
					return
				}
				defer func() { u.Close(); u.FreeBuffer() }()
				for len(u.Buffered()) < len("hello") {
					if err := u.Fill(); err != nil {
						errs = append(errs, err)
						return
					}
				}
				u.Discard(len("hello"))
				// Each step waits for the test's byte, then lets the loop go
				// through an epoll wait, as it does between the requests of
				// a connection (reading one that was already there does not).
				for range 3 {
					c.Sleep(time.Millisecond)
					errs = append(errs, u.CheckIdle())
					c.Write([]byte("."))
					if err := c.Fill(); err != nil {
						return
					}
					c.Discard(len(c.Buffered()))
				}
			}
			var l *Listener
			if model == "netpoll" {
				l, _ = loopListener(t, 1, handler)
			} else {
				nl, err := Listen("tcp", "127.0.0.1:0")
				if err != nil {
					t.Fatal(err)
				}
				l = NewListener("plain", nl, HandlerFunc(handler), ListenerOptions{})
				go l.Serve(context.Background())
				defer l.Close()
			}
			c, err := net.Dial("tcp", l.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			step := func(next chan struct{}) {
				var b [1]byte
				if _, err := io.ReadFull(c, b[:]); err != nil {
					t.Fatal(err)
				}
				if next != nil {
					next <- struct{}{}
					<-done
				}
				c.Write([]byte("!"))
			}
			step(stray)
			step(hangUp)
			step(nil)
			errs := <-got
			if len(errs) != 3 {
				t.Fatalf("got %v, want three verdicts", errs)
			}
			if errs[0] != nil {
				t.Errorf("clean idle connection: %v, want nil", errs[0])
			}
			if !errors.Is(errs[1], ErrUnsolicited) {
				t.Errorf("after stray bytes: %v, want ErrUnsolicited", errs[1])
			}
			// The stray bytes are still queued (CheckIdle consumed nothing),
			// so a closed peer still reads as bytes first.
			if !errors.Is(errs[2], ErrUnsolicited) {
				t.Errorf("after stray bytes and FIN: %v, want ErrUnsolicited", errs[2])
			}
		})
	}
}

// A connection whose peer closed while it idled reads io.EOF.
func TestCheckIdleEOF(t *testing.T) {
	client, c, _ := pair(t)
	if err := c.CheckIdle(); err != nil {
		t.Fatalf("fresh connection: %v", err)
	}
	client.Close()
	waitUntil(t, func() bool { return errors.Is(c.CheckIdle(), io.EOF) })
}
