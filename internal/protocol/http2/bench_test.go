package http2

import (
	"bytes"
	"encoding/binary"
	"testing"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// grpcRequest is what grpc-go sends for a unary call.
var grpcRequest = []string{
	":method", "POST",
	":scheme", "http",
	":path", "/grpc.testing.TestService/UnaryCall",
	":authority", "127.0.0.1:50051",
	"content-type", "application/grpc",
	"user-agent", "grpc-go/1.70.0",
	"te", "trailers",
	"grpc-accept-encoding", "gzip",
}

// resetHandler drops every stream as soon as its head is decoded, so a
// benchmark's stream table stays the same size.
type resetHandler struct {
	c       *Conn
	headers int
}

func (h *resetHandler) Headers(id uint32, hd *Headers, end bool) {
	h.headers++
	h.c.Reset(id, http2.ErrCodeCancel)
}
func (h *resetHandler) Data(id uint32, p []byte, end bool) { h.c.Consumed(id, len(p)) }
func (h *resetHandler) Reset(uint32, *StreamError)         {}
func (h *resetHandler) Writable(uint32)                    {}
func (h *resetHandler) Control(*Event)                     {}

// benchServer returns a server engine past its handshake with handler h.
func benchServer(b *testing.B, h Handler) (*Conn, *peer) {
	c := NewServerConn(Config{ResetBudget: 1 << 30}, h)
	p := newPeer(b, c)
	p.wbuf.WriteString(ClientPreface)
	p.w.WriteSettings()
	p.w.WriteSettingsAck()
	p.mustFlush()
	c.Advance(len(c.Output()))
	return c, p
}

// requestFrame encodes a gRPC request HEADERS frame as grpc-go's encoder
// would once its table is warm (every field indexed), plus grpc-timeout,
// which changes per call, as a Huffman-coded literal the table never keeps.
func requestFrame(p *peer) []byte {
	block := p.block(grpcRequest...)
	var enc hpackEncoder
	enc.table.maxSize = 4096
	block = enc.appendField(block, []byte("grpc-timeout"), []byte("99982u"), false)
	p.w.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: block, EndStream: true, EndHeaders: true})
	f := bytes.Clone(p.wbuf.Bytes())
	p.wbuf.Reset()
	return f
}

// BenchmarkDecodeGRPCRequestHeaders: one HEADERS frame of a gRPC request
// through Feed — frame parse, HPACK decode into byte views, validation,
// stream open — with the dynamic table warm. Target: 0 allocs/op.
func BenchmarkDecodeGRPCRequestHeaders(b *testing.B) {
	h := &resetHandler{}
	c, p := benchServer(b, h)
	h.c = c
	p.block(grpcRequest...) // first use: literals that fill the peer's table
	p.mustFlush()
	p.encBuf.Reset()
	p.enc = hpack.NewEncoder(&p.encBuf)
	p.w.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: p.block(grpcRequest...), EndStream: true, EndHeaders: true})
	p.mustFlush() // our table now holds what the peer's does
	frame := requestFrame(p)
	id := uint32(3)
	b.ReportAllocs()
	b.SetBytes(int64(len(frame)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		binary.BigEndian.PutUint32(frame[5:], id)
		id += 2
		if err := c.Feed(frame); err != nil {
			b.Fatal(err)
		}
		c.Advance(len(c.Output()))
	}
	if h.headers != b.N+1 {
		b.Fatalf("%d heads decoded, want %d", h.headers, b.N+1)
	}
}

// BenchmarkEncodeGRPCResponse: a gRPC response head and trailers through
// WriteHeaders' encoder and framing, table warm. Target: 0 allocs/op.
func BenchmarkEncodeGRPCResponse(b *testing.B) {
	c, _ := benchServer(b, &resetHandler{})
	head := []Field{F(":status", "200"), F("content-type", "application/grpc"), F("grpc-encoding", "identity")}
	trailers := []Field{F("grpc-status", "0"), F("grpc-message", "")}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		c.writeBlock(1, head, false)
		c.writeBlock(1, trailers, true)
		c.Advance(len(c.Output()))
	}
}

// relay forwards DATA from a downstream server stream to an upstream
// client stream, consuming downstream only what upstream took.
type relay struct {
	down, up *Conn
	upID     uint32
}

func (r *relay) Headers(uint32, *Headers, bool) {}
func (r *relay) Data(id uint32, p []byte, end bool) {
	n, _ := r.up.WriteData(r.upID, p, false)
	r.down.Consumed(id, n)
}
func (r *relay) Reset(uint32, *StreamError) {}
func (r *relay) Writable(uint32)            {}
func (r *relay) Control(*Event)             {}

