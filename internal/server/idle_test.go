package server

import (
	"bytes"
	"cmp"
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mosnctl/mosnctl/internal/protocol/bolt"
	"github.com/mosnctl/mosnctl/internal/protocol/http1"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// idleRequest sends one request on c and reads its whole response, leaving
// c an idle keep-alive connection; proto is "http1" or "bolt" ("tcp": an
// HTTP/1 exchange through a tcp_proxy).
func idleRequest(c net.Conn, proto string, buf []byte) error {
	c.SetDeadline(time.Now().Add(10 * time.Second))
	defer c.SetDeadline(time.Time{})
	if proto == "bolt" {
		return boltRoundTrip(c, buf)
	}
	if _, err := io.WriteString(c, "GET /idle HTTP/1.1\r\nHost: idle\r\n\r\n"); err != nil {
		return err
	}
	var resp http1.Response
	return readReply(c, buf, func(b []byte) error {
		h, err := http1.ParseResponse(b, &resp, http1.Limits{})
		switch {
		case err != nil:
			return err
		case resp.Status != 200 || resp.ContentLength < 0:
			return fmt.Errorf("response %d, content length %d", resp.Status, resp.ContentLength)
		case len(b) < h+int(resp.ContentLength):
			return http1.ErrNeedMore
		}
		return nil
	})
}

// readReply reads c into buf until check, given all bytes so far, says the
// reply is complete (nil) or wrong; it answers http1.ErrNeedMore or
// bolt.ErrNeedMore to ask for more.
func readReply(c net.Conn, buf []byte, check func([]byte) error) error {
	n := 0
	for {
		m, err := c.Read(buf[n:])
		if err != nil {
			return err
		}
		n += m
		if err := check(buf[:n]); err != http1.ErrNeedMore && err != bolt.ErrNeedMore {
			return err
		}
	}
}

// boltEchoRequest is an encoded Bolt request that the proxy's test config
// routes to an echo service.
var boltEchoRequest = bolt.AppendFrame(nil, &bolt.Frame{
	Type: bolt.TypeRequest, CmdCode: bolt.CmdRequest, Version: bolt.CommandVersion, RequestID: 1,
	Codec: bolt.CodecHessian2, Timeout: 5000, Class: []byte("com.alipay.sofa.rpc.core.request.SofaRequest"),
	Header:  bolt.AppendHeader(bolt.AppendHeader(nil, bolt.HeaderService, "com.example.EchoService:1.0"), bolt.HeaderMethod, "m"),
	Content: []byte("idle"),
})

func boltRoundTrip(c net.Conn, buf []byte) error {
	if _, err := c.Write(boltEchoRequest); err != nil {
		return err
	}
	return readReply(c, buf, func(b []byte) error {
		var f bolt.Frame
		if _, err := bolt.Decode(b, &f, 0); err != nil {
			return err
		}
		if f.Status != bolt.StatusSuccess || !bytes.Equal(f.Content, []byte("idle")) {
			return fmt.Errorf("bolt answer: status %d, content %q", f.Status, f.Content)
		}
		return nil
	})
}

// In the netpoll model an idle connection holds no task: the goroutine
// count (loop tasks are coroutines, each a goroutine) does not grow with
// idle HTTP/1, Bolt and HTTP/2 connections.
func TestIdleConnectionsHoldNoGoroutine(t *testing.T) {
	if testIOModel == "goroutine" || defaultIOModel() != "netpoll" {
		t.Skip("the goroutine model keeps a goroutine per connection")
	}
	origin, _ := startOrigin(t, echoOrigin())
	h := startProxy(t, httpProxyConfig("LB_ROUNDROBIN", "", origin))
	b := startProxy(t, boltProxyConfig("bolt", "", startBoltServer(t, slowAwareEcho)))
	h2origin := startH2cOrigin(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "idle") }))
	h2 := startProxy(t, h2ProxyConfig("Http2", "Http2", "", h2origin))
	buf := make([]byte, 16<<10)
	open := func(addr, proto string, n int) []net.Conn {
		var cs []net.Conn
		for range n {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { c.Close() })
			if err := idleRequest(c, proto, buf); err != nil {
				t.Fatalf("%s request: %v", proto, err)
			}
			cs = append(cs, c)
		}
		return cs
	}
	var h2s []*h2IdleConn
	openH2 := func(n int) {
		for range n {
			c := dialH2Idle(t, h2.addr("in"))
			if err := c.request(); err != nil {
				t.Fatalf("http2 request: %v", err)
			}
			h2s = append(h2s, c)
		}
	}
	open(h.addr("in"), "http1", 2) // warm the pools, the workers
	open(b.addr("in"), "bolt", 2)
	openH2(2)
	time.Sleep(100 * time.Millisecond)
	before := runtime.NumGoroutine()
	const n = 200
	hs := open(h.addr("in"), "http1", n)
	bs := open(b.addr("in"), "bolt", n)
	openH2(n)
	time.Sleep(100 * time.Millisecond)
	if after := runtime.NumGoroutine(); after-before > 20 {
		t.Fatalf("%d goroutines with %d more idle connections, %d before: idle connections hold tasks", after, 3*n, before)
	}
	for i := range n { // every one is served again
		if err := idleRequest(hs[i], "http1", buf); err != nil {
			t.Fatalf("http1 connection %d: %v", i, err)
		}
		if err := idleRequest(bs[i], "bolt", buf); err != nil {
			t.Fatalf("bolt connection %d: %v", i, err)
		}
		if err := h2s[i+2].request(); err != nil {
			t.Fatalf("http2 connection %d: %v", i, err)
		}
	}
}

