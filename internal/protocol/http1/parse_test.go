package http1

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
)

// errStatus maps a parse result to a comparable code: 0 for success, -1 for ErrNeedMore, else the Error's status.
func statusOf(t testing.TB, err error) int {
	t.Helper()
	if err == nil {
		return 0
	}
	if errors.Is(err, ErrNeedMore) {
		return -1
	}
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v (%T) is neither ErrNeedMore nor *Error", err, err)
	}
	return e.Status
}

// crlf lets test inputs be written with "\n" line ends.
func crlf(s string) string { return strings.ReplaceAll(s, "\n", "\r\n") }

type reqWant struct {
	method, uri, host, path string
	minor                   int
	cl                      int64
	chunked, keepAlive      bool
	expect, upgrade         bool
	headers                 int
	framing                 Framing
}

func TestParseRequestValid(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want reqWant
	}{
		{"simple get", crlf("GET / HTTP/1.1\nHost: a\n\n"),
			reqWant{method: "GET", uri: "/", host: "a", path: "/", minor: 1, cl: -1, keepAlive: true, headers: 1}},
		{"query and fragment stripped from path", crlf("GET /p/q?x=1#f HTTP/1.1\nHost: a\n\n"),
			reqWant{method: "GET", uri: "/p/q?x=1#f", host: "a", path: "/p/q", minor: 1, cl: -1, keepAlive: true, headers: 1}},
		{"http/1.0 closes by default", crlf("GET / HTTP/1.0\n\n"),
			reqWant{method: "GET", uri: "/", path: "/", minor: 0, cl: -1}},
		{"http/1.0 keep-alive", crlf("GET / HTTP/1.0\nConnection: Keep-Alive\n\n"),
			reqWant{method: "GET", uri: "/", path: "/", minor: 0, cl: -1, keepAlive: true, headers: 1}},
		{"http/1.1 connection close", crlf("GET / HTTP/1.1\nHost: a\nConnection: keep-alive, CLOSE\n\n"),
			reqWant{method: "GET", uri: "/", host: "a", path: "/", minor: 1, cl: -1, headers: 2}},
		{"content-length", crlf("POST /u HTTP/1.1\nHost: a\nContent-Length: 5\n\n"),
			reqWant{method: "POST", uri: "/u", host: "a", path: "/u", minor: 1, cl: 5, keepAlive: true, headers: 2, framing: FramingLength}},
		{"content-length zero", crlf("POST /u HTTP/1.1\nHost: a\nContent-Length: 0\n\n"),
			reqWant{method: "POST", uri: "/u", host: "a", path: "/u", minor: 1, cl: 0, keepAlive: true, headers: 2}},
		{"repeated identical content-length, collapsed", crlf("POST /u HTTP/1.1\nHost: a\nContent-Length: 5\ncontent-length:5\n\n"),
			reqWant{method: "POST", uri: "/u", host: "a", path: "/u", minor: 1, cl: 5, keepAlive: true, headers: 2, framing: FramingLength}},
		{"content-length list of identical values", crlf("POST /u HTTP/1.1\nHost: a\nContent-Length: 7 , 7,7\n\n"),
			reqWant{method: "POST", uri: "/u", host: "a", path: "/u", minor: 1, cl: 7, keepAlive: true, headers: 2, framing: FramingLength}},
		{"content-length leading zeros", crlf("POST /u HTTP/1.1\nHost: a\nContent-Length: 007\n\n"),
			reqWant{method: "POST", uri: "/u", host: "a", path: "/u", minor: 1, cl: 7, keepAlive: true, headers: 2, framing: FramingLength}},
		{"chunked", crlf("POST /u HTTP/1.1\nHost: a\nTransfer-Encoding: chunked\n\n"),
			reqWant{method: "POST", uri: "/u", host: "a", path: "/u", minor: 1, cl: -1, chunked: true, keepAlive: true, headers: 2, framing: FramingChunked}},
		{"chunked any case", crlf("POST /u HTTP/1.1\nHost: a\ntransfer-encoding:  ChUnKeD \t\n\n"),
			reqWant{method: "POST", uri: "/u", host: "a", path: "/u", minor: 1, cl: -1, chunked: true, keepAlive: true, headers: 2, framing: FramingChunked}},
		{"expect continue", crlf("PUT /u HTTP/1.1\nHost: a\nExpect: 100-Continue\nContent-Length: 1\n\n"),
			reqWant{method: "PUT", uri: "/u", host: "a", path: "/u", minor: 1, cl: 1, keepAlive: true, expect: true, headers: 3, framing: FramingLength}},
		{"expect ignored in http/1.0", crlf("PUT /u HTTP/1.0\nExpect: 100-continue\n\n"),
			reqWant{method: "PUT", uri: "/u", path: "/u", minor: 0, cl: -1, headers: 1}},
		{"upgrade", crlf("GET /ws HTTP/1.1\nHost: a\nConnection: Upgrade\nUpgrade: websocket\n\n"),
			reqWant{method: "GET", uri: "/ws", host: "a", path: "/ws", minor: 1, cl: -1, keepAlive: true, upgrade: true, headers: 3}},
		{"upgrade header without connection token", crlf("GET /ws HTTP/1.1\nHost: a\nUpgrade: websocket\n\n"),
			reqWant{method: "GET", uri: "/ws", host: "a", path: "/ws", minor: 1, cl: -1, keepAlive: true, headers: 2}},
		{"absolute form overrides host", crlf("GET http://user@example.com:8080/x?y HTTP/1.1\nHost: other\n\n"),
			reqWant{method: "GET", uri: "http://user@example.com:8080/x?y", host: "example.com:8080", path: "/x", minor: 1, cl: -1, keepAlive: true, headers: 1}},
		{"absolute form without path", crlf("GET HTTPS://example.com?q HTTP/1.1\nHost: example.com\n\n"),
			reqWant{method: "GET", uri: "HTTPS://example.com?q", host: "example.com", path: "/", minor: 1, cl: -1, keepAlive: true, headers: 1}},
		{"asterisk form", crlf("OPTIONS * HTTP/1.1\nHost: a\n\n"),
			reqWant{method: "OPTIONS", uri: "*", host: "a", path: "*", minor: 1, cl: -1, keepAlive: true, headers: 1}},
		{"authority form", crlf("CONNECT example.com:443 HTTP/1.1\nHost: example.com:443\n\n"),
			reqWant{method: "CONNECT", uri: "example.com:443", host: "example.com:443", path: "example.com:443", minor: 1, cl: -1, keepAlive: true, headers: 1}},
		{"leading empty lines skipped", crlf("\n\nGET / HTTP/1.1\nHost: a\n\n"),
			reqWant{method: "GET", uri: "/", host: "a", path: "/", minor: 1, cl: -1, keepAlive: true, headers: 1}},
		{"ipv6 host with port", crlf("GET / HTTP/1.1\nHost: [::1]:8080\n\n"),
			reqWant{method: "GET", uri: "/", host: "[::1]:8080", path: "/", minor: 1, cl: -1, keepAlive: true, headers: 1}},
		{"empty host value is allowed", crlf("GET / HTTP/1.1\nHost:\n\n"),
			reqWant{method: "GET", uri: "/", host: "", path: "/", minor: 1, cl: -1, keepAlive: true, headers: 1}},
		{"ows trimmed and htab and obs-text allowed in value", "GET / HTTP/1.1\r\nHost: a\r\nX:\t a\tb \xff\t \r\n\r\n",
			reqWant{method: "GET", uri: "/", host: "a", path: "/", minor: 1, cl: -1, keepAlive: true, headers: 2}},
		{"token characters in method and name", crlf("M-1.x!#$%&'*+^_`|~ / HTTP/1.1\nHost: a\nX-!#$%&'*+.^_`|~: v\n\n"),
			reqWant{method: "M-1.x!#$%&'*+^_`|~", uri: "/", host: "a", path: "/", minor: 1, cl: -1, keepAlive: true, headers: 2}},
		{"high bytes in target are passed through", "GET /caf\xc3\xa9 HTTP/1.1\r\nHost: a\r\n\r\n",
			reqWant{method: "GET", uri: "/caf\xc3\xa9", host: "a", path: "/caf\xc3\xa9", minor: 1, cl: -1, keepAlive: true, headers: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r Request
			buf := []byte(tt.in + "BODY")
			n, err := ParseRequest(buf, &r, Limits{})
			if err != nil {
				t.Fatalf("ParseRequest: %v", err)
			}
			if n != len(tt.in) || r.HeadLen != n {
				t.Errorf("n = %d, HeadLen = %d, want %d", n, r.HeadLen, len(tt.in))
			}
			w := tt.want
			got := reqWant{
				method: string(r.Method), uri: string(r.URI), host: string(r.Host), path: string(r.Path()),
				minor: r.ProtoMinor, cl: r.ContentLength, chunked: r.Chunked, keepAlive: r.KeepAlive,
				expect: r.ExpectContinue, upgrade: r.Upgrade, headers: len(r.Headers), framing: r.Framing(),
			}
			if got != w {
				t.Errorf("got  %+v\nwant %+v", got, w)
			}
		})
	}
}

