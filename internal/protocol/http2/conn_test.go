package http2

import (
	"bytes"
	"strings"
	"testing"

	"golang.org/x/net/http2"
)

func TestServerRequestResponse(t *testing.T) {
	c, rec, p := newServer(t, Config{})
	rec.onHeaders = func(id uint32, h *Headers, end bool) {
		if string(h.Method) != "GET" || string(h.Path) != "/a?b=1" || string(h.Authority) != "example.com" || string(h.Scheme) != "http" {
			t.Errorf("pseudo-headers: %q %q %q %q", h.Method, h.Path, h.Authority, h.Scheme)
		}
		if got := string(h.Get("user-agent")); got != "test/1" {
			t.Errorf("user-agent = %q", got)
		}
		if err := c.WriteHeaders(id, []Field{F(":status", "200"), F("Content-Type", "text/plain"), F("Connection", "close")}, false); err != nil {
			t.Fatal(err)
		}
		if n, err := c.WriteData(id, []byte("hello"), true); n != 5 || err != nil {
			t.Fatalf("WriteData = %d, %v", n, err)
		}
	}
	p.headers(1, true, ":method", "GET", ":scheme", "http", ":authority", "example.com", ":path", "/a?b=1", "user-agent", "test/1")
	p.mustFlush()
	if want := "headers 1 end=true :method=GET :scheme=http :authority=example.com :path=/a?b=1 user-agent=test/1"; rec.events[0] != want {
		t.Fatalf("event %q, want %q", rec.events[0], want)
	}
	// Names are lower-cased and the connection-specific field is dropped.
	p.expect("HEADERS 1 end=false :status=200 content-type=text/plain", "DATA 1 len=5 end=true")
	if c.ActiveStreams() != 0 {
		t.Fatalf("stream not closed after both ends: %d active", c.ActiveStreams())
	}
}

func TestServerRequestBodyAndTrailers(t *testing.T) {
	c, rec, p := newServer(t, Config{})
	p.headers(1, false, ":method", "POST", ":scheme", "http", ":authority", "a", ":path", "/", "content-type", "application/grpc", "te", "trailers")
	p.data(1, false, []byte("abc"))
	p.headers(1, true, "grpc-status", "0")
	p.mustFlush()
	want := []string{
		"headers 1 end=false :method=POST :scheme=http :authority=a :path=/ content-type=application/grpc te=trailers",
		"data 1 len=3 end=false",
		"headers 1 end=true trailers grpc-status=0",
	}
	if strings.Join(rec.events, "\n") != strings.Join(want, "\n") {
		t.Fatalf("events:\n%s", strings.Join(rec.events, "\n"))
	}
	if err := c.WriteHeaders(1, []Field{F(":status", "200")}, false); err != nil {
		t.Fatal(err)
	}
	if err := c.WriteTrailers(1, []Field{F(":status", "200")}); err != ErrPseudoInTrailers {
		t.Fatalf("pseudo in trailers: %v", err)
	}
	if err := c.WriteTrailers(1, []Field{F("grpc-status", "0"), F("grpc-message", "ok")}); err != nil {
		t.Fatal(err)
	}
	p.expect("HEADERS 1 end=false :status=200", "HEADERS 1 end=true grpc-status=0 grpc-message=ok")
	if err := c.WriteTrailers(1, []Field{F("x", "y")}); err != ErrStreamClosed {
		t.Fatalf("write after end: %v", err)
	}
}

func TestServerPrefaceInvalid(t *testing.T) {
	c := NewServerConn(Config{}, &recorder{})
	err := c.Feed([]byte("GET / HTTP/1.1\r\n\r\n"))
	if connErrCode(t, err) != http2.ErrCodeProtocol {
		t.Fatalf("err %v", err)
	}
	p := newPeer(t, c)
	p.expect("SETTINGS", "WINDOW_UPDATE 0 +983041", "GOAWAY last=0 PROTOCOL_ERROR")
	if c.Feed([]byte("x")) != err {
		t.Fatal("Feed after a connection error must return it")
	}
}

