package boltrpc

import (
	"bytes"
	"context"
	"net"
	"testing"

	"github.com/mosnctl/mosnctl/internal/protocol/bolt"
)

func benchClient(b *testing.B) *Client {
	b.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := &Server{Handler: func(req *bolt.Frame) (uint16, map[string]string, []byte) {
		return bolt.StatusSuccess, nil, req.Content
	}}
	go srv.Serve(ln)
	b.Cleanup(func() { srv.Close() })
	c, err := Dial(context.Background(), ln.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	return c
}

func benchRequest() *Request {
	return &Request{Service: "com.example.EchoService:1.0", Method: "echo",
		Headers: map[string]string{bolt.HeaderTargetApp: "echo-app"}, Content: bytes.Repeat([]byte{0x4f}, 200)}
}

// BenchmarkCall is one synchronous call at a time over loopback: latency.
func BenchmarkCall(b *testing.B) {
	c := benchClient(b)
	req := benchRequest()
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Call(ctx, req); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCallParallel multiplexes calls from many goroutines on one
// connection: throughput.
func BenchmarkCallParallel(b *testing.B) {
	c := benchClient(b)
	req := benchRequest()
	ctx := context.Background()
	b.ReportAllocs()
	b.SetParallelism(16)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := c.Call(ctx, req); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
