package http2

import (
	"errors"
	"strings"
	"testing"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// Each hostile input gets the RFC 9113 error, and where the rule allows a
// stream error the connection keeps serving: a request after it works.

func okRequest(p *peer, id uint32) {
	p.headers(id, true, ":method", "GET", ":scheme", "http", ":authority", "a", ":path", "/ok")
}

func assertServes(t *testing.T, c *Conn, rec *recorder, p *peer, id uint32) {
	t.Helper()
	rec.events = nil
	okRequest(p, id)
	p.mustFlush()
	if len(rec.events) != 1 || !strings.HasPrefix(rec.events[0], "headers ") {
		t.Fatalf("connection stopped serving: %v (err %v)", rec.events, c.Err())
	}
}

func TestContinuationFlood(t *testing.T) {
	_, rec, p := newServer(t, Config{MaxContinuationFrames: 8})
	p.w.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: p.block(":method", "GET"), EndHeaders: false})
	for i := 0; i < 9; i++ {
		p.w.WriteContinuation(1, false, nil)
	}
	if connErrCode(t, p.flush()) != http2.ErrCodeEnhanceYourCalm {
		t.Fatal("want ENHANCE_YOUR_CALM")
	}
	p.expect("GOAWAY last=0 ENHANCE_YOUR_CALM")
	if len(rec.events) != 0 {
		t.Fatalf("events %v", rec.events)
	}
}

func TestContinuationBlockTooLarge(t *testing.T) {
	_, _, p := newServer(t, Config{MaxHeaderListSize: 4096})
	p.w.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: make([]byte, 3000)})
	p.w.WriteContinuation(1, false, make([]byte, 3000))
	if connErrCode(t, p.flush()) != http2.ErrCodeEnhanceYourCalm {
		t.Fatal("want ENHANCE_YOUR_CALM")
	}
}

func TestContinuationInterleaved(t *testing.T) {
	_, _, p := newServer(t, Config{})
	p.w.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: p.block(":method", "GET")})
	p.w.WritePing(false, [8]byte{})
	if connErrCode(t, p.flush()) != http2.ErrCodeProtocol {
		t.Fatal("want PROTOCOL_ERROR")
	}
	_, _, p = newServer(t, Config{})
	p.w.WriteContinuation(1, true, nil)
	if connErrCode(t, p.flush()) != http2.ErrCodeProtocol {
		t.Fatal("lone CONTINUATION: want PROTOCOL_ERROR")
	}
}

func TestRapidReset(t *testing.T) {
	c, rec, p := newServer(t, Config{ResetBudget: 10})
	id := uint32(1)
	for ; id < 2*10+1; id += 2 {
		p.headers(id, false, ":method", "GET", ":scheme", "http", ":authority", "a", ":path", "/")
		p.w.WriteRSTStream(id, http2.ErrCodeCancel)
	}
	p.mustFlush() // ten resets spend the budget exactly
	// A stream that ends normally earns one back.
	okRequest(p, id)
	p.mustFlush()
	c.WriteHeaders(id, []Field{F(":status", "200")}, true)
	id += 2
	p.headers(id, false, ":method", "GET", ":scheme", "http", ":authority", "a", ":path", "/")
	p.w.WriteRSTStream(id, http2.ErrCodeCancel)
	p.mustFlush()
	id += 2
	p.headers(id, false, ":method", "GET", ":scheme", "http", ":authority", "a", ":path", "/")
	p.w.WriteRSTStream(id, http2.ErrCodeCancel)
	if connErrCode(t, p.flush()) != http2.ErrCodeEnhanceYourCalm {
		t.Fatal("want ENHANCE_YOUR_CALM")
	}
	fs := p.frames()
	if fs[len(fs)-1] != "GOAWAY last=25 ENHANCE_YOUR_CALM" {
		t.Fatalf("frames %v", fs)
	}
	if n := strings.Count(strings.Join(rec.events, "\n"), "CANCEL remote=true"); n != 12 {
		t.Fatalf("%d resets reported", n)
	}
}

