package server

import (
	"encoding/binary"
	"io"
	"net"
	"testing"
)

// Raw HTTP/2 peers for BenchmarkProxyHTTP2RoundTrip: fixed frames with
// stream ids patched in, HPACK blocks of static-table references and
// literals that touch no dynamic table, so neither peer allocates per
// request and allocs/op is the proxy's.

// h2Frame appends a frame header and payload.
func h2Frame(b []byte, typ, flags byte, id uint32, payload []byte) []byte {
	b = append(b, byte(len(payload)>>16), byte(len(payload)>>8), byte(len(payload)), typ, flags)
	b = binary.BigEndian.AppendUint32(b, id)
	return append(b, payload...)
}

const (
	h2Data     = 0x0
	h2Headers  = 0x1
	h2Settings = 0x4
	h2Window   = 0x8

	h2EndStream  = 0x1
	h2EndHeaders = 0x4
	h2Ack        = 0x1
)

// h2Frames calls fn for each whole frame at the start of buf and returns
// the bytes used.
func h2Frames(buf []byte, fn func(typ, flags byte, id uint32, payload []byte)) int {
	used := 0
	for len(buf)-used >= 9 {
		n := int(buf[used])<<16 | int(buf[used+1])<<8 | int(buf[used+2])
		if len(buf)-used < 9+n {
			break
		}
		h := buf[used : used+9]
		fn(h[3], h[4], binary.BigEndian.Uint32(h[5:])&0x7fffffff, buf[used+9:used+9+n])
		used += 9 + n
	}
	return used
}

// rawH2Origin answers each request stream with :status 200 and a 128-byte
// body, and keeps the proxy's connection window open.
func rawH2Origin(b testing.TB) string {
	var hdr []byte
	hdr = append(hdr, 0x88)                         // :status 200 (static index 8)
	hdr = append(hdr, 0x0f, 0x0d, 3, '1', '2', '8') // content-length (static 28), literal without indexing
	body := make([]byte, 128)
	return serveTCP(b, func(c net.Conn) {
		defer c.Close()
		buf := make([]byte, 64<<10)
		preface := make([]byte, 24)
		if _, err := io.ReadFull(c, preface); err != nil {
			return
		}
		c.Write(h2Frame(nil, h2Settings, 0, 0, nil))
		resp := h2Frame(nil, h2Headers, h2EndHeaders, 0, hdr)
		dataAt := len(resp)
		resp = h2Frame(resp, h2Data, h2EndStream, 0, body)
		ack := h2Frame(nil, h2Settings, h2Ack, 0, nil)
		out := make([]byte, 0, 64<<10)
		n := 0
		for {
			m, err := c.Read(buf[n:])
			if err != nil {
				return
			}
			n += m
			out = out[:0]
			used := h2Frames(buf[:n], func(typ, flags byte, id uint32, _ []byte) {
				switch {
				case typ == h2Settings && flags&h2Ack == 0:
					out = append(out, ack...)
				case typ == h2Headers && flags&h2EndStream != 0:
					binary.BigEndian.PutUint32(resp[5:], id)
					binary.BigEndian.PutUint32(resp[dataAt+5:], id)
					out = append(out, resp...)
				}
			})
			if len(out) > 0 {
				c.Write(out)
			}
			n = copy(buf, buf[used:n])
		}
	})
}

// BenchmarkProxyHTTP2RoundTrip sends one GET stream at a time on one h2c
// connection through a real proxy listener to a real h2c origin over
// loopback: the client and the origin allocate nothing per request, so
// allocs/op is the proxy's.
func BenchmarkProxyHTTP2RoundTrip(b *testing.B) {
	p := startProxy(b, h2ProxyConfig("Http2", "Http2", "", rawH2Origin(b)))
	c, err := net.Dial("tcp", p.addr("in"))
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	hello := append([]byte("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"), h2Frame(nil, h2Settings, 0, 0, nil)...)
	if _, err := c.Write(hello); err != nil {
		b.Fatal(err)
	}
	var block []byte
	block = append(block, 0x82, 0x86)                            // :method GET, :scheme http
	block = append(block, 0x04, 6, '/', 'b', 'e', 'n', 'c', 'h') // :path (static 4), literal without indexing
	block = append(block, 0x01, 5, 'b', 'e', 'n', 'c', 'h')      // :authority (static 1)
	req := h2Frame(nil, h2Headers, h2EndHeaders|h2EndStream, 0, block)
	// Each response's body goes back to the connection window at once.
	window := h2Frame(nil, h2Window, 0, 0, []byte{0, 0, 0, 128})
	ack := h2Frame(nil, h2Settings, h2Ack, 0, nil)
	buf := make([]byte, 64<<10)
	id := uint32(1)
	n := 0
	b.ReportAllocs()
	for b.Loop() {
		binary.BigEndian.PutUint32(req[5:], id)
		if _, err := c.Write(req); err != nil {
			b.Fatal(err)
		}
		done := false
		for !done {
			m, err := c.Read(buf[n:])
			if err != nil {
				b.Fatal(err)
			}
			n += m
			used := h2Frames(buf[:n], func(typ, flags byte, sid uint32, _ []byte) {
				switch {
				case typ == h2Settings && flags&h2Ack == 0:
					c.Write(ack)
				case sid == id && typ == h2Data && flags&h2EndStream != 0:
					c.Write(window)
					done = true
				case sid == id && typ == h2Headers && flags&h2EndStream != 0:
					b.Fatal("response without a body")
				}
			})
			n = copy(buf, buf[used:n])
		}
		id += 2
	}
}