func TestParseRequestHeaders(t *testing.T) {
	in := crlf("GET / HTTP/1.1\nHost: example.com\nUser-Agent:  curl/8.5.0  \nAccept: */*\nX-Empty:\nx-dup: 1\nX-Dup: 2\n\n")
	var r Request
	if _, err := ParseRequest([]byte(in), &r, Limits{}); err != nil {
		t.Fatal(err)
	}
	want := []string{"Host", "example.com", "User-Agent", "curl/8.5.0", "Accept", "*/*", "X-Empty", "", "x-dup", "1", "X-Dup", "2"}
	if len(r.Headers)*2 != len(want) {
		t.Fatalf("got %d headers, want %d", len(r.Headers), len(want)/2)
	}
	for i, h := range r.Headers {
		if string(h.Name) != want[2*i] || string(h.Value) != want[2*i+1] {
			t.Errorf("header %d = %q: %q, want %q: %q", i, h.Name, h.Value, want[2*i], want[2*i+1])
		}
	}
	for _, tc := range []struct {
		name, value string
		ok          bool
	}{
		{"user-agent", "curl/8.5.0", true},
		{"USER-AGENT", "curl/8.5.0", true},
		{"X-DUP", "1", true},
		{"x-empty", "", true},
		{"missing", "", false},
		{"Hos", "", false},
	} {
		v, ok := r.Header(tc.name)
		if ok != tc.ok || string(v) != tc.value {
			t.Errorf("Header(%q) = %q, %v; want %q, %v", tc.name, v, ok, tc.value, tc.ok)
		}
	}
}