// h2IdleConn is a bare h2c client connection (prior knowledge) that sends
// one GET at a time and reads its whole response.
type h2IdleConn struct {
	c    net.Conn
	fr   *http2.Framer
	hbuf bytes.Buffer
	enc  *hpack.Encoder
	next uint32
}

func dialH2Idle(t *testing.T, addr string) *h2IdleConn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	h, err := newH2Idle(c)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// newH2Idle starts an h2c client connection on c: the preface and SETTINGS.
func newH2Idle(c net.Conn) (*h2IdleConn, error) {
	h := &h2IdleConn{c: c, fr: http2.NewFramer(c, c), next: 1}
	h.enc = hpack.NewEncoder(&h.hbuf)
	if _, err := io.WriteString(c, http2.ClientPreface); err != nil {
		return nil, err
	}
	return h, h.fr.WriteSettings()
}

// request sends GET /idle and reads frames until its response ends.
func (h *h2IdleConn) request() error {
	h.c.SetDeadline(time.Now().Add(10 * time.Second))
	defer h.c.SetDeadline(time.Time{})
	h.hbuf.Reset()
	for _, f := range [][2]string{{":method", "GET"}, {":scheme", "http"}, {":authority", "idle"}, {":path", "/idle"}} {
		h.enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
	}
	id := h.next
	h.next += 2
	if err := h.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: h.hbuf.Bytes(), EndStream: true, EndHeaders: true}); err != nil {
		return err
	}
	for {
		f, err := h.fr.ReadFrame()
		if err != nil {
			return err
		}
		switch f := f.(type) {
		case *http2.SettingsFrame:
			if !f.IsAck() {
				h.fr.WriteSettingsAck()
			}
		case *http2.PingFrame:
			if !f.IsAck() {
				h.fr.WritePing(true, f.Data)
			}
		case *http2.RSTStreamFrame:
			if f.StreamID == id {
				return fmt.Errorf("stream reset: %v", f.ErrCode)
			}
		case *http2.GoAwayFrame:
			return fmt.Errorf("goaway: %v", f.ErrCode)
		case *http2.HeadersFrame:
			if f.StreamID == id && f.StreamEnded() {
				return nil
			}
		case *http2.DataFrame:
			if f.StreamID == id && f.StreamEnded() {
				return nil
			}
		}
	}
}

var burstConns = flag.Int("burst-conns", 300, "TestAcceptBurst: connections opened at once")

// A burst of connections opened at once is accepted and served without an
// error (make idle-bench runs it with 5000).
func TestAcceptBurst(t *testing.T) {
	n := *burstConns
	var lim syscall.Rlimit
	syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim)
	if need := uint64(3*n + 256); lim.Cur < need { // client, proxy and origin sides
		t.Skipf("RLIMIT_NOFILE %d is below the %d descriptors %d connections need", lim.Cur, need, n)
	}
	h := startProxy(t, httpProxyConfig("LB_ROUNDROBIN", "", rawOrigin(t)))
	b := startProxy(t, boltProxyConfig("bolt", "", startBoltServer(t, slowAwareEcho)))
	for _, tc := range []struct{ proto, addr string }{{"http1", h.addr("in")}, {"bolt", b.addr("in")}} {
		start := make(chan struct{})
		errs := make(chan error, n)
		conns := make(chan net.Conn, n)
		var wg sync.WaitGroup
		for range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				c, err := net.DialTimeout("tcp", tc.addr, 10*time.Second)
				if err == nil {
					conns <- c
					err = idleRequest(c, tc.proto, make([]byte, 4<<10))
				}
				if err != nil {
					errs <- err
				}
			}()
		}
		began := time.Now()
		close(start)
		wg.Wait()
		close(errs)
		close(conns)
		failed := 0
		var first error
		for err := range errs {
			failed++
			first = cmp.Or(first, err)
		}
		for c := range conns {
			closeNow(c)
		}
		if failed > 0 {
			t.Fatalf("%s: %d of %d connections opened at once failed, first: %v", tc.proto, failed, n, first)
		}
		t.Logf("%s: %d connections opened at once, each served a request, in %v", tc.proto, n, time.Since(began).Round(time.Millisecond))
	}
}

