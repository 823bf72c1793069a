package http1

import (
	"bufio"
	"bytes"
	"net/http"
	"strings"
	"testing"
)

// What curl or wrk sends: six headers.
const benchCurlRequest = "GET /api/v1/users?id=42 HTTP/1.1\r\n" +
	"Host: example.com:8080\r\n" +
	"User-Agent: curl/8.5.0\r\n" +
	"Accept: */*\r\n" +
	"Accept-Encoding: gzip\r\n" +
	"Connection: keep-alive\r\n" +
	"X-Request-Id: 4bf92f3577b34da6a3ce929d0e0e4736\r\n" +
	"\r\n"

// What a browser sends: fifteen headers, a cookie and a long user agent.
const benchBrowserRequest = "GET /static/js/app.3f2a9c.js?v=20240101 HTTP/1.1\r\n" +
	"Host: www.example.com\r\n" +
	"Connection: keep-alive\r\n" +
	"sec-ch-ua: \"Chromium\";v=\"124\", \"Google Chrome\";v=\"124\", \"Not-A.Brand\";v=\"99\"\r\n" +
	"sec-ch-ua-mobile: ?0\r\n" +
	"User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36\r\n" +
	"sec-ch-ua-platform: \"Linux\"\r\n" +
	"Accept: */*\r\n" +
	"Sec-Fetch-Site: same-origin\r\n" +
	"Sec-Fetch-Mode: no-cors\r\n" +
	"Sec-Fetch-Dest: script\r\n" +
	"Referer: https://www.example.com/dashboard/overview\r\n" +
	"Accept-Encoding: gzip, deflate, br, zstd\r\n" +
	"Accept-Language: en-US,en;q=0.9,de;q=0.8\r\n" +
	"Cookie: session=eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U; theme=dark; _ga=GA1.2.1234567890.1700000000\r\n" +
	"If-None-Match: \"5f3c-1a2b3c4d\"\r\n" +
	"\r\n"

const benchResponse = "HTTP/1.1 200 OK\r\n" +
	"Server: nginx/1.24.0\r\n" +
	"Date: Fri, 27 Nov 2026 13:37:00 GMT\r\n" +
	"Content-Type: application/json; charset=utf-8\r\n" +
	"Content-Length: 1234\r\n" +
	"Connection: keep-alive\r\n" +
	"Cache-Control: no-cache\r\n" +
	"X-Request-Id: 4bf92f3577b34da6a3ce929d0e0e4736\r\n" +
	"Vary: Accept-Encoding\r\n" +
	"\r\n"

// benchChunkedBody is 16 KiB of payload in 1 KiB chunks, with an extension and a trailer.
func benchChunkedBody() []byte {
	var b []byte
	chunk := []byte(strings.Repeat("x", 1024))
	for i := 0; i < 16; i++ {
		b = AppendChunk(b, chunk)
	}
	return append(b, "0;final\r\nX-Checksum: abc123\r\n\r\n"...)
}

func BenchmarkParseRequest(b *testing.B) {
	for _, bc := range []struct{ name, req string }{
		{"curl", benchCurlRequest},
		{"browser", benchBrowserRequest},
	} {
		b.Run(bc.name, func(b *testing.B) {
			buf := []byte(bc.req)
			var r Request
			b.ReportAllocs()
			b.SetBytes(int64(len(buf)))
			for b.Loop() {
				if _, err := ParseRequest(buf, &r, Limits{}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkParseResponse(b *testing.B) {
	buf := []byte(benchResponse)
	var r Response
	b.ReportAllocs()
	b.SetBytes(int64(len(buf)))
	for b.Loop() {
		if _, err := ParseResponse(buf, &r, Limits{}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkHeaderLookup looks up a header near the end of the browser request, the worst case of a linear scan.
func BenchmarkHeaderLookup(b *testing.B) {
	var r Request
	if _, err := ParseRequest([]byte(benchBrowserRequest), &r, Limits{}); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := r.Header("if-none-match"); !ok {
			b.Fatal("missing")
		}
	}
}

func BenchmarkAppendRequestHead(b *testing.B) {
	for _, bc := range []struct{ name, req string }{
		{"curl", benchCurlRequest},
		{"browser", benchBrowserRequest},
	} {
		b.Run(bc.name, func(b *testing.B) {
			var r Request
			if _, err := ParseRequest([]byte(bc.req), &r, Limits{}); err != nil {
				b.Fatal(err)
			}
			extra := []Header{{Name: []byte("X-Forwarded-For"), Value: []byte("10.0.0.1")}}
			dst := make([]byte, 0, 4096)
			b.ReportAllocs()
			for b.Loop() {
				dst = AppendRequestHead(dst[:0], &r, extra)
			}
			b.SetBytes(int64(len(dst)))
		})
	}
}

func BenchmarkAppendResponseHead(b *testing.B) {
	var r Response
	if _, err := ParseResponse([]byte(benchResponse), &r, Limits{}); err != nil {
		b.Fatal(err)
	}
	dst := make([]byte, 0, 4096)
	b.ReportAllocs()
	for b.Loop() {
		dst = AppendResponseHead(dst[:0], &r, nil)
	}
}

func BenchmarkChunkedReader(b *testing.B) {
	body := benchChunkedBody()
	var c ChunkedReader
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		c.Reset()
		for buf := body; len(buf) > 0; {
			n, _, _, err := c.Next(buf)
			if err != nil {
				b.Fatal(err)
			}
			buf = buf[n:]
		}
	}
}

// BenchmarkNetHTTPReadRequest parses the same requests with net/http, the baseline a Go proxy built on the standard
// library pays per request.
func BenchmarkNetHTTPReadRequest(b *testing.B) {
	for _, bc := range []struct{ name, req string }{
		{"curl", benchCurlRequest},
		{"browser", benchBrowserRequest},
	} {
		b.Run(bc.name, func(b *testing.B) {
			raw := []byte(bc.req)
			rd := bytes.NewReader(raw)
			br := bufio.NewReader(rd)
			b.ReportAllocs()
			b.SetBytes(int64(len(bc.req)))
			for b.Loop() {
				rd.Reset(raw)
				br.Reset(rd)
				if _, err := http.ReadRequest(br); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