func TestPrefaceSplitAcrossReads(t *testing.T) {
	rec := &recorder{}
	c := NewServerConn(Config{}, rec)
	p := newPeer(t, c)
	p.wbuf.WriteString(ClientPreface)
	p.w.WriteSettings(http2.Setting{ID: http2.SettingMaxFrameSize, Val: 20000})
	p.w.WritePing(false, [8]byte{1, 2, 3, 4, 5, 6, 7, 8})
	all := bytes.Clone(p.wbuf.Bytes())
	for i := range all { // one byte at a time
		if err := c.Feed(all[i : i+1]); err != nil {
			t.Fatalf("byte %d: %v", i, err)
		}
	}
	p.expect("SETTINGS", "WINDOW_UPDATE 0 +983041", "SETTINGS ack", "PING ack=true 0102030405060708")
	if c.peerMaxFrame != 20000 || !rec.has("settings") {
		t.Fatalf("peer SETTINGS not applied: %d %v", c.peerMaxFrame, rec.events)
	}
}

func TestFirstFrameMustBeSettings(t *testing.T) {
	c := NewServerConn(Config{}, &recorder{})
	p := newPeer(t, c)
	p.wbuf.WriteString(ClientPreface)
	p.w.WritePing(false, [8]byte{})
	if connErrCode(t, p.flush()) != http2.ErrCodeProtocol {
		t.Fatal("want PROTOCOL_ERROR")
	}
}

func TestPingAndSettingsAck(t *testing.T) {
	c, rec, p := newServer(t, Config{})
	c.Ping([8]byte{9})
	p.expect("PING ack=false 0900000000000000")
	p.w.WritePing(true, [8]byte{9})
	p.mustFlush()
	if !rec.has("ping-ack 0900000000000000") {
		t.Fatalf("events %v", rec.events)
	}
}

// The peer's windows bind WriteData; a short write blocks the stream until
// WINDOW_UPDATE opens both windows, and Writable says so.
func TestSendFlowControl(t *testing.T) {
	c, rec, p := newServer(t, Config{}, http2.Setting{ID: http2.SettingInitialWindowSize, Val: 10})
	p.headers(1, true, ":method", "GET", ":scheme", "http", ":authority", "a", ":path", "/")
	p.mustFlush()
	c.WriteHeaders(1, []Field{F(":status", "200")}, false)
	body := bytes.Repeat([]byte("x"), 100)
	n, err := c.WriteData(1, body, true)
	if n != 10 || err != nil {
		t.Fatalf("WriteData = %d, %v; want 10", n, err)
	}
	if c.SendWindow(1) != 0 {
		t.Fatalf("SendWindow %d", c.SendWindow(1))
	}
	p.expect("HEADERS 1 end=false :status=200", "DATA 1 len=10 end=false")
	p.w.WriteWindowUpdate(1, 50)
	p.mustFlush()
	if !rec.has("writable 1") {
		t.Fatalf("no writable event: %v", rec.events)
	}
	n, _ = c.WriteData(1, body[10:], true)
	if n != 50 {
		t.Fatalf("second WriteData = %d, want 50", n)
	}
	rec.events = nil
	// The connection window (65535 initially) is not the limit here; a
	// retroactive SETTINGS change of the initial window adds to the stream.
	p.w.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 50})
	p.mustFlush()
	if !rec.has("writable 1") || c.SendWindow(1) != 40 {
		t.Fatalf("after SETTINGS: window %d events %v", c.SendWindow(1), rec.events)
	}
	n, _ = c.WriteData(1, body[60:], true)
	if n != 40 || c.ActiveStreams() != 0 {
		t.Fatalf("final WriteData = %d, active %d", n, c.ActiveStreams())
	}
	p.expect("DATA 1 len=50 end=false", "SETTINGS ack", "DATA 1 len=40 end=true")
}

func TestInitialWindowShrinkGoesNegative(t *testing.T) {
	c, _, p := newServer(t, Config{})
	p.headers(1, false, ":method", "POST", ":scheme", "http", ":authority", "a", ":path", "/")
	p.mustFlush()
	c.WriteHeaders(1, []Field{F(":status", "200")}, false)
	c.WriteData(1, make([]byte, 1000), false)
	p.w.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 100})
	p.mustFlush()
	if c.SendWindow(1) != 0 || c.streams[1].sendWindow != 100-1000 {
		t.Fatalf("window after shrink: %d", c.streams[1].sendWindow)
	}
	if n, _ := c.WriteData(1, []byte("x"), false); n != 0 {
		t.Fatalf("sent %d on a negative window", n)
	}
	p.w.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 1<<31 - 1})
	p.mustFlush()
	if w := c.streams[1].sendWindow; w != 1<<31-1-1000 {
		t.Fatalf("window after growth: %d", w)
	}
	p.w.WriteWindowUpdate(1, 1001) // one past 2^31-1
	p.mustFlush()
	p.expect("HEADERS 1 end=false :status=200", "DATA 1 len=1000 end=false",
		"SETTINGS ack", "SETTINGS ack", "RST_STREAM 1 FLOW_CONTROL_ERROR")
}

