package proxy

import (
	"testing"

	"github.com/mosnctl/mosnctl/internal/config"
	"github.com/mosnctl/mosnctl/internal/protocol/bolt"
	"github.com/mosnctl/mosnctl/internal/protocol/http1"
	"github.com/mosnctl/mosnctl/internal/router"
	"github.com/mosnctl/mosnctl/internal/stream"
)

// headView is the router's view of a parsed request, as the stream layer
// gives it.
type headView struct{ r *http1.Request }

func (v headView) Host() []byte                      { return v.r.Host }
func (v headView) Path() []byte                      { return v.r.Path() }
func (v headView) Header(name string) ([]byte, bool) { return v.r.Header(name) }

func benchTable(b *testing.B) *router.Table {
	t, err := router.New(&config.RouterConfiguration{
		RouterConfigName: "r",
		VirtualHosts: []config.VirtualHost{{Name: "v", Domains: []string{"*"}, Routers: []config.Router{
			{Match: config.RouterMatch{Prefix: "/admin"}, Route: &config.RouteAction{ClusterName: "admin"}},
			{Match: config.RouterMatch{Headers: []config.HeaderMatcher{{Name: "service", Value: "com.example.EchoService:1.0"}}}, Route: &config.RouteAction{ClusterName: "rpc"}},
			{Match: config.RouterMatch{Prefix: "/"}, Route: &config.RouteAction{ClusterName: "origin"}},
		}}},
	})
	if err != nil {
		b.Fatal(err)
	}
	return t
}

// BenchmarkHTTP1ParseRouteEncode is the per-request work of the HTTP/1 fast
// path without the sockets: parse the head in place, check its target (as
// the stream does, path rules on), match the route, write the upstream
// head. It must not allocate.
func BenchmarkHTTP1ParseRouteEncode(b *testing.B) {
	raw := []byte("GET /bench/items?id=42 HTTP/1.1\r\nHost: 127.0.0.1:2046\r\nUser-Agent: wrk\r\nAccept: */*\r\nX-Request-Id: 4f0c1c9e\r\nConnection: keep-alive\r\n\r\n")
	table := benchTable(b)
	var req http1.Request
	out := make([]byte, 0, 1024)
	var target []byte
	rules := http1.PathRules{Normalize: true, MergeSlashes: true}
	b.ReportAllocs()
	b.SetBytes(int64(len(raw)))
	for b.Loop() {
		req.Reset()
		if _, err := http1.ParseRequest(raw, &req, http1.Limits{}); err != nil {
			b.Fatal(err)
		}
		var err error
		if target, err = req.RewriteTarget(target[:0], rules); err != nil {
			b.Fatal(err)
		}
		route := table.Match(headView{&req})
		if route == nil || route.PickCluster(7) != "origin" {
			b.Fatal("no route")
		}
		out = http1.AppendRequestHead(out[:0], &req, nil)
	}
}

// BenchmarkBoltDecodeRouteRewrite is the Bolt fast path's per-request work:
// decode, route on the service header, copy with a rewritten request id.
func BenchmarkBoltDecodeRouteRewrite(b *testing.B) {
	hdr := bolt.AppendHeader(nil, "service", "com.example.EchoService:1.0")
	hdr = bolt.AppendHeader(hdr, "sofa_head_method_name", "echo")
	raw := bolt.AppendFrame(nil, &bolt.Frame{Type: bolt.TypeRequest, CmdCode: bolt.CmdRequest, Version: 1, RequestID: 9,
		Codec: bolt.CodecHessian2, Timeout: 3000, Class: []byte("com.alipay.sofa.rpc.core.request.SofaRequest"), Header: hdr, Content: make([]byte, 200)})
	table := benchTable(b)
	var f bolt.Frame
	var req stream.BoltRequest
	out := make([]byte, 0, 1024)
	b.ReportAllocs()
	b.SetBytes(int64(len(raw)))
	for b.Loop() {
		f.Reset()
		n, err := bolt.Decode(raw, &f, bolt.DefaultMaxFrameSize)
		if err != nil {
			b.Fatal(err)
		}
		req.Reset(&f, raw[:n])
		route := table.Match(&req)
		if route == nil || route.ClusterName != "rpc" {
			b.Fatal("no route")
		}
		out = append(out[:0], req.Encoded()...)
		bolt.PutRequestID(out, 77)
	}
}
