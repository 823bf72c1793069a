package server

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// scriptedOrigin is an HTTP/1.1 origin on loopback that parses requests with
// net/http's reader and answers each by writing raw bytes: act gets the
// connection's number (from 1), the request's number on it (from 1) and the
// request with its body unread, and returns false to close the connection.
func scriptedOrigin(t *testing.T, act func(c net.Conn, conn, n int, req *http.Request) bool) string {
	var conns atomic.Int32
	return serveTCP(t, func(c net.Conn) {
		defer c.Close()
		id := int(conns.Add(1))
		br := bufio.NewReader(c)
		for n := 1; ; n++ {
			req, err := http.ReadRequest(br)
			if err != nil {
				return
			}
			if !act(c, id, n, req) {
				return
			}
		}
	})
}

func rawResponse(body string) string {
	return fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
}

// An origin that sends a second, unsolicited response after the one asked
// for: those bytes must never be taken for the next request's response
// (response-queue poisoning); the connection carrying them is closed with a
// log line and counted.
func TestUpstreamBytesOutOfTurnNeverReachAnotherClient(t *testing.T) {
	for _, late := range []bool{false, true} {
		t.Run(fmt.Sprintf("late=%v", late), func(t *testing.T) {
			strayOut := make(chan struct{}, 16)
			origin := scriptedOrigin(t, func(c net.Conn, _, _ int, req *http.Request) bool {
				io.Copy(io.Discard, req.Body)
				answer, stray := rawResponse("resp:"+req.URL.Path), rawResponse("stray:"+req.URL.Path)
				if late {
					io.WriteString(c, answer)
					time.Sleep(50 * time.Millisecond)
					io.WriteString(c, stray)
				} else {
					io.WriteString(c, answer+stray)
				}
				strayOut <- struct{}{} // on loopback, queued at the proxy by now
				return true
			})
			p := startProxy(t, httpProxyConfig("LB_ROUNDROBIN", "", origin))
			client := newClient()
			for i := range 4 {
				path := fmt.Sprintf("/r%d", i)
				if code, body := get(t, client, p.url("in", path)); code != 200 || body != "resp:"+path {
					t.Fatalf("GET %s: %d %q, want 200 %q", path, code, body, "resp:"+path)
				}
				<-strayOut
			}
			host := p.clusters.Get("origin").Hosts[0]
			if n := host.ProtocolErrors.Load(); n < 3 {
				t.Errorf("protocol errors counted: %d, want at least 3", n)
			}
			if !strings.Contains(p.log.String(), "upstream sent bytes nobody asked for") {
				t.Errorf("no log line for the bytes out of turn")
			}
		})
	}
}

// The origin closes a keep-alive connection just as the proxy reuses it for
// a POST (it reads the head and hangs up): the request goes again, with its
// whole body, on a new connection, whether the body came with the head or
// after it. A body too large to hold gets a 502 at once.
func TestStaleUpstreamConnectionRetriedWithWholeBody(t *testing.T) {
	origin := scriptedOrigin(t, func(c net.Conn, conn, n int, req *http.Request) bool {
		if conn == 1 && n == 2 {
			return false // hang up on the request, body unread
		}
		body, err := io.ReadAll(req.Body)
		if err != nil {
			return false
		}
		io.WriteString(c, rawResponse(fmt.Sprintf("conn %d got %d bytes: %.16s", conn, len(body), body)))
		return true
	})
	p := startProxy(t, httpProxyConfig("LB_ROUNDROBIN", "", origin))
	c := dialRaw(t, p.addr("in"))
	br := bufio.NewReader(c)
	io.WriteString(c, "GET /warm HTTP/1.1\r\nHost: x\r\n\r\n")
	expectBodies(t, br, "conn 1 got 0 bytes: ")

	// Body with the head; the proxy's pooled connection is the one the
	// origin hangs up on.
	io.WriteString(c, "POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\nhello world")
	expectBodies(t, br, "conn 2 got 11 bytes: hello world")

	// Body after the head: the proxy has to read it while the stale
	// connection fails, and send it whole on the new one.
	p2 := startProxy(t, httpProxyConfig("LB_ROUNDROBIN", "", scriptedOrigin(t, func(c net.Conn, conn, n int, req *http.Request) bool {
		if conn == 1 && n == 2 {
			return false
		}
		body, _ := io.ReadAll(req.Body)
		io.WriteString(c, rawResponse(fmt.Sprintf("conn %d got %d bytes: %.16s", conn, len(body), body)))
		return true
	})))
	c2 := dialRaw(t, p2.addr("in"))
	br2 := bufio.NewReader(c2)
	io.WriteString(c2, "GET /warm HTTP/1.1\r\nHost: x\r\n\r\n")
	expectBodies(t, br2, "conn 1 got 0 bytes: ")
	io.WriteString(c2, "POST /b HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
	time.Sleep(50 * time.Millisecond) // the head goes out alone
	io.WriteString(c2, "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n")
	expectBodies(t, br2, "conn 2 got 11 bytes: hello world")

	// Too large to hold: 502 at once, not the route timeout's 504.
	p3 := startProxy(t, httpProxyConfig("LB_ROUNDROBIN", "", scriptedOrigin(t, func(c net.Conn, conn, n int, req *http.Request) bool {
		if n == 2 {
			return false
		}
		io.Copy(io.Discard, req.Body)
		io.WriteString(c, rawResponse("ok"))
		return true
	})))
	c3 := dialRaw(t, p3.addr("in"))
	br3 := bufio.NewReader(c3)
	io.WriteString(c3, "GET /warm HTTP/1.1\r\nHost: x\r\n\r\n")
	expectBodies(t, br3, "ok")
	const size = 1 << 20
	fmt.Fprintf(c3, "POST /big HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n", size)
	go c3.Write(make([]byte, size)) // the proxy may stop reading it
	resp, err := http.ReadResponse(br3, nil)
	if err != nil {
		// A reset may overtake the 502 (the proxy closes with body unread);
		// what must not happen is a wait for the route timeout.
		if errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("a request too large to retry hung: %v", err)
		}
		return
	}
	resp.Body.Close()
	if resp.StatusCode != 502 {
		t.Fatalf("body too large to hold: status %d, want 502", resp.StatusCode)
	}
}

