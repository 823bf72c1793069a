package bench

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"fmt"
	"net"
	"strings"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// HTTP/2 client: frames are written with x/net's http2.Framer into a
// buffer flushed once per batch of sends; frames are read by hand from the
// connection's read buffer (a 9-byte header is all it takes) so a response
// allocates nothing, and header blocks go through x/net's hpack.Decoder to
// keep the server's dynamic table in step. Request header blocks are
// encoded once, without the dynamic table, so every send reuses them.

const (
	h2Window       = 1<<30 - 1 // our stream and connection receive windows, as h2load's defaults
	h2MaxFrameSize = 16384
)

type h2Protocol struct {
	d      *dialer
	blocks [][]byte // header block per request
	bodies [][]byte
	want   int // --streams
}

func newH2Protocol(cfg *Config, d *dialer, reqs []Request) (protocol, error) {
	p := &h2Protocol{d: d, want: cfg.Streams}
	scheme := "http"
	if d.tls != nil {
		scheme = "https"
	}
	for _, r := range reqs {
		blk := encodeH2Headers(r, scheme)
		if len(blk) > h2MaxFrameSize {
			return nil, usageErrorf("h2: request headers of %d bytes exceed one frame", len(blk))
		}
		if len(r.Body) > 65535 {
			return nil, usageErrorf("h2: request bodies above 64 KiB are not supported (got %d bytes)", len(r.Body))
		}
		p.blocks = append(p.blocks, blk)
		p.bodies = append(p.bodies, r.Body)
	}
	return p, nil
}

// encodeH2Headers writes a header block that leaves the dynamic table
// alone (indexed static entries and literals without indexing), so it can
// be sent any number of times.
func encodeH2Headers(r Request, scheme string) []byte {
	var b []byte
	field := func(name, value string) {
		for i, sf := range h2Static {
			if sf[0] == name && sf[1] == value {
				b = append(b, 0x80|byte(i+1))
				return
			}
		}
		b = append(b, 0x00)
		b = appendHpackString(b, name)
		b = appendHpackString(b, value)
	}
	field(":method", r.Method)
	field(":scheme", scheme)
	host := r.Host
	for _, h := range r.Headers {
		if strings.EqualFold(h[0], "host") {
			host = h[1]
		}
	}
	field(":authority", host)
	field(":path", r.Path)
	for _, h := range r.Headers {
		name := strings.ToLower(h[0])
		switch name {
		case "host", "connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade", "content-length":
			continue // connection-specific or framing: not sent in HTTP/2
		}
		field(name, h[1])
	}
	if len(r.Body) > 0 {
		field("content-length", fmt.Sprint(len(r.Body)))
	}
	return b
}

// the static-table entries worth indexing (RFC 7541 appendix A, 1-based)
var h2Static = [...][2]string{
	{":authority", ""}, {":method", "GET"}, {":method", "POST"}, {":path", "/"},
	{":path", "/index.html"}, {":scheme", "http"}, {":scheme", "https"},
}

func appendHpackString(b []byte, s string) []byte {
	b = appendHpackInt(b, 0x00, 7, uint64(len(s)))
	return append(b, s...)
}

func appendHpackInt(b []byte, first byte, n uint, v uint64) []byte {
	max := uint64(1)<<n - 1
	if v < max {
		return append(b, first|byte(v))
	}
	b = append(b, first|byte(max))
	v -= max
	for v >= 128 {
		b = append(b, byte(v&0x7f|0x80))
		v >>= 7
	}
	return append(b, byte(v))
}

func (p *h2Protocol) dial(ctx context.Context) (clientConn, error) {
	nc, err := p.d.dial(ctx)
	if err != nil {
		return nil, err
	}
	c := &h2Conn{p: p, nc: nc, rb: newReadBuf(64 << 10), nextID: 1, maxConc: 100}
	c.wb.b = make([]byte, 0, 16<<10)
	c.fr = http2.NewFramer(&c.wb, nil)
	c.dec = newH2Decoder(c)
	c.wb.Write([]byte(http2.ClientPreface))
	c.fr.WriteSettings(
		http2.Setting{ID: http2.SettingEnablePush, Val: 0},
		http2.Setting{ID: http2.SettingInitialWindowSize, Val: h2Window},
	)
	c.fr.WriteWindowUpdate(0, h2Window-65535)
	if err := c.handshake(); err != nil {
		nc.Close()
		return nil, fmt.Errorf("h2 handshake: %w", err)
	}
	return c, nil
}