// An HPACK bomb: one 4 KB entry referenced over and over by one-byte
// indexes. The list is refused with 431 without being copied out, the
// HPACK state stays in step, and the next request is served.
func TestHPACKBomb(t *testing.T) {
	c, rec, p := newServer(t, Config{MaxHeaderListSize: 16 << 10})
	big := strings.Repeat("b", 4000)
	block := p.block(":method", "GET", ":scheme", "http", ":authority", "a", ":path", "/", "x-bomb", big)
	for i := 0; i < 1000; i++ {
		block = append(block, 0x80|62) // the newest dynamic entry: x-bomb
	}
	if len(block) > 16<<10 {
		t.Fatalf("block %d bytes is over the encoded limit; the test wants the decoded one", len(block))
	}
	p.w.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: block, EndHeaders: true, EndStream: false})
	p.mustFlush()
	p.expect("HEADERS 1 end=true :status=431", "RST_STREAM 1 NO_ERROR")
	if len(rec.resets) != 1 || rec.resets[0].Reason != reasonListTooLarge {
		t.Fatalf("resets %v", rec.resets)
	}
	if len(c.dec.arena.b) > 20<<10 {
		t.Fatalf("decoder copied %d bytes of the bomb", len(c.dec.arena.b))
	}
	// The peer's encoder indexed x-bomb: referencing it again must decode.
	rec.events = nil
	p.headers(3, true, ":method", "GET", ":scheme", "http", ":authority", "a", ":path", "/", "x-bomb", big)
	p.mustFlush()
	if len(rec.events) != 1 || !strings.Contains(rec.events[0], "x-bomb=bbbb") {
		t.Fatalf("HPACK state lost: %v", rec.events)
	}
}

func TestSettingsFlood(t *testing.T) {
	_, _, p := newServer(t, Config{MaxQueuedControlFrames: 100})
	for i := 0; i < 101; i++ {
		p.w.WriteSettings(http2.Setting{ID: http2.SettingMaxConcurrentStreams, Val: uint32(i)})
	}
	if connErrCode(t, p.flush()) != http2.ErrCodeEnhanceYourCalm {
		t.Fatal("want ENHANCE_YOUR_CALM")
	}
	// A peer that reads its acks is never limited.
	c, _, p := newServer(t, Config{MaxQueuedControlFrames: 100})
	for round := 0; round < 5; round++ {
		for i := 0; i < 40; i++ {
			p.w.WriteSettings()
			p.w.WritePing(false, [8]byte{})
		}
		p.mustFlush()
		p.frames()
	}
	if c.Err() != nil {
		t.Fatal(c.Err())
	}
}

func TestStreamsOverMaximum(t *testing.T) {
	c, rec, p := newServer(t, Config{MaxConcurrentStreams: 2})
	for _, id := range []uint32{1, 3, 5} {
		p.headers(id, false, ":method", "GET", ":scheme", "http", ":authority", "a", ":path", "/")
	}
	p.mustFlush()
	p.expect("RST_STREAM 5 REFUSED_STREAM")
	if c.ActiveStreams() != 2 || len(rec.resets) != 1 || rec.resets[0].StreamID != 5 {
		t.Fatalf("active %d resets %v", c.ActiveStreams(), rec.resets)
	}
	c.Reset(1, http2.ErrCodeCancel)
	p.frames()
	assertServes(t, c, rec, p, 7)
}