// TestParseRequestInvalid covers every strictness rule; smuggling vectors have their own test below.
func TestParseRequestInvalid(t *testing.T) {
	tests := []struct {
		name   string
		in     string
		status int
	}{
		{"bare LF ending request line", "GET / HTTP/1.1\nHost: a\r\n\r\n", 400},
		{"bare LF ending header", "GET / HTTP/1.1\r\nHost: a\n\r\n", 400},
		{"bare LF ending head", "GET / HTTP/1.1\r\nHost: a\r\n\n", 400},
		{"bare LF before request line", "\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", 400},
		{"bare CR in header value", "GET / HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n", 400},
		{"bare CR before CRLF", "GET / HTTP/1.1\r\nHost: a\r\nX: a\r\r\n\r\n", 400},
		{"bare CR in request line", "GET / HTTP/1.1\r\r\nHost: a\r\n\r\n", 400},
		{"bare CR in target", "GET /a\rb HTTP/1.1\r\nHost: a\r\n\r\n", 400},
		{"NUL in header value", "GET / HTTP/1.1\r\nHost: a\r\nX: a\x00b\r\n\r\n", 400},
		{"DEL in header value", "GET / HTTP/1.1\r\nHost: a\r\nX: a\x7fb\r\n\r\n", 400},
		{"CTL late in long header value", "GET / HTTP/1.1\r\nHost: a\r\nX: 0123456789abcdef0123456789\x01\r\n\r\n", 400},
		{"ESC in target", "GET /\x1b HTTP/1.1\r\nHost: a\r\n\r\n", 400},
		{"HTAB in target", "GET /a\tb HTTP/1.1\r\nHost: a\r\n\r\n", 400},
		{"DEL in target", "GET /0123456789\x7f HTTP/1.1\r\nHost: a\r\n\r\n", 400},
		{"obs-fold", crlf("GET / HTTP/1.1\nHost: a\nX: a\n b\n\n"), 400},
		{"obs-fold with tab", crlf("GET / HTTP/1.1\nHost: a\nX: a\n\tb\n\n"), 400},
		{"whitespace line after request line", crlf("GET / HTTP/1.1\n Host: a\n\n"), 400},
		{"space before colon", crlf("GET / HTTP/1.1\nHost : a\n\n"), 400},
		{"tab before colon", crlf("GET / HTTP/1.1\nHost\t: a\n\n"), 400},
		{"empty header name", crlf("GET / HTTP/1.1\nHost: a\n: v\n\n"), 400},
		{"header without colon", crlf("GET / HTTP/1.1\nHost: a\nNoColon\n\n"), 400},
		{"invalid char in header name", crlf("GET / HTTP/1.1\nHost: a\nX(y): v\n\n"), 400},
		{"non-ascii header name", "GET / HTTP/1.1\r\nHost: a\r\nX\xc3\xa9: v\r\n\r\n", 400},
		{"invalid char in method", crlf("G(T / HTTP/1.1\nHost: a\n\n"), 400},
		{"empty method", crlf(" / HTTP/1.1\nHost: a\n\n"), 400},
		{"only empty lines wait for a request line", crlf("\n\n\n"), -1},
		{"empty line then CR garbage", "\r\n\r\r\n", 400},
		{"double space after method", crlf("GET  / HTTP/1.1\nHost: a\n\n"), 400},
		{"double space before version", crlf("GET /  HTTP/1.1\nHost: a\n\n"), 400},
		{"trailing space after version", crlf("GET / HTTP/1.1 \nHost: a\n\n"), 400},
		{"tab separator", crlf("GET\t/ HTTP/1.1\nHost: a\n\n"), 400},
		{"space inside target", crlf("GET /a b HTTP/1.1\nHost: a\n\n"), 400},
		{"http/0.9 request line", crlf("GET /\n\n"), 400},
		{"method only", crlf("GET\n\n"), 400},
		{"lower-case version", crlf("GET / http/1.1\nHost: a\n\n"), 400},
		{"malformed version", crlf("GET / HTTP/1.x\nHost: a\n\n"), 400},
		{"short version", crlf("GET / HTTP/1\nHost: a\n\n"), 400},
		{"long version", crlf("GET / HTTP/1.10\nHost: a\n\n"), 400},
		{"http/2.0", crlf("GET / HTTP/2.0\nHost: a\n\n"), 505},
		{"http/1.2", crlf("GET / HTTP/1.2\nHost: a\n\n"), 505},
		{"http/0.9 version", crlf("GET / HTTP/0.9\nHost: a\n\n"), 505},
		{"absolute form with empty authority", crlf("GET http:///p HTTP/1.1\nHost: a\n\n"), 400},
		{"absolute form with only userinfo", crlf("GET http://u@/p HTTP/1.0\n\n"), 400},
		{"host with slash", crlf("GET / HTTP/1.1\nHost: a/b\n\n"), 400},
		{"host with backslash", crlf("GET / HTTP/1.1\nHost: a\\b\n\n"), 400},
		{"host with space", crlf("GET / HTTP/1.1\nHost: a b\n\n"), 400},
		{"host with userinfo", crlf("GET / HTTP/1.1\nHost: u@a\n\n"), 400},
		{"host with query", crlf("GET / HTTP/1.1\nHost: a?b\n\n"), 400},
		{"absolute-form host with backslash", crlf("GET http://a\\b/ HTTP/1.1\nHost: a\n\n"), 400},
		{"missing host in http/1.1", crlf("GET / HTTP/1.1\nX: a\n\n"), 400},
		{"two host headers", crlf("GET / HTTP/1.1\nHost: a\nHost: a\n\n"), 400},
		{"two host headers in http/1.0", crlf("GET / HTTP/1.0\nHost: a\nhost: b\n\n"), 400},
		{"content-length non-digit", crlf("POST / HTTP/1.1\nHost: a\nContent-Length: 1x\n\n"), 400},
		{"content-length plus sign", crlf("POST / HTTP/1.1\nHost: a\nContent-Length: +1\n\n"), 400},
		{"content-length minus sign", crlf("POST / HTTP/1.1\nHost: a\nContent-Length: -1\n\n"), 400},
		{"content-length hex", crlf("POST / HTTP/1.1\nHost: a\nContent-Length: 0x10\n\n"), 400},
		{"content-length empty", crlf("POST / HTTP/1.1\nHost: a\nContent-Length:\n\n"), 400},
		{"content-length inner space", crlf("POST / HTTP/1.1\nHost: a\nContent-Length: 1 2\n\n"), 400},
		{"content-length overflow", crlf("POST / HTTP/1.1\nHost: a\nContent-Length: 9223372036854775808\n\n"), 400},
		{"content-length huge", crlf("POST / HTTP/1.1\nHost: a\nContent-Length: 99999999999999999999999\n\n"), 400},
		{"content-length empty list element", crlf("POST / HTTP/1.1\nHost: a\nContent-Length: 5,,5\n\n"), 400},
		{"content-length trailing comma", crlf("POST / HTTP/1.1\nHost: a\nContent-Length: 5,\n\n"), 400},
		{"transfer-encoding empty", crlf("POST / HTTP/1.1\nHost: a\nTransfer-Encoding:\n\n"), 400},
		{"transfer-encoding gzip only", crlf("POST / HTTP/1.1\nHost: a\nTransfer-Encoding: gzip\n\n"), 400},
		{"transfer-encoding gzip then chunked", crlf("POST / HTTP/1.1\nHost: a\nTransfer-Encoding: gzip, chunked\n\n"), 501},
		{"transfer-encoding chunked twice", crlf("POST / HTTP/1.1\nHost: a\nTransfer-Encoding: chunked, chunked\n\n"), 400},
		{"transfer-encoding in http/1.0", crlf("POST / HTTP/1.0\nTransfer-Encoding: chunked\n\n"), 400},
		{"transfer-encoding garbage", crlf("POST / HTTP/1.1\nHost: a\nTransfer-Encoding: chunked/1\n\n"), 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r Request
			n, err := ParseRequest([]byte(tt.in), &r, Limits{})
			if got := statusOf(t, err); got != tt.status {
				t.Fatalf("status = %d (err %v), want %d", got, err, tt.status)
			}
			if n != 0 {
				t.Errorf("n = %d on error, want 0", n)
			}
		})
	}
}