func TestFrameSplitting(t *testing.T) {
	c, _, p := newServer(t, Config{})
	p.headers(1, true, ":method", "GET", ":scheme", "http", ":authority", "a", ":path", "/")
	p.mustFlush()
	big := strings.Repeat("v", 40000)
	if err := c.WriteHeaders(1, []Field{F(":status", "200"), F("x-big", big)}, false); err != nil {
		t.Fatal(err)
	}
	out := c.Output()
	// HEADERS of 16384, then CONTINUATION frames.
	if out[3] != byte(http2.FrameHeaders) || int(out[0])<<16|int(out[1])<<8|int(out[2]) != 16384 {
		t.Fatalf("first frame %x", out[:9])
	}
	if out[9+16384+3] != byte(http2.FrameContinuation) {
		t.Fatalf("second frame type %d", out[9+16384+3])
	}
	p.expect("HEADERS 1 end=false :status=200 x-big=" + big)
	p.w.WriteWindowUpdate(0, 100000)
	p.w.WriteWindowUpdate(1, 100000)
	p.mustFlush()
	n, _ := c.WriteData(1, make([]byte, 40000), true)
	if n != 40000 {
		t.Fatalf("WriteData %d", n)
	}
	p.expect("DATA 1 len=16384 end=false", "DATA 1 len=16384 end=false", "DATA 1 len=7232 end=true")
}

// WINDOW_UPDATEs follow consumption, half a window at a time, and padding
// is credited at once.
func TestReceiveWindowFollowsConsumption(t *testing.T) {
	c, rec, p := newServer(t, Config{InitialWindowSize: 1000, ConnWindowSize: 70000})
	p.headers(1, false, ":method", "POST", ":scheme", "http", ":authority", "a", ":path", "/")
	p.data(1, false, make([]byte, 600))
	p.mustFlush()
	p.expect() // nothing owed before the application consumes
	c.Consumed(1, 400)
	p.expect()
	c.Consumed(1, 200)
	p.expect("WINDOW_UPDATE 1 +600")
	p.w.WriteDataPadded(1, false, make([]byte, 100), make([]byte, 255))
	p.w.WriteDataPadded(1, false, make([]byte, 100), make([]byte, 255))
	p.mustFlush()
	p.expect("WINDOW_UPDATE 1 +512") // 2 x (1 pad-length byte + 255 padding)
	if got := rec.data[1]; len(got) != 800 {
		t.Fatalf("delivered %d bytes", len(got))
	}
	// The stream window is 1000: 600 consumed and returned, 200 held, so
	// 801 more is over it.
	p.data(1, false, make([]byte, 801))
	p.mustFlush()
	p.expect("RST_STREAM 1 FLOW_CONTROL_ERROR")
	if len(rec.resets) != 1 || rec.resets[0].Code != http2.ErrCodeFlowControl {
		t.Fatalf("resets %v", rec.resets)
	}
}

func TestDataOverConnectionWindow(t *testing.T) {
	_, _, p := newServer(t, Config{InitialWindowSize: 100000, ConnWindowSize: 65535})
	p.headers(1, false, ":method", "POST", ":scheme", "http", ":authority", "a", ":path", "/")
	for i := 0; i < 4; i++ {
		p.data(1, false, make([]byte, 16384))
	}
	if connErrCode(t, p.flush()) != http2.ErrCodeFlowControl {
		t.Fatal("want FLOW_CONTROL_ERROR")
	}
	p.expect("GOAWAY last=1 FLOW_CONTROL_ERROR")
}

// Before our SETTINGS are acknowledged the peer may use the default window.
func TestWindowBeforeSettingsAck(t *testing.T) {
	rec := &recorder{}
	c := NewServerConn(Config{InitialWindowSize: 1000}, rec)
	p := newPeer(t, c)
	p.wbuf.WriteString(ClientPreface)
	p.w.WriteSettings()
	p.headers(1, false, ":method", "POST", ":scheme", "http", ":authority", "a", ":path", "/")
	p.data(1, false, make([]byte, 5000))
	p.mustFlush()
	p.w.WriteSettingsAck()
	p.mustFlush()
	// 65535-5000 left, then shrunk by 65535-1000: below zero until consumed.
	if w := c.streams[1].recvWindow; w != 1000-5000 {
		t.Fatalf("recv window %d", w)
	}
	p.data(1, false, []byte("x"))
	p.mustFlush()
	if got := p.frames(); got[len(got)-1] != "RST_STREAM 1 FLOW_CONTROL_ERROR" {
		t.Fatalf("frames %v", got)
	}
}

