package server

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

func echoOrigin() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/slow":
			time.Sleep(2 * time.Second)
			io.WriteString(w, "late")
		case r.URL.Path == "/echo":
			// Echo the body back, chunked (no Content-Length), flushing as
			// it goes so the response streams while the request streams.
			w.Header().Set("X-Request-TE", strings.Join(r.TransferEncoding, ","))
			// net/http stops reading a request body once the response is
			// flushed unless told the handler is full duplex.
			http.NewResponseController(w).EnableFullDuplex()
			f := w.(http.Flusher)
			buf := make([]byte, 32<<10)
			for {
				n, err := r.Body.Read(buf)
				if n > 0 {
					w.Write(buf[:n])
					f.Flush()
				}
				if err != nil {
					break
				}
			}
		case strings.HasPrefix(r.URL.Path, "/big/"):
			var n int
			fmt.Sscanf(r.URL.Path, "/big/%d", &n)
			w.Header().Set("Content-Length", fmt.Sprint(n))
			// Streamed: building a 256 MiB body first takes seconds under -race.
			chunk := bytes.Repeat([]byte("b"), 64<<10)
			for n > 0 {
				k := min(n, len(chunk))
				if _, err := w.Write(chunk[:k]); err != nil {
					return
				}
				n -= k
			}
		default:
			w.Header().Set("X-Origin-Path", r.URL.RequestURI())
			w.Header().Set("X-Origin-Host", r.Host)
			fmt.Fprintf(w, "hello %s", r.URL.Path)
		}
	})
}

