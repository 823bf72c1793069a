package server

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mosnctl/mosnctl/internal/boltrpc"
	"github.com/mosnctl/mosnctl/internal/config"
	"github.com/mosnctl/mosnctl/internal/filter"
	"github.com/mosnctl/mosnctl/internal/protocol/bolt"
	"github.com/mosnctl/mosnctl/internal/upstream"
)

// phaseFilter is a test filter with every phase, to prove the forwarding
// loop runs each one for every protocol:
//   - request head: nothing (every filter has the phase);
//   - request body: a chunk holding "forbidden" stops the request, 413;
//   - response head: adds "x-phase: encoded"; a request carrying
//     "x-replace" gets a 502 "replaced" instead of the upstream's answer;
//   - response body: a chunk holding "secret" cuts the response (500 if
//     none had begun).
type phaseFilter struct{ bodyChunks atomic.Int64 }

func (*phaseFilter) DecodeHeaders(filter.Request) filter.Verdict { return filter.Verdict{} }

func (f *phaseFilter) DecodeData(_ filter.Request, p []byte, _ bool) filter.Verdict {
	f.bodyChunks.Add(1)
	if bytes.Contains(p, []byte("forbidden")) {
		return filter.Verdict{Status: 413, Body: []byte("stopped in body\n")}
	}
	return filter.Verdict{}
}

func (*phaseFilter) EncodeHeaders(r filter.Request, resp filter.Response) filter.Verdict {
	if _, ok := r.Header("x-replace"); ok {
		return filter.Verdict{Status: 502, Body: []byte("replaced\n")}
	}
	resp.AddHeader([]byte("x-phase"), []byte("encoded"))
	return filter.Verdict{}
}

func (*phaseFilter) EncodeData(_ filter.Request, p []byte, _ bool) filter.Verdict {
	if bytes.Contains(p, []byte("secret")) {
		return filter.Verdict{Status: 500, Body: []byte("cut\n")}
	}
	return filter.Verdict{}
}

var lastPhaseFilter atomic.Pointer[phaseFilter]

func init() {
	filter.Register("test_phases", func(config.Filter, string) (filter.StreamFilter, error) {
		f := &phaseFilter{}
		lastPhaseFilter.Store(f)
		return f, nil
	})
}

const phaseFilters = `"stream_filters": [{"type": "test_phases"}],`