// max_connections turns away what is over it: a log line and a counter.
func TestMaxConnectionsRefusesWithLogAndMetric(t *testing.T) {
	cfg := strings.Replace(httpProxyConfig("LB_ROUNDROBIN", "", rawOrigin(t)), `"name": "in", "address": "127.0.0.1:0",`,
		`"name": "in", "address": "127.0.0.1:0", "max_connections": 1,`, 1)
	p := startProxy(t, cfg)
	first := dialRaw(t, p.addr("in"))
	if err := idleRequest(first, "http1", make([]byte, 4<<10)); err != nil {
		t.Fatal(err)
	}
	over := dialRaw(t, p.addr("in"))
	over.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := over.Read(make([]byte, 1)); err == nil {
		t.Fatal("a connection over max_connections was served")
	}
	waitFor(t, "the refusal logged", func() bool {
		return strings.Contains(p.log.String(), "connection limit reached") && strings.Contains(p.log.String(), "refused_total=1")
	})
	resp, err := http.Get("http://" + p.AdminAddr().String() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if want := `mosn_downstream_connections_refused_total{listener="in"} 1`; !strings.Contains(string(body), want) {
		t.Fatalf("metrics lack %q", want)
	}
}

// A tcp_proxy pair with both sides silent holds no task either, is served
// again when either side speaks, and ends when the proxy shuts down.
func TestIdleTCPProxyPairsHoldNoGoroutine(t *testing.T) {
	if testIOModel == "goroutine" || defaultIOModel() != "netpoll" {
		t.Skip("the goroutine model keeps two goroutines per pair")
	}
	// The upstream answers each connection's first byte and then holds it,
	// all on one goroutine: its connections add none.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	held := make(chan net.Conn, 1000)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.SetDeadline(time.Now().Add(5 * time.Second))
			b := make([]byte, 1)
			if _, err := io.ReadFull(c, b); err == nil {
				c.Write([]byte{b[0] + 1})
			}
			held <- c
		}
	}()
	p := startProxy(t, tcpProxyConfig(ln.Addr().String(), ""))
	open := func() net.Conn {
		c := dialRaw(t, p.addr("tcp"))
		c.SetDeadline(time.Now().Add(5 * time.Second))
		b := []byte{'a'}
		if _, err := c.Write(b); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(c, b); err != nil || b[0] != 'b' {
			t.Fatalf("through the pair: %q %v", b, err)
		}
		return c
	}
	open()
	time.Sleep(100 * time.Millisecond)
	before := runtime.NumGoroutine()
	const n = 200
	clients := make([]net.Conn, n)
	for i := range clients {
		clients[i] = open()
	}
	time.Sleep(100 * time.Millisecond)
	if after := runtime.NumGoroutine(); after-before > 20 {
		t.Fatalf("%d goroutines with %d more idle tcp_proxy pairs, %d before: idle pairs hold tasks", after, n, before)
	}
	ups := make([]net.Conn, 0, n+1)
	for range n + 1 {
		ups = append(ups, <-held)
	}
	for i, c := range clients { // both directions are served again
		up := ups[i+1]
		c.Write([]byte("ping"))
		buf := make([]byte, 4)
		if _, err := io.ReadFull(up, buf); err != nil || string(buf) != "ping" {
			t.Fatalf("pair %d downstream -> upstream: %q %v", i, buf, err)
		}
		up.Write([]byte("pong"))
		if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "pong" {
			t.Fatalf("pair %d upstream -> downstream: %q %v", i, buf, err)
		}
	}
	// Shutting down cuts the pairs (nothing tells a tcp_proxy pair to
	// drain) and waits for their ends.
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if cut := p.Shutdown(ctx); cut < n {
		t.Fatalf("shutdown cut %d connections, want the %d pairs", cut, n+1)
	}
	for i, up := range ups {
		up.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := up.Read(make([]byte, 1)); err == nil {
			t.Fatalf("upstream connection %d still open after shutdown", i)
		}
	}
}

// A drain past its deadline ends a tcp_proxy pair whose client half-closed
// while its upstream keeps its side open: cutting the client cuts the
// upstream too.
func TestShutdownCutsHalfClosedTCPProxyPair(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	ups := make(chan net.Conn, 1)
	go func() {
		if c, err := ln.Accept(); err == nil {
			ups <- c // held open, never read
		}
	}()
	p := startProxy(t, tcpProxyConfig(ln.Addr().String(), ""))
	c := dialRaw(t, p.addr("tcp"))
	up := <-ups
	defer up.Close()
	c.(*net.TCPConn).CloseWrite()
	up.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := up.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("the upstream saw %v, want the client's half-close", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	done := make(chan int, 1)
	go func() { done <- p.Shutdown(ctx) }()
	select {
	case cut := <-done:
		if cut != 1 {
			t.Fatalf("shutdown cut %d connections, want 1", cut)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("shutdown waits for a pair whose upstream stays open")
	}
}