func TestHTTP1ProxyKeepAliveSequentialAndConcurrent(t *testing.T) {
	origin, conns := startOrigin(t, echoOrigin())
	p := startProxy(t, httpProxyConfig("LB_ROUNDROBIN", "", origin))
	c := newClient()
	for i := 0; i < 1000; i++ {
		code, body := get(t, c, p.url("in", fmt.Sprintf("/seq/%d", i)))
		if code != 200 || body != fmt.Sprintf("hello /seq/%d", i) {
			t.Fatalf("request %d: %d %q", i, code, body)
		}
	}
	if n := conns.count(); n != 1 {
		t.Errorf("1000 sequential keep-alive requests used %d upstream connections, want 1", n)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for i := 0; i < 100; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := c.Get(p.url("in", fmt.Sprintf("/par/%d", i)))
			if err != nil {
				errs <- err
				return
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 || string(b) != fmt.Sprintf("hello /par/%d", i) {
				errs <- fmt.Errorf("request %d: %d %q", i, resp.StatusCode, b)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	// The proxy counts a request just after its response is written.
	waitFor(t, "1100 2xx requests counted", func() bool { return p.Stats().RequestsByClass["2xx"] == 1100 })
}

func TestHTTP1Pipelining(t *testing.T) {
	origin, _ := startOrigin(t, echoOrigin())
	p := startProxy(t, httpProxyConfig("LB_ROUNDROBIN", "", origin))
	c := dialRaw(t, p.addr("in"))
	// Three requests in one write; the responses must come back in order.
	io.WriteString(c, "GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\nGET /c HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
	expectBodies(t, bufio.NewReader(c), "hello /a", "hello /b", "hello /c")
}

func TestHTTP1ChunkedUploadAndDownloadStreamed(t *testing.T) {
	origin, _ := startOrigin(t, echoOrigin())
	p := startProxy(t, httpProxyConfig("LB_ROUNDROBIN", "", origin))
	// 24 MiB sent chunked through a pipe (unknown length): the proxy must
	// stream it both ways; the digest proves nothing was lost or reordered.
	const size = 24 << 20
	pr, pw := io.Pipe()
	want := sha256.New()
	go func() {
		chunk := make([]byte, 64<<10)
		for sent := 0; sent < size; sent += len(chunk) {
			for i := range chunk {
				chunk[i] = byte(sent/len(chunk) + i)
			}
			want.Write(chunk)
			if _, err := pw.Write(chunk); err != nil {
				return
			}
		}
		pw.Close()
	}()
	req, _ := http.NewRequest("POST", p.url("in", "/echo"), pr)
	resp, err := newClient().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if te := resp.Header.Get("X-Request-TE"); te != "chunked" {
		t.Errorf("origin saw Transfer-Encoding %q, want chunked", te)
	}
	if len(resp.TransferEncoding) == 0 || resp.TransferEncoding[0] != "chunked" {
		t.Errorf("response Transfer-Encoding %v, want chunked", resp.TransferEncoding)
	}
	got := sha256.New()
	n, err := io.Copy(got, resp.Body)
	if err != nil || n != size {
		t.Fatalf("echoed %d bytes (err %v), want %d", n, err, size)
	}
	if !bytes.Equal(got.Sum(nil), want.Sum(nil)) {
		t.Fatal("echoed body differs from the body sent")
	}
}

func TestHTTP1LargeContentLengthBodies(t *testing.T) {
	origin, _ := startOrigin(t, echoOrigin())
	p := startProxy(t, httpProxyConfig("LB_ROUNDROBIN", "", origin))
	c := newClient()
	const size = 48 << 20
	code, body := get(t, c, p.url("in", fmt.Sprintf("/big/%d", size)))
	if code != 200 || len(body) != size || strings.Trim(body, "b") != "" {
		t.Fatalf("download: %d, %d bytes", code, len(body))
	}
	up := bytes.Repeat([]byte("u"), 16<<20)
	resp, err := c.Post(p.url("in", "/echo"), "application/octet-stream", bytes.NewReader(up))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !bytes.Equal(b, up) {
		t.Fatalf("upload echo: got %d bytes, want %d", len(b), len(up))
	}
}

func TestHTTP1ExpectContinue(t *testing.T) {
	origin, _ := startOrigin(t, echoOrigin())
	p := startProxy(t, httpProxyConfig("LB_ROUNDROBIN", "", origin))
	c := dialRaw(t, p.addr("in"))
	io.WriteString(c, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
	br := bufio.NewReader(c)
	line, err := br.ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "HTTP/1.1 100") {
		t.Fatalf("want 100 Continue before the body, got %q (%v)", line, err)
	}
	br.ReadString('\n') // blank line after the interim response
	io.WriteString(c, "hello")
	expectBodies(t, br, "hello")
}

func TestHTTP1UpstreamDownIs503(t *testing.T) {
	p := startProxy(t, httpProxyConfig("LB_ROUNDROBIN", "", closedAddr(t)))
	code, body := get(t, newClient(), p.url("in", "/x"))
	if code != 503 {
		t.Fatalf("status %d %q, want 503", code, body)
	}
	cl := p.Clusters()[0]
	if cl.ConnectFailures == 0 {
		t.Errorf("connect failures not counted: %+v", cl)
	}
}

func TestHTTP1SlowUpstreamIs504(t *testing.T) {
	origin, _ := startOrigin(t, echoOrigin())
	p := startProxy(t, httpProxyConfig("LB_ROUNDROBIN", `, "timeout": "200ms"`, origin))
	code, body := get(t, newClient(), p.url("in", "/slow"))
	if code != 504 {
		t.Fatalf("status %d %q, want 504", code, body)
	}
	if h := p.Clusters()[0].Hosts[0]; h.Timeouts != 1 {
		t.Errorf("host timeouts = %d, want 1", h.Timeouts)
	}
}

func TestHTTP1DirectResponseAndNoRoute(t *testing.T) {
	origin, _ := startOrigin(t, echoOrigin())
	p := startProxy(t, httpProxyConfig("LB_ROUNDROBIN", "", origin))
	code, body := get(t, newClient(), p.url("in", "/direct"))
	if code != 200 || body != "direct\n" {
		t.Fatalf("direct response: %d %q", code, body)
	}
}

func TestHTTP1PrefixRewriteAndHeaders(t *testing.T) {
	origin, _ := startOrigin(t, echoOrigin())
	p := startProxy(t, httpProxyConfig("LB_ROUNDROBIN",
		`, "prefix_rewrite": "/new/", "host_rewrite": "origin.internal", "request_headers_to_add": [{"header": {"key": "X-Added", "value": "1"}}]`, origin))
	resp, err := newClient().Get(p.url("in", "/old/thing?q=1"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	// The catch-all route matched prefix "/", so "/" is replaced by "/new/".
	if got := resp.Header.Get("X-Origin-Path"); got != "/new/old/thing?q=1" {
		t.Errorf("origin saw path %q", got)
	}
	if got := resp.Header.Get("X-Origin-Host"); got != "origin.internal" {
		t.Errorf("origin saw host %q", got)
	}
}

func TestHTTP1LoadBalancersThroughProxy(t *testing.T) {
	counts := make([]int, 3)
	var mu sync.Mutex
	var addrs []string
	for i := range counts {
		a, _ := startOrigin(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			counts[i]++
			mu.Unlock()
		}))
		addrs = append(addrs, a)
	}
	for _, tc := range []struct {
		lb   string
		want func(counts []int) error
	}{
		{"LB_ROUNDROBIN", func(c []int) error {
			if c[0] != 100 || c[1] != 100 || c[2] != 100 {
				return fmt.Errorf("round robin shares %v, want 100 each", c)
			}
			return nil
		}},
		{"LB_RANDOM", func(c []int) error {
			for _, n := range c {
				if n < 60 || n > 140 { // 300 picks, p=1/3: ~8 sigma bounds
					return fmt.Errorf("random shares %v, want ~100 each", c)
				}
			}
			return nil
		}},
		{"LB_LEAST_REQUEST", func(c []int) error {
			if c[0]+c[1]+c[2] != 300 || c[0] == 0 || c[1] == 0 || c[2] == 0 {
				return fmt.Errorf("least request shares %v, want every host used", c)
			}
			return nil
		}},
	} {
		t.Run(tc.lb, func(t *testing.T) {
			clear(counts)
			p := startProxy(t, httpProxyConfig(tc.lb, "", addrs...))
			c := newClient()
			for i := 0; i < 300; i++ {
				if code, _ := get(t, c, p.url("in", "/")); code != 200 {
					t.Fatalf("status %d", code)
				}
			}
			mu.Lock()
			defer mu.Unlock()
			if err := tc.want(counts); err != nil {
				t.Error(err)
			}
		})
	}
}

func TestHTTP1WeightedRoundRobinThroughProxy(t *testing.T) {
	counts := map[string]int{}
	var mu sync.Mutex
	var hosts []string
	for i, w := range []int{5, 1} {
		a, _ := startOrigin(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			counts[fmt.Sprint(i)]++
			mu.Unlock()
		}))
		hosts = append(hosts, fmt.Sprintf(`{"address": %q, "weight": %d}`, a, w))
	}
	cfg := strings.Replace(httpProxyConfig("LB_WEIGHTED_ROUNDROBIN", ""), `"hosts": []`, `"hosts": [`+strings.Join(hosts, ",")+`]`, 1)
	p := startProxy(t, cfg)
	c := newClient()
	for i := 0; i < 600; i++ {
		get(t, c, p.url("in", "/"))
	}
	if counts["0"] != 500 || counts["1"] != 100 {
		t.Fatalf("weighted shares %v, want 500/100", counts)
	}
}

func TestHTTP1WeightedClusters(t *testing.T) {
	hitA, hitB := 0, 0
	var mu sync.Mutex
	a, _ := startOrigin(t, http.HandlerFunc(func(http.ResponseWriter, *http.Request) { mu.Lock(); hitA++; mu.Unlock() }))
	b, _ := startOrigin(t, http.HandlerFunc(func(http.ResponseWriter, *http.Request) { mu.Lock(); hitB++; mu.Unlock() }))
	cfg := fmt.Sprintf(`{
  "servers": [{
    "routers": [{"router_config_name": "r", "virtual_hosts": [{"name": "v", "domains": ["*"], "routers": [
      {"match": {"prefix": "/"}, "route": {"weighted_clusters": [{"cluster": {"name": "a", "weight": 80}}, {"cluster": {"name": "b", "weight": 20}}]}}
    ]}]}],
    "listeners": [{"name": "in", "address": "127.0.0.1:0",
      "filter_chains": [{"filters": [{"type": "proxy", "config": {"downstream_protocol": "Http1", "router_config_name": "r"}}]}]}]
  }],
  "cluster_manager": {"clusters": [
    {"name": "a", "type": "SIMPLE", "hosts": [{"address": %q}]},
    {"name": "b", "type": "SIMPLE", "hosts": [{"address": %q}]}
  ]}
}`, a, b)
	p := startProxy(t, cfg)
	c := newClient()
	for i := 0; i < 1000; i++ {
		get(t, c, p.url("in", "/"))
	}
	if hitA < 720 || hitA > 880 || hitA+hitB != 1000 {
		t.Fatalf("weighted clusters split %d/%d, want ~800/200", hitA, hitB)
	}
}

// A client that stops reading its response is cut after send_timeout
// without progress; the request ends and the proxy serves on.
func TestHTTP1SendTimeoutCutsClientNotReading(t *testing.T) {
	origin, _ := startOrigin(t, echoOrigin())
	cfg := strings.Replace(httpProxyConfig("LB_ROUNDROBIN", "", origin),
		`"address": "127.0.0.1:0",`, `"address": "127.0.0.1:0", "send_timeout": "300ms",`, 1)
	p := startProxy(t, cfg)
	stuck := dialStuck(t, p.addr("in"))
	fmt.Fprintf(stuck, "GET /big/%d HTTP/1.1\r\nHost: x\r\n\r\n", 256<<20)
	waitFor(t, "the download started", func() bool { return p.Stats().RequestsActive == 1 })
	waitFor(t, "the stalled download cut", func() bool { return p.Stats().RequestsActive == 0 })
	if code, body := get(t, newClient(), p.url("in", "/direct")); code != 200 || body != "direct\n" {
		t.Fatalf("after the cut: %d %q", code, body)
	}
}