// TestSmuggling: every message two parsers could frame differently is refused, so a proxy never forwards it.
func TestSmuggling(t *testing.T) {
	const head = "POST / HTTP/1.1\r\nHost: a\r\n"
	tests := []struct {
		name    string
		headers string
		status  int
	}{
		{"CL.TE", "Content-Length: 6\r\nTransfer-Encoding: chunked\r\n", 400},
		{"TE.CL", "Transfer-Encoding: chunked\r\nContent-Length: 6\r\n", 400},
		{"TE.CL zero", "Transfer-Encoding: chunked\r\nContent-Length: 0\r\n", 400},
		{"TE space before colon", "Transfer-Encoding : chunked\r\n", 400},
		{"TE tab before colon", "Transfer-Encoding\t: chunked\r\n", 400},
		{"TE xchunked", "Transfer-Encoding: xchunked\r\n", 400},
		{"TE chunkedx", "Transfer-Encoding: chunkedx\r\n", 400},
		{"TE chunked then identity", "Transfer-Encoding: chunked, identity\r\n", 400},
		{"TE identity then chunked", "Transfer-Encoding: identity, chunked\r\n", 501},
		{"TE split over two lines ending non-chunked", "Transfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n", 400},
		{"TE repeated chunked", "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n", 400},
		{"TE obs-folded", "Transfer-Encoding:\r\n chunked\r\n", 400},
		{"TE quoted", "Transfer-Encoding: \"chunked\"\r\n", 400},
		{"TE with vertical tab", "Transfer-Encoding:\x0bchunked\r\n", 400},
		{"TE with NUL", "Transfer-Encoding: chunked\x00\r\n", 400},
		{"TE with bare CR", "Transfer-Encoding: chunked\rX: y\r\n", 400},
		{"TE with bare LF", "Transfer-Encoding: chunked\nX: y\r\n", 400},
		{"TE empty element", "Transfer-Encoding: ,chunked\r\n", 400},
		{"TE name with trailing garbage", "Transfer-Encoding-: chunked\r\nContent-Length: 3\r\n", 0},
		{"duplicated differing CL", "Content-Length: 6\r\nContent-Length: 5\r\n", 400},
		{"CL list differing", "Content-Length: 6, 5\r\n", 400},
		{"CL space before colon", "Content-Length : 6\r\n", 400},
		{"CL obs-folded", "Content-Length: 6\r\n 5\r\n", 400},
		{"CL signed", "Content-Length: +6\r\n", 400},
		{"CL with dot", "Content-Length: 6.0\r\n", 400},
		{"CL with NUL", "Content-Length: 6\x00\r\n", 400},
		{"CL duplicated identical", "Content-Length: 6\r\nContent-Length: 6\r\n", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r Request
			_, err := ParseRequest([]byte(head+tt.headers+"\r\n0\r\n\r\n"), &r, Limits{})
			if got := statusOf(t, err); got != tt.status {
				t.Fatalf("status = %d (err %v), want %d", got, err, tt.status)
			}
		})
	}
}