// BenchmarkDataRelay: a 16 KiB DATA frame decoded on a downstream engine,
// written to an upstream engine's stream, windows reopened on both sides.
// Target: 0 allocs/op.
func BenchmarkDataRelay(b *testing.B) {
	rl := &relay{}
	down, dp := benchServer(b, rl)
	up := NewClientConn(Config{}, &resetHandler{})
	upPeer := newPeer(b, up)
	upPeer.w.WriteSettings()
	upPeer.w.WriteSettingsAck()
	upPeer.mustFlush()
	rl.down, rl.up = down, up
	var err error
	rl.upID, err = up.OpenStream([]Field{F(":method", "POST"), F(":scheme", "http"), F(":authority", "a"), F(":path", "/")}, false)
	if err != nil {
		b.Fatal(err)
	}
	up.Advance(len(up.Output()))
	dp.headers(1, false, ":method", "POST", ":scheme", "http", ":authority", "a", ":path", "/")
	dp.mustFlush()
	chunk := make([]byte, 16<<10)
	dp.data(1, false, chunk)
	frame := bytes.Clone(dp.wbuf.Bytes())
	dp.wbuf.Reset()
	// The upstream peer's WINDOW_UPDATEs for one chunk, stream and connection.
	upPeer.w.WriteWindowUpdate(rl.upID, uint32(len(chunk)))
	upPeer.w.WriteWindowUpdate(0, uint32(len(chunk)))
	credit := bytes.Clone(upPeer.wbuf.Bytes())
	upPeer.wbuf.Reset()
	b.ReportAllocs()
	b.SetBytes(int64(len(chunk)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := down.Feed(frame); err != nil {
			b.Fatal(err)
		}
		if err := up.Feed(credit); err != nil {
			b.Fatal(err)
		}
		if len(up.Output()) < len(chunk) {
			b.Fatalf("relay stalled: %d bytes out", len(up.Output()))
		}
		up.Advance(len(up.Output()))
		down.Advance(len(down.Output()))
	}
}

// unaryServer answers each request with a gRPC response: head, one
// message, trailers.
type unaryServer struct {
	c   *Conn
	msg []byte
}

func (u *unaryServer) Headers(id uint32, h *Headers, end bool) {
	u.c.WriteHeaders(id, []Field{F(":status", "200"), F("content-type", "application/grpc")}, false)
	u.c.WriteData(id, u.msg, false)
	u.c.WriteTrailers(id, []Field{F("grpc-status", "0")})
}
func (u *unaryServer) Data(id uint32, p []byte, end bool) { u.c.Consumed(id, len(p)) }
func (u *unaryServer) Reset(uint32, *StreamError)         {}
func (u *unaryServer) Writable(uint32)                    {}
func (u *unaryServer) Control(*Event)                     {}

// BenchmarkServerUnaryGRPC: a whole unary call on the server side — the
// request HEADERS and its 5-byte message decoded, the response head,
// message and trailers encoded. Target: 0 allocs/op.
func BenchmarkServerUnaryGRPC(b *testing.B) {
	u := &unaryServer{msg: []byte{0, 0, 0, 0, 2, 8, 1}}
	c, p := benchServer(b, u)
	u.c = c
	p.w.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: p.block(grpcRequest...), EndHeaders: true})
	p.w.WriteData(1, true, u.msg)
	p.mustFlush()
	p.w.WriteHeaders(http2.HeadersFrameParam{StreamID: 3, BlockFragment: p.block(grpcRequest...), EndHeaders: true})
	p.w.WriteData(3, true, u.msg)
	call := bytes.Clone(p.wbuf.Bytes())
	hdrLen := 9 + int(call[2])
	id := uint32(3)
	// The client's window credit for each response message.
	var credit bytes.Buffer
	cw := http2.NewFramer(&credit, nil)
	cw.WriteWindowUpdate(0, uint32(len(u.msg)))
	call = append(call, credit.Bytes()...)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		binary.BigEndian.PutUint32(call[5:], id)
		binary.BigEndian.PutUint32(call[hdrLen+5:], id)
		id += 2
		if err := c.Feed(call); err != nil {
			b.Fatal(err)
		}
		c.Advance(len(c.Output()))
	}
	if c.ActiveStreams() != 0 {
		b.Fatalf("%d streams left open", c.ActiveStreams())
	}
}