// handshake sends our preface and waits for the server's SETTINGS, so the
// stream limit is known before the first request.
func (c *h2Conn) handshake() error {
	if tc, ok := c.nc.(*tls.Conn); ok && tc.ConnectionState().NegotiatedProtocol != "h2" {
		return fmt.Errorf("server did not negotiate h2 with ALPN (got %q)", tc.ConnectionState().NegotiatedProtocol)
	}
	if err := writeAll(c.nc, &c.wb); err != nil {
		return err
	}
	timeout := c.p.d.timeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	_ = c.nc.SetReadDeadline(time.Now().Add(timeout))
	defer c.nc.SetReadDeadline(time.Time{})
	for !c.gotSettings {
		var res response
		if _, err := c.frame(&res); err != nil {
			return err
		}
	}
	return writeAll(c.nc, &c.wb)
}

type h2stream struct {
	id     uint32
	status int
	bytes  int64
}

// h2Conn is one HTTP/2 connection with up to maxStreams requests in flight.
type h2Conn struct {
	p           *h2Protocol
	nc          net.Conn
	rb          readBuf
	wb          appendWriter
	fr          *http2.Framer
	dec         *hpack.Decoder
	streams     []h2stream
	nextID      uint32
	maxConc     int
	gotSettings bool
	goaway      bool
	unacked     uint32 // connection-window bytes received and not yet given back
	cur         *h2stream
	contID      uint32 // stream of an unfinished header block
	endStream   bool   // the header block being read ends its stream
}

func newH2Decoder(c *h2Conn) *hpack.Decoder { return hpack.NewDecoder(4096, c.onField) }

func (c *h2Conn) onField(f hpack.HeaderField) {
	if c.cur != nil && f.Name == ":status" && len(f.Value) == 3 {
		c.cur.status = int(f.Value[0]-'0')*100 + int(f.Value[1]-'0')*10 + int(f.Value[2]-'0')
	}
}

func (c *h2Conn) maxStreams() int {
	if c.p.want < c.maxConc {
		return c.p.want
	}
	return c.maxConc
}

func (c *h2Conn) usable() bool                      { return !c.goaway && c.nextID < 1<<31-1 }
func (c *h2Conn) setReadDeadline(t time.Time) error { return c.nc.SetReadDeadline(t) }
func (c *h2Conn) close()                            { c.nc.Close() }
func (c *h2Conn) flush() error                      { return writeAll(c.nc, &c.wb) }

func (c *h2Conn) send(req int) (uint32, error) {
	id := c.nextID
	c.nextID += 2
	body := c.p.bodies[req]
	err := c.fr.WriteHeaders(http2.HeadersFrameParam{
		StreamID: id, BlockFragment: c.p.blocks[req], EndStream: len(body) == 0, EndHeaders: true,
	})
	for len(body) > 0 && err == nil {
		n := min(len(body), h2MaxFrameSize)
		err = c.fr.WriteData(id, n == len(body), body[:n])
		body = body[n:]
	}
	c.streams = append(c.streams, h2stream{id: id})
	return id, err
}

func (c *h2Conn) abandon(id uint32) bool {
	if c.find(id) != nil {
		c.remove(id)
		_ = c.fr.WriteRSTStream(id, http2.ErrCodeCancel)
		return c.flush() == nil
	}
	return true
}

func (c *h2Conn) find(id uint32) *h2stream {
	for i := range c.streams {
		if c.streams[i].id == id {
			return &c.streams[i]
		}
	}
	return nil
}

func (c *h2Conn) remove(id uint32) {
	for i := range c.streams {
		if c.streams[i].id == id {
			c.streams = append(c.streams[:i], c.streams[i+1:]...)
			return
		}
	}
}

func (c *h2Conn) recv(res *response) error {
	for {
		done, err := c.frame(res)
		if err != nil {
			return err
		}
		if done {
			return nil
		}
	}
}

