package bench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"runtime"
	"strings"
	"testing"

	"golang.org/x/net/http2"
)

// parseH1 runs the HTTP/1 response parser over data fed in small pieces
// and returns the statuses of the complete responses.
func parseH1(data []byte, head bool) ([]int, error) {
	c := &h1Conn{p: &h1Protocol{head: []bool{head}}, rb: newReadBuf(4096)}
	var statuses []int
	for len(data) > 0 || c.rb.r < c.rb.w {
		if len(data) > 0 {
			if c.rb.w == len(c.rb.b) {
				if c.rb.r == 0 {
					return statuses, io.ErrShortBuffer
				}
				c.rb.w = copy(c.rb.b, c.rb.b[c.rb.r:c.rb.w])
				c.rb.r = 0
			}
			n := copy(c.rb.b[c.rb.w:], data[:min(len(data), 7)])
			c.rb.w += n
			data = data[n:]
		}
		done, err := c.parse()
		if err != nil {
			return statuses, err
		}
		if done {
			statuses = append(statuses, c.status)
			c.bytes = 0
			continue
		}
		if len(data) == 0 {
			break
		}
	}
	return statuses, nil
}

func TestHTTP1Parser(t *testing.T) {
	tests := []struct {
		name   string
		in     string
		head   bool
		want   []int
		errSub string
	}{
		{"length", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", false, []int{200}, ""},
		{"two", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhiHTTP/1.1 503 Busy\r\ncontent-length: 0\r\n\r\n", false, []int{200, 503}, ""},
		{"chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\nA\r\n0123456789\r\n0\r\nTrailer: x\r\n\r\n", false, []int{200}, ""},
		{"interim", "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n", false, []int{204}, ""},
		{"head", "HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n", true, []int{200}, ""},
		{"304", "HTTP/1.1 304 Not Modified\r\nContent-Length: 99\r\n\r\n", false, []int{304}, ""},
		{"bad status", "HTTP/1.1 2x0 OK\r\n\r\n", false, nil, "status code"},
		{"not http", "SPDY/9 what\r\n\r\n", false, nil, "status line"},
		{"two lengths", "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", false, nil, "Content-Length"},
		{"cl and te", "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n", false, nil, "both"},
		{"bad chunk", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", false, nil, "chunk size"},
		{"gzip te", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", false, nil, "Transfer-Encoding"},
		{"no colon", "HTTP/1.1 200 OK\r\nbroken\r\n\r\n", false, nil, "header line"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseH1([]byte(tt.in), tt.head)
			if tt.errSub != "" {
				if err == nil || !strings.Contains(err.Error(), tt.errSub) || classify(err) != errProtocol {
					t.Fatalf("err %v, want a protocol error with %q", err, tt.errSub)
				}
				return
			}
			if err != nil || len(got) != len(tt.want) {
				t.Fatalf("got %v, %v; want %v", got, err, tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Fatalf("got %v, want %v", got, tt.want)
				}
			}
		})
	}
}

func FuzzHTTP1Response(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte, head bool) {
		parseH1(data, head)
	})
}

// h2Frames feeds data to an h2Conn whose peer has gone (writes fail) and
// returns the completed stream ids.
func h2Frames(data []byte, streams ...uint32) []uint32 {
	a, b := net.Pipe()
	b.Close()
	defer a.Close()
	c := &h2Conn{p: &h2Protocol{want: 10}, nc: a, rb: newReadBuf(64 << 10), maxConc: 100}
	c.fr = http2.NewFramer(&c.wb, nil)
	c.dec = newH2Decoder(c)
	for _, id := range streams {
		c.streams = append(c.streams, h2stream{id: id})
	}
	c.rb.w = copy(c.rb.b, data)
	var done []uint32
	for {
		var res response
		ok, err := c.frame(&res)
		if errors.Is(err, io.ErrClosedPipe) {
			continue // an ACK or WINDOW_UPDATE could not be written; go on reading
		}
		if err != nil {
			return done
		}
		if ok {
			done = append(done, res.id)
		}
	}
}

func h2Frame(typ http2.FrameType, flags http2.Flags, id uint32, payload []byte) []byte {
	b := []byte{byte(len(payload) >> 16), byte(len(payload) >> 8), byte(len(payload)), byte(typ), byte(flags), 0, 0, 0, 0}
	binary.BigEndian.PutUint32(b[5:], id)
	return append(b, payload...)
}

func TestH2FrameReader(t *testing.T) {
	var in []byte
	in = append(in, h2Frame(http2.FrameSettings, 0, 0, []byte{0, 3, 0, 0, 0, 8})...)
	in = append(in, h2Frame(http2.FrameHeaders, http2.FlagHeadersEndHeaders, 1, []byte{0x88})...)
	in = append(in, h2Frame(http2.FrameData, http2.FlagDataEndStream, 1, []byte("hello"))...)
	in = append(in, h2Frame(http2.FrameHeaders, http2.FlagHeadersEndHeaders|http2.FlagHeadersEndStream, 3, []byte{0x8d})...) // :status 404
	in = append(in, h2Frame(http2.FrameRSTStream, 0, 5, []byte{0, 0, 0, 8})...)
	got := h2Frames(in, 1, 3, 5)
	if len(got) != 3 || got[0] != 1 || got[1] != 3 || got[2] != 5 {
		t.Fatalf("completed %v, want [1 3 5]", got)
	}
}

func FuzzH2Frames(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		h2Frames(data, 1, 3, 5)
	})
}

