package http1

import (
	"strings"
	"testing"
)

func TestAppendRequestHead(t *testing.T) {
	tests := []struct {
		name  string
		in    string
		extra []Header
		want  string
	}{
		{"plain", crlf("GET /a?b HTTP/1.1\nHost: h\nAccept: */*\n\n"), nil,
			crlf("GET /a?b HTTP/1.1\nHost: h\nAccept: */*\n\n")},
		{"http/1.0 goes out as 1.1", crlf("GET / HTTP/1.0\nConnection: keep-alive\nKeep-Alive: timeout=5\n\n"),
			[]Header{{Name: []byte("Host"), Value: []byte("up")}},
			crlf("GET / HTTP/1.1\nHost: up\n\n")},
		{"hop-by-hop removed", crlf("POST /u HTTP/1.1\nHost: h\nConnection: keep-alive, X-Hop\nKeep-Alive: 5\n" +
			"Proxy-Connection: keep-alive\nTE: trailers\nTrailer: X-Sum\nUpgrade: h2c\nX-Hop: 1\nx-hop: 2\n" +
			"Expect: 100-continue\nContent-Length: 3\nX-Keep: yes\n\n"),
			[]Header{{Name: []byte("X-Forwarded-For"), Value: []byte("127.0.0.1")}},
			crlf("POST /u HTTP/1.1\nHost: h\nContent-Length: 3\nX-Keep: yes\nX-Forwarded-For: 127.0.0.1\n\n")},
		{"connection cannot strip framing or host", crlf("POST /u HTTP/1.1\nHost: h\nTransfer-Encoding: chunked\n" +
			"Connection: Transfer-Encoding, host, content-length\n\n"), nil,
			crlf("POST /u HTTP/1.1\nHost: h\nTransfer-Encoding: chunked\n\n")},
		{"close option is not a header name", crlf("GET / HTTP/1.1\nHost: h\nClose: x\nConnection: close, X-A\nX-A: 1\n\n"), nil,
			crlf("GET / HTTP/1.1\nHost: h\nClose: x\n\n")},
		{"standard tokens only", crlf("GET / HTTP/1.1\nHost: h\nClose: x\nConnection: close\nX-A: 1\n\n"), nil,
			crlf("GET / HTTP/1.1\nHost: h\nClose: x\nX-A: 1\n\n")},
		{"OWS normalised", "GET / HTTP/1.1\r\nHost:h\r\nX:\t v \t\r\n\r\n", nil,
			crlf("GET / HTTP/1.1\nHost: h\nX: v\n\n")},
		{"repeated Content-Length collapsed", crlf("POST / HTTP/1.1\ncontent-length: 5\nHost: h\nContent-Length: 5\nX: y\n\n"), nil,
			crlf("POST / HTTP/1.1\ncontent-length: 5\nHost: h\nX: y\n\n")},
		{"Content-Length list collapsed", crlf("POST / HTTP/1.1\nHost: h\nContent-Length: 5, 5 ,5\nX: y\n\n"), nil,
			crlf("POST / HTTP/1.1\nHost: h\nContent-Length: 5\nX: y\n\n")},
		{"single Content-Length verbatim", crlf("POST / HTTP/1.1\nHost: h\nContent-Length: 007\n\n"), nil,
			crlf("POST / HTTP/1.1\nHost: h\nContent-Length: 007\n\n")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r Request
			if _, err := ParseRequest([]byte(tt.in), &r, Limits{}); err != nil {
				t.Fatal(err)
			}
			if got := string(AppendRequestHead(nil, &r, tt.extra)); got != tt.want {
				t.Errorf("got  %q\nwant %q", got, tt.want)
			}
		})
	}
}