func TestParseRequestLimits(t *testing.T) {
	head := crlf("GET / HTTP/1.1\nHost: a\nX: 0123456789\n\n") // 41 bytes
	tests := []struct {
		name   string
		in     string
		lim    Limits
		status int
	}{
		{"head exactly at limit", head, Limits{MaxHeaderBytes: len(head)}, 0},
		{"head one over limit", head, Limits{MaxHeaderBytes: len(head) - 1}, 431},
		{"incomplete head shorter than limit", head[:20], Limits{MaxHeaderBytes: len(head) - 1}, -1},
		{"incomplete head reaching limit", head[:30], Limits{MaxHeaderBytes: 30}, 431},
		{"leading empty lines count", "\r\n" + head, Limits{MaxHeaderBytes: len(head)}, 431},
		{"headers at count limit", head, Limits{MaxHeaders: 2}, 0},
		{"headers over count limit", head, Limits{MaxHeaders: 1}, 431},
		{"default header count", "GET / HTTP/1.1\r\nHost: a\r\n" + strings.Repeat("X: y\r\n", 127) + "\r\n", Limits{}, 0},
		{"default header count exceeded", "GET / HTTP/1.1\r\nHost: a\r\n" + strings.Repeat("X: y\r\n", 128) + "\r\n", Limits{}, 431},
		{"default byte limit exceeded", "GET / HTTP/1.1\r\nHost: a\r\nX: " + strings.Repeat("y", 64<<10) + "\r\n\r\n", Limits{}, 431},
		{"default byte limit exceeded while incomplete", "GET / HTTP/1.1\r\nHost: a\r\nX: " + strings.Repeat("y", 64<<10), Limits{}, 431},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r Request
			_, err := ParseRequest([]byte(tt.in), &r, tt.lim)
			if got := statusOf(t, err); got != tt.status {
				t.Fatalf("status = %d (err %v), want %d", got, err, tt.status)
			}
		})
	}
}