// rawOrigin answers every HTTP/1 request (one per read, as a keep-alive
// client sends them) with a fixed response, allocating nothing per request.
func rawOrigin(tb testing.TB) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { ln.Close() })
	resp := []byte("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 128\r\n\r\n" + strings.Repeat("x", 128))
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				r := bufio.NewReader(c)
				buf := make([]byte, 4096)
				for {
					if _, err := r.Read(buf); err != nil {
						return
					}
					if _, err := c.Write(resp); err != nil {
						return
					}
				}
			}()
		}
	}()
	return "http://" + ln.Addr().String() + "/"
}

// BenchmarkHTTP1RoundTrip is one request on a keep-alive connection to a
// loopback origin: the client's share must allocate nothing.
func BenchmarkHTTP1RoundTrip(b *testing.B) {
	u := rawOrigin(b)
	cfg := Config{Targets: []string{u}, Conns: 1}
	cfg.validate()
	targets, _ := parseTargets(&cfg)
	reqs, _ := buildRequests(&cfg, targets)
	p, err := newHTTPProtocol(&cfg, targets, reqs)
	if err != nil {
		b.Fatal(err)
	}
	c, err := p.dial(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	defer c.close()
	var res response
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.send(0); err != nil {
			b.Fatal(err)
		}
		if err := c.recv(&res); err != nil || res.status != 200 {
			b.Fatal(err, res.status)
		}
	}
}

// BenchmarkH2Response parses a HEADERS + DATA response from the buffer.
func BenchmarkH2Response(b *testing.B) {
	a, peer := net.Pipe()
	defer a.Close()
	defer peer.Close()
	c := &h2Conn{p: &h2Protocol{want: 10}, nc: a, rb: newReadBuf(64 << 10), maxConc: 100}
	c.fr = http2.NewFramer(&c.wb, nil)
	c.dec = newH2Decoder(c)
	var in []byte
	in = append(in, h2Frame(http2.FrameHeaders, http2.FlagHeadersEndHeaders, 1, []byte{0x88})...)
	in = append(in, h2Frame(http2.FrameData, http2.FlagDataEndStream, 1, bytes.Repeat([]byte("x"), 128))...)
	var res response
	b.ReportAllocs()
	for b.Loop() {
		c.streams = append(c.streams[:0], h2stream{id: 1})
		c.rb.r, c.rb.w = 0, copy(c.rb.b, in)
		if err := c.recv(&res); err != nil || res.status != 200 {
			b.Fatal(err, res.status)
		}
	}
}

// BenchmarkEncodeH2Send queues one request's frames.
func BenchmarkEncodeH2Send(b *testing.B) {
	c := &h2Conn{p: &h2Protocol{want: 10, blocks: [][]byte{encodeH2Headers(Request{Method: "GET", Path: "/", Host: "h"}, "http")}, bodies: [][]byte{nil}}, nextID: 1}
	c.fr = http2.NewFramer(&c.wb, nil)
	b.ReportAllocs()
	for b.Loop() {
		c.send(0)
		c.wb.b = c.wb.b[:0]
		c.streams = c.streams[:0]
		c.nextID = 1
	}
}

// TestHTTP1ClientDoesNotAllocate: a keep-alive request and its response
// cost the client no allocation (allocations are counted, not timed).
func TestHTTP1ClientDoesNotAllocate(t *testing.T) {
	if testing.Short() {
		t.Skip("needs a loopback origin")
	}
	u := rawOrigin(t)
	cfg := Config{Targets: []string{u}, Conns: 1}
	cfg.validate()
	targets, _ := parseTargets(&cfg)
	reqs, _ := buildRequests(&cfg, targets)
	p, err := newHTTPProtocol(&cfg, targets, reqs)
	if err != nil {
		t.Fatal(err)
	}
	c, err := p.dial(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer c.close()
	var res response
	var h Histogram
	allocs := testing.AllocsPerRun(500, func() {
		c.send(0)
		if err := c.recv(&res); err != nil || res.status != 200 {
			t.Fatal(err, res.status)
		}
		h.Record(123456)
	})
	if allocs != 0 {
		t.Fatalf("%.1f allocations per request, want 0", allocs)
	}
}

// BenchmarkRun is the whole engine, closed loop with 4 connections to a
// loopback origin that allocates nothing: ns/op is the cost per request
// of client plus origin on this machine, allocs/op the engine's (the
// per-run setup spread over b.N).
func BenchmarkRun(b *testing.B) {
	u := rawOrigin(b)
	for _, io := range []string{IOEventLoop, IOGoroutines} {
		b.Run(io, func(b *testing.B) {
			b.ReportAllocs()
			res, err := Run(context.Background(), Config{Targets: []string{u}, Conns: 4, Requests: int64(b.N), IO: io})
			if err != nil || res.Responses != uint64(b.N) {
				b.Fatal(err, res.Responses)
			}
		})
	}
}

// TestEngineAllocationsPerRequest: a whole run allocates for its setup
// only, not per request, in either engine (the origin allocates nothing
// per request either). Allocations are counted, not timed.
func TestEngineAllocationsPerRequest(t *testing.T) {
	if testing.Short() {
		t.Skip("needs a loopback origin")
	}
	u := rawOrigin(t)
	const n = 20000
	for _, io := range []string{IOEventLoop, IOGoroutines} {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		res, err := Run(context.Background(), Config{Targets: []string{u}, Conns: 4, Requests: n, IO: io})
		runtime.ReadMemStats(&after)
		if err != nil || res.Responses != n {
			t.Fatal(err)
		}
		if perReq := float64(after.Mallocs-before.Mallocs) / n; perReq > 0.05 {
			t.Errorf("%s: %.3f allocations per request (%d in all), want setup only", io, perReq, after.Mallocs-before.Mallocs)
		}
	}
}