// TestRequestRoundTrip: what the proxy writes upstream parses back to the same message and, above all, the same
// framing.
func TestRequestRoundTrip(t *testing.T) {
	for _, in := range []string{
		crlf("GET /index.html HTTP/1.1\nHost: example.com\nUser-Agent: curl/8.5.0\nAccept: */*\n\n"),
		crlf("POST /api HTTP/1.1\nHost: a\nContent-Type: application/json\nContent-Length: 42\n\n"),
		crlf("PUT /x HTTP/1.1\nHost: a\nTransfer-Encoding: chunked\nExpect: 100-continue\nConnection: close\n\n"),
		crlf("GET http://example.com/p?q HTTP/1.1\nHost: example.com\nCookie: a=b; c=d\n\n"),
	} {
		var r, r2 Request
		if _, err := ParseRequest([]byte(in), &r, Limits{}); err != nil {
			t.Fatal(err)
		}
		out := AppendRequestHead(nil, &r, nil)
		n, err := ParseRequest(out, &r2, Limits{})
		if err != nil || n != len(out) {
			t.Fatalf("reparse %q: n=%d err=%v", out, n, err)
		}
		if string(r2.Method) != string(r.Method) || string(r2.URI) != string(r.URI) || string(r2.Host) != string(r.Host) ||
			r2.ContentLength != r.ContentLength || r2.Chunked != r.Chunked {
			t.Errorf("round trip changed the request: %q -> %q", in, out)
		}
		want := forwardedHeaders(r.Headers, true)
		if !sameHeaders(r2.Headers, want) {
			t.Errorf("headers %q, want %q", r2.Headers, want)
		}
	}
}

// forwardedHeaders is the reference filter AppendRequestHead/AppendResponseHead must match, written the slow
// obvious way.
func forwardedHeaders(hs []Header, request bool) []Header {
	hop := map[string]bool{"connection": true, "keep-alive": true, "proxy-connection": true, "te": true,
		"trailer": true, "upgrade": true}
	if request {
		hop["expect"] = true
	}
	for _, h := range hs {
		if strings.EqualFold(string(h.Name), "connection") {
			for _, tok := range strings.Split(string(h.Value), ",") {
				tok = asciiLower(strings.Trim(tok, " \t"))
				if tok != "content-length" && tok != "transfer-encoding" && tok != "host" && tok != "close" {
					hop[tok] = true
				}
			}
		}
	}
	var out []Header
	for _, h := range hs {
		if !hop[asciiLower(string(h.Name))] {
			out = append(out, h)
		}
	}
	return out
}

// asciiLower folds only A-Z: strings.ToLower would map e.g. the Kelvin sign to "k", which HTTP does not.
func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

func sameHeaders(a, b []Header) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if string(a[i].Name) != string(b[i].Name) || string(a[i].Value) != string(b[i].Value) {
			return false
		}
	}
	return true
}

func TestAppendResponseHead(t *testing.T) {
	var r Response
	in := crlf("HTTP/1.0 200 Fine\nConnection: keep-alive, X-Internal\nKeep-Alive: timeout=5\nX-Internal: 1\n" +
		"Content-Length: 2\nExpect: kept-on-responses\n\n")
	if _, err := ParseResponse([]byte(in), &r, Limits{}); err != nil {
		t.Fatal(err)
	}
	got := string(AppendResponseHead(nil, &r, []Header{{Name: []byte("Via"), Value: []byte("1.1 mosnctl")}}))
	want := crlf("HTTP/1.1 200 Fine\nContent-Length: 2\nExpect: kept-on-responses\nVia: 1.1 mosnctl\n\n")
	if got != want {
		t.Errorf("got  %q\nwant %q", got, want)
	}
	for _, in := range []string{
		crlf("HTTP/1.1 200 OK\nContent-Length: 2\nX: y\nContent-Length: 2\n\n"),
		crlf("HTTP/1.1 200 OK\nContent-Length: 2,2\nX: y\n\n"),
	} {
		var r Response
		if _, err := ParseResponse([]byte(in), &r, Limits{}); err != nil {
			t.Fatal(err)
		}
		if got, want := string(AppendResponseHead(nil, &r, nil)), crlf("HTTP/1.1 200 OK\nContent-Length: 2\nX: y\n\n"); got != want {
			t.Errorf("repeated Content-Length %q:\ngot  %q\nwant %q", in, got, want)
		}
	}
	r.Reason = nil
	r.Status = 503
	if got := string(AppendResponseHead(nil, &r, nil)); !strings.HasPrefix(got, "HTTP/1.1 503 Service Unavailable\r\n") {
		t.Errorf("default reason: %q", got)
	}
}