func TestMalformedHeaders(t *testing.T) {
	cases := []struct {
		name   string
		fields []string
		reason string
	}{
		{"missing :path", []string{":method", "GET", ":scheme", "http", ":authority", "a"}, reasonPseudoMissing},
		{"missing :method", []string{":scheme", "http", ":path", "/"}, reasonPseudoMissing},
		{"duplicate :method", []string{":method", "GET", ":method", "POST", ":scheme", "http", ":path", "/"}, reasonPseudoDuplicate},
		{"pseudo after regular", []string{":method", "GET", ":scheme", "http", "accept", "*/*", ":path", "/"}, reasonPseudoAfterRegular},
		{"unknown pseudo", []string{":method", "GET", ":scheme", "http", ":path", "/", ":foo", "x"}, reasonPseudoUnknown},
		{":status in request", []string{":method", "GET", ":scheme", "http", ":path", "/", ":status", "200"}, reasonPseudoUnknown},
		{":protocol without extended CONNECT", []string{":method", "CONNECT", ":protocol", "websocket", ":scheme", "http", ":path", "/"}, reasonPseudoUnknown},
		{"CONNECT with :path", []string{":method", "CONNECT", ":authority", "a:443", ":path", "/"}, reasonPseudoMissing},
		{"empty :path", []string{":method", "GET", ":scheme", "http", ":path", ""}, reasonBadPath},
		{"relative :path", []string{":method", "GET", ":scheme", "http", ":path", "x"}, reasonBadPath},
		{"connection", []string{":method", "GET", ":scheme", "http", ":path", "/", "connection", "close"}, reasonConnectionSpecific},
		{"keep-alive", []string{":method", "GET", ":scheme", "http", ":path", "/", "keep-alive", "5"}, reasonConnectionSpecific},
		{"proxy-connection", []string{":method", "GET", ":scheme", "http", ":path", "/", "proxy-connection", "x"}, reasonConnectionSpecific},
		{"transfer-encoding", []string{":method", "GET", ":scheme", "http", ":path", "/", "transfer-encoding", "chunked"}, reasonConnectionSpecific},
		{"upgrade", []string{":method", "GET", ":scheme", "http", ":path", "/", "upgrade", "h2c"}, reasonConnectionSpecific},
		{"te gzip", []string{":method", "GET", ":scheme", "http", ":path", "/", "te", "gzip"}, reasonBadTE},
		{"upper-case name", []string{":method", "GET", ":scheme", "http", ":path", "/", "X-Upper", "1"}, reasonBadName},
		{"space in name", []string{":method", "GET", ":scheme", "http", ":path", "/", "a b", "1"}, reasonBadName},
		{"parenthesis in name", []string{":method", "GET", ":scheme", "http", ":path", "/", "a(b", "1"}, reasonBadName},
		{"control character in value", []string{":method", "GET", ":scheme", "http", ":path", "/", "x", "a\x01b"}, reasonBadValue},
		{"DEL in :path", []string{":method", "GET", ":scheme", "http", ":path", "/a\x7f"}, reasonBadValue},
		{"CR in value", []string{":method", "GET", ":scheme", "http", ":path", "/", "x", "a\rb"}, reasonBadValue},
		{"leading space in value", []string{":method", "GET", ":scheme", "http", ":path", "/", "x", " a"}, reasonBadValue},
		{"bad content-length", []string{":method", "POST", ":scheme", "http", ":path", "/", "content-length", "1x"}, reasonBadContentLength},
		{"conflicting content-length", []string{":method", "POST", ":scheme", "http", ":path", "/", "content-length", "1", "content-length", "2"}, reasonBadContentLength},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, rec, p := newServer(t, Config{})
			p.headers(1, true, tc.fields...)
			p.mustFlush()
			p.expect("RST_STREAM 1 PROTOCOL_ERROR")
			if len(rec.resets) != 1 || rec.resets[0].Reason != tc.reason {
				t.Fatalf("resets %+v, want reason %q", rec.resets, tc.reason)
			}
			assertServes(t, c, rec, p, 3)
		})
	}
}

func TestMalformedResponse(t *testing.T) {
	for _, tc := range [][]string{
		{"content-type", "x"},              // no :status
		{":status", "20"},                  // not three digits
		{":status", "200", ":path", "/"},   // request pseudo in a response
		{":status", "200", "upgrade", "x"}, // connection-specific
	} {
		c, rec, p := newClient(t, Config{})
		id, _ := c.OpenStream([]Field{F(":method", "GET"), F(":scheme", "http"), F(":authority", "a"), F(":path", "/")}, true)
		p.frames()
		p.headers(id, true, tc...)
		p.mustFlush()
		p.expect("RST_STREAM 1 PROTOCOL_ERROR")
		if len(rec.resets) != 1 {
			t.Fatalf("%v: resets %v", tc, rec.resets)
		}
	}
}

func TestTeTrailersAllowed(t *testing.T) {
	_, rec, p := newServer(t, Config{})
	p.headers(1, true, ":method", "POST", ":scheme", "http", ":authority", "a", ":path", "/", "te", "trailers")
	p.mustFlush()
	if len(rec.resets) != 0 {
		t.Fatalf("te: trailers refused: %v", rec.resets)
	}
}

func TestFramesOnClosedStreams(t *testing.T) {
	c, rec, p := newServer(t, Config{})
	// DATA after END_STREAM: STREAM_CLOSED, a stream error.
	p.headers(1, true, ":method", "GET", ":scheme", "http", ":authority", "a", ":path", "/")
	p.data(1, false, []byte("x"))
	p.mustFlush()
	p.expect("RST_STREAM 1 STREAM_CLOSED")
	// HEADERS on a stream id lower than one already used.
	p.headers(5, true, ":method", "GET", ":scheme", "http", ":authority", "a", ":path", "/")
	p.headers(3, true, ":method", "GET", ":scheme", "http", ":authority", "a", ":path", "/")
	p.mustFlush()
	p.expect("RST_STREAM 3 STREAM_CLOSED")
	if got := rec.resets[len(rec.resets)-1]; got.StreamID != 3 || got.Code != http2.ErrCodeStreamClosed {
		t.Fatalf("reset %+v", got)
	}
	assertServes(t, c, rec, p, 7)
	// DATA on an idle stream is a connection error.
	p.data(99, false, []byte("x"))
	if connErrCode(t, p.flush()) != http2.ErrCodeProtocol {
		t.Fatal("want PROTOCOL_ERROR")
	}
}