func TestClientRequestResponse(t *testing.T) {
	c, rec, p := newClient(t, Config{})
	id, err := c.OpenStream([]Field{F(":method", "GET"), F(":scheme", "http"), F(":authority", "a"), F(":path", "/x"), F("accept", "*/*")}, true)
	if err != nil || id != 1 {
		t.Fatalf("OpenStream = %d, %v", id, err)
	}
	id3, _ := c.OpenStream([]Field{F(":method", "POST"), F(":scheme", "http"), F(":authority", "a"), F(":path", "/y")}, false)
	if id3 != 3 {
		t.Fatalf("second id %d", id3)
	}
	c.WriteData(3, []byte("body"), false)
	c.WriteTrailers(3, []Field{F("x-sum", "1")})
	p.expect("HEADERS 1 end=true :method=GET :scheme=http :authority=a :path=/x accept=*/*",
		"HEADERS 3 end=false :method=POST :scheme=http :authority=a :path=/y",
		"DATA 3 len=4 end=false", "HEADERS 3 end=true x-sum=1")
	p.headers(1, false, ":status", "100")
	p.headers(1, false, ":status", "200", "content-length", "2")
	p.data(1, true, []byte("ok"))
	p.headers(3, false, ":status", "200")
	p.data(3, false, []byte("z"))
	p.headers(3, true, "grpc-status", "0")
	p.mustFlush()
	want := []string{
		"headers 1 end=false :status=100",
		"headers 1 end=false :status=200 content-length=2",
		"data 1 len=2 end=true",
		"headers 3 end=false :status=200",
		"data 3 len=1 end=false",
		"headers 3 end=true trailers grpc-status=0",
	}
	if strings.Join(rec.events, "\n") != strings.Join(want, "\n") {
		t.Fatalf("events:\n%s", strings.Join(rec.events, "\n"))
	}
	if c.ActiveStreams() != 0 {
		t.Fatalf("active %d", c.ActiveStreams())
	}
}

func TestClientHeadResponseContentLength(t *testing.T) {
	c, rec, p := newClient(t, Config{})
	c.OpenStream([]Field{F(":method", "HEAD"), F(":scheme", "http"), F(":authority", "a"), F(":path", "/")}, true)
	p.headers(1, true, ":status", "200", "content-length", "1000")
	p.mustFlush()
	if len(rec.resets) != 0 || !strings.HasPrefix(rec.events[0], "headers 1 end=true :status=200") {
		t.Fatalf("HEAD response with content-length refused: %v", rec.events)
	}
}

func TestClientStreamLimitAndGoAway(t *testing.T) {
	c, rec, p := newClient(t, Config{}, http2.Setting{ID: http2.SettingMaxConcurrentStreams, Val: 2})
	req := []Field{F(":method", "GET"), F(":scheme", "http"), F(":authority", "a"), F(":path", "/")}
	c.OpenStream(req, true)
	c.OpenStream(req, true)
	if _, err := c.OpenStream(req, true); err != ErrStreamLimit || c.CanOpenStream() || c.PeerMaxConcurrentStreams() != 2 {
		t.Fatalf("third stream: %v", err)
	}
	p.w.WriteGoAway(1, http2.ErrCodeNo, []byte("drain"))
	p.mustFlush()
	want := []string{"reset 3 REFUSED_STREAM remote=true", "goaway last=1 NO_ERROR"}
	if strings.Join(rec.events, ",") != strings.Join(want, ",") {
		t.Fatalf("events %v", rec.events)
	}
	if _, err := c.OpenStream(req, true); err != ErrGoAway || !c.GoingAway() {
		t.Fatalf("after GOAWAY: %v", err)
	}
	// Stream 1 still completes.
	p.headers(1, true, ":status", "204")
	p.mustFlush()
	if !strings.HasPrefix(rec.events[len(rec.events)-1], "headers 1 end=true") {
		t.Fatalf("stream 1 after GOAWAY: %v", rec.events)
	}
}

