package server

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mosnctl/mosnctl/internal/boltrpc"
	"github.com/mosnctl/mosnctl/internal/protocol/bolt"
)

func startBoltServer(t *testing.T, h boltrpc.Handler) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &boltrpc.Server{Handler: h}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

func boltProxyConfig(protocol, routeExtra string, hosts ...string) string {
	var hs []string
	for _, h := range hosts {
		hs = append(hs, fmt.Sprintf(`{"address": %q}`, h))
	}
	return fmt.Sprintf(`{
  "servers": [{
    "routers": [{"router_config_name": "r", "virtual_hosts": [{"name": "v", "domains": ["*"], "routers": [
      {"match": {"headers": [{"name": "service", "value": "com.example.EchoService:1.0"}]}, "route": {"cluster_name": "echo"%s}},
      {"match": {"headers": [{"name": "service", "value": "com\\.example\\.Slow.*", "regex": true}]}, "route": {"cluster_name": "echo", "timeout": "200ms"}}
    ]}]}],
    "listeners": [{"name": "in", "address": "127.0.0.1:0",
      "filter_chains": [{"filters": [{"type": "proxy", "config": {"downstream_protocol": %q, "router_config_name": "r"}}]}]}]
  }],
  "cluster_manager": {"clusters": [{"name": "echo", "type": "SIMPLE", "lb_type": "LB_ROUNDROBIN", "connect_timeout": "1s", "hosts": [%s]}]}
}`, routeExtra, protocol, strings.Join(hs, ","))
}

func slowAwareEcho(req *bolt.Frame) (uint16, map[string]string, []byte) {
	if svc, _ := req.Get("service"); strings.HasPrefix(string(svc), "com.example.Slow") {
		time.Sleep(time.Second)
	}
	return boltrpc.EchoHandler(req)
}

