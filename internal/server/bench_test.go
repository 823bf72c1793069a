package server

import (
	"bytes"
	"net"
	"strings"
	"testing"

	"github.com/mosnctl/mosnctl/internal/protocol/bolt"
	"github.com/mosnctl/mosnctl/internal/protocol/http1"
)

// rawOrigin answers every request head with a fixed 128-byte response. It
// allocates nothing per request, so allocations in the benchmark below are
// the proxy's.
func rawOrigin(b testing.TB) string {
	resp := []byte("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 128\r\n\r\n" + string(bytes.Repeat([]byte("x"), 128)))
	return serveTCP(b, func(c net.Conn) {
		defer c.Close()
		buf := make([]byte, 16<<10)
		n := 0
		for {
			m, err := c.Read(buf[n:])
			if err != nil {
				return
			}
			n += m
			for {
				i := bytes.Index(buf[:n], []byte("\r\n\r\n"))
				if i < 0 {
					break
				}
				c.Write(resp)
				n = copy(buf, buf[i+4:n])
			}
		}
	})
}

// BenchmarkProxyHTTP1RoundTrip sends keep-alive GETs through a real proxy
// listener to a real origin over loopback: allocs/op is the whole process,
// the proxy's share of which should be 0.
func BenchmarkProxyHTTP1RoundTrip(b *testing.B) {
	p := startProxy(b, httpProxyConfig("LB_ROUNDROBIN", "", rawOrigin(b)))
	benchKeepAliveGETs(b, p.addr("in"))
}

// BenchmarkProxyHTTP1FaultFilter is the round trip through a listener
// whose fault filter selects no request (a header it never sees): the
// filter chain's cost on the hot path.
func BenchmarkProxyHTTP1FaultFilter(b *testing.B) {
	cfg := strings.Replace(httpProxyConfig("LB_ROUNDROBIN", "", rawOrigin(b)), `"name": "in", "address": "127.0.0.1:0",`,
		`"name": "in", "address": "127.0.0.1:0", "stream_filters": [{"type": "fault", "config": {"abort": {"status": 503,
		"percentage": 100}, "headers": [{"name": "x-fault", "value": "1"}]}}],`, 1)
	p := startProxy(b, cfg)
	benchKeepAliveGETs(b, p.addr("in"))
}

// benchKeepAliveGETs sends one GET at a time on one keep-alive connection
// to addr for b's iterations, reading each response by its Content-Length.
// The client allocates nothing per request.
func benchKeepAliveGETs(b *testing.B, addr string) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	req := []byte("GET /bench HTTP/1.1\r\nHost: bench\r\nUser-Agent: bench\r\n\r\n")
	buf := make([]byte, 16<<10)
	var resp http1.Response
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Write(req); err != nil {
			b.Fatal(err)
		}
		n := 0
		for {
			m, err := c.Read(buf[n:])
			if err != nil {
				b.Fatal(err)
			}
			n += m
			h, err := http1.ParseResponse(buf[:n], &resp, http1.Limits{})
			if err == http1.ErrNeedMore {
				continue
			}
			if err != nil {
				b.Fatal(err)
			}
			if n == h+int(resp.ContentLength) {
				break
			}
		}
	}
}

// rawBoltOrigin answers each Bolt request frame with a fixed success
// response carrying its request id. It allocates nothing per request.
func rawBoltOrigin(b testing.TB) string {
	return serveTCP(b, func(c net.Conn) {
		defer c.Close()
		buf := make([]byte, 64<<10)
		resp := bolt.AppendFrame(nil, &bolt.Frame{Type: bolt.TypeResponse, CmdCode: bolt.CmdResponse,
			Version: bolt.CommandVersion, Codec: bolt.CodecHessian2, Class: []byte(bolt.ClassResponse), Content: make([]byte, 128)})
		var f bolt.Frame
		n := 0
		for {
			m, err := c.Read(buf[n:])
			if err != nil {
				return
			}
			n += m
			for {
				f.Reset()
				used, err := bolt.Decode(buf[:n], &f, len(buf))
				if err != nil {
					break // need more
				}
				bolt.PutRequestID(resp, f.RequestID)
				c.Write(resp)
				n = copy(buf, buf[used:n])
			}
		}
	})
}

// BenchmarkProxyBoltRoundTrip sends one Bolt call at a time through a real
// proxy listener to a real origin over loopback; the client and the origin
// allocate nothing, so allocs/op is the proxy's, which should be 0.
func BenchmarkProxyBoltRoundTrip(b *testing.B) {
	p := startProxy(b, boltProxyConfig("bolt", "", rawBoltOrigin(b)))
	c, err := net.Dial("tcp", p.addr("in"))
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	hdr := bolt.AppendHeader(nil, bolt.HeaderService, "com.example.EchoService:1.0")
	req := bolt.AppendFrame(nil, &bolt.Frame{Type: bolt.TypeRequest, CmdCode: bolt.CmdRequest, Version: bolt.CommandVersion,
		Codec: bolt.CodecHessian2, Timeout: 5000, Class: []byte(bolt.ClassRequest), Header: hdr, Content: make([]byte, 128)})
	buf := make([]byte, 16<<10)
	var f bolt.Frame
	id := uint32(0)
	b.ReportAllocs()
	for b.Loop() {
		id++
		bolt.PutRequestID(req, id)
		if _, err := c.Write(req); err != nil {
			b.Fatal(err)
		}
		n := 0
		for {
			m, err := c.Read(buf[n:])
			if err != nil {
				b.Fatal(err)
			}
			n += m
			f.Reset()
			if _, err := bolt.Decode(buf[:n], &f, len(buf)); err == nil {
				break
			}
		}
		if f.RequestID != id || f.Status != bolt.StatusSuccess {
			b.Fatalf("response %d status %d, want %d success", f.RequestID, f.Status, id)
		}
	}
}
