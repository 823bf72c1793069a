package stream

import (
	"bytes"
	"encoding/binary"
	"testing"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"github.com/mosnctl/mosnctl/internal/config"
	h2 "github.com/mosnctl/mosnctl/internal/protocol/http2"
	"github.com/mosnctl/mosnctl/internal/router"
)

// framer writes frames as a peer that is not ours (x/net) would.
type framer struct {
	buf bytes.Buffer
	f   *http2.Framer
	enc *hpack.Encoder
	hb  bytes.Buffer
}

func newFramer() *framer {
	p := &framer{}
	p.f = http2.NewFramer(&p.buf, nil)
	p.enc = hpack.NewEncoder(&p.hb)
	return p
}

func (p *framer) take() []byte { b := bytes.Clone(p.buf.Bytes()); p.buf.Reset(); return b }

func (p *framer) block(kv ...string) []byte {
	p.hb.Reset()
	for i := 0; i+1 < len(kv); i += 2 {
		p.enc.WriteField(hpack.HeaderField{Name: kv[i], Value: kv[i+1]})
	}
	return bytes.Clone(p.hb.Bytes())
}

var benchGRPCRequest = []string{
	":method", "POST", ":scheme", "http", ":path", "/grpc.testing.TestService/UnaryCall",
	":authority", "127.0.0.1:50051", "content-type", "application/grpc", "user-agent", "grpc-go/1.85.0",
	"te", "trailers", "grpc-accept-encoding", "gzip",
}

// engines is a downstream server engine and an upstream client engine,
// both past their handshakes.
func engines(b *testing.B, down, up h2.Handler) (*h2.Conn, *h2.Conn, *framer) {
	srv := h2.NewServerConn(h2.Config{ResetBudget: 1 << 30}, down)
	p := newFramer()
	p.buf.WriteString(h2.ClientPreface)
	p.f.WriteSettings()
	p.f.WriteSettingsAck()
	if err := srv.Feed(p.take()); err != nil {
		b.Fatal(err)
	}
	srv.Advance(len(srv.Output()))
	cli := h2.NewClientConn(h2.Config{}, up)
	p.f.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 1 << 30})
	p.f.WriteSettingsAck()
	p.f.WriteWindowUpdate(0, 1<<30)
	if err := cli.Feed(p.take()); err != nil {
		b.Fatal(err)
	}
	cli.Advance(len(cli.Output()))
	return srv, cli, p
}

// h2View is the router's view of a copied head.
type h2View struct{ h *H2Head }

func (v h2View) Host() []byte                      { return v.h.Authority }
func (v h2View) Path() []byte                      { return v.h.Path }
func (v h2View) Header(name string) ([]byte, bool) { return v.h.Header(name) }

// headRelay is the proxy's work on a request head: copy it out of the
// engine, route it, open the upstream stream with it.
type headRelay struct {
	srv, cli *h2.Conn
	table    *router.Table
	head     H2Head
	routed   int
}

func (r *headRelay) Headers(id uint32, h *h2.Headers, end bool) {
	r.head.copyFrom(h)
	route := r.table.Match(h2View{&r.head})
	if route == nil {
		return
	}
	r.routed++
	upID, err := r.cli.OpenStream(r.head.requestFields(), end)
	if err != nil {
		panic(err)
	}
	r.cli.Reset(upID, http2.ErrCodeCancel) // the table stays the same size
	r.srv.Reset(id, http2.ErrCodeCancel)
}
func (r *headRelay) Data(uint32, []byte, bool)     {}
func (r *headRelay) Reset(uint32, *h2.StreamError) {}
func (r *headRelay) Writable(uint32)               {}
func (r *headRelay) Control(*h2.Event)             {}