func TestEvenStreamFromClient(t *testing.T) {
	_, _, p := newServer(t, Config{})
	p.headers(2, true, ":method", "GET", ":scheme", "http", ":authority", "a", ":path", "/")
	if connErrCode(t, p.flush()) != http2.ErrCodeProtocol {
		t.Fatal("want PROTOCOL_ERROR")
	}
}

func TestContentLengthMismatch(t *testing.T) {
	c, rec, p := newServer(t, Config{})
	p.headers(1, false, ":method", "POST", ":scheme", "http", ":authority", "a", ":path", "/", "content-length", "3")
	p.data(1, false, []byte("abcd"))
	p.headers(3, false, ":method", "POST", ":scheme", "http", ":authority", "a", ":path", "/", "content-length", "3")
	p.data(3, true, []byte("ab"))
	p.headers(5, true, ":method", "POST", ":scheme", "http", ":authority", "a", ":path", "/", "content-length", "3")
	p.headers(7, false, ":method", "POST", ":scheme", "http", ":authority", "a", ":path", "/", "content-length", "3")
	p.data(7, false, []byte("ab"))
	p.data(7, true, []byte("c"))
	p.mustFlush()
	p.expect("RST_STREAM 1 PROTOCOL_ERROR", "RST_STREAM 3 PROTOCOL_ERROR", "RST_STREAM 5 PROTOCOL_ERROR")
	if string(rec.data[7]) != "abc" || len(rec.resets) != 3 {
		t.Fatalf("data %q resets %v", rec.data[7], rec.resets)
	}
	_ = c
}

func TestBadFrameSizes(t *testing.T) {
	cases := []struct {
		name  string
		write func(p *peer)
		code  ErrCode
	}{
		{"frame over max size", func(p *peer) { p.w.WriteRawFrame(http2.FrameData, 0, 1, make([]byte, 16385)) }, http2.ErrCodeFrameSize},
		{"ping 7 bytes", func(p *peer) { p.w.WriteRawFrame(http2.FramePing, 0, 0, make([]byte, 7)) }, http2.ErrCodeFrameSize},
		{"settings 5 bytes", func(p *peer) { p.w.WriteRawFrame(http2.FrameSettings, 0, 0, make([]byte, 5)) }, http2.ErrCodeFrameSize},
		{"settings ack with payload", func(p *peer) { p.w.WriteRawFrame(http2.FrameSettings, http2.FlagSettingsAck, 0, make([]byte, 6)) }, http2.ErrCodeFrameSize},
		{"settings on a stream", func(p *peer) { p.w.WriteRawFrame(http2.FrameSettings, 0, 1, nil) }, http2.ErrCodeProtocol},
		{"window update 0", func(p *peer) { p.w.WriteRawFrame(http2.FrameWindowUpdate, 0, 0, make([]byte, 4)) }, http2.ErrCodeProtocol},
		{"window overflow", func(p *peer) { p.w.WriteWindowUpdate(0, 1<<31-1) }, http2.ErrCodeFlowControl},
		{"initial window too big", func(p *peer) {
			p.w.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 1 << 31})
		}, http2.ErrCodeFlowControl},
		{"max frame size too small", func(p *peer) {
			p.w.WriteSettings(http2.Setting{ID: http2.SettingMaxFrameSize, Val: 100})
		}, http2.ErrCodeProtocol},
		{"enable push 2", func(p *peer) {
			p.w.WriteSettings(http2.Setting{ID: http2.SettingEnablePush, Val: 2})
		}, http2.ErrCodeProtocol},
		{"data padding too long", func(p *peer) { p.w.WriteRawFrame(http2.FrameData, http2.FlagDataPadded, 1, []byte{5, 1}) }, http2.ErrCodeProtocol},
		{"rst on stream 0", func(p *peer) { p.w.WriteRSTStream(0, http2.ErrCodeCancel) }, http2.ErrCodeProtocol},
		{"rst on idle stream", func(p *peer) { p.w.WriteRSTStream(9, http2.ErrCodeCancel) }, http2.ErrCodeProtocol},
		{"push promise", func(p *peer) {
			p.w.WritePushPromise(http2.PushPromiseParam{StreamID: 1, PromiseID: 2, EndHeaders: true})
		}, http2.ErrCodeProtocol},
		{"bad hpack", func(p *peer) {
			p.w.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: []byte{0xff, 0xff}, EndHeaders: true})
		}, http2.ErrCodeCompression},
		{"hpack index out of range", func(p *peer) {
			p.w.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: []byte{0x80 | 70}, EndHeaders: true})
		}, http2.ErrCodeCompression},
		{"table size update over our setting", func(p *peer) {
			p.w.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: []byte{0x3f, 0xe1, 0x3f}, EndHeaders: true})
		}, http2.ErrCodeCompression},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, _, p := newServer(t, Config{})
			tc.write(p)
			if got := connErrCode(t, p.flush()); got != tc.code {
				t.Fatalf("code %v, want %v", got, tc.code)
			}
			fs := p.frames()
			if !strings.HasPrefix(fs[len(fs)-1], "GOAWAY") {
				t.Fatalf("no GOAWAY: %v", fs)
			}
		})
	}
}

