package server

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
	"google.golang.org/grpc"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/mosnctl/mosnctl/internal/boltrpc"
	"github.com/mosnctl/mosnctl/internal/protocol/bolt"
)

// curl with --http2-prior-knowledge through an Http2 listener.
func TestHTTP2Curl(t *testing.T) {
	curl, err := exec.LookPath("curl")
	if err != nil {
		t.Skip("curl not installed")
	}
	origin := startH2cOrigin(t, convEchoOrigin())
	p := startProxy(t, h2ProxyConfig("Http2", "Http2", "", origin))
	body := strings.Repeat("curl", 1000)
	out, err := exec.Command(curl, "-sS", "--http2-prior-knowledge", "-o", "-", "-w", "\n%{http_version} %{http_code}",
		"--data-binary", body, p.url("in", "/curl")).CombinedOutput()
	if err != nil {
		t.Fatalf("curl: %v\n%s", err, out)
	}
	if want := body + "\n2 200"; string(out) != want {
		t.Fatalf("curl got %q", out)
	}
}

// h2load (nghttp2) drives many multiplexed streams on several h2c
// connections through the proxy to two h2c origins; every request succeeds.
func TestHTTP2H2load(t *testing.T) {
	h2load, err := exec.LookPath("h2load")
	if err != nil {
		t.Skip("h2load not installed (Debian: nghttp2-client)")
	}
	hello := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "hello\n") })
	p := startProxy(t, h2ProxyConfig("Http2", "Http2", "", startH2cOrigin(t, hello), startH2cOrigin(t, hello)))
	out, err := exec.Command(h2load, "-n", "3000", "-c", "6", "-m", "20", "-t", "1", p.url("in", "/h2load")).CombinedOutput()
	if err != nil {
		t.Fatalf("h2load: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "3000 total, 3000 started, 3000 done, 3000 succeeded, 0 failed, 0 errored") ||
		!strings.Contains(string(out), "status codes: 3000 2xx") {
		t.Fatalf("h2load did not see 3000 successful requests:\n%s", out)
	}
}

// An Auto listener serves HTTP/1, h2c and Bolt clients on one port at once.
func TestAutoHTTP1HTTP2Bolt(t *testing.T) {
	web := startH2cOrigin(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, r.Proto) }))
	web1, _ := startOrigin(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, r.Proto) }))
	rpc := startBoltServer(t, boltrpc.EchoHandler)
	p := startProxy(t, fmt.Sprintf(`{
  "servers": [{
    "routers": [{"router_config_name": "r", "virtual_hosts": [{"name": "v", "domains": ["*"], "routers": [
      {"match": {"headers": [{"name": "service", "value": ".*", "regex": true}]}, "route": {"cluster_name": "rpc"}},
      {"match": {"prefix": "/", "headers": [{"name": ":scheme", "value": "http"}, {"name": "x-h2", "value": "1"}]}, "route": {"cluster_name": "web"}},
      {"match": {"prefix": "/"}, "route": {"cluster_name": "web1"}}
    ]}]}],
    "listeners": [{"name": "in", "address": "127.0.0.1:0",
      "filter_chains": [{"filters": [{"type": "proxy", "config": {"downstream_protocol": "Auto", "upstream_protocol": "Auto", "router_config_name": "r"}}]}]}]
  }],
  "cluster_manager": {"clusters": [
    {"name": "web", "type": "SIMPLE", "lb_type": "LB_ROUNDROBIN", "hosts": [{"address": %q}]},
    {"name": "web1", "type": "SIMPLE", "lb_type": "LB_ROUNDROBIN", "hosts": [{"address": %q}]},
    {"name": "rpc", "type": "SIMPLE", "lb_type": "LB_ROUNDROBIN", "hosts": [{"address": %q}]}
  ]}
}`, web, web1, rpc))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, 30)
	for range 10 {
		wg.Add(3)
		go func() {
			defer wg.Done()
			resp, err := http.Get(p.url("in", "/h1"))
			if err != nil {
				errs <- err
				return
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if string(b) != "HTTP/1.1" {
				errs <- fmt.Errorf("HTTP/1 client reached %q", b)
			}
		}()
		go func() {
			defer wg.Done()
			req, _ := http.NewRequest("GET", p.url("in", "/h2"), nil)
			req.Header.Set("x-h2", "1")
			resp, err := h2cClient().Do(req)
			if err != nil {
				errs <- err
				return
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if string(b) != "HTTP/2.0" || resp.Proto != "HTTP/2.0" {
				errs <- fmt.Errorf("h2c client reached %q over %s", b, resp.Proto)
			}
		}()
		go func() {
			defer wg.Done()
			c, err := boltrpc.Dial(ctx, p.addr("in"))
			if err != nil {
				errs <- err
				return
			}
			defer c.Close()
			resp, err := c.Call(ctx, &boltrpc.Request{Service: "com.example.EchoService:1.0", Method: "echo", Content: []byte("hi")})
			if err != nil || resp.Status != bolt.StatusSuccess || string(resp.Content) != "hi" {
				errs <- fmt.Errorf("bolt call: %+v %v", resp, err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	// The listener's requests are counted by the protocol each came in.
	resp, err := http.Get("http://" + p.AdminAddr().String() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, proto := range []string{"Http1", "Http2", "bolt"} {
		want := fmt.Sprintf(`mosn_downstream_requests_total{listener="in",protocol=%q,response_class="2xx"} 10`, proto)
		if !strings.Contains(string(metrics), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

// Routing on headers, weighted clusters, the route's header edits both
// ways, a retry on the next host after a connect failure, the access log
// and the stream list: the shared loop's features on HTTP/2.
func TestHTTP2RouteFeatures(t *testing.T) {
	var seen sync.Map
	mk := func(name string) string {
		return startH2cOrigin(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			seen.Store(name+" "+r.Header.Get("X-Added"), true)
			w.Header().Set("X-Origin", name)
			w.Header().Set("X-Drop", "yes")
			if r.URL.Path == "/slow" {
				time.Sleep(500 * time.Millisecond)
			}
			io.WriteString(w, name)
		}))
	}
	a, b, c := mk("a"), mk("b"), mk("c")
	dead := closedPort(t)
	logPath := filepath.Join(t.TempDir(), "access.log")
	p := startProxy(t, fmt.Sprintf(`{
  "servers": [{
    "routers": [{"router_config_name": "r", "virtual_hosts": [{"name": "v", "domains": ["*"], "routers": [
      {"match": {"prefix": "/", "headers": [{"name": "x-pick", "value": "c"}]}, "route": {"cluster_name": "c"}},
      {"match": {"prefix": "/split"}, "route": {"weighted_clusters": [{"cluster": {"name": "a", "weight": 50}}, {"cluster": {"name": "b", "weight": 50}}]}},
      {"match": {"prefix": "/"}, "route": {"cluster_name": "retry", "retry_policy": {"retry_on": true, "num_retries": 1},
        "request_headers_to_add": [{"header": {"key": "x-added", "value": "by-route"}}],
        "response_headers_to_add": [{"header": {"key": "x-resp", "value": "by-route"}}],
        "response_headers_to_remove": ["x-drop"]}}
    ]}]}],
    "listeners": [{"name": "in", "address": "127.0.0.1:0", "access_log": %q,
      "filter_chains": [{"filters": [{"type": "proxy", "config": {"downstream_protocol": "Http2", "upstream_protocol": "Http2", "router_config_name": "r"}}]}]}]
  }],
  "cluster_manager": {"clusters": [
    {"name": "a", "type": "SIMPLE", "lb_type": "LB_ROUNDROBIN", "hosts": [{"address": %q}]},
    {"name": "b", "type": "SIMPLE", "lb_type": "LB_ROUNDROBIN", "hosts": [{"address": %q}]},
    {"name": "c", "type": "SIMPLE", "lb_type": "LB_ROUNDROBIN", "hosts": [{"address": %q}]},
    {"name": "retry", "type": "SIMPLE", "lb_type": "LB_ROUNDROBIN", "connect_timeout": "1s", "hosts": [{"address": %q}, {"address": %q}]}
  ]}
}`, logPath, a, b, c, dead, a))
	cl := h2cClient()
	get := func(path string, hdr ...string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest("GET", p.url("in", path), nil)
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		resp, err := cl.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}
	if r := get("/x", "x-pick", "c"); r.Header.Get("X-Origin") != "c" {
		t.Fatalf("header match: reached %q", r.Header.Get("X-Origin"))
	}
	origins := map[string]int{}
	for range 40 {
		origins[get("/split").Header.Get("X-Origin")]++
	}
	if origins["a"] == 0 || origins["b"] == 0 {
		t.Fatalf("weighted clusters: %v", origins)
	}
	for range 4 { // round robin starts on the dead host half the time: each must be retried on a
		r := get("/edit")
		if r.StatusCode != 200 || r.Header.Get("X-Origin") != "a" || r.Header.Get("X-Resp") != "by-route" || r.Header.Get("X-Drop") != "" {
			t.Fatalf("retry and edits: %d %v", r.StatusCode, r.Header)
		}
	}
	if _, ok := seen.Load("a by-route"); !ok {
		t.Fatal("the request header the route adds did not reach the origin")
	}
	// A stream in flight is listed with its protocol.
	done := make(chan struct{})
	go func() { defer close(done); get("/slow") }()
	var listed bool
	for i := 0; i < 40 && !listed; i++ {
		time.Sleep(20 * time.Millisecond)
		resp, err := http.Get("http://" + p.AdminAddr().String() + "/api/v1/streams")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		listed = bytes.Contains(b, []byte(`"HTTP/2"`)) && bytes.Contains(b, []byte(`"retry"`))
	}
	<-done
	if !listed {
		t.Fatal("/api/v1/streams never listed the HTTP/2 stream")
	}
	var logged []byte
	for i := 0; i < 50 && !bytes.Contains(logged, []byte("/slow")); i++ {
		time.Sleep(20 * time.Millisecond)
		logged, _ = os.ReadFile(logPath)
	}
	if !bytes.Contains(logged, []byte("HTTP/2")) || !bytes.Contains(logged, []byte("/slow")) {
		t.Fatalf("access log:\n%s", logged)
	}
}

// heldOrigin is a grpc-go server whose "/test.Hold/Call" waits until
// released, counting the connections it accepted.
type heldOrigin struct {
	addr    string
	conns   atomic.Int64
	release chan struct{}
	entered chan struct{}
}

type acceptCounter struct {
	net.Listener
	n *atomic.Int64
}

func (l acceptCounter) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.n.Add(1)
	}
	return c, err
}

func startHeldOrigin(t *testing.T, opts ...grpc.ServerOption) *heldOrigin {
	o := &heldOrigin{release: make(chan struct{}), entered: make(chan struct{}, 16)}
	srv := grpc.NewServer(append(opts, grpc.UnknownServiceHandler(func(_ any, ss grpc.ServerStream) error {
		var in emptypb.Empty
		if err := ss.RecvMsg(&in); err != nil {
			return err
		}
		if strings.HasSuffix(mustMethod(ss), "/Hold") {
			o.entered <- struct{}{}
			<-o.release
		}
		return ss.SendMsg(&emptypb.Empty{})
	}))...)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	o.addr = ln.Addr().String()
	go srv.Serve(acceptCounter{ln, &o.conns})
	t.Cleanup(srv.Stop)
	return o
}

func mustMethod(ss grpc.ServerStream) string {
	m, _ := grpc.MethodFromServerStream(ss)
	return m
}

func holdConfig(addr string) string { return holdClusterConfig(addr, "") }

// holdClusterConfig is holdConfig with extra JSON in the cluster.
func holdClusterConfig(addr, clusterExtra string) string {
	return fmt.Sprintf(`{
  "servers": [{
    "routers": [{"router_config_name": "r", "virtual_hosts": [{"name": "v", "domains": ["*"], "routers": [
      {"match": {"prefix": "/"}, "route": {"cluster_name": "origin", "timeout": "0s"}}]}]}],
    "listeners": [{"name": "in", "address": "127.0.0.1:0",
      "filter_chains": [{"filters": [{"type": "proxy", "config": {"downstream_protocol": "Http2", "upstream_protocol": "Http2", "router_config_name": "r"}}]}]}]
  }],
  "cluster_manager": {"clusters": [{"name": "origin", "type": "SIMPLE", "lb_type": "LB_ROUNDROBIN", "hosts": [{"address": %q}]%s}]}
}`, addr, clusterExtra)
}

// An upstream at its concurrent stream limit gets a second connection; an
// upstream's GOAWAY sends new streams to a new connection while the ones in
// flight finish on the old one.
func TestHTTP2UpstreamStreamLimitAndGoAway(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	t.Run("stream limit", func(t *testing.T) {
		o := startHeldOrigin(t, grpc.MaxConcurrentStreams(1))
		p := startProxy(t, holdConfig(o.addr))
		cc := dialGRPC(t, p.addr("in"))
		held := make(chan error, 1)
		go func() { held <- cc.Invoke(ctx, "/test.Hold/Hold", &emptypb.Empty{}, &emptypb.Empty{}) }()
		<-o.entered
		if err := cc.Invoke(ctx, "/test.Hold/Quick", &emptypb.Empty{}, &emptypb.Empty{}); err != nil {
			t.Fatalf("a call beside one holding the only stream: %v", err)
		}
		close(o.release)
		if err := <-held; err != nil {
			t.Fatal(err)
		}
		if n := o.conns.Load(); n != 2 {
			t.Fatalf("upstream connections: %d, want 2", n)
		}
	})
	t.Run("max_request_per_conn", func(t *testing.T) {
		o := startHeldOrigin(t)
		p := startProxy(t, holdClusterConfig(o.addr, `, "max_request_per_conn": 2`))
		cc := dialGRPC(t, p.addr("in"))
		for range 5 {
			if err := cc.Invoke(ctx, "/test.Hold/Quick", &emptypb.Empty{}, &emptypb.Empty{}); err != nil {
				t.Fatal(err)
			}
		}
		if n := o.conns.Load(); n != 3 {
			t.Fatalf("upstream connections for 5 calls at 2 per connection: %d, want 3", n)
		}
	})
	t.Run("idle_timeout", func(t *testing.T) {
		o := startHeldOrigin(t)
		p := startProxy(t, holdClusterConfig(o.addr, `, "idle_timeout": "200ms"`))
		cc := dialGRPC(t, p.addr("in"))
		for range 2 {
			if err := cc.Invoke(ctx, "/test.Hold/Quick", &emptypb.Empty{}, &emptypb.Empty{}); err != nil {
				t.Fatal(err)
			}
		}
		time.Sleep(time.Second) // the idle upstream connection closes (200ms)
		if err := cc.Invoke(ctx, "/test.Hold/Quick", &emptypb.Empty{}, &emptypb.Empty{}); err != nil {
			t.Fatal(err)
		}
		if n := o.conns.Load(); n != 2 {
			t.Fatalf("upstream connections: %d, want 2 (one closed idle)", n)
		}
	})
	t.Run("goaway", func(t *testing.T) {
		o := startHeldOrigin(t, grpc.KeepaliveParams(keepalive.ServerParameters{MaxConnectionAge: 300 * time.Millisecond, MaxConnectionAgeGrace: 20 * time.Second}))
		p := startProxy(t, holdConfig(o.addr))
		cc := dialGRPC(t, p.addr("in"))
		held := make(chan error, 1)
		go func() { held <- cc.Invoke(ctx, "/test.Hold/Hold", &emptypb.Empty{}, &emptypb.Empty{}) }()
		<-o.entered
		time.Sleep(800 * time.Millisecond) // past the connection's age: the upstream sent GOAWAY
		if err := cc.Invoke(ctx, "/test.Hold/Quick", &emptypb.Empty{}, &emptypb.Empty{}); err != nil {
			t.Fatalf("a call after the upstream's GOAWAY: %v", err)
		}
		close(o.release)
		if err := <-held; err != nil {
			t.Fatalf("the call in flight at GOAWAY: %v", err)
		}
		if n := o.conns.Load(); n < 2 {
			t.Fatalf("upstream connections: %d, want a new one after GOAWAY", n)
		}
	})
}

// A drain sends GOAWAY: the stream in flight finishes, nothing is cut, and
// the client hears it may not open more streams on the connection.
func TestHTTP2DrainFinishesStreams(t *testing.T) {
	o := startHeldOrigin(t)
	p := startProxy(t, holdConfig(o.addr))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cc := dialGRPC(t, p.addr("in"))
	held := make(chan error, 1)
	go func() { held <- cc.Invoke(ctx, "/test.Hold/Hold", &emptypb.Empty{}, &emptypb.Empty{}) }()
	<-o.entered
	cut := make(chan int, 1)
	go func() {
		sctx, scancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer scancel()
		cut <- p.Shutdown(sctx)
	}()
	time.Sleep(300 * time.Millisecond)
	select {
	case n := <-cut:
		t.Fatalf("shutdown returned (%d cut) with a stream in flight", n)
	default:
	}
	close(o.release)
	if err := <-held; err != nil {
		t.Fatalf("the stream in flight at the drain: %v", err)
	}
	if n := <-cut; n != 0 {
		t.Fatalf("shutdown cut %d connections", n)
	}
}

// Rapid reset through the proxy: a client that opens and cancels streams
// without end gets GOAWAY ENHANCE_YOUR_CALM and a log line; other clients
// are served, and the proxy's goroutines come back to where they were.
func TestHTTP2RapidResetThroughProxy(t *testing.T) {
	origin := startH2cOrigin(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	p := startProxy(t, h2ProxyConfig("Http2", "Http2", "", origin))
	client := h2cClient()
	get := func() {
		t.Helper()
		resp, err := client.Get(p.url("in", "/ok"))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(b) != "ok" {
			t.Fatalf("got %q", b)
		}
	}
	get()
	base := runtime.NumGoroutine()
	c, err := net.Dial("tcp", p.addr("in"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := io.WriteString(c, http2.ClientPreface); err != nil {
		t.Fatal(err)
	}
	fr := http2.NewFramer(c, c)
	fr.WriteSettings()
	var hb bytes.Buffer
	enc := hpack.NewEncoder(&hb)
	for _, f := range [][2]string{{":method", "GET"}, {":scheme", "http"}, {":path", "/ok"}, {":authority", "x"}} {
		enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
	}
	go func() {
		for id := uint32(1); id < 2*1000; id += 2 {
			if fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: hb.Bytes(), EndStream: true, EndHeaders: true}) != nil ||
				fr.WriteRSTStream(id, http2.ErrCodeCancel) != nil {
				return
			}
		}
	}()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	var code http2.ErrCode = 0xff
	for code == 0xff {
		f, err := fr.ReadFrame()
		if err != nil {
			t.Fatalf("no GOAWAY before %v", err)
		}
		if g, ok := f.(*http2.GoAwayFrame); ok {
			code = g.ErrCode
		}
	}
	if code != http2.ErrCodeEnhanceYourCalm {
		t.Fatalf("GOAWAY %v, want ENHANCE_YOUR_CALM", code)
	}
	get()
	// 1000 streams leaked would leave hundreds; allowed: the origin's two
	// goroutines for a second upstream connection (the rapid client's event
	// loop has its own pool) and a loop worker not yet trimmed.
	const slack = 4
	for i := 0; i < 150 && runtime.NumGoroutine() > base+slack; i++ {
		time.Sleep(20 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > base+slack {
		buf := make([]byte, 1<<20)
		t.Fatalf("goroutines: %d, were %d\n%s", n, base, buf[:runtime.Stack(buf, true)])
	}
	for i := 0; i < 100 && !strings.Contains(p.log.String(), "ENHANCE_YOUR_CALM"); i++ {
		time.Sleep(20 * time.Millisecond) // the GOAWAY goes out before the line is written
	}
	if !strings.Contains(p.log.String(), "ENHANCE_YOUR_CALM") {
		t.Fatalf("no log line for the rapid reset:\n%s", p.log.String())
	}
}
