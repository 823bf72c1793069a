package server

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/h2c"
)

// h2cClient is x/net's HTTP/2 Transport speaking h2c with prior knowledge.
func h2cClient() *http.Client {
	return &http.Client{Transport: &http2.Transport{
		AllowHTTP: true,
		DialTLSContext: func(ctx context.Context, network, addr string, _ *tls.Config) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, addr)
		},
	}}
}

// startH2cOrigin runs an x/net h2c origin on loopback.
func startH2cOrigin(t *testing.T, h http.Handler) string {
	t.Helper()
	return startOriginHandler(t, h2c.NewHandler(h, &http2.Server{}))
}

func startOriginHandler(t *testing.T, h http.Handler) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

// h2ProxyConfig is one proxy listener "in" with the given protocols,
// routing /direct to a direct response, / to cluster "origin" (the route's
// extra JSON appended) over hosts.
func h2ProxyConfig(down, up, routeExtra string, hosts ...string) string {
	var hs []string
	for _, h := range hosts {
		hs = append(hs, fmt.Sprintf(`{"address": %q}`, h))
	}
	return fmt.Sprintf(`{
  "servers": [{
    "routers": [{"router_config_name": "r", "virtual_hosts": [{"name": "v", "domains": ["*"], "routers": [
      {"match": {"prefix": "/direct"}, "direct_response": {"status": 200, "body": "direct\n"}},
      {"match": {"prefix": "/"}, "route": {"cluster_name": "origin"%s}}
    ]}]}],
    "listeners": [{"name": "in", "address": "127.0.0.1:0",
      "filter_chains": [{"filters": [{"type": "proxy", "config": {"downstream_protocol": %q, "upstream_protocol": %q, "router_config_name": "r"}}]}]}]
  }],
  "cluster_manager": {"clusters": [{"name": "origin", "type": "SIMPLE", "lb_type": "LB_ROUNDROBIN", "connect_timeout": "1s", "hosts": [%s]}]}
}`, routeExtra, down, up, strings.Join(hs, ","))
}

// Http2 -> Http2: requests and bodies of several sizes, headers, trailers
// and status codes go through; a direct response is answered by the proxy.
func TestHTTP2Proxy(t *testing.T) {
	origin := startH2cOrigin(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("Trailer", "X-Sum")
		w.Header().Set("X-Proto", r.Proto)
		w.Header().Set("X-Host", r.Host)
		w.Header().Set("X-Echo", r.Header.Get("X-In"))
		if r.URL.Path == "/teapot" {
			w.WriteHeader(418)
		}
		w.Write(body)
		w.Header().Set("X-Sum", fmt.Sprint(len(body)))
	}))
	p := startProxy(t, h2ProxyConfig("Http2", "Http2", "", origin))
	c := h2cClient()
	for _, size := range []int{0, 128, 3 << 20} {
		body := bytes.Repeat([]byte("x"), size)
		req, _ := http.NewRequest("POST", p.url("in", "/echo"), bytes.NewReader(body))
		req.Header.Set("X-In", "hello")
		resp, err := c.Do(req)
		if err != nil {
			t.Fatalf("%d bytes: %v", size, err)
		}
		got, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || !bytes.Equal(got, body) {
			t.Fatalf("%d bytes: got %d bytes, err %v", size, len(got), err)
		}
		if resp.StatusCode != 200 || resp.Header.Get("X-Proto") != "HTTP/2.0" || resp.Header.Get("X-Echo") != "hello" {
			t.Fatalf("%d bytes: status %d, headers %v", size, resp.StatusCode, resp.Header)
		}
		if resp.Trailer.Get("X-Sum") != fmt.Sprint(size) {
			t.Fatalf("%d bytes: trailer %v", size, resp.Trailer)
		}
	}
	resp, err := c.Get(p.url("in", "/teapot"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 418 {
		t.Fatalf("status %d, want 418", resp.StatusCode)
	}
	// :path is normalized before routing, as an HTTP/1 target is.
	for _, path := range []string{"/direct", "/./x/../direct", "//direct", "/%64irect"} {
		resp, err = c.Get(p.url("in", path))
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || string(got) != "direct\n" {
			t.Fatalf("%s: %d %q", path, resp.StatusCode, got)
		}
	}
	resp, err = c.Get(p.url("in", "/../etc"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 400 {
		t.Fatalf("/../etc: %d, want 400", resp.StatusCode)
	}
}

// Many concurrent streams on one downstream connection each get their own
// answer.
func TestHTTP2ProxyConcurrentStreams(t *testing.T) {
	origin := startH2cOrigin(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, r.URL.Path)
	}))
	p := startProxy(t, h2ProxyConfig("Http2", "Http2", "", origin))
	c := h2cClient()
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for i := range 100 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			path := fmt.Sprintf("/s/%d", i)
			resp, err := c.Get(p.url("in", path))
			if err != nil {
				errs <- err
				return
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if string(b) != path {
				errs <- fmt.Errorf("got %q for %s", b, path)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	_ = time.Second
}

// convEchoOrigin answers with the request body, its protocol, its length
// as the origin saw it, and a trailer counting the body.
func convEchoOrigin() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Trailer", "X-Sum")
		w.Header().Set("X-Proto", r.Proto)
		w.Header().Set("X-Host", r.Host)
		w.Header().Set("X-Len", fmt.Sprint(r.ContentLength))
		w.Header().Set("X-Conn", r.Header.Get("Connection")+r.Header.Get("Keep-Alive"))
		// Read whole before answering: net/http's HTTP/1 server garbles a
		// chunked request body read while its response is being written.
		b, _ := io.ReadAll(r.Body)
		w.Write(b)
		w.Header().Set("X-Sum", fmt.Sprint(len(b)))
	})
}