// TestParseRequestIncremental feeds every prefix of each message: all proper prefixes give ErrNeedMore (or the
// same error the whole message gives, once the offending line is complete) and the whole gives the same result as
// parsing in one go.
func TestParseRequestIncremental(t *testing.T) {
	inputs := []string{
		crlf("GET /index.html?q=1 HTTP/1.1\nHost: example.com\nUser-Agent: curl/8.5.0\nAccept: */*\n\n"),
		crlf("\n\nPOST /u HTTP/1.1\nHost: a\nTransfer-Encoding: chunked\nConnection: close\n\n"),
		crlf("GET / HTTP/1.0\nConnection: keep-alive\n\n"),
		crlf("GET / HTTP/1.1\nHost: a\nHost: b\n\n"),
		crlf("GET / HTTP/1.1\nHost: a\nX : b\n\n"),
		crlf("GET / HTTP/2.0\nHost: a\n\n"),
		"GET / HTTP/1.1\r\nHost: a\nX: y\r\n\r\n",
	}
	for i, in := range inputs {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			var whole Request
			wantN, wantErr := ParseRequest([]byte(in), &whole, Limits{})
			wantStatus := statusOf(t, wantErr)
			var r Request
			for k := 0; k < len(in); k++ {
				n, err := ParseRequest([]byte(in[:k]), &r, Limits{})
				st := statusOf(t, err)
				if st != -1 && st != wantStatus {
					t.Fatalf("prefix %d: status %d (err %v), whole message gives %d", k, st, err, wantStatus)
				}
				if st == 0 {
					t.Fatalf("prefix %d of %d parsed (n=%d)", k, len(in), n)
				}
			}
			n, err := ParseRequest([]byte(in), &r, Limits{})
			if n != wantN || statusOf(t, err) != wantStatus {
				t.Fatalf("second parse: %d, %v; first: %d, %v", n, err, wantN, wantErr)
			}
			if err == nil && !sameRequest(&r, &whole) {
				t.Fatalf("reparse differs")
			}
		})
	}
}

func sameRequest(a, b *Request) bool {
	if !bytes.Equal(a.Method, b.Method) || !bytes.Equal(a.URI, b.URI) || !bytes.Equal(a.Host, b.Host) ||
		a.ProtoMinor != b.ProtoMinor || a.ContentLength != b.ContentLength || a.Chunked != b.Chunked ||
		a.KeepAlive != b.KeepAlive || a.ExpectContinue != b.ExpectContinue || a.Upgrade != b.Upgrade ||
		a.HeadLen != b.HeadLen || len(a.Headers) != len(b.Headers) {
		return false
	}
	for i := range a.Headers {
		if !bytes.Equal(a.Headers[i].Name, b.Headers[i].Name) || !bytes.Equal(a.Headers[i].Value, b.Headers[i].Value) {
			return false
		}
	}
	return true
}

// TestPipelined parses several requests, bodies included, from one buffer the way a connection loop does.
func TestPipelined(t *testing.T) {
	buf := []byte(crlf("GET /1 HTTP/1.1\nHost: a\n\n") +
		crlf("POST /2 HTTP/1.1\nHost: a\nContent-Length: 5\n\n") + "hello" +
		crlf("POST /3 HTTP/1.1\nHost: a\nTransfer-Encoding: chunked\n\n") + "5\r\nworld\r\n0\r\n\r\n" +
		crlf("\nGET /4 HTTP/1.1\nHost: a\nConnection: close\n\n"))
	var (
		r     Request
		paths []string
		body  []byte
		cr    ChunkedReader
	)
	for len(buf) > 0 {
		n, err := ParseRequest(buf, &r, Limits{})
		if err != nil {
			t.Fatalf("after %q: %v", paths, err)
		}
		paths = append(paths, string(r.Path()))
		buf = buf[n:]
		switch r.Framing() {
		case FramingLength:
			body = append(body, buf[:r.ContentLength]...)
			buf = buf[r.ContentLength:]
		case FramingChunked:
			cr.Reset()
			for !cr.Done() {
				c, data, _, err := cr.Next(buf)
				if err != nil {
					t.Fatal(err)
				}
				body = append(body, data...)
				buf = buf[c:]
			}
		}
		if !r.KeepAlive && len(buf) > 0 {
			t.Fatalf("bytes left after Connection: close: %q", buf)
		}
	}
	if got := strings.Join(paths, ","); got != "/1,/2,/3,/4" {
		t.Errorf("paths = %s", got)
	}
	if string(body) != "helloworld" {
		t.Errorf("bodies = %q", body)
	}
}