// BenchmarkH2HeadersRouteEncode: a gRPC request's HEADERS frame decoded by
// the downstream engine, its head copied out (H2Head), routed, and encoded
// on an upstream stream. Target: 0 allocs/op.
func BenchmarkH2HeadersRouteEncode(b *testing.B) {
	table, err := router.New(&config.RouterConfiguration{RouterConfigName: "r", VirtualHosts: []config.VirtualHost{{Name: "v", Domains: []string{"*"},
		Routers: []config.Router{
			{Match: config.RouterMatch{Prefix: "/admin"}, Route: &config.RouteAction{ClusterName: "admin"}},
			{Match: config.RouterMatch{Prefix: "/grpc.testing.TestService/"}, Route: &config.RouteAction{ClusterName: "grpc"}},
		}}}})
	if err != nil {
		b.Fatal(err)
	}
	r := &headRelay{table: table}
	srv, cli, p := engines(b, r, r)
	r.srv, r.cli = srv, cli
	// The first block fills the tables; the next is all indexed, as
	// grpc-go's is once warm.
	p.f.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: p.block(benchGRPCRequest...), EndStream: true, EndHeaders: true})
	if err := srv.Feed(p.take()); err != nil {
		b.Fatal(err)
	}
	p.f.WriteHeaders(http2.HeadersFrameParam{StreamID: 3, BlockFragment: p.block(benchGRPCRequest...), EndStream: true, EndHeaders: true})
	frame := p.take()
	id := uint32(3)
	b.ReportAllocs()
	b.SetBytes(int64(len(frame)))
	for b.Loop() {
		binary.BigEndian.PutUint32(frame[5:], id)
		id += 2
		if err := srv.Feed(frame); err != nil {
			b.Fatal(err)
		}
		srv.Advance(len(srv.Output()))
		cli.Advance(len(cli.Output()))
	}
	if r.routed < b.N {
		b.Fatalf("%d heads routed, want %d", r.routed, b.N)
	}
}

// dataRelay moves a downstream stream's DATA into its pipe, and the pipe
// on to the upstream stream, consuming downstream what went up.
type dataRelay struct {
	srv, cli *h2.Conn
	pipe     h2Pipe
	upID     uint32
	moved    int
}

func (r *dataRelay) Headers(uint32, *h2.Headers, bool) {}
func (r *dataRelay) Data(id uint32, p []byte, end bool) {
	r.pipe.put(p, end)
	n, _, _, err := r.pipe.relay(r.cli, maxPendingOutput, r.upID, nil, true)
	if err != nil {
		panic(err)
	}
	r.srv.Consumed(id, n)
	r.moved += n
}
func (r *dataRelay) Reset(uint32, *h2.StreamError) {}
func (r *dataRelay) Writable(uint32)               {}
func (r *dataRelay) Control(*h2.Event)             {}

// BenchmarkH2DataRelay: a 16 KiB DATA frame from downstream through the
// stream's pipe to the upstream stream, with WINDOW_UPDATE downstream and
// new window upstream. Target: 0 allocs/op.
func BenchmarkH2DataRelay(b *testing.B) {
	r := &dataRelay{}
	srv, cli, p := engines(b, r, r)
	r.srv, r.cli = srv, cli
	p.f.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: p.block(benchGRPCRequest...), EndHeaders: true})
	if err := srv.Feed(p.take()); err != nil {
		b.Fatal(err)
	}
	var err error
	if r.upID, err = cli.OpenStream([]h2.Field{h2.F(":method", "POST"), h2.F(":scheme", "http"), h2.F(":path", "/"), h2.F(":authority", "x")}, false); err != nil {
		b.Fatal(err)
	}
	payload := make([]byte, 16<<10)
	p.f.WriteData(1, false, payload)
	data := p.take()
	p.f.WriteWindowUpdate(0, uint32(len(payload)))
	p.f.WriteWindowUpdate(r.upID, uint32(len(payload)))
	credit := p.take()
	b.ReportAllocs()
	b.SetBytes(int64(len(payload)))
	for b.Loop() {
		if err := srv.Feed(data); err != nil {
			b.Fatal(err)
		}
		if err := cli.Feed(credit); err != nil {
			b.Fatal(err)
		}
		srv.Advance(len(srv.Output()))
		cli.Advance(len(cli.Output()))
	}
	if r.moved < b.N*len(payload) {
		b.Fatalf("moved %d bytes, want %d", r.moved, b.N*len(payload))
	}
}