func TestServerGoAwayDrain(t *testing.T) {
	c, rec, p := newServer(t, Config{})
	p.headers(1, true, ":method", "GET", ":scheme", "http", ":authority", "a", ":path", "/")
	p.mustFlush()
	c.GoAway(http2.ErrCodeNo, nil)
	p.headers(3, true, ":method", "GET", ":scheme", "http", ":authority", "a", ":path", "/")
	p.mustFlush()
	if len(rec.events) != 1 {
		t.Fatalf("a stream after GOAWAY was delivered: %v", rec.events)
	}
	c.WriteHeaders(1, []Field{F(":status", "200")}, true)
	p.expect("GOAWAY last=1 NO_ERROR", "HEADERS 1 end=true :status=200")
	if c.ActiveStreams() != 0 {
		t.Fatal("stream 1 not finished")
	}
}

func TestResetByPeerAndByUs(t *testing.T) {
	c, rec, p := newServer(t, Config{})
	p.headers(1, false, ":method", "POST", ":scheme", "http", ":authority", "a", ":path", "/")
	p.headers(3, false, ":method", "POST", ":scheme", "http", ":authority", "a", ":path", "/")
	p.w.WriteRSTStream(1, http2.ErrCodeCancel)
	p.mustFlush()
	if !rec.has("reset 1 CANCEL remote=true") {
		t.Fatalf("events %v", rec.events)
	}
	c.Reset(3, http2.ErrCodeCancel)
	p.expect("RST_STREAM 3 CANCEL")
	if _, err := c.WriteData(3, []byte("x"), false); err != ErrStreamClosed {
		t.Fatalf("write after reset: %v", err)
	}
	// Frames the peer sent before seeing our reset are ignored (RFC 9113
	// §5.1), but still count against and return the connection window.
	before := c.recvWindow + c.recvUnacked
	p.data(3, false, []byte("late"))
	p.mustFlush()
	p.expect()
	if c.recvWindow+c.recvUnacked != before || len(rec.resets) != 1 {
		t.Fatalf("window %d -> %d, resets %v", before, c.recvWindow+c.recvUnacked, rec.resets)
	}
}

// A complete response to a request still being sent ends the stream with
// RST_STREAM NO_ERROR (RFC 9113 §8.1); the request's late DATA is ignored.
func TestServerEarlyResponse(t *testing.T) {
	c, rec, p := newServer(t, Config{})
	p.headers(1, false, ":method", "POST", ":scheme", "http", ":authority", "a", ":path", "/upload")
	p.mustFlush()
	c.WriteHeaders(1, []Field{F(":status", "413")}, true)
	p.expect("HEADERS 1 end=true :status=413", "RST_STREAM 1 NO_ERROR")
	if c.ActiveStreams() != 0 {
		t.Fatal("stream kept after the response")
	}
	p.data(1, true, []byte("late"))
	p.mustFlush()
	p.expect()
	if len(rec.resets) != 0 || len(rec.events) != 1 {
		t.Fatalf("events %v", rec.events)
	}
}

// Streams above our GOAWAY are ignored, their DATA too.
func TestStreamsAfterGoAwayIgnored(t *testing.T) {
	c, rec, p := newServer(t, Config{})
	okRequest(p, 1)
	p.mustFlush()
	c.GoAway(http2.ErrCodeNo, nil)
	p.headers(3, false, ":method", "POST", ":scheme", "http", ":authority", "a", ":path", "/")
	p.data(3, true, []byte("x"))
	p.mustFlush()
	p.expect("GOAWAY last=1 NO_ERROR")
	if len(rec.events) != 1 || c.Err() != nil {
		t.Fatalf("events %v err %v", rec.events, c.Err())
	}
	c.GoAway(http2.ErrCodeNo, nil) // a second GOAWAY cannot raise the last id
	p.expect("GOAWAY last=1 NO_ERROR")
}

// A client holds DATA until the server's SETTINGS say how large its
// windows are, then sends.
func TestClientHoldsDataUntilServerSettings(t *testing.T) {
	rec := &recorder{}
	c := NewClientConn(Config{}, rec)
	p := newPeer(t, c)
	c.Advance(len(ClientPreface))
	p.frames()
	id, err := c.OpenStream([]Field{F(":method", "POST"), F(":scheme", "http"), F(":authority", "a"), F(":path", "/")}, false)
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := c.WriteData(id, make([]byte, 100), true); n != 0 {
		t.Fatalf("sent %d bytes before the server's SETTINGS", n)
	}
	p.w.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 60})
	p.mustFlush()
	if !rec.has("writable 1") || c.SendWindow(id) != 60 {
		t.Fatalf("events %v window %d", rec.events, c.SendWindow(id))
	}
	if n, _ := c.WriteData(id, make([]byte, 100), true); n != 60 {
		t.Fatalf("sent %d", n)
	}
}

