package boltrpc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mosnctl/mosnctl/internal/protocol/bolt"
)

// syncBuffer is a log sink safe for concurrent writers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startServer serves srv on 127.0.0.1:0 and closes it when the test ends.
func startServer(t *testing.T, srv *Server) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	t.Cleanup(func() {
		srv.Close()
		if err := <-served; !errors.Is(err, ErrServerClosed) {
			t.Errorf("Serve returned %v, want ErrServerClosed", err)
		}
	})
	return ln.Addr().String()
}

func dial(t *testing.T, addr string) *Client {
	t.Helper()
	c, err := Dial(context.Background(), addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// waitGoroutines polls until the goroutine count is back to at most want,
// failing with a dump if it never is. Polling, not sleeping a fixed time,
// keeps this correct on a loaded machine.
func waitGoroutines(t *testing.T, want int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		n := runtime.NumGoroutine()
		if n <= want {
			return
		}
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines, want <= %d:\n%s", n, want, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestCallEcho(t *testing.T) {
	addr := startServer(t, &Server{})
	c := dial(t, addr)
	tests := []struct {
		name string
		req  Request
	}{
		{"plain", Request{Service: "com.example.EchoService:1.0", Method: "echo", Content: []byte("hello")}},
		{"headers and timeout", Request{Service: "svc", Method: "m", Headers: map[string]string{"k": "v", bolt.HeaderTargetApp: "app"},
			Content: []byte{0, 1, 2}, Timeout: 5 * time.Second}},
		{"empty content", Request{Service: "svc", Method: "m"}},
		{"large content", Request{Service: "svc", Method: "big", Content: bytes.Repeat([]byte("x"), 1<<20)}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := c.Call(context.Background(), &tc.req)
			if err != nil {
				t.Fatal(err)
			}
			if resp.Status != bolt.StatusSuccess {
				t.Errorf("status %s", bolt.StatusText(resp.Status))
			}
			if !bytes.Equal(resp.Content, tc.req.Content) {
				t.Errorf("content: got %d bytes, want %d", len(resp.Content), len(tc.req.Content))
			}
			if resp.Headers[bolt.HeaderService] != tc.req.Service || resp.Headers[bolt.HeaderMethod] != tc.req.Method {
				t.Errorf("headers %v lack service/method", resp.Headers)
			}
			for k, v := range tc.req.Headers {
				if resp.Headers[k] != v {
					t.Errorf("header %s = %q, want %q", k, resp.Headers[k], v)
				}
			}
		})
	}
}

func TestHandlerSeesRequest(t *testing.T) {
	type seen struct {
		service, method, class string
		timeout                uint32
		codec                  byte
	}
	got := make(chan seen, 1)
	srv := &Server{Handler: func(req *bolt.Frame) (uint16, map[string]string, []byte) {
		svc, _ := req.Get(bolt.HeaderService)
		m, _ := req.Get(bolt.HeaderMethod)
		got <- seen{string(svc), string(m), string(req.Class), req.Timeout, req.Codec}
		return bolt.StatusNoProcessor, map[string]string{"why": "none"}, nil
	}}
	c := dial(t, startServer(t, srv))
	resp, err := c.Call(context.Background(), &Request{Service: "s:1.0", Method: "m", Timeout: 2500 * time.Millisecond, Codec: bolt.CodecJSON})
	if err != nil {
		t.Fatal(err)
	}
	if resp.Status != bolt.StatusNoProcessor || resp.Headers["why"] != "none" || resp.Content != nil {
		t.Errorf("response %+v", resp)
	}
	want := seen{"s:1.0", "m", bolt.ClassRequest, 2500, bolt.CodecJSON}
	if s := <-got; s != want {
		t.Errorf("handler saw %+v, want %+v", s, want)
	}
}

func TestConcurrentCalls(t *testing.T) {
	addr := startServer(t, &Server{})
	c := dial(t, addr)
	const n = 100
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			want := fmt.Appendf(nil, "call-%d-%s", i, strings.Repeat("p", i*37))
			resp, err := c.Call(context.Background(), &Request{Service: "svc", Method: "echo", Content: want,
				Headers: map[string]string{"i": fmt.Sprint(i)}})
			if err != nil {
				errs <- err
				return
			}
			if !bytes.Equal(resp.Content, want) || resp.Headers["i"] != fmt.Sprint(i) {
				errs <- fmt.Errorf("call %d got %q (headers %v)", i, resp.Content, resp.Headers)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestHeartbeat(t *testing.T) {
	called := make(chan struct{}, 1)
	srv := &Server{Handler: func(*bolt.Frame) (uint16, map[string]string, []byte) {
		called <- struct{}{}
		return bolt.StatusSuccess, nil, nil
	}}
	c := dial(t, startServer(t, srv))
	for range 3 {
		if err := c.Heartbeat(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case <-called:
		t.Error("a heartbeat reached the handler")
	default:
	}
}

func TestOneway(t *testing.T) {
	got := make(chan string, 1)
	srv := &Server{Handler: func(req *bolt.Frame) (uint16, map[string]string, []byte) {
		if !req.IsOneway() {
			return bolt.StatusSuccess, nil, req.Content
		}
		got <- string(req.Content)
		return bolt.StatusSuccess, nil, []byte("must not be sent")
	}}
	c := dial(t, startServer(t, srv))
	resp, err := c.Call(context.Background(), &Request{Service: "s", Method: "m", Content: []byte("fire"), Oneway: true})
	if resp != nil || err != nil {
		t.Fatalf("oneway Call = %v, %v; want nil, nil", resp, err)
	}
	if s := <-got; s != "fire" {
		t.Errorf("handler got %q", s)
	}
	// A normal call after it gets its own answer, not a stray one.
	resp, err = c.Call(context.Background(), &Request{Service: "s", Method: "m", Content: []byte("after")})
	if err != nil || string(resp.Content) != "after" {
		t.Fatalf("call after oneway = %v, %v", resp, err)
	}
}

func TestCallContextCancel(t *testing.T) {
	release := make(chan struct{})
	srv := &Server{Handler: func(req *bolt.Frame) (uint16, map[string]string, []byte) {
		if string(req.Content) == "block" {
			<-release
		}
		return bolt.StatusSuccess, nil, req.Content
	}}
	addr := startServer(t, srv)
	defer close(release)
	c := dial(t, addr)

	tests := []struct {
		name string
		ctx  func() (context.Context, context.CancelFunc)
		req  Request
		want error
	}{
		{"request timeout", func() (context.Context, context.CancelFunc) { return context.WithCancel(context.Background()) },
			Request{Service: "s", Method: "m", Content: []byte("block"), Timeout: 50 * time.Millisecond}, context.DeadlineExceeded},
		{"context deadline", func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(context.Background(), 50*time.Millisecond)
		}, Request{Service: "s", Method: "m", Content: []byte("block")}, context.DeadlineExceeded},
		{"cancelled before", func() (context.Context, context.CancelFunc) {
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			return ctx, cancel
		}, Request{Service: "s", Method: "m", Content: []byte("block")}, context.Canceled},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := tc.ctx()
			defer cancel()
			_, err := c.Call(ctx, &tc.req)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			c.mu.Lock()
			n := len(c.pending)
			c.mu.Unlock()
			if n != 0 {
				t.Errorf("%d pending entries left after cancel", n)
			}
		})
	}
	// The connection survives abandoned calls.
	if resp, err := c.Call(context.Background(), &Request{Service: "s", Method: "m", Content: []byte("ok")}); err != nil || string(resp.Content) != "ok" {
		t.Fatalf("call after cancels = %v, %v", resp, err)
	}
	if err := c.Err(); err != nil {
		t.Errorf("Err = %v on a live client", err)
	}
}

func TestServerCloseFailsPendingCalls(t *testing.T) {
	before := runtime.NumGoroutine()
	func() {
		release := make(chan struct{})
		entered := make(chan struct{}, 10)
		srv := &Server{Handler: func(req *bolt.Frame) (uint16, map[string]string, []byte) {
			entered <- struct{}{}
			<-release
			return bolt.StatusSuccess, nil, nil
		}}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		served := make(chan error, 1)
		go func() { served <- srv.Serve(ln) }()
		c, err := Dial(context.Background(), ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		const calls = 5
		errs := make(chan error, calls)
		for range calls {
			go func() {
				_, err := c.Call(context.Background(), &Request{Service: "s", Method: "m"})
				errs <- err
			}()
		}
		for range calls {
			<-entered
		}
		closed := make(chan struct{})
		go func() {
			srv.Close()
			close(closed)
		}()
		for range calls {
			if err := <-errs; err == nil {
				t.Error("pending call succeeded after server close")
			}
		}
		if err := c.Err(); err == nil {
			t.Error("client Err = nil after the server closed the connection")
		}
		if _, err := c.Call(context.Background(), &Request{Service: "s", Method: "m"}); err == nil {
			t.Error("call on a dead client succeeded")
		}
		close(release) // lets Close finish waiting for the handlers
		<-closed
		if err := <-served; !errors.Is(err, ErrServerClosed) {
			t.Errorf("Serve = %v", err)
		}
		c.Close()
	}()
	waitGoroutines(t, before)
}

func TestClientCloseFailsPendingCalls(t *testing.T) {
	release := make(chan struct{})
	srv := &Server{Handler: func(req *bolt.Frame) (uint16, map[string]string, []byte) {
		<-release
		return bolt.StatusSuccess, nil, nil
	}}
	addr := startServer(t, srv)
	defer close(release)
	c := dial(t, addr)
	errc := make(chan error, 1)
	go func() {
		_, err := c.Call(context.Background(), &Request{Service: "s", Method: "m"})
		errc <- err
	}()
	// Wait until the call is pending before closing.
	for {
		c.mu.Lock()
		n := len(c.pending)
		c.mu.Unlock()
		if n == 1 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	c.Close()
	if err := <-errc; !errors.Is(err, ErrClientClosed) {
		t.Errorf("pending call err = %v, want ErrClientClosed", err)
	}
	if !errors.Is(c.Err(), ErrClientClosed) {
		t.Errorf("Err = %v", c.Err())
	}
	if err := c.Heartbeat(context.Background()); !errors.Is(err, ErrClientClosed) {
		t.Errorf("heartbeat after close = %v", err)
	}
}

func TestMalformedInputClosesOnlyThatConnection(t *testing.T) {
	logs := &syncBuffer{}
	srv := &Server{Logger: slog.New(slog.NewTextHandler(logs, nil))}
	addr := startServer(t, srv)
	good := dial(t, addr)

	tests := []struct {
		name string
		raw  []byte
		log  string
	}{
		{"garbage", []byte("GET / HTTP/1.1\r\n\r\n"), "protocol code 0x47"},
		{"bad type", []byte{0x01, 0x09, 0, 1}, "unknown command type 0x09"},
		{"oversized", func() []byte {
			b := bolt.AppendFrame(nil, &bolt.Frame{Type: bolt.TypeRequest, CmdCode: bolt.CmdRequest})
			b[18], b[19], b[20], b[21] = 0x7f, 0xff, 0xff, 0xff
			return b
		}(), "exceeds limit"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			conn, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			if _, err := conn.Write(tc.raw); err != nil {
				t.Fatal(err)
			}
			// The server must hang up: the read ends with EOF (or a reset).
			_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
			_, err = io.Copy(io.Discard, conn)
			if ne, ok := errors.AsType[net.Error](err); ok && ne.Timeout() {
				t.Fatal("server kept the connection open")
			}
			if !strings.Contains(logs.String(), tc.log) {
				t.Errorf("log lacks %q:\n%s", tc.log, logs.String())
			}
			if resp, err := good.Call(context.Background(), &Request{Service: "s", Method: "m", Content: []byte("still")}); err != nil || string(resp.Content) != "still" {
				t.Fatalf("other connection broken: %v, %v", resp, err)
			}
		})
	}
	if !strings.Contains(logs.String(), "malformed frame") {
		t.Errorf("no malformed frame log:\n%s", logs.String())
	}
}

func TestServerIgnoresResponsesAndAnswersSplitWrites(t *testing.T) {
	addr := startServer(t, &Server{})
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var out []byte
	// A stray response, then a request written one byte at a time.
	out = bolt.AppendErrorResponse(out, 99, bolt.CodecHessian2, bolt.StatusTimeout)
	req := bolt.AppendFrame(nil, &bolt.Frame{Type: bolt.TypeRequest, CmdCode: bolt.CmdRequest, Version: 1,
		RequestID: 7, Codec: bolt.CodecHessian2, Content: []byte("split")})
	if _, err := conn.Write(out); err != nil {
		t.Fatal(err)
	}
	for i := range req {
		if _, err := conn.Write(req[i : i+1]); err != nil {
			t.Fatal(err)
		}
	}
	fr := newFrameReader(conn, 0)
	var f bolt.Frame
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := fr.next(&f); err != nil {
		t.Fatal(err)
	}
	if f.Type != bolt.TypeResponse || f.RequestID != 7 || string(f.Content) != "split" || string(f.Class) != bolt.ClassResponse {
		t.Errorf("answer %+v", f)
	}
}

func TestHandlerPanicAnswersServerException(t *testing.T) {
	srv := &Server{Handler: func(*bolt.Frame) (uint16, map[string]string, []byte) { panic("boom") }}
	c := dial(t, startServer(t, srv))
	resp, err := c.Call(context.Background(), &Request{Service: "s", Method: "m"})
	if err != nil {
		t.Fatal(err)
	}
	if resp.Status != bolt.StatusServerException {
		t.Errorf("status %s, want server exception", bolt.StatusText(resp.Status))
	}
}

func TestClientAnswersServerHeartbeat(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		conn, err := ln.Accept()
		if err == nil {
			accepted <- conn
		}
	}()
	c := dial(t, ln.Addr().String())
	conn := <-accepted
	defer conn.Close()
	if _, err := conn.Write(bolt.AppendHeartbeat(nil, 31, bolt.CodecHessian2, 1000)); err != nil {
		t.Fatal(err)
	}
	fr := newFrameReader(conn, 0)
	var f bolt.Frame
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := fr.next(&f); err != nil {
		t.Fatal(err)
	}
	if f.Type != bolt.TypeResponse || !f.IsHeartbeat() || f.RequestID != 31 {
		t.Errorf("heartbeat answer %+v", f)
	}
	if err := c.Err(); err != nil {
		t.Errorf("client died answering a heartbeat: %v", err)
	}
}
