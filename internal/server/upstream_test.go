package server

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// closingOrigin answers one request per connection with a keep-alive
// response, then closes the connection a moment later without saying so:
// the proxy's pooled connection goes stale while it sits idle.
func closingOrigin(t *testing.T) (string, *atomic.Int32) {
	var conns atomic.Int32
	addr := serveTCP(t, func(c net.Conn) {
		conns.Add(1)
		defer c.Close()
		req, err := http.ReadRequest(bufio.NewReader(c))
		if err != nil {
			return
		}
		body := "served " + req.URL.Path
		fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
		time.Sleep(10 * time.Millisecond)
	})
	return addr, &conns
}

// TestStalePooledConnectionIsRetried: a request that lands on a pooled
// connection the upstream closed meanwhile is sent again on a fresh one;
// the client never sees the failure.
func TestStalePooledConnectionIsRetried(t *testing.T) {
	origin, conns := closingOrigin(t)
	p := startProxy(t, httpProxyConfig("LB_ROUNDROBIN", "", origin))
	c := newClient()
	for i := 0; i < 5; i++ {
		code, body := get(t, c, p.url("in", fmt.Sprintf("/r%d", i)))
		if code != 200 || body != fmt.Sprintf("served /r%d", i) {
			t.Fatalf("request %d: %d %q", i, code, body)
		}
		time.Sleep(40 * time.Millisecond) // the origin closes the idle connection
	}
	if n := conns.Load(); n != 5 {
		t.Errorf("origin saw %d connections, want 5 (one per request)", n)
	}
}

// TestRequestHeaderEdits: a route's request_headers_to_add with append
// false replaces the client's value; request_headers_to_remove drops one.
func TestRequestHeaderEdits(t *testing.T) {
	seen := make(chan http.Header, 1)
	origin, _ := startOrigin(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen <- r.Header.Clone()
	}))
	p := startProxy(t, httpProxyConfig("LB_ROUNDROBIN",
		`, "request_headers_to_add": [{"header": {"key": "X-Env", "value": "prod"}, "append": false}], "request_headers_to_remove": ["X-Secret"]`, origin))
	req, _ := http.NewRequest("GET", p.url("in", "/h"), nil)
	req.Header.Set("X-Env", "dev")
	req.Header.Set("X-Secret", "s3cr3t")
	req.Header.Set("X-Kept", "1")
	resp, err := newClient().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	h := <-seen
	if got := strings.Join(h.Values("X-Env"), ","); got != "prod" {
		t.Errorf("X-Env = %q, want prod only", got)
	}
	if h.Get("X-Secret") != "" || h.Get("X-Kept") != "1" {
		t.Errorf("headers at origin: %v", h)
	}
}

// TestLocalReplySkipsUnreadBody: a direct response to a request with a
// body keeps the connection usable: the body is skipped, and the next
// request on the connection is served.
func TestLocalReplySkipsUnreadBody(t *testing.T) {
	origin, _ := startOrigin(t, echoOrigin())
	p := startProxy(t, httpProxyConfig("LB_ROUNDROBIN", "", origin))
	c := dialRaw(t, p.addr("in"))
	io.WriteString(c, "POST /direct HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhelloGET /after HTTP/1.1\r\nHost: x\r\n\r\n")
	expectBodies(t, bufio.NewReader(c), "direct\n", "hello /after")
}

// TestRetryPolicyMovesPastADeadHost: with retry_policy on, a request whose
// first host refuses the connection is sent to the next host; without it,
// the client gets the 503.
func TestRetryPolicyMovesPastADeadHost(t *testing.T) {
	live, _ := startOrigin(t, echoOrigin())
	dead := closedAddr(t)
	p := startProxy(t, httpProxyConfig("LB_ROUNDROBIN", `, "retry_policy": {"retry_on": true, "num_retries": 1}`, dead, live))
	c := newClient()
	for i := 0; i < 6; i++ { // round robin alternates: half start on the dead host
		if code, body := get(t, c, p.url("in", "/r")); code != 200 || body != "hello /r" {
			t.Fatalf("request %d with retries: %d %q", i, code, body)
		}
	}
	q := startProxy(t, httpProxyConfig("LB_ROUNDROBIN", "", dead, live))
	codes := map[int]int{}
	for i := 0; i < 6; i++ {
		code, _ := get(t, c, q.url("in", "/r"))
		codes[code]++
	}
	if codes[503] != 3 || codes[200] != 3 {
		t.Fatalf("without retries: %v, want 3x 503 and 3x 200", codes)
	}
}