// The peer's SETTINGS_HEADER_TABLE_SIZE binds our encoder: with 0 nothing
// is indexed, so a repeated head costs as much as the first.
func TestPeerHeaderTableSize(t *testing.T) {
	c, _, p := newServer(t, Config{}, http2.Setting{ID: http2.SettingHeaderTableSize, Val: 0})
	head := []Field{F(":status", "200"), F("content-type", "application/grpc"), F("x-custom", "value")}
	var sizes []int
	for _, id := range []uint32{1, 3} {
		okRequest(p, id)
		p.mustFlush()
		p.frames()
		c.WriteHeaders(id, head, true)
		sizes = append(sizes, len(c.Output()))
		p.expect("HEADERS " + string(rune('0'+id)) + " end=true :status=200 content-type=application/grpc x-custom=value")
	}
	if c.enc.table.n != 0 || sizes[0] != sizes[1]+1 { // the first carried the size update
		t.Fatalf("table entries %d, sizes %v", c.enc.table.n, sizes)
	}
	// With the default table the second head is smaller.
	c, _, p = newServer(t, Config{})
	sizes = sizes[:0]
	for _, id := range []uint32{1, 3} {
		okRequest(p, id)
		p.mustFlush()
		p.frames()
		c.WriteHeaders(id, head, true)
		sizes = append(sizes, len(c.Output()))
		p.frames()
	}
	if sizes[1] >= sizes[0] {
		t.Fatalf("indexed head not smaller: %v", sizes)
	}
}

func TestPeerMaxHeaderListSize(t *testing.T) {
	c, _, p := newServer(t, Config{}, http2.Setting{ID: http2.SettingMaxHeaderListSize, Val: 100})
	okRequest(p, 1)
	p.mustFlush()
	if err := c.WriteHeaders(1, []Field{F(":status", "200"), F("x-big", strings.Repeat("v", 100))}, true); err != ErrHeaderListTooLarge {
		t.Fatalf("WriteHeaders = %v", err)
	}
	if err := c.WriteHeaders(1, []Field{F(":status", "200")}, true); err != nil {
		t.Fatal(err)
	}
}

func TestPeerMaxFrameSize(t *testing.T) {
	c, _, p := newServer(t, Config{}, http2.Setting{ID: http2.SettingMaxFrameSize, Val: 30000},
		http2.Setting{ID: http2.SettingInitialWindowSize, Val: 60000})
	okRequest(p, 1)
	p.mustFlush()
	p.w.WriteWindowUpdate(0, 60000)
	p.mustFlush()
	p.frames()
	c.WriteHeaders(1, []Field{F(":status", "200")}, false)
	c.WriteData(1, make([]byte, 50000), true)
	p.expect("HEADERS 1 end=false :status=200", "DATA 1 len=30000 end=false", "DATA 1 len=20000 end=true")
}

func TestReleaseBuffersKeepsState(t *testing.T) {
	c, rec, p := newServer(t, Config{})
	p.headers(1, true, ":method", "GET", ":scheme", "http", ":authority", "a", ":path", "/x", "x-custom", "v")
	p.mustFlush()
	c.WriteHeaders(1, []Field{F(":status", "200"), F("x-resp", "r")}, true)
	p.frames()
	// A partial frame survives.
	p.headers(3, true, ":method", "GET", ":scheme", "http", ":authority", "a", ":path", "/x", "x-custom", "v")
	frame := bytes.Clone(p.wbuf.Bytes())
	p.wbuf.Reset()
	c.Feed(frame[:5])
	c.ReleaseBuffers()
	if c.out != nil || c.dec.arena.b != nil || len(c.in) != 5 {
		t.Fatalf("buffers kept: out %d arena %d in %d", cap(c.out), cap(c.dec.arena.b), len(c.in))
	}
	c.Feed(frame[5:])
	if !strings.HasSuffix(rec.events[len(rec.events)-1], ":path=/x x-custom=v") {
		t.Fatalf("events %v", rec.events)
	}
	c.WriteHeaders(3, []Field{F(":status", "200"), F("x-resp", "r")}, true)
	p.expect("HEADERS 3 end=true :status=200 x-resp=r")
}
