package http2

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// recorder is a Handler that logs events as text and can answer requests.
type recorder struct {
	events []string
	data   map[uint32][]byte
	resets []StreamError
	// onHeaders, when set, runs after the event is logged.
	onHeaders func(id uint32, h *Headers, end bool)
	onData    func(id uint32, p []byte, end bool)
}

func (r *recorder) Headers(id uint32, h *Headers, end bool) {
	var b strings.Builder
	fmt.Fprintf(&b, "headers %d end=%v", id, end)
	if h.Trailers {
		b.WriteString(" trailers")
	}
	for _, p := range []struct {
		n string
		v []byte
	}{{":method", h.Method}, {":scheme", h.Scheme}, {":authority", h.Authority}, {":path", h.Path}, {":status", h.Status}} {
		if p.v != nil {
			fmt.Fprintf(&b, " %s=%s", p.n, p.v)
		}
	}
	for _, f := range h.Fields {
		fmt.Fprintf(&b, " %s=%s", f.Name, f.Value)
	}
	r.events = append(r.events, b.String())
	if r.onHeaders != nil {
		r.onHeaders(id, h, end)
	}
}

func (r *recorder) Data(id uint32, p []byte, end bool) {
	if r.data == nil {
		r.data = map[uint32][]byte{}
	}
	r.data[id] = append(r.data[id], p...)
	r.events = append(r.events, fmt.Sprintf("data %d len=%d end=%v", id, len(p), end))
	if r.onData != nil {
		r.onData(id, p, end)
	}
}

func (r *recorder) Reset(id uint32, err *StreamError) {
	r.resets = append(r.resets, *err)
	r.events = append(r.events, fmt.Sprintf("reset %d %v remote=%v", id, err.Code, err.Remote))
}

func (r *recorder) Writable(id uint32) {
	r.events = append(r.events, fmt.Sprintf("writable %d", id))
}

func (r *recorder) Control(ev *Event) {
	switch ev.Kind {
	case EventSettings:
		r.events = append(r.events, "settings")
	case EventSettingsAck:
		r.events = append(r.events, "settings-ack")
	case EventPingAck:
		r.events = append(r.events, fmt.Sprintf("ping-ack %x", ev.Ping))
	case EventGoAway:
		r.events = append(r.events, fmt.Sprintf("goaway last=%d %v", ev.LastStreamID, ev.Code))
	}
}

func (r *recorder) has(ev string) bool {
	for _, e := range r.events {
		if e == ev {
			return true
		}
	}
	return false
}

// peer plays the other endpoint with x/net's Framer and HPACK: it encodes
// frames for the engine and decodes what the engine wrote.
type peer struct {
	t      testing.TB
	c      *Conn
	wbuf   bytes.Buffer
	w      *http2.Framer
	encBuf bytes.Buffer
	enc    *hpack.Encoder
	rbuf   bytes.Buffer
	r      *http2.Framer
}

func newPeer(t testing.TB, c *Conn) *peer {
	p := &peer{t: t, c: c}
	p.w = http2.NewFramer(&p.wbuf, nil)
	p.w.AllowIllegalWrites = true
	p.enc = hpack.NewEncoder(&p.encBuf)
	p.r = http2.NewFramer(nil, &p.rbuf)
	p.r.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	p.r.SetMaxReadFrameSize(1 << 24)
	p.r.MaxHeaderListSize = 1 << 20
	return p
}

// flush feeds what the peer wrote to the engine and returns Feed's error.
func (p *peer) flush() error {
	b := bytes.Clone(p.wbuf.Bytes())
	p.wbuf.Reset()
	return p.c.Feed(b)
}

func (p *peer) mustFlush() {
	p.t.Helper()
	if err := p.flush(); err != nil {
		p.t.Fatalf("Feed: %v", err)
	}
}

// block HPACK-encodes name/value pairs with the peer's encoder.
func (p *peer) block(kv ...string) []byte {
	p.encBuf.Reset()
	for i := 0; i < len(kv); i += 2 {
		p.enc.WriteField(hpack.HeaderField{Name: kv[i], Value: kv[i+1]})
	}
	return bytes.Clone(p.encBuf.Bytes())
}