// A request body that fails on the client's side ends the upstream exchange
// at once: the origin's connection, holding a partial request, is closed,
// and a malformed chunk is answered 400 without waiting for the origin.
func TestFailedRequestBodyReleasesUpstream(t *testing.T) {
	closed := make(chan string, 4)
	origin := serveTCP(t, func(c net.Conn) {
		defer c.Close()
		var got []byte
		buf := make([]byte, 4096)
		for {
			n, err := c.Read(buf)
			got = append(got, buf[:n]...)
			if err != nil {
				closed <- string(got)
				return
			}
		}
	})
	p := startProxy(t, httpProxyConfig("LB_ROUNDROBIN", "", origin))
	wait := func(what string) {
		t.Helper()
		select {
		case <-closed:
		case <-time.After(5 * time.Second): // the route timeout is 15s
			t.Fatalf("%s: the origin's connection is still open", what)
		}
	}

	c := dialRaw(t, p.addr("in"))
	io.WriteString(c, "POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n0123456789")
	time.Sleep(50 * time.Millisecond) // the head is forwarded
	c.Close()
	wait("client gone mid-body")

	c = dialRaw(t, p.addr("in"))
	io.WriteString(c, "POST /x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n")
	time.Sleep(50 * time.Millisecond)
	io.WriteString(c, "zz\r\nbad\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("malformed chunk: %v, want a 400", err)
	}
	if resp.StatusCode != 400 {
		t.Fatalf("malformed chunk: status %d, want 400", resp.StatusCode)
	}
	wait("malformed chunk")
}

// The drain timeout bounds the whole shutdown: a request hanging upstream is
// cut when it runs out, and the admin API says draining meanwhile.
func TestDrainTimeoutBoundsShutdown(t *testing.T) {
	origin := serveTCP(t, func(c net.Conn) { io.Copy(io.Discard, c); c.Close() }) // never answers
	p := startProxy(t, httpProxyConfig("LB_ROUNDROBIN", `, "timeout": "60s"`, origin))
	c := dialRaw(t, p.addr("in"))
	io.WriteString(c, "GET /hang HTTP/1.1\r\nHost: x\r\n\r\n")
	waitFor(t, "the request to reach the origin", func() bool {
		return p.clusters.Get("origin").ActiveRequests.Load() == 1
	})
	adminURL := "http://" + p.AdminAddr().String() + "/api/v1/states"
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	done := make(chan struct{})
	go func() { p.Shutdown(ctx); close(done) }()
	waitFor(t, "the admin API to say draining", func() bool {
		_, body := get(t, newClient(), adminURL)
		return strings.Contains(body, "Draining")
	})
	select {
	case <-done:
	case <-time.After(10 * time.Second): // far below the route's 60s
		t.Fatal("shutdown did not end after its drain timeout")
	}
	if n := p.clusters.Get("origin").ActiveRequests.Load(); n != 0 {
		t.Errorf("%d requests still active after shutdown", n)
	}
	if got := p.streams.Snapshot(nil, nil); len(got) != 0 {
		t.Errorf("streams still listed after shutdown: %v", got)
	}
}