func TestAppendLocalResponse(t *testing.T) {
	tests := []struct {
		status    int
		body      string
		keepAlive bool
		want      string
	}{
		{404, "no route\n", true, crlf("HTTP/1.1 404 Not Found\nContent-Type: text/plain; charset=utf-8\nContent-Length: 9\n\n") + "no route\n"},
		{502, "", false, crlf("HTTP/1.1 502 Bad Gateway\nContent-Length: 0\nConnection: close\n\n")},
		{204, "ignored", true, crlf("HTTP/1.1 204 No Content\n\n")},
		{100, "", true, crlf("HTTP/1.1 100 Continue\n\n")},
		{299, "x", true, crlf("HTTP/1.1 299 \nContent-Type: text/plain; charset=utf-8\nContent-Length: 1\n\n") + "x"},
	}
	for _, tt := range tests {
		got := string(AppendLocalResponse(nil, tt.status, []byte(tt.body), tt.keepAlive))
		if got != tt.want {
			t.Errorf("%d: got  %q\nwant %q", tt.status, got, tt.want)
			continue
		}
		var r Response
		n, err := ParseResponse([]byte(got), &r, Limits{})
		if err != nil || r.Status != tt.status || r.KeepAlive != tt.keepAlive || got[n:] != tt.want[n:] {
			t.Errorf("%d: reparse n=%d err=%v status=%d keepAlive=%v", tt.status, n, err, r.Status, r.KeepAlive)
		}
	}
}

func TestStatusText(t *testing.T) {
	for code, want := range map[int]string{200: "OK", 404: "Not Found", 413: "Content Too Large", 431: "Request Header Fields Too Large",
		505: "HTTP Version Not Supported", 599: "", 0: ""} {
		if got := StatusText(code); got != want {
			t.Errorf("StatusText(%d) = %q, want %q", code, got, want)
		}
	}
}

func TestZeroAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector's instrumentation allocates")
	}
	req := []byte(benchBrowserRequest)
	resp := []byte(benchResponse)
	body := benchChunkedBody()
	bad := []byte("GET / HTTP/1.1\r\nHost : a\r\n\r\n")
	var (
		r   Request
		rs  Response
		c   ChunkedReader
		dst = make([]byte, 0, 4096)
	)
	for name, f := range map[string]func(){
		"ParseRequest": func() {
			if _, err := ParseRequest(req, &r, Limits{}); err != nil {
				t.Fatal(err)
			}
			_, _ = r.Header("cookie")
			_ = r.Path()
		},
		"ParseResponse": func() {
			if _, err := ParseResponse(resp, &rs, Limits{}); err != nil {
				t.Fatal(err)
			}
		},
		"AppendRequestHead": func() { dst = AppendRequestHead(dst[:0], &r, nil) },
		"AppendLocalResponse": func() {
			dst = AppendLocalResponse(dst[:0], 404, []byte("x"), true)
		},
		"ChunkedReader": func() {
			c.Reset()
			for b := body; len(b) > 0; {
				n, _, _, err := c.Next(b)
				if err != nil {
					t.Fatal(err)
				}
				b = b[n:]
			}
		},
		"Malformed": func() { _, _ = ParseRequest(bad, &r, Limits{}) },
	} {
		if a := testing.AllocsPerRun(50, f); a != 0 {
			t.Errorf("%s: %v allocs per run, want 0", name, a)
		}
	}
}