// Every filter phase runs on HTTP/1: a body chunk stops a request, a
// response head is edited or replaced, a response body is cut.
func TestFilterPhasesHTTP1(t *testing.T) {
	origin, _ := startOrigin(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Write(b)
	}))
	cfg := strings.Replace(httpProxyConfig("LB_ROUNDROBIN", "", origin), `"name": "in", "address": "127.0.0.1:0",`,
		`"name": "in", "address": "127.0.0.1:0", `+phaseFilters, 1)
	p := startProxy(t, cfg)
	client := newClient()
	post := func(body string, hdr ...string) (*http.Response, string) {
		req, _ := http.NewRequest("POST", p.url("in", "/x"), strings.NewReader(body))
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		resp, err := client.Do(req)
		if err != nil {
			return nil, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	if resp, body := post("hello"); resp == nil || resp.StatusCode != 200 || body != "hello" || resp.Header.Get("x-phase") != "encoded" {
		t.Errorf("plain request: %v %q", resp, body)
	}
	if lastPhaseFilter.Load().bodyChunks.Load() == 0 {
		t.Errorf("the request body did not go through the data phase")
	}
	if resp, body := post("this is forbidden"); resp == nil || resp.StatusCode != 413 || body != "stopped in body\n" {
		t.Errorf("stopped body: %v %q", resp, body)
	}
	if resp, body := post("hello", "x-replace", "1"); resp == nil || resp.StatusCode != 502 || body != "replaced\n" {
		t.Errorf("replaced response: %v %q", resp, body)
	}
	// The response head is out before its body is seen: the cut closes
	// the connection, and the client sees a broken body.
	if resp, body := post("a secret"); resp != nil && resp.StatusCode == 200 && body == "a secret" {
		t.Errorf("a response with a secret went through whole")
	}
	if resp, body := post("hello again"); resp == nil || resp.StatusCode != 200 || body != "hello again" {
		t.Errorf("request after the cut: %v %q", resp, body)
	}
}

// The same phases on Bolt: the content is the body, one chunk each way.
func TestFilterPhasesBolt(t *testing.T) {
	up := startBoltServer(t, boltrpc.EchoHandler)
	cfg := strings.Replace(boltProxyConfig("bolt", "", up), `"name": "in", "address": "127.0.0.1:0",`,
		`"name": "in", "address": "127.0.0.1:0", `+phaseFilters, 1)
	p := startProxy(t, cfg)
	ctx := context.Background()
	c, err := boltrpc.Dial(ctx, p.addr("in"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	call := func(content string, hdr map[string]string) *boltrpc.Response {
		resp, err := c.Call(ctx, &boltrpc.Request{Service: "com.example.EchoService:1.0", Method: "echo",
			Headers: hdr, Content: []byte(content), Timeout: 5 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	if r := call("hello", nil); r.Status != bolt.StatusSuccess || string(r.Content) != "hello" || r.Headers["x-phase"] != "encoded" {
		t.Errorf("plain call: %+v", r)
	}
	if r := call("forbidden", nil); r.Status != bolt.StatusCodecException {
		t.Errorf("stopped body: status %d, want %d (413)", r.Status, bolt.StatusCodecException)
	}
	if r := call("hello", map[string]string{"x-replace": "1"}); r.Status != bolt.StatusServerException {
		t.Errorf("replaced response: status %d, want %d (502)", r.Status, bolt.StatusServerException)
	}
	if r := call("secret", nil); r.Status != bolt.StatusServerException || len(r.Content) != 0 {
		t.Errorf("cut response: %+v, want an error status and no content", r)
	}
}

// A route's request and response header edits apply to Bolt calls too (a
// Bolt header map has no host or path: those rewrites do not apply).
func TestBoltRouteHeaderEdits(t *testing.T) {
	up := startBoltServer(t, boltrpc.EchoHandler) // answers with the request's headers
	p := startProxy(t, boltProxyConfig("bolt", `,
      "request_headers_to_add": [{"header": {"key": "x-added", "value": "1"}}],
      "request_headers_to_remove": ["x-drop"],
      "response_headers_to_add": [{"header": {"key": "x-resp", "value": "2"}}]`, up))
	c, err := boltrpc.Dial(context.Background(), p.addr("in"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	resp, err := c.Call(context.Background(), &boltrpc.Request{Service: "com.example.EchoService:1.0", Method: "echo",
		Headers: map[string]string{"x-drop": "gone", "x-keep": "k"}, Content: []byte("hi"), Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	h := resp.Headers
	if resp.Status != bolt.StatusSuccess || string(resp.Content) != "hi" || h["x-added"] != "1" || h["x-keep"] != "k" ||
		h["x-resp"] != "2" || h["x-drop"] != "" {
		t.Errorf("edited call: %+v", resp)
	}
}

// Header matchers on HTTP/2's pseudo-headers work on HTTP/1 requests.
func TestPseudoHeaderMatchersOnHTTP1(t *testing.T) {
	p := startProxy(t, `{
  "servers": [{
    "routers": [{"router_config_name": "r", "virtual_hosts": [{"name": "v", "domains": ["*"], "routers": [
      {"match": {"headers": [{"name": ":path", "value": "/a\\?x=.*", "regex": true}]}, "direct_response": {"status": 200, "body": "path"}},
      {"match": {"headers": [{"name": ":authority", "value": "api.example"}]}, "direct_response": {"status": 200, "body": "authority"}},
      {"match": {"prefix": "/"}, "direct_response": {"status": 200, "body": "other"}}
    ]}]}],
    "listeners": [{"name": "in", "address": "127.0.0.1:0",
      "filter_chains": [{"filters": [{"type": "proxy", "config": {"downstream_protocol": "Http1", "router_config_name": "r"}}]}]}]
  }]
}`)
	for _, tc := range []struct{ req, want string }{
		{"GET /a?x=1 HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n", "path"},
		{"GET /b HTTP/1.1\r\nHost: api.example\r\nConnection: close\r\n\r\n", "authority"},
		{"GET /b HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n", "other"},
	} {
		if got := rawExchange(t, p.addr("in"), tc.req); !strings.HasSuffix(got, "\r\n\r\n"+tc.want) {
			t.Errorf("%q: %q, want body %q", tc.req, got, tc.want)
		}
	}
}

// A cluster's max_connections caps the connections open to each host: a
// request that would need one more is refused at once with 503 and
// x-mosn-overflow: true, counted on the host, while the others are served.
func TestMaxConnectionsCapsHTTP1Connections(t *testing.T) {
	release := make(chan struct{})
	var inFlight atomic.Int64
	origin, conns := startOrigin(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		inFlight.Add(1)
		<-release
		io.WriteString(w, "ok")
	}))
	cfg := strings.Replace(httpProxyConfig("LB_ROUNDROBIN", "", origin), `"connect_timeout": "1s",`,
		`"connect_timeout": "1s", "max_connections": 2,`, 1)
	p := startProxy(t, cfg)
	type result struct {
		code     int
		overflow string
	}
	results := make(chan result, 5)
	var wg sync.WaitGroup
	for range 5 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := newClient().Get(p.url("in", "/"))
			if err != nil {
				results <- result{code: -1}
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			results <- result{resp.StatusCode, resp.Header.Get("x-mosn-overflow")}
		}()
	}
	// Three are refused while two hold the host's only connections.
	waitFor(t, "two requests at the host", func() bool { return inFlight.Load() == 2 })
	for range 3 {
		if r := <-results; r.code != 503 || r.overflow != "true" {
			t.Errorf("request over the cap: %+v, want 503 with x-mosn-overflow: true", r)
		}
	}
	if n := inFlight.Load(); n != 2 {
		t.Errorf("%d requests reached the host, want 2", n)
	}
	close(release)
	wg.Wait()
	for range 2 {
		if r := <-results; r.code != 200 {
			t.Errorf("request under the cap: %+v", r)
		}
	}
	if n := conns.count(); n > 2 {
		t.Errorf("the host saw %d connections, want at most 2", n)
	}
	h := p.clusters.load().Get("origin").Hosts[0]
	if h.Overflows.Load() != 3 || h.OpenConnections.Load() > 2 {
		t.Errorf("host counters: overflows %d, open %d", h.Overflows.Load(), h.OpenConnections.Load())
	}
	if _, body := get(t, newClient(), "http://"+p.AdminAddr().String()+"/metrics"); !strings.Contains(body,
		`mosn_upstream_overflow_total{cluster="origin",limit="max_connections_per_host"} 3`) {
		t.Errorf("no overflow metric for the host cap")
	}
}

// On Bolt, max_connections: 1 multiplexes every call over one connection.
func TestMaxConnectionsBoltSharesOneConnection(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	counting := &countingListener{Listener: ln}
	srv := &boltrpc.Server{Handler: boltrpc.EchoHandler}
	go srv.Serve(counting)
	t.Cleanup(func() { srv.Close() })
	cfg := strings.Replace(boltProxyConfig("bolt", "", ln.Addr().String()), `"connect_timeout": "1s",`,
		`"connect_timeout": "1s", "max_connections": 1,`, 1)
	p := startProxy(t, cfg)
	c, err := boltrpc.Dial(context.Background(), p.addr("in"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var wg sync.WaitGroup
	var failed atomic.Int64
	for i := range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := c.Call(context.Background(), &boltrpc.Request{Service: "com.example.EchoService:1.0",
				Content: []byte(fmt.Sprint(i)), Timeout: 5 * time.Second})
			if err != nil || resp.Status != bolt.StatusSuccess || string(resp.Content) != fmt.Sprint(i) {
				failed.Add(1)
			}
		}()
	}
	wg.Wait()
	if failed.Load() != 0 || counting.accepted.Load() != 1 {
		t.Errorf("%d calls failed, the host accepted %d connections (want 0 and 1)", failed.Load(), counting.accepted.Load())
	}
}

type countingListener struct {
	net.Listener
	accepted atomic.Int64
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.accepted.Add(1)
	}
	return c, err
}

// The local replies the loop makes are mapped per protocol: what a Bolt
// client reads for each cause.
func TestLocalRepliesMappedForBolt(t *testing.T) {
	p := startProxy(t, boltProxyConfig("bolt", "", closedAddr(t)))
	c, err := boltrpc.Dial(context.Background(), p.addr("in"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for svc, want := range map[string]uint16{
		"com.example.EchoService:1.0": bolt.StatusConnectionClosed, // the host refuses connections
		"com.example.Nobody:1.0":      bolt.StatusNoProcessor,      // no route
	} {
		resp, err := c.Call(context.Background(), &boltrpc.Request{Service: svc, Timeout: 5 * time.Second})
		if err != nil || resp.Status != want {
			t.Errorf("%s: %+v %v, want status %d", svc, resp, err, want)
		}
	}
}

// A cluster's circuit_breakers max_requests bounds its requests in flight:
// against a slow host, 2 go through and the rest fail at once with 503 and
// x-mosn-overflow: true, counted by limit.
func TestCircuitBreakerMaxRequests(t *testing.T) {
	release := make(chan struct{})
	var inFlight atomic.Int64
	origin, _ := startOrigin(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		inFlight.Add(1)
		<-release
		io.WriteString(w, "ok")
	}))
	cfg := strings.Replace(httpProxyConfig("LB_ROUNDROBIN", "", origin), `"connect_timeout": "1s",`,
		`"connect_timeout": "1s", "circuit_breakers": {"thresholds": [{"max_requests": 2}]},`, 1)
	p := startProxy(t, cfg)
	codes := make(chan int, 6)
	get := func() {
		resp, err := newClient().Get(p.url("in", "/"))
		if err != nil {
			codes <- -1
			return
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode == 503 && resp.Header.Get("x-mosn-overflow") != "true" {
			codes <- -503
			return
		}
		codes <- resp.StatusCode
	}
	go get()
	go get()
	waitFor(t, "two requests at the host", func() bool { return inFlight.Load() == 2 })
	for range 4 {
		go get()
	}
	for range 4 {
		if c := <-codes; c != 503 {
			t.Errorf("request over max_requests: %d, want 503 with x-mosn-overflow", c)
		}
	}
	close(release)
	for range 2 {
		if c := <-codes; c != 200 {
			t.Errorf("request under max_requests: %d", c)
		}
	}
	if n := p.clusters.load().Get("origin").Resources.Overflows(upstream.LimitRequests); n != 4 {
		t.Errorf("max_requests overflows: %d, want 4", n)
	}
}