func TestStreamLevelFrameErrors(t *testing.T) {
	c, rec, p := newServer(t, Config{})
	p.headers(1, false, ":method", "GET", ":scheme", "http", ":authority", "a", ":path", "/")
	p.w.WriteRawFrame(http2.FrameWindowUpdate, 0, 1, make([]byte, 4)) // increment 0
	p.headers(3, false, ":method", "GET", ":scheme", "http", ":authority", "a", ":path", "/")
	p.w.WritePriority(3, http2.PriorityParam{StreamDep: 3})
	p.mustFlush()
	p.expect("RST_STREAM 1 PROTOCOL_ERROR", "RST_STREAM 3 PROTOCOL_ERROR")
	assertServes(t, c, rec, p, 5)
}

// A connection error reports every open stream reset, once.
func TestConnErrorFailsStreams(t *testing.T) {
	_, rec, p := newServer(t, Config{})
	p.headers(1, false, ":method", "GET", ":scheme", "http", ":authority", "a", ":path", "/")
	p.headers(3, false, ":method", "GET", ":scheme", "http", ":authority", "a", ":path", "/")
	p.w.WriteRawFrame(http2.FramePing, 0, 1, make([]byte, 8))
	p.flush()
	if len(rec.resets) != 2 || rec.resets[0].Code != http2.ErrCodeProtocol {
		t.Fatalf("resets %+v", rec.resets)
	}
}

// The peer's encoder may shrink its table; sizes over our SETTINGS are refused.
func TestTableSizeUpdates(t *testing.T) {
	c, rec, p := newServer(t, Config{})
	p.enc.SetMaxDynamicTableSize(0)
	okRequest(p, 1)
	p.enc.SetMaxDynamicTableSize(4096)
	okRequest(p, 3)
	p.mustFlush()
	if len(rec.events) != 2 || c.dec.table.maxSize != 4096 {
		t.Fatalf("events %v size %d", rec.events, c.dec.table.maxSize)
	}
	var _ = hpack.HeaderField{}
}

func TestEmptyDataFlood(t *testing.T) {
	_, _, p := newServer(t, Config{ResetBudget: 5})
	p.headers(1, false, ":method", "POST", ":scheme", "http", ":authority", "a", ":path", "/")
	for i := 0; i < 6; i++ {
		p.data(1, false, nil)
	}
	if connErrCode(t, p.flush()) != http2.ErrCodeEnhanceYourCalm {
		t.Fatal("want ENHANCE_YOUR_CALM")
	}
}

// A handler that closes the connection stops the frames after it.
func TestHandlerCloseStopsFeed(t *testing.T) {
	c, rec, p := newServer(t, Config{})
	rec.onHeaders = func(id uint32, h *Headers, end bool) { c.Close(errors.New("socket timed out")) }
	okRequest(p, 1)
	okRequest(p, 3)
	if err := p.flush(); err == nil || err.Error() != "socket timed out" {
		t.Fatalf("Feed = %v", err)
	}
	if len(rec.events) != 2 || rec.events[1] != "reset 1 CANCEL remote=false" {
		t.Fatalf("events after Close: %v", rec.events)
	}
}