func (p *peer) headers(id uint32, end bool, kv ...string) {
	p.t.Helper()
	if err := p.w.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: p.block(kv...), EndStream: end, EndHeaders: true}); err != nil {
		p.t.Fatal(err)
	}
}

func (p *peer) data(id uint32, end bool, b []byte) {
	p.t.Helper()
	if err := p.w.WriteData(id, end, b); err != nil {
		p.t.Fatal(err)
	}
}

// frames reads every frame the engine has queued and renders each as a
// short string (a Framer's frame is valid only until the next read).
func (p *peer) frames() []string {
	p.t.Helper()
	p.rbuf.Write(p.c.Output())
	p.c.Advance(len(p.c.Output()))
	var out []string
	for p.rbuf.Len() > 0 {
		f, err := p.r.ReadFrame()
		if err != nil {
			p.t.Fatalf("engine wrote an invalid frame: %v", err)
		}
		h := f.Header()
		switch f := f.(type) {
		case *http2.MetaHeadersFrame:
			var b strings.Builder
			fmt.Fprintf(&b, "HEADERS %d end=%v", h.StreamID, f.StreamEnded())
			for _, hf := range f.Fields {
				fmt.Fprintf(&b, " %s=%s", hf.Name, hf.Value)
			}
			out = append(out, b.String())
		case *http2.DataFrame:
			out = append(out, fmt.Sprintf("DATA %d len=%d end=%v", h.StreamID, len(f.Data()), f.StreamEnded()))
		case *http2.RSTStreamFrame:
			out = append(out, fmt.Sprintf("RST_STREAM %d %v", h.StreamID, f.ErrCode))
		case *http2.GoAwayFrame:
			out = append(out, fmt.Sprintf("GOAWAY last=%d %v", f.LastStreamID, f.ErrCode))
		case *http2.WindowUpdateFrame:
			out = append(out, fmt.Sprintf("WINDOW_UPDATE %d +%d", h.StreamID, f.Increment))
		case *http2.SettingsFrame:
			if f.IsAck() {
				out = append(out, "SETTINGS ack")
			} else {
				out = append(out, "SETTINGS")
			}
		case *http2.PingFrame:
			out = append(out, fmt.Sprintf("PING ack=%v %x", f.IsAck(), f.Data))
		default:
			out = append(out, h.Type.String())
		}
	}
	return out
}

func (p *peer) expect(want ...string) {
	p.t.Helper()
	got := p.frames()
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		p.t.Fatalf("engine wrote:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}

// newServer returns a server engine past the handshake: preface and
// SETTINGS exchanged and acknowledged both ways.
func newServer(t testing.TB, cfg Config, settings ...http2.Setting) (*Conn, *recorder, *peer) {
	t.Helper()
	rec := &recorder{}
	c := NewServerConn(cfg, rec)
	p := newPeer(t, c)
	p.wbuf.WriteString(ClientPreface)
	p.w.WriteSettings(settings...)
	p.w.WriteSettingsAck()
	p.mustFlush()
	fs := p.frames()
	if len(fs) == 0 || fs[0] != "SETTINGS" || fs[len(fs)-1] != "SETTINGS ack" {
		t.Fatalf("handshake frames: %v", fs)
	}
	rec.events = nil
	return c, rec, p
}

// newClient returns a client engine past the handshake.
func newClient(t testing.TB, cfg Config, settings ...http2.Setting) (*Conn, *recorder, *peer) {
	t.Helper()
	rec := &recorder{}
	c := NewClientConn(cfg, rec)
	p := newPeer(t, c)
	out := c.Output()
	if !bytes.HasPrefix(out, []byte(ClientPreface)) {
		t.Fatalf("client did not start with the preface: %q", out)
	}
	c.Advance(len(ClientPreface))
	p.w.WriteSettings(settings...)
	p.w.WriteSettingsAck()
	p.mustFlush()
	fs := p.frames()
	if len(fs) == 0 || fs[0] != "SETTINGS" || fs[len(fs)-1] != "SETTINGS ack" {
		t.Fatalf("handshake frames: %v", fs)
	}
	rec.events = nil
	return c, rec, p
}

func connErrCode(t *testing.T, err error) ErrCode {
	t.Helper()
	var ce *ConnError
	if !errors.As(err, &ce) {
		t.Fatalf("want a *ConnError, got %v", err)
	}
	return ce.Code
}

var _ = io.EOF