func TestParseResponse(t *testing.T) {
	type want struct {
		minor, status int
		reason        string
		cl            int64
		chunked, ka   bool
		headers       int
		framingGet    Framing
		framingHead   Framing
	}
	tests := []struct {
		name string
		in   string
		want want
	}{
		{"ok with length", crlf("HTTP/1.1 200 OK\nContent-Length: 3\n\n"),
			want{1, 200, "OK", 3, false, true, 1, FramingLength, FramingNone}},
		{"chunked", crlf("HTTP/1.1 200 OK\nTransfer-Encoding: chunked\n\n"),
			want{1, 200, "OK", -1, true, true, 1, FramingChunked, FramingNone}},
		{"gzip then chunked is chunked", crlf("HTTP/1.1 200 OK\nTransfer-Encoding: gzip, chunked\n\n"),
			want{1, 200, "OK", -1, true, true, 1, FramingChunked, FramingNone}},
		{"te not ending in chunked reads until close", crlf("HTTP/1.1 200 OK\nTransfer-Encoding: chunked, gzip\n\n"),
			want{1, 200, "OK", -1, false, true, 1, FramingUntilClose, FramingNone}},
		{"no length reads until close", crlf("HTTP/1.1 200 OK\n\n"),
			want{1, 200, "OK", -1, false, true, 0, FramingUntilClose, FramingNone}},
		{"zero length", crlf("HTTP/1.1 200 OK\nContent-Length: 0\n\n"),
			want{1, 200, "OK", 0, false, true, 1, FramingNone, FramingNone}},
		{"204", crlf("HTTP/1.1 204 No Content\n\n"),
			want{1, 204, "No Content", -1, false, true, 0, FramingNone, FramingNone}},
		{"304 with length", crlf("HTTP/1.1 304 Not Modified\nContent-Length: 100\n\n"),
			want{1, 304, "Not Modified", 100, false, true, 1, FramingNone, FramingNone}},
		{"100 continue", crlf("HTTP/1.1 100 Continue\n\n"),
			want{1, 100, "Continue", -1, false, true, 0, FramingNone, FramingNone}},
		{"empty reason", crlf("HTTP/1.1 404 \n\n"),
			want{1, 404, "", -1, false, true, 0, FramingUntilClose, FramingNone}},
		{"missing reason and space", crlf("HTTP/1.1 500\nContent-Length: 0\n\n"),
			want{1, 500, "", 0, false, true, 1, FramingNone, FramingNone}},
		{"reason with spaces and tab", crlf("HTTP/1.1 418 I'm a\tteapot \n\n"),
			want{1, 418, "I'm a\tteapot ", -1, false, true, 0, FramingUntilClose, FramingNone}},
		{"status 999", crlf("HTTP/1.1 999 Odd\nContent-Length: 0\n\n"),
			want{1, 999, "Odd", 0, false, true, 1, FramingNone, FramingNone}},
		{"http/1.0 closes", crlf("HTTP/1.0 200 OK\nContent-Length: 1\n\n"),
			want{0, 200, "OK", 1, false, false, 1, FramingLength, FramingNone}},
		{"http/1.0 keep-alive", crlf("HTTP/1.0 200 OK\nConnection: keep-alive\nContent-Length: 1\n\n"),
			want{0, 200, "OK", 1, false, true, 2, FramingLength, FramingNone}},
		{"connection close", crlf("HTTP/1.1 200 OK\nConnection: close\nContent-Length: 1\n\n"),
			want{1, 200, "OK", 1, false, false, 2, FramingLength, FramingNone}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r Response
			n, err := ParseResponse([]byte(tt.in+"body"), &r, Limits{})
			if err != nil {
				t.Fatal(err)
			}
			if n != len(tt.in) || r.HeadLen != n {
				t.Errorf("n = %d, HeadLen %d, want %d", n, r.HeadLen, len(tt.in))
			}
			got := want{r.ProtoMinor, r.Status, string(r.Reason), r.ContentLength, r.Chunked, r.KeepAlive,
				len(r.Headers), r.Framing([]byte("GET")), r.Framing([]byte("HEAD"))}
			if got != tt.want {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestResponseFramingConnect(t *testing.T) {
	var r Response
	if _, err := ParseResponse([]byte("HTTP/1.1 200 Connection established\r\n\r\n"), &r, Limits{}); err != nil {
		t.Fatal(err)
	}
	if f := r.Framing([]byte("CONNECT")); f != FramingNone {
		t.Errorf("2xx to CONNECT: %v, want none", f)
	}
	r.Status = 407
	if f := r.Framing([]byte("CONNECT")); f != FramingUntilClose {
		t.Errorf("407 to CONNECT: %v, want until-close", f)
	}
}

func TestParseResponseInvalid(t *testing.T) {
	tests := []struct {
		name   string
		in     string
		status int
	}{
		{"two digit status", crlf("HTTP/1.1 20 OK\n\n"), 400},
		{"four digit status", crlf("HTTP/1.1 2000 OK\n\n"), 400},
		{"status below 100", crlf("HTTP/1.1 099 Hm\n\n"), 400},
		{"non-digit status", crlf("HTTP/1.1 2x0 OK\n\n"), 400},
		{"no space after version", crlf("HTTP/1.1200 OK\n\n"), 400},
		{"two spaces", crlf("HTTP/1.1  200 OK\n\n"), 400},
		{"bad version", crlf("HTTX/1.1 200 OK\n\n"), 400},
		{"http/2", crlf("HTTP/2.0 200 OK\n\n"), 505},
		{"CTL in reason", "HTTP/1.1 200 O\x01K\r\n\r\n", 400},
		{"bare LF", "HTTP/1.1 200 OK\nContent-Length: 0\r\n\r\n", 400},
		{"CL and TE", crlf("HTTP/1.1 200 OK\nContent-Length: 3\nTransfer-Encoding: chunked\n\n"), 400},
		{"differing CL", crlf("HTTP/1.1 200 OK\nContent-Length: 3\nContent-Length: 4\n\n"), 400},
		{"invalid CL", crlf("HTTP/1.1 200 OK\nContent-Length: -3\n\n"), 400},
		{"chunked twice", crlf("HTTP/1.1 200 OK\nTransfer-Encoding: chunked\nTransfer-Encoding: chunked\n\n"), 400},
		{"obs-fold", crlf("HTTP/1.1 200 OK\nX: a\n b\n\n"), 400},
		{"space before colon", crlf("HTTP/1.1 200 OK\nContent-Length : 3\n\n"), 400},
		{"incomplete", crlf("HTTP/1.1 200 OK\nContent-Length: 3\n"), -1},
		{"empty", "", -1},
		{"too large", crlf("HTTP/1.1 200 OK\nX: " + strings.Repeat("a", 100) + "\n\n"), 431},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r Response
			_, err := ParseResponse([]byte(tt.in), &r, Limits{MaxHeaderBytes: 100})
			if got := statusOf(t, err); got != tt.status {
				t.Fatalf("status = %d (err %v), want %d", got, err, tt.status)
			}
		})
	}
}

func TestParseResponseIncremental(t *testing.T) {
	in := crlf("HTTP/1.1 200 OK\nContent-Type: text/html\nTransfer-Encoding: chunked\nServer: x\n\n")
	var r Response
	for k := 0; k < len(in); k++ {
		if _, err := ParseResponse([]byte(in[:k]), &r, Limits{}); !errors.Is(err, ErrNeedMore) {
			t.Fatalf("prefix %d: %v, want ErrNeedMore", k, err)
		}
	}
	n, err := ParseResponse([]byte(in), &r, Limits{})
	if err != nil || n != len(in) || !r.Chunked || len(r.Headers) != 3 {
		t.Fatalf("n=%d err=%v chunked=%v headers=%d", n, err, r.Chunked, len(r.Headers))
	}
}

func TestResetKeepsCapacity(t *testing.T) {
	var r Request
	if _, err := ParseRequest([]byte(crlf("GET / HTTP/1.1\nHost: a\nA: 1\nB: 2\n\n")), &r, Limits{}); err != nil {
		t.Fatal(err)
	}
	c := cap(r.Headers)
	r.Reset()
	if len(r.Headers) != 0 || cap(r.Headers) != c || r.ContentLength != -1 || r.Method != nil {
		t.Errorf("after Reset: len %d cap %d (want 0, %d) CL %d method %q", len(r.Headers), cap(r.Headers), c, r.ContentLength, r.Method)
	}
	var resp Response
	resp.Headers = make([]Header, 3, 8)
	resp.Status = 200
	resp.Reset()
	if len(resp.Headers) != 0 || cap(resp.Headers) != 8 || resp.Status != 0 || resp.ContentLength != -1 {
		t.Errorf("response after Reset: %+v", resp)
	}
}

func TestErrorMessage(t *testing.T) {
	var r Request
	_, err := ParseRequest([]byte(crlf("GET / HTTP/1.1\nHost : a\n\n")), &r, Limits{})
	if err == nil || !strings.HasPrefix(err.Error(), "http1: ") {
		t.Fatalf("err = %v", err)
	}
}