// conversionCases are request bodies of 0 B, 128 B and a few MiB, sent with
// a length and without (chunked on HTTP/1, no content-length on HTTP/2).
func conversionCases() (cases []struct {
	name  string
	body  []byte
	sized bool
}) {
	for _, size := range []int{0, 128, 4 << 20} {
		for _, sized := range []bool{true, false} {
			cases = append(cases, struct {
				name  string
				body  []byte
				sized bool
			}{fmt.Sprintf("%dB sized=%v", size, sized), bytes.Repeat([]byte("0123456789abcdef"), size/16), sized})
		}
	}
	return cases
}

// An HTTP/1 client through an Http1 -> Http2 listener to an h2c origin:
// the request goes up as HTTP/2 (hop-by-hop fields dropped, Host as
// :authority), the answer comes back as HTTP/1.1 with its body and
// trailers.
func TestHTTP1ToHTTP2(t *testing.T) {
	origin := startH2cOrigin(t, convEchoOrigin())
	p := startProxy(t, h2ProxyConfig("Http1", "Http2", "", origin))
	c := &http.Client{Transport: &http.Transport{}}
	for _, tc := range conversionCases() {
		var body io.Reader = bytes.NewReader(tc.body)
		if !tc.sized {
			body = io.MultiReader(body) // no length known: chunked
		}
		req, _ := http.NewRequest("POST", p.url("in", "/echo"), body)
		req.Header.Set("Keep-Alive", "timeout=5")
		resp, err := c.Do(req)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		got, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || !bytes.Equal(got, tc.body) {
			t.Fatalf("%s: got %d bytes, %v", tc.name, len(got), err)
		}
		if resp.Proto != "HTTP/1.1" || resp.Header.Get("X-Proto") != "HTTP/2.0" || resp.Header.Get("X-Host") != p.addr("in") ||
			resp.Header.Get("X-Conn") != "" {
			t.Fatalf("%s: %s, headers %v", tc.name, resp.Proto, resp.Header)
		}
		// x/net's server puts the trailer in the head of an empty response.
		if resp.Trailer.Get("X-Sum")+resp.Header.Get("X-Sum") != fmt.Sprint(len(tc.body)) {
			t.Fatalf("%s: trailer %v, header %v", tc.name, resp.Trailer, resp.Header)
		}
	}
}

// An h2c client through an Http2 -> Http1 listener to an HTTP/1 origin.
func TestHTTP2ToHTTP1(t *testing.T) {
	origin, _ := startOrigin(t, convEchoOrigin())
	p := startProxy(t, h2ProxyConfig("Http2", "Http1", "", origin))
	c := h2cClient()
	for _, tc := range conversionCases() {
		var body io.Reader = bytes.NewReader(tc.body)
		if !tc.sized {
			body = io.MultiReader(body)
		}
		req, _ := http.NewRequest("POST", p.url("in", "/echo"), body)
		resp, err := c.Do(req)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		got, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || !bytes.Equal(got, tc.body) {
			t.Fatalf("%s: got %d bytes, %v (origin read %s)", tc.name, len(got), err, resp.Trailer.Get("X-Sum"))
		}
		// A body without a length goes chunked unless it arrived whole with
		// the head (then it is counted).
		wantLen := fmt.Sprint(len(tc.body))
		if !tc.sized && len(tc.body) > 1<<20 {
			wantLen = "-1"
		}
		if gotLen := resp.Header.Get("X-Len"); gotLen != wantLen && (tc.sized || gotLen != "-1") {
			t.Fatalf("%s: origin saw content-length %s, want %s", tc.name, gotLen, wantLen)
		}
		if resp.Proto != "HTTP/2.0" || resp.Header.Get("X-Proto") != "HTTP/1.1" || resp.Header.Get("X-Host") != p.addr("in") {
			t.Fatalf("%s: %s, headers %v", tc.name, resp.Proto, resp.Header)
		}
	}
}