// Property: whatever an origin does wrong — bytes after a response, at once
// or later, closing before answering, a truncated body, closing after a
// response, half a head — no byte of one request's response reaches
// another request, and a request the origin answers properly gets that
// answer.
func TestPoolReuseNeverCrossesResponses(t *testing.T) {
	const (
		normal = iota
		extraBytes
		lateBytes
		earlyClose
		truncatedBody
		closeAfter
		halfHead
		behaviours
	)
	for _, seed := range []uint64{1, 2, 3} {
		t.Run(fmt.Sprint("seed=", seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 0x5eed))
			const requests = 60
			plan := make([]int, requests)
			for i := range plan {
				plan[i] = rng.IntN(behaviours)
				if rng.IntN(2) == 0 {
					plan[i] = normal // half of them well behaved
				}
			}
			lateDone := make(chan struct{}, 1)
			origin := scriptedOrigin(t, func(c net.Conn, _, _ int, req *http.Request) bool {
				io.Copy(io.Discard, req.Body)
				var id int
				fmt.Sscanf(req.URL.Path, "/r%d", &id)
				answer := rawResponse(fmt.Sprintf("resp:%d", id))
				stray := rawResponse(fmt.Sprintf("stray:%d", id))
				switch plan[id] {
				case extraBytes:
					io.WriteString(c, answer+stray)
				case lateBytes:
					io.WriteString(c, answer)
					time.Sleep(5 * time.Millisecond)
					io.WriteString(c, stray)
					lateDone <- struct{}{}
				case earlyClose:
					return false
				case truncatedBody:
					io.WriteString(c, fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Length: 40\r\n\r\nresp:%d", id))
					return false
				case closeAfter:
					io.WriteString(c, answer)
					return false
				case halfHead:
					io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Le")
					return false
				default:
					io.WriteString(c, answer)
				}
				return true
			})
			p := startProxy(t, httpProxyConfig("LB_ROUNDROBIN", "", origin))
			client := newClient()
			for id, b := range plan {
				resp, err := client.Get(p.url("in", fmt.Sprintf("/r%d", id)))
				var body []byte
				if err == nil {
					body, err = io.ReadAll(resp.Body)
					resp.Body.Close()
				}
				want := fmt.Sprintf("resp:%d", id)
				switch {
				case err == nil && resp.StatusCode == 200 && string(body) != want && (b != truncatedBody || !strings.HasPrefix(want, string(body))):
					t.Fatalf("request %d (behaviour %d) got %q, want %q", id, b, body, want)
				case b == normal || b == extraBytes || b == lateBytes || b == closeAfter:
					if err != nil || resp.StatusCode != 200 {
						t.Fatalf("request %d (behaviour %d): %v, want 200 %q", id, b, err, want)
					}
				}
				if b == lateBytes {
					<-lateDone // the stray response is at the proxy before the next request
				}
			}
		})
	}
}