// frame handles one frame, reading more input as needed; done when it
// completed a stream (described in res).
func (c *h2Conn) frame(res *response) (bool, error) {
	rb := &c.rb
	for rb.w-rb.r < 9 {
		if _, err := rb.fill(c.nc); err != nil {
			return false, err
		}
	}
	hdr := rb.buffered()
	length := int(hdr[0])<<16 | int(hdr[1])<<8 | int(hdr[2])
	typ, flags := http2.FrameType(hdr[3]), http2.Flags(hdr[4])
	sid := binary.BigEndian.Uint32(hdr[5:9]) & (1<<31 - 1)
	if length > h2MaxFrameSize {
		return false, &protoError{"h2: frame larger than SETTINGS_MAX_FRAME_SIZE"}
	}
	for rb.w-rb.r < 9+length {
		if _, err := rb.fill(c.nc); err != nil {
			return false, err
		}
	}
	payload := rb.buffered()[9 : 9+length]
	rb.r += 9 + length
	if c.contID != 0 && typ != http2.FrameContinuation {
		return false, &protoError{"h2: header block interrupted"}
	}

	switch typ {
	case http2.FrameData:
		c.unacked += uint32(length)
		if c.unacked >= h2Window/2 {
			_ = c.fr.WriteWindowUpdate(0, c.unacked)
			c.unacked = 0
			if err := c.flush(); err != nil {
				return false, err
			}
		}
		s := c.find(sid)
		if s == nil {
			return false, nil
		}
		s.bytes += int64(9 + length)
		if flags.Has(http2.FlagDataEndStream) {
			return c.finish(s, res), nil
		}
	case http2.FrameHeaders, http2.FrameContinuation:
		s := c.find(sid)
		if typ == http2.FrameHeaders {
			if flags.Has(http2.FlagHeadersPadded) {
				if len(payload) < 1 || int(payload[0]) >= len(payload) {
					return false, &protoError{"h2: bad padding"}
				}
				payload = payload[1 : len(payload)-int(payload[0])]
			}
			if flags.Has(http2.FlagHeadersPriority) {
				if len(payload) < 5 {
					return false, &protoError{"h2: short HEADERS"}
				}
				payload = payload[5:]
			}
			c.endStream = flags.Has(http2.FlagHeadersEndStream)
		} else if sid != c.contID {
			return false, &protoError{"h2: unexpected CONTINUATION"}
		}
		c.cur = s
		if _, err := c.dec.Write(payload); err != nil {
			return false, &protoError{"h2: hpack: " + err.Error()}
		}
		c.cur = nil
		if s != nil {
			s.bytes += int64(9 + length)
		}
		if !flags.Has(http2.FlagHeadersEndHeaders) {
			c.contID = sid
			return false, nil
		}
		c.contID = 0
		if err := c.dec.Close(); err != nil {
			return false, &protoError{"h2: hpack: " + err.Error()}
		}
		if c.endStream && s != nil {
			return c.finish(s, res), nil
		}
	case http2.FrameSettings:
		if flags.Has(http2.FlagSettingsAck) {
			return false, nil
		}
		for i := 0; i+6 <= len(payload); i += 6 {
			id := http2.SettingID(binary.BigEndian.Uint16(payload[i:]))
			v := binary.BigEndian.Uint32(payload[i+2:])
			switch id {
			case http2.SettingMaxConcurrentStreams:
				c.maxConc = int(v)
			case http2.SettingMaxFrameSize:
				// we never send frames above the 16 KiB minimum
			}
		}
		c.gotSettings = true
		_ = c.fr.WriteSettingsAck()
		return false, c.flush()
	case http2.FramePing:
		if !flags.Has(http2.FlagPingAck) && len(payload) == 8 {
			var data [8]byte
			copy(data[:], payload)
			_ = c.fr.WritePing(true, data)
			return false, c.flush()
		}
	case http2.FrameRSTStream:
		if s := c.find(sid); s != nil {
			res.id, res.status, res.bytes, res.fail = s.id, 0, s.bytes, errReset
			c.remove(sid)
			return true, nil
		}
	case http2.FrameGoAway:
		c.goaway = true
		if len(payload) >= 4 {
			last := binary.BigEndian.Uint32(payload) & (1<<31 - 1)
			// Streams above last were never processed: fail one per call.
			for i := range c.streams {
				if c.streams[i].id > last {
					s := c.streams[i]
					res.id, res.status, res.bytes, res.fail = s.id, 0, s.bytes, errReset
					c.remove(s.id)
					rb.r -= 9 + length // see the GOAWAY again for the next one
					return true, nil
				}
			}
		}
	}
	return false, nil
}

func (c *h2Conn) finish(s *h2stream, res *response) bool {
	res.id, res.status, res.bytes, res.fail = s.id, s.status, s.bytes, statusKind(s.status)
	c.remove(s.id)
	return true
}

func (c *h2Conn) conn() *net.Conn { return &c.nc }

// pending reports whether a whole frame is already buffered: the worker
// reads it before writing, so the requests that replace several finished
// streams go out in one write.
func (c *h2Conn) pending() bool {
	b := c.rb.buffered()
	return len(b) >= 9 && len(b) >= 9+(int(b[0])<<16|int(b[1])<<8|int(b[2]))
}