func TestBoltMultiplexedThroughProxy(t *testing.T) {
	up := startBoltServer(t, slowAwareEcho)
	p := startProxy(t, boltProxyConfig("bolt", "", up))
	ctx := context.Background()
	c, err := boltrpc.Dial(ctx, p.addr("in"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Heartbeat(ctx); err != nil {
		t.Fatalf("heartbeat: %v", err)
	}
	// 100 concurrent calls on one downstream connection: each response must
	// come back to its own caller although ids are rewritten upstream.
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for i := 0; i < 100; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			content := []byte(fmt.Sprintf("payload-%d-%s", i, strings.Repeat("x", i*37)))
			resp, err := c.Call(ctx, &boltrpc.Request{Service: "com.example.EchoService:1.0", Method: "echo", Content: content, Timeout: 5 * time.Second})
			if err != nil {
				errs <- fmt.Errorf("call %d: %v", i, err)
				return
			}
			if resp.Status != bolt.StatusSuccess || !bytes.Equal(resp.Content, content) {
				errs <- fmt.Errorf("call %d: status %d content %.20q", i, resp.Status, resp.Content)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	waitFor(t, "100 2xx requests counted", func() bool { return p.Stats().RequestsByClass["2xx"] == 100 })
}

func TestBoltErrorsMapToStatuses(t *testing.T) {
	up := startBoltServer(t, slowAwareEcho)
	ctx := context.Background()
	t.Run("no route", func(t *testing.T) {
		p := startProxy(t, boltProxyConfig("bolt", "", up))
		c, err := boltrpc.Dial(ctx, p.addr("in"))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		resp, err := c.Call(ctx, &boltrpc.Request{Service: "com.example.Unknown:1.0", Method: "x"})
		if err != nil || resp.Status != bolt.StatusNoProcessor {
			t.Fatalf("got %+v %v, want status no processor", resp, err)
		}
	})
	t.Run("timeout", func(t *testing.T) {
		p := startProxy(t, boltProxyConfig("bolt", "", up))
		c, err := boltrpc.Dial(ctx, p.addr("in"))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		resp, err := c.Call(ctx, &boltrpc.Request{Service: "com.example.SlowService:1.0", Method: "x", Timeout: 5 * time.Second})
		if err != nil || resp.Status != bolt.StatusTimeout {
			t.Fatalf("got %+v %v, want status timeout", resp, err)
		}
	})
	t.Run("upstream down", func(t *testing.T) {
		p := startProxy(t, boltProxyConfig("bolt", "", closedAddr(t)))
		c, err := boltrpc.Dial(ctx, p.addr("in"))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		resp, err := c.Call(ctx, &boltrpc.Request{Service: "com.example.EchoService:1.0", Method: "x"})
		if err != nil || resp.Status != bolt.StatusConnectionClosed {
			t.Fatalf("got %+v %v, want status connection closed", resp, err)
		}
	})
}

func TestAutoDetectsHTTPAndBoltOnOnePort(t *testing.T) {
	up := startBoltServer(t, slowAwareEcho)
	origin, _ := startOrigin(t, echoOrigin())
	cfg := boltProxyConfig("Auto", "", up)
	// Add an HTTP route after the Bolt ones (a Bolt request's empty path
	// counts as "/", so the catch-all must come last).
	cfg = strings.Replace(cfg, `"timeout": "200ms"}}
    ]`, `"timeout": "200ms"}},
      {"match": {"prefix": "/"}, "route": {"cluster_name": "web"}}
    ]`, 1)
	cfg = strings.Replace(cfg, `"clusters": [`, fmt.Sprintf(`"clusters": [{"name": "web", "type": "SIMPLE", "hosts": [{"address": %q}]},`, origin), 1)
	p := startProxy(t, cfg)
	code, body := get(t, newClient(), p.url("in", "/auto"))
	if code != 200 || body != "hello /auto" {
		t.Fatalf("http over Auto: %d %q", code, body)
	}
	c, err := boltrpc.Dial(context.Background(), p.addr("in"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	resp, err := c.Call(context.Background(), &boltrpc.Request{Service: "com.example.EchoService:1.0", Method: "m", Content: []byte("hi")})
	if err != nil || string(resp.Content) != "hi" {
		t.Fatalf("bolt over Auto: %+v %v", resp, err)
	}
}

func startEchoTCP(t *testing.T) string {
	return serveTCP(t, func(c net.Conn) {
		io.Copy(c, c)
		c.(*net.TCPConn).CloseWrite() // answer the half-close with ours
		c.Close()
	})
}

// tcpProxyConfig is a tcp_proxy listener "tcp" to one host; extra is
// appended to the filter's config.
func tcpProxyConfig(host, extra string) string {
	return fmt.Sprintf(`{
  "servers": [{"listeners": [{"name": "tcp", "address": "127.0.0.1:0",
    "filter_chains": [{"filters": [{"type": "tcp_proxy", "config": {"cluster": "up"%s}}]}]}]}],
  "cluster_manager": {"clusters": [{"name": "up", "type": "SIMPLE", "hosts": [{"address": %q}]}]}
}`, extra, host)
}

func TestTCPProxyEchoWithHalfClose(t *testing.T) {
	echo := startEchoTCP(t)
	p := startProxy(t, tcpProxyConfig(echo, ""))
	c, err := net.Dial("tcp", p.addr("tcp"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	payload := bytes.Repeat([]byte("0123456789"), 300_000) // 3 MB
	go func() {
		c.Write(payload)
		c.(*net.TCPConn).CloseWrite() // half-close: the echo must still arrive
	}()
	got, err := io.ReadAll(c)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, payload) {
		t.Fatalf("echoed %d bytes, want %d", len(got), len(payload))
	}
}

func TestMalformedInputClosesOneConnectionAndLeaksNothing(t *testing.T) {
	origin, _ := startOrigin(t, echoOrigin())
	up := startBoltServer(t, slowAwareEcho)
	h := startProxy(t, httpProxyConfig("LB_ROUNDROBIN", "", origin))
	b := startProxy(t, boltProxyConfig("bolt", "", up))
	client := newClient()
	get(t, client, h.url("in", "/warm"))
	client.CloseIdleConnections()
	time.Sleep(50 * time.Millisecond)
	base := runtime.NumGoroutine()

	cases := []struct {
		name, req, want string
	}{
		{"CL and TE", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", "HTTP/1.1 400"},
		{"TE obfuscated", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n", "HTTP/1.1 400"},
		{"TE not chunked", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n", "HTTP/1.1 400"},
		{"TE gzip then chunked", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", "HTTP/1.1 501"},
		{"two CL", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab", "HTTP/1.1 400"},
		{"obs-fold", "GET / HTTP/1.1\r\nHost: x\r\nX-A: a\r\n b\r\n\r\n", "HTTP/1.1 400"},
		{"garbage", "\x00\x01\x02garbage\r\n\r\n", "HTTP/1.1 400"},
		{"oversized head", "GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("a", 70<<10) + "\r\n\r\n", "HTTP/1.1 431"},
		{"bad chunk size", "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "HTTP/1.1 400"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := rawExchange(t, h.addr("in"), tc.req)
			if !strings.HasPrefix(got, tc.want) {
				t.Fatalf("got %.80q, want %q", got, tc.want)
			}
		})
	}
	// Truncated and corrupt Bolt frames close that connection only.
	for _, raw := range [][]byte{
		{0x01, 0x01, 0x00, 0x01, 0x01, 0, 0, 0, 1, 1, 0, 0, 0x03, 0xe8, 0, 0x10}, // truncated header
		{0x01, 0x09, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff},
	} {
		c, err := net.Dial("tcp", b.addr("in"))
		if err != nil {
			t.Fatal(err)
		}
		c.Write(raw)
		if len(raw) < 22 {
			c.(*net.TCPConn).CloseWrite()
		}
		c.SetReadDeadline(time.Now().Add(3 * time.Second))
		io.ReadAll(c)
		c.Close()
	}
	// Both proxies still serve.
	if code, _ := get(t, client, h.url("in", "/after")); code != 200 {
		t.Fatalf("http after malformed input: %d", code)
	}
	bc, err := boltrpc.Dial(context.Background(), b.addr("in"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bc.Call(context.Background(), &boltrpc.Request{Service: "com.example.EchoService:1.0", Method: "m"}); err != nil {
		t.Fatalf("bolt after malformed input: %v", err)
	}
	bc.Close()
	client.CloseIdleConnections()
	waitGoroutines(t, base+2) // +2: the bolt proxy's upstream reader and its pooled connection
	if !strings.Contains(h.log.String(), "bad request") || !strings.Contains(b.log.String(), "bolt") {
		t.Errorf("malformed input not logged:\nhttp: %s\nbolt: %s", h.log.String(), b.log.String())
	}
}

// A client that sends requests and never reads the answers must not stall
// the other clients whose calls share its upstream connection: its answers
// wait in its own queue, and past the queue's limit its connection closes.
func TestBoltClientNotReadingDoesNotStallOthers(t *testing.T) {
	up := startBoltServer(t, boltrpc.EchoHandler)
	p := startProxy(t, boltProxyConfig("bolt", "", up))
	// The stuck client: a small receive window, 64 echo calls of 256 KiB
	// (16 MiB of answers, far beyond what the sockets buffer), no reads.
	stuck := dialStuck(t, p.addr("in"))
	var h []byte
	h = bolt.AppendHeader(h, bolt.HeaderService, "com.example.EchoService:1.0")
	h = bolt.AppendHeader(h, bolt.HeaderMethod, "echo")
	content := bytes.Repeat([]byte("s"), 256<<10)
	go func() {
		for id := uint32(1); id <= 64; id++ {
			f := bolt.Frame{Type: bolt.TypeRequest, CmdCode: bolt.CmdRequest, Version: bolt.CommandVersion, RequestID: id,
				Codec: bolt.CodecHessian2, Timeout: 30000, Class: []byte(bolt.ClassRequest), Header: h, Content: content}
			if _, err := stuck.Write(bolt.AppendFrame(nil, &f)); err != nil {
				return
			}
		}
	}()
	// 10 calls forwarded: fewer answers than the 4 MiB queue limit holds, so
	// the stuck connection is still open (the old code stalled from here on).
	waitFor(t, "the stuck client's calls forwarded", func() bool { return p.Stats().UpstreamRequests >= 10 })

	// Clients on every event loop (the netpoll model keeps an upstream
	// connection per loop; connections go to the least busy loop), so some
	// share the stuck client's upstream connection in either IO model.
	ctx := context.Background()
	for k := range 2 * runtime.GOMAXPROCS(0) {
		c, err := boltrpc.Dial(ctx, p.addr("in"))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		for i := range 5 {
			// A stalled call would never end; 10 s leaves room for a loaded
			// host, where the race detector moves the stuck client's 16 MiB
			// through the shared upstream connection slowly.
			resp, err := c.Call(ctx, &boltrpc.Request{Service: "com.example.EchoService:1.0", Method: "echo", Content: []byte("hi"), Timeout: 10 * time.Second})
			if err != nil || resp.Status != bolt.StatusSuccess {
				t.Fatalf("client %d call %d beside a client that does not read: %+v %v", k, i, resp, err)
			}
		}
	}
	waitFor(t, "the stuck client's connection closed past the queue limit", func() bool {
		return strings.Contains(p.log.String(), "client leaves its answers unread, closing connection")
	})
}

// tcp_proxy's idle_timeout counts bytes either way: a one-way stream longer
// than the timeout, with the client silent, runs to its end; a connection
// with no bytes either way closes.
func TestTCPProxyIdleTimeoutCountsBothWays(t *testing.T) {
	up := serveTCP(t, func(c net.Conn) { // a stream: 20 ticks 50 ms apart if asked, else silence
		defer c.Close()
		var ask [1]byte
		if _, err := io.ReadFull(c, ask[:]); err != nil || ask[0] != 's' {
			io.Copy(io.Discard, c)
			return
		}
		for range 20 {
			time.Sleep(50 * time.Millisecond)
			if _, err := c.Write([]byte("tick\n")); err != nil {
				return
			}
		}
	})
	p := startProxy(t, tcpProxyConfig(up, `, "idle_timeout": "300ms"`))

	stream, err := net.Dial("tcp", p.addr("tcp"))
	if err != nil {
		t.Fatal(err)
	}
	defer stream.Close()
	stream.Write([]byte("s")) // then silent for the whole second of ticks
	got, _ := io.ReadAll(stream)
	if want := strings.Repeat("tick\n", 20); string(got) != want {
		t.Fatalf("one-way stream through an idle_timeout of 300ms: got %d bytes, want %d", len(got), len(want))
	}

	quiet, err := net.Dial("tcp", p.addr("tcp"))
	if err != nil {
		t.Fatal(err)
	}
	defer quiet.Close()
	quiet.Write([]byte("q"))
	quiet.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := quiet.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("idle connection: read %d, %v; want it closed", n, err)
	}
}