// The route timeout bounds the whole exchange, to the last byte of the
// response; a route that turns it off ("0s") can bound the time between
// bytes instead with idle_timeout, so a long download that keeps moving
// finishes and one that stalls is cut.
func TestRouteTimeoutAndIdleTimeout(t *testing.T) {
	// 20 chunks 50 ms apart, or a stall of 3 s after the first.
	origin := scriptedOrigin(t, func(c net.Conn, _, _ int, req *http.Request) bool {
		io.Copy(io.Discard, req.Body)
		io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 20\r\n\r\n")
		for i := range 20 {
			if req.URL.Path == "/stall" && i == 1 {
				time.Sleep(3 * time.Second)
			} else if i > 0 {
				time.Sleep(50 * time.Millisecond)
			}
			if _, err := io.WriteString(c, "x"); err != nil {
				return false
			}
		}
		return true
	})
	fetch := func(p *proxyUnderTest, path string) (int, error) {
		resp, err := newClient().Get(p.url("in", path))
		if err != nil {
			return 0, err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return len(b), err
	}

	whole := startProxy(t, httpProxyConfig("LB_ROUNDROBIN", `, "timeout": "300ms"`, origin))
	if n, err := fetch(whole, "/slow"); err == nil {
		t.Errorf("route timeout 300ms, a 1 s response: got all %d bytes, want it cut", n)
	}

	idle := startProxy(t, httpProxyConfig("LB_ROUNDROBIN", `, "timeout": "0s", "idle_timeout": "500ms"`, origin))
	if n, err := fetch(idle, "/slow"); err != nil || n != 20 {
		t.Errorf("idle_timeout 500ms, bytes every 50ms: got %d bytes, %v; want 20", n, err)
	}
	if n, err := fetch(idle, "/stall"); err == nil {
		t.Errorf("idle_timeout 500ms, a 3 s stall: got all %d bytes, want it cut", n)
	}
}

// Fields that used to be accepted and ignored: a ":method"/"method" header
// matcher on an HTTP/1 request, and a route's response header edits.
func TestMethodMatcherAndResponseHeaderEdits(t *testing.T) {
	origin, _ := startOrigin(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Secret", "s")
		w.Header().Set("X-Keep", "k")
		w.Header().Set("X-Replace", "old")
		io.WriteString(w, r.Method)
	}))
	p := startProxy(t, fmt.Sprintf(`{
  "servers": [{
    "routers": [{"router_config_name": "r", "virtual_hosts": [{"name": "v", "domains": ["*"],
      "response_headers_to_remove": ["x-secret"],
      "routers": [
        {"match": {"prefix": "/", "headers": [{"name": ":method", "value": "DELETE"}]}, "direct_response": {"status": 405, "body": "no deletes\n"}},
        {"match": {"prefix": "/", "headers": [{"name": "method", "value": "P(UT|ATCH)", "regex": true}]}, "direct_response": {"status": 403, "body": "read only\n"}},
        {"match": {"prefix": "/"}, "route": {"cluster_name": "origin",
          "response_headers_to_add": [{"header": {"key": "x-via", "value": "mosnctl"}},
                                      {"header": {"key": "x-replace", "value": "new"}, "append": false}]}}
      ]}]}],
    "listeners": [{"name": "in", "address": "127.0.0.1:0",
      "filter_chains": [{"filters": [{"type": "proxy", "config": {"downstream_protocol": "Http1", "router_config_name": "r"}}]}]}]
  }],
  "cluster_manager": {"clusters": [{"name": "origin", "type": "SIMPLE", "hosts": [{"address": %q}]}]}
}`, origin))
	client := newClient()
	for method, want := range map[string]int{"DELETE": 405, "PUT": 403, "PATCH": 403, "GET": 200} {
		req, _ := http.NewRequest(method, p.url("in", "/x"), nil)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("%s: status %d, want %d", method, resp.StatusCode, want)
		}
		if method != "GET" {
			continue
		}
		h := resp.Header
		if h.Get("X-Secret") != "" || h.Get("X-Keep") != "k" || h.Get("X-Via") != "mosnctl" || fmt.Sprint(h.Values("X-Replace")) != "[new]" {
			t.Errorf("response headers not edited as configured: %v", h)
		}
	}
}

// retry_policy.retry_timeout (MOSN's per-try timeout) bounds each try's wait
// for a response head; a try that runs out goes, body and all, to the next
// host while tries are left, and the last one's timeout is a 504 long
// before the route's.
func TestPerTryTimeoutRetriesOnTheNextHost(t *testing.T) {
	silent := serveTCP(t, func(c net.Conn) { io.Copy(io.Discard, c); c.Close() })
	echo, _ := startOrigin(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "echo %s", b)
	}))
	p := startProxy(t, httpProxyConfig("LB_ROUNDROBIN",
		`, "timeout": "20s", "retry_policy": {"retry_on": true, "num_retries": 1, "retry_timeout": "300ms"}`, silent, echo))
	client := newClient()
	client.Timeout = 5 * time.Second
	for i := range 4 {
		resp, err := client.Post(p.url("in", "/"), "text/plain", strings.NewReader(fmt.Sprint("body ", i)))
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || string(b) != fmt.Sprint("echo body ", i) {
			t.Fatalf("request %d: %d %q", i, resp.StatusCode, b)
		}
	}
	var silentHost = p.clusters.load().Get("origin").Hosts[0]
	if silentHost.Timeouts.Load() < 2 {
		t.Errorf("timeouts counted on the silent host: %d, want 2", silentHost.Timeouts.Load())
	}

	only := startProxy(t, httpProxyConfig("LB_ROUNDROBIN",
		`, "timeout": "20s", "retry_policy": {"retry_on": true, "num_retries": 0, "retry_timeout": "300ms"}`, silent))
	resp, err := client.Get(only.url("in", "/"))
	if err != nil {
		t.Fatalf("no tries left: %v (the per-try timeout should answer long before the route's)", err)
	}
	resp.Body.Close()
	if resp.StatusCode != 504 {
		t.Fatalf("no tries left: status %d, want 504", resp.StatusCode)
	}
}
