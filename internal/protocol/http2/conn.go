package http2

import (
	"encoding/binary"
	"io"

	"golang.org/x/net/http2"
)

// ClientPreface is what a client sends before its first frame (RFC 9113 §3.4).
const ClientPreface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

const (
	frameHeaderLen   = 9
	defaultWindow    = 65535
	maxWindow        = 1<<31 - 1
	minMaxFrameSize  = 1 << 14
	maxMaxFrameSize  = 1<<24 - 1
	defaultTableSize = 4096
)

// Config holds a connection's limits. Zero fields take the defaults below;
// every limit is enforced on what the peer sends, and the advertised ones go
// out in our SETTINGS frame.
type Config struct {
	// MaxConcurrentStreams the peer may open (SETTINGS_MAX_CONCURRENT_STREAMS);
	// more get RST_STREAM REFUSED_STREAM. Default 100.
	MaxConcurrentStreams uint32
	// InitialWindowSize is each stream's receive window
	// (SETTINGS_INITIAL_WINDOW_SIZE). Default 256 KiB.
	InitialWindowSize uint32
	// ConnWindowSize is the connection's receive window. Default 1 MiB.
	ConnWindowSize uint32
	// MaxFrameSize is the largest frame payload accepted
	// (SETTINGS_MAX_FRAME_SIZE). Default 16 KiB.
	MaxFrameSize uint32
	// HeaderTableSize is the HPACK table size the peer's encoder may use
	// (SETTINGS_HEADER_TABLE_SIZE). Default 4096.
	HeaderTableSize uint32
	// MaxHeaderListSize bounds a decoded header list, RFC 9113 §6.5.2 sizes
	// (SETTINGS_MAX_HEADER_LIST_SIZE); the encoded block, CONTINUATION
	// frames included, is bounded by the same figure. Default 64 KiB.
	MaxHeaderListSize uint32
	// MaxEncoderTableSize caps the HPACK table our encoder keeps whatever the
	// peer offers. Default 4096.
	MaxEncoderTableSize uint32
	// MaxContinuationFrames per header block. Default 32.
	MaxContinuationFrames int
	// ResetBudget is how many streams the peer may cancel or break before
	// the connection is closed with ENHANCE_YOUR_CALM; each stream that ends
	// normally earns one back, up to the budget. Default 200.
	ResetBudget int
	// MaxQueuedControlFrames is how many control frames the engine queues
	// (SETTINGS and PING acks, RST_STREAM) before the caller has flushed its
	// output; a peer that floods without reading gets ENHANCE_YOUR_CALM.
	// Default 10000.
	MaxQueuedControlFrames int
}

func (cfg Config) withDefaults() Config {
	def := func(v *uint32, d uint32) {
		if *v == 0 {
			*v = d
		}
	}
	def(&cfg.MaxConcurrentStreams, 100)
	def(&cfg.InitialWindowSize, 256<<10)
	def(&cfg.ConnWindowSize, 1<<20)
	def(&cfg.MaxFrameSize, minMaxFrameSize)
	def(&cfg.HeaderTableSize, defaultTableSize)
	def(&cfg.MaxHeaderListSize, 64<<10)
	def(&cfg.MaxEncoderTableSize, defaultTableSize)
	cfg.InitialWindowSize = min(cfg.InitialWindowSize, maxWindow)
	cfg.ConnWindowSize = min(max(cfg.ConnWindowSize, defaultWindow), maxWindow)
	cfg.MaxFrameSize = min(max(cfg.MaxFrameSize, minMaxFrameSize), maxMaxFrameSize)
	if cfg.MaxContinuationFrames <= 0 {
		cfg.MaxContinuationFrames = 32
	}
	if cfg.ResetBudget <= 0 {
		cfg.ResetBudget = 200
	}
	if cfg.MaxQueuedControlFrames <= 0 {
		cfg.MaxQueuedControlFrames = 10000
	}
	return cfg
}

// Handler receives a connection's events. Every call happens inside Feed
// (or, for Writable, inside Feed or a write method), on the goroutine that
// owns the Conn; a handler may call the Conn's write methods but not Feed.
// Byte slices and *Headers are valid only until the call returns.
type Handler interface {
	// Headers delivers a stream's request (server) or response (client)
	// head, an informational 1xx response, or trailers (h.Trailers).
	Headers(id uint32, h *Headers, endStream bool)
	// Data delivers a DATA frame's payload (padding removed). The caller
	// must report the bytes it has used with Consumed, or the peer's window
	// closes.
	Data(id uint32, p []byte, endStream bool)
	// Reset reports a stream that ended abnormally: reset by the peer, by
	// the engine because the peer broke a rule, or by the connection's end.
	// It may name a stream whose Headers were never delivered (refused or
	// malformed), so one place can log every stream error. A peer's
	// NO_ERROR after a complete response is a server asking the client to
	// stop sending its request (RFC 9113 §8.1), not a failure.
	Reset(id uint32, err *StreamError)
	// Writable reports that a stream whose WriteData came back short can
	// send again.
	Writable(id uint32)
	// Control reports connection-level events.
	Control(ev *Event)
}

// EventKind names a connection-level event.
type EventKind uint8

// Connection-level events.
const (
	// EventSettings: the peer's SETTINGS were applied (limits may have changed).
	EventSettings EventKind = iota + 1
	// EventSettingsAck: the peer acknowledged our SETTINGS.
	EventSettingsAck
	// EventPingAck: the answer to our Ping; Event.Ping holds its data.
	EventPingAck
	// EventGoAway: the peer will accept no stream above Event.LastStreamID;
	// streams we opened above it were reset with REFUSED_STREAM (safe to retry).
	EventGoAway
)

// Event is a connection-level event; Debug is a view valid during the call.
type Event struct {
	Kind         EventKind
	Ping         [8]byte
	LastStreamID uint32
	Code         ErrCode
	Debug        []byte
}

// stream is one stream's state (RFC 9113 §5.1). Open, half-closed and
// closed follow from the two flags; a closed stream leaves the map.
type stream struct {
	id           uint32
	localClosed  bool // we sent END_STREAM
	remoteClosed bool // the peer sent END_STREAM
	gotHeaders   bool // a request head (server) or final response head (client) arrived
	sentHeaders  bool // we sent a (final) head
	headRequest  bool // client: the request was HEAD, the response has no body
	blocked      bool // on the blocked list
	sendWindow   int64
	recvWindow   int64
	recvUnacked  int64
	declaredLen  int64 // content-length of the incoming message, -1 if none
	recvLen      int64
}

// Conn is one HTTP/2 connection's protocol state, without IO: Feed it the
// bytes read from the socket, write out what Output returns. It is not safe
// for concurrent use; one goroutine or event-loop task owns it.
type Conn struct {
	cfg    Config
	h      Handler
	client bool

	in     []byte // an incomplete frame carried to the next Feed
	out    []byte
	outOff int
	// queuedCtl counts control frames queued since the output was last
	// fully drained.
	queuedCtl int
	err       error

	prefaceLeft int  // server: bytes of the client preface still to check
	gotSettings bool // the first frame (SETTINGS) arrived
	sawSettings bool // and was applied

	// The peer's settings, as they bind what we send.
	peerMaxFrame      uint32
	peerInitWindow    int64
	peerMaxStreams    uint32
	peerMaxHeaderList uint32

	// Our settings as the peer is bound by them: until it acks our SETTINGS
	// it may assume the protocol defaults.
	settingsAcked bool
	localWindow   int64

	sendWindow  int64 // connection send window
	recvWindow  int64 // connection receive window left
	recvUnacked int64

	streams      map[uint32]*stream
	free         []*stream
	blocked      []uint32
	blockedSwap  []uint32
	nextID       uint32 // client: next stream id to open
	lastPeerID   uint32 // highest stream id the peer opened
	peerStreams  int    // open streams the peer started
	localStreams int    // open streams we started
	goAwaySent   bool
	goAwayLast   uint32 // the last stream id our GOAWAY promised to process
	goAwayRecv   bool
	// recentResets remembers streams we reset, whose in-flight frames are
	// ignored rather than answered (RFC 9113 §5.1, closed state).
	recentResets [64]uint32
	recentNext   int
	resetBudget  int

	// Header block assembly and decoding.
	hb         []byte
	hbActive   bool
	hbStream   uint32
	hbEnd      bool
	hbPrioSelf bool
	hbConts    int
	dec        hpackDecoder
	refs       []fieldRef
	hdr        Headers
	enc        hpackEncoder
	hbuf       []byte

	ev   Event
	serr StreamError
}

// NewServerConn returns the server side of a connection. Our SETTINGS are
// queued in Output at once; the client preface is checked as it arrives.
func NewServerConn(cfg Config, h Handler) *Conn {
	c := newConn(cfg, h, false)
	c.prefaceLeft = len(ClientPreface)
	c.writeSettings()
	return c
}

// NewClientConn returns the client side of a connection (prior knowledge:
// h2c or TLS with ALPN "h2"). The preface and our SETTINGS are queued in
// Output at once; streams may be opened before the server's SETTINGS arrive.
func NewClientConn(cfg Config, h Handler) *Conn {
	c := newConn(cfg, h, true)
	c.nextID = 1
	c.out = append(c.out, ClientPreface...)
	c.writeSettings()
	return c
}

func newConn(cfg Config, h Handler, client bool) *Conn {
	cfg = cfg.withDefaults()
	c := &Conn{
		cfg:               cfg,
		h:                 h,
		client:            client,
		peerMaxFrame:      minMaxFrameSize,
		peerInitWindow:    defaultWindow,
		peerMaxStreams:    ^uint32(0),
		peerMaxHeaderList: ^uint32(0),
		localWindow:       defaultWindow,
		sendWindow:        defaultWindow,
		recvWindow:        int64(cfg.ConnWindowSize),
		streams:           make(map[uint32]*stream),
		resetBudget:       cfg.ResetBudget,
	}
	c.dec.table.maxSize = defaultTableSize
	c.dec.allowedMax = max(defaultTableSize, cfg.HeaderTableSize)
	c.enc.table.maxSize = defaultTableSize
	c.hdr.ContentLength = -1
	return c
}

func (c *Conn) writeSettings() {
	start := len(c.out)
	c.appendFrameHeader(0, http2.FrameSettings, 0, 0)
	put := func(id http2.SettingID, v uint32) {
		c.out = binary.BigEndian.AppendUint16(c.out, uint16(id))
		c.out = binary.BigEndian.AppendUint32(c.out, v)
	}
	if c.cfg.HeaderTableSize != defaultTableSize {
		put(http2.SettingHeaderTableSize, c.cfg.HeaderTableSize)
	}
	if c.client {
		put(http2.SettingEnablePush, 0)
	}
	put(http2.SettingMaxConcurrentStreams, c.cfg.MaxConcurrentStreams)
	put(http2.SettingInitialWindowSize, c.cfg.InitialWindowSize)
	if c.cfg.MaxFrameSize != minMaxFrameSize {
		put(http2.SettingMaxFrameSize, c.cfg.MaxFrameSize)
	}
	put(http2.SettingMaxHeaderListSize, c.cfg.MaxHeaderListSize)
	n := len(c.out) - start - frameHeaderLen
	c.out[start], c.out[start+1], c.out[start+2] = byte(n>>16), byte(n>>8), byte(n)
	if inc := c.cfg.ConnWindowSize - defaultWindow; inc > 0 {
		c.writeWindowUpdate(0, inc)
	}
}

func (c *Conn) appendFrameHeader(length int, typ http2.FrameType, flags http2.Flags, id uint32) {
	c.out = append(c.out, byte(length>>16), byte(length>>8), byte(length), byte(typ), byte(flags),
		byte(id>>24), byte(id>>16), byte(id>>8), byte(id))
}

// Output returns the bytes queued for the peer. After writing some of them,
// call Advance with how many were written.
func (c *Conn) Output() []byte { return c.out[c.outOff:] }

// Advance discards n written bytes from the front of Output.
func (c *Conn) Advance(n int) {
	c.outOff += n
	switch {
	case c.outOff >= len(c.out):
		c.out = c.out[:0]
		c.outOff = 0
		c.queuedCtl = 0
	case c.outOff > len(c.out)/2:
		c.out = c.out[:copy(c.out, c.out[c.outOff:])]
		c.outOff = 0
	}
}

// WriteTo writes the queued output to w, for callers with a blocking socket.
func (c *Conn) WriteTo(w io.Writer) (int64, error) {
	var total int64
	for len(c.Output()) > 0 {
		n, err := w.Write(c.Output())
		c.Advance(n)
		total += int64(n)
		if err != nil {
			return total, err
		}
	}
	return total, nil
}

// ReleaseBuffers drops the engine's scratch buffers (a partial frame's
// bytes and drained output excepted: those are kept) so a parked, idle
// connection holds little more than its two HPACK tables; they grow back
// on the next use. Call it from the owner, between Feeds.
func (c *Conn) ReleaseBuffers() {
	if len(c.in) == 0 {
		c.in = nil
	}
	if len(c.Output()) == 0 {
		c.out, c.outOff = nil, 0
	}
	if !c.hbActive {
		c.hb = nil
	}
	c.hbuf, c.dec.arena.b, c.refs, c.hdr.Fields, c.enc.lower = nil, nil, nil, nil, nil
	c.blocked, c.blockedSwap = c.blocked[:len(c.blocked):len(c.blocked)], nil
	if len(c.streams) == 0 {
		c.streams = make(map[uint32]*stream) // a map does not shrink in place
		c.free = nil
	}
}

// Err returns the connection error that ended the connection, or nil.
func (c *Conn) Err() error { return c.err }

// ActiveStreams returns how many streams are open or half-closed.
func (c *Conn) ActiveStreams() int { return len(c.streams) }

// PeerMaxConcurrentStreams returns the peer's SETTINGS_MAX_CONCURRENT_STREAMS
// (unlimited until it says otherwise).
func (c *Conn) PeerMaxConcurrentStreams() uint32 { return c.peerMaxStreams }

// CanOpenStream reports whether OpenStream would succeed now.
func (c *Conn) CanOpenStream() bool {
	return c.err == nil && !c.goAwayRecv && !c.goAwaySent && uint32(c.localStreams) < c.peerMaxStreams && c.nextID <= maxWindow
}

// GoingAway reports whether either side has sent GOAWAY.
func (c *Conn) GoingAway() bool { return c.goAwaySent || c.goAwayRecv }

// SendWindow returns how many DATA bytes stream id may send now.
func (c *Conn) SendWindow(id uint32) int {
	s := c.streams[id]
	if s == nil || s.localClosed || !c.sawSettings {
		return 0
	}
	return int(max(0, min(s.sendWindow, c.sendWindow)))
}

// Feed processes bytes read from the peer, calling the Handler for each
// event. Bytes of an incomplete frame are kept for the next call. A
// *ConnError means the connection is over: GOAWAY is queued, flush Output
// and close. Feed must not be called from a Handler method.
func (c *Conn) Feed(p []byte) error {
	if c.err != nil {
		return c.err
	}
	if len(c.in) > 0 {
		// Complete the pending frame with as few of p's bytes as it needs,
		// then go on in p itself: no copy of the rest.
		if len(c.in) < frameHeaderLen {
			k := min(frameHeaderLen-len(c.in), len(p))
			c.in = append(c.in, p[:k]...)
			p = p[k:]
			if len(c.in) < frameHeaderLen {
				return nil
			}
		}
		length := int(c.in[0])<<16 | int(c.in[1])<<8 | int(c.in[2])
		if length <= int(c.cfg.MaxFrameSize) { // else process reports it
			k := min(frameHeaderLen+length-len(c.in), len(p))
			c.in = append(c.in, p[:k]...)
			p = p[k:]
			if len(c.in) < frameHeaderLen+length {
				return nil
			}
		}
		_, err := c.process(c.in)
		c.in = c.in[:0]
		if err != nil {
			return err
		}
	}
	n, err := c.process(p)
	if err == nil && n < len(p) {
		c.in = append(c.in, p[n:]...)
	}
	return err
}

// process handles every complete frame in p and returns the bytes used.
func (c *Conn) process(p []byte) (int, error) {
	used := 0
	if c.prefaceLeft > 0 {
		off := len(ClientPreface) - c.prefaceLeft
		n := min(len(p), c.prefaceLeft)
		if string(p[:n]) != ClientPreface[off:off+n] {
			return n, c.connError(http2.ErrCodeProtocol, "invalid client preface")
		}
		c.prefaceLeft -= n
		used = n
	}
	for len(p)-used >= frameHeaderLen {
		hdr := p[used : used+frameHeaderLen]
		length := int(hdr[0])<<16 | int(hdr[1])<<8 | int(hdr[2])
		if length > int(c.cfg.MaxFrameSize) {
			return used, c.connError(http2.ErrCodeFrameSize, "frame larger than SETTINGS_MAX_FRAME_SIZE")
		}
		if len(p)-used < frameHeaderLen+length {
			break
		}
		payload := p[used+frameHeaderLen : used+frameHeaderLen+length]
		used += frameHeaderLen + length
		id := binary.BigEndian.Uint32(hdr[5:]) & maxWindow
		if err := c.frame(http2.FrameType(hdr[3]), http2.Flags(hdr[4]), id, payload); err != nil {
			return used, err
		}
		if c.err != nil { // the handler closed the connection
			return used, c.err
		}
	}
	return used, nil
}

func (c *Conn) frame(typ http2.FrameType, flags http2.Flags, id uint32, p []byte) error {
	if !c.gotSettings {
		if typ != http2.FrameSettings || flags.Has(http2.FlagSettingsAck) {
			return c.connError(http2.ErrCodeProtocol, "first frame is not SETTINGS")
		}
		c.gotSettings = true
	}
	if c.hbActive && typ != http2.FrameContinuation {
		return c.connError(http2.ErrCodeProtocol, "header block interrupted by another frame")
	}
	switch typ {
	case http2.FrameData:
		return c.onData(flags, id, p)
	case http2.FrameHeaders:
		return c.onHeaders(flags, id, p)
	case http2.FrameContinuation:
		return c.onContinuation(flags, id, p)
	case http2.FramePriority:
		if id == 0 {
			return c.connError(http2.ErrCodeProtocol, "PRIORITY on stream 0")
		}
		if len(p) != 5 {
			return c.streamError(id, http2.ErrCodeFrameSize, "PRIORITY frame not 5 bytes")
		}
		if binary.BigEndian.Uint32(p)&maxWindow == id {
			return c.streamError(id, http2.ErrCodeProtocol, "stream depends on itself")
		}
		return nil
	case http2.FrameRSTStream:
		return c.onRSTStream(id, p)
	case http2.FrameSettings:
		return c.onSettings(flags, id, p)
	case http2.FramePushPromise:
		return c.connError(http2.ErrCodeProtocol, "PUSH_PROMISE while push is disabled")
	case http2.FramePing:
		return c.onPing(flags, id, p)
	case http2.FrameGoAway:
		return c.onGoAway(id, p)
	case http2.FrameWindowUpdate:
		return c.onWindowUpdate(id, p)
	}
	return nil // unknown frame types are ignored (RFC 9113 §4.1)
}

// peerInitiated reports whether id is of the peer's parity.
func (c *Conn) peerInitiated(id uint32) bool { return (id&1 == 1) != c.client }

// idle reports whether id names a stream not yet opened (RFC 9113 §5.1).
func (c *Conn) idle(id uint32) bool {
	if c.peerInitiated(id) {
		return id > c.lastPeerID
	}
	return !c.client || id >= c.nextID
}

// stripPadding removes the PADDED flag's padding (RFC 9113 §6.1).
func stripPadding(flags http2.Flags, p []byte) ([]byte, bool) {
	if !flags.Has(http2.FlagDataPadded) {
		return p, true
	}
	if len(p) == 0 || int(p[0]) >= len(p) {
		return nil, false
	}
	return p[1 : len(p)-int(p[0])], true
}

func (c *Conn) onData(flags http2.Flags, id uint32, p []byte) error {
	if id == 0 {
		return c.connError(http2.ErrCodeProtocol, "DATA on stream 0")
	}
	data, ok := stripPadding(flags, p)
	if !ok {
		return c.connError(http2.ErrCodeProtocol, "DATA padding exceeds the payload")
	}
	flow := int64(len(p))
	if c.recvWindow -= flow; c.recvWindow < 0 {
		return c.connError(http2.ErrCodeFlowControl, "DATA beyond the connection window")
	}
	s := c.streams[id]
	if s == nil {
		if c.idle(id) {
			return c.connError(http2.ErrCodeProtocol, "DATA on an idle stream")
		}
		c.creditConn(flow)
		return c.onClosedStream(id, "DATA on a closed stream")
	}
	if s.remoteClosed || !s.gotHeaders {
		c.creditConn(flow)
		if s.remoteClosed {
			return c.streamError(id, http2.ErrCodeStreamClosed, "DATA after END_STREAM")
		}
		return c.streamError(id, http2.ErrCodeProtocol, "DATA before HEADERS")
	}
	if s.recvWindow -= flow; s.recvWindow < 0 {
		c.creditConn(flow)
		return c.streamError(id, http2.ErrCodeFlowControl, "DATA beyond the stream window")
	}
	// Padding is nobody's to consume: give it back at once.
	if pad := flow - int64(len(data)); pad > 0 {
		c.creditConn(pad)
		c.creditStream(s, pad)
	}
	end := flags.Has(http2.FlagDataEndStream)
	if len(p) == 0 && !end {
		// Empty DATA frames cost work and carry nothing (CVE-2019-9518).
		if err := c.useBudget(); err != nil {
			return err
		}
	}
	s.recvLen += int64(len(data))
	if s.declaredLen >= 0 && (s.recvLen > s.declaredLen || (end && s.recvLen != s.declaredLen)) {
		c.creditConn(int64(len(data)))
		return c.streamError(id, http2.ErrCodeProtocol, reasonContentLengthDiffer)
	}
	if end {
		c.endRemote(s)
	}
	c.h.Data(id, data, end)
	return nil
}

func (c *Conn) onHeaders(flags http2.Flags, id uint32, p []byte) error {
	if id == 0 {
		return c.connError(http2.ErrCodeProtocol, "HEADERS on stream 0")
	}
	frag, ok := stripPadding(flags, p)
	if !ok {
		return c.connError(http2.ErrCodeProtocol, "HEADERS padding exceeds the payload")
	}
	prioSelf := false
	if flags.Has(http2.FlagHeadersPriority) {
		if len(frag) < 5 {
			return c.connError(http2.ErrCodeFrameSize, "HEADERS too short for its priority")
		}
		prioSelf = binary.BigEndian.Uint32(frag)&maxWindow == id
		frag = frag[5:]
	}
	end := flags.Has(http2.FlagHeadersEndStream)
	if flags.Has(http2.FlagHeadersEndHeaders) {
		if len(frag) > int(c.cfg.MaxHeaderListSize) {
			return c.connError(http2.ErrCodeEnhanceYourCalm, "header block larger than SETTINGS_MAX_HEADER_LIST_SIZE")
		}
		return c.onBlock(id, frag, end, prioSelf)
	}
	c.hbActive, c.hbStream, c.hbEnd, c.hbPrioSelf, c.hbConts = true, id, end, prioSelf, 0
	c.hb = append(c.hb[:0], frag...)
	return c.checkBlockSize()
}

func (c *Conn) onContinuation(flags http2.Flags, id uint32, p []byte) error {
	if !c.hbActive || id != c.hbStream {
		return c.connError(http2.ErrCodeProtocol, "CONTINUATION without a header block in progress")
	}
	c.hbConts++
	if c.hbConts > c.cfg.MaxContinuationFrames {
		return c.connError(http2.ErrCodeEnhanceYourCalm, "too many CONTINUATION frames")
	}
	c.hb = append(c.hb, p...)
	if err := c.checkBlockSize(); err != nil {
		return err
	}
	if !flags.Has(http2.FlagContinuationEndHeaders) {
		return nil
	}
	c.hbActive = false
	return c.onBlock(id, c.hb, c.hbEnd, c.hbPrioSelf)
}

// checkBlockSize stops a header block that is already larger than any list
// we accept: the HPACK state could only be kept by buffering it all.
func (c *Conn) checkBlockSize() error {
	if len(c.hb) > int(c.cfg.MaxHeaderListSize) {
		return c.connError(http2.ErrCodeEnhanceYourCalm, "header block larger than SETTINGS_MAX_HEADER_LIST_SIZE")
	}
	return nil
}

// onBlock decodes a complete header block and applies it to its stream.
// The block is always decoded, even for a stream that is refused, so the
// HPACK table stays in step with the peer's.
func (c *Conn) onBlock(id uint32, block []byte, end, prioSelf bool) error {
	refs, over, err := c.dec.decode(block, c.refs[:0], c.cfg.MaxHeaderListSize)
	c.refs = refs
	if err != nil {
		return c.connError(http2.ErrCodeCompression, "invalid HPACK header block")
	}
	s := c.streams[id]
	kind := blockTrailers
	if s == nil {
		if !c.peerInitiated(id) || c.client {
			if c.idle(id) {
				return c.connError(http2.ErrCodeProtocol, "HEADERS on an idle stream")
			}
			return c.onClosedStream(id, "HEADERS on a closed stream")
		}
		if id <= c.lastPeerID {
			return c.onClosedStream(id, "HEADERS on a closed stream")
		}
		c.lastPeerID = id
		if c.goAwaySent {
			return nil // RFC 9113 §6.8: streams after our GOAWAY are ignored
		}
		if c.peerStreams >= int(c.cfg.MaxConcurrentStreams) {
			return c.streamError(id, http2.ErrCodeRefusedStream, "stream over SETTINGS_MAX_CONCURRENT_STREAMS")
		}
		s = c.newStream(id)
		c.peerStreams++
		kind = blockRequest
	} else {
		if s.remoteClosed {
			return c.streamError(id, http2.ErrCodeStreamClosed, "HEADERS after END_STREAM")
		}
		if c.client && !s.gotHeaders {
			kind = blockResponse
		}
	}
	if prioSelf {
		return c.streamError(id, http2.ErrCodeProtocol, "stream depends on itself")
	}
	if over {
		if kind == blockRequest {
			return c.refuseTooLarge(s, end)
		}
		return c.streamError(id, http2.ErrCodeProtocol, reasonListTooLarge)
	}
	if reason := c.hdr.fill(c.dec.arena.b, refs, kind); reason != "" {
		return c.streamError(id, http2.ErrCodeProtocol, reason)
	}
	switch kind {
	case blockTrailers:
		if !end {
			return c.streamError(id, http2.ErrCodeProtocol, "trailers without END_STREAM")
		}
	case blockResponse:
		if st := c.hdr.StatusCode(); st < 200 {
			if end {
				return c.streamError(id, http2.ErrCodeProtocol, "informational response with END_STREAM")
			}
			c.h.Headers(id, &c.hdr, false)
			return nil
		} else if s.headRequest || st == 204 || st == 304 {
			c.hdr.ContentLength = -1 // describes a body that is not sent
		}
		s.gotHeaders = true
		s.declaredLen = c.hdr.ContentLength
	case blockRequest:
		s.gotHeaders = true
		s.declaredLen = c.hdr.ContentLength
	}
	if end {
		if s.declaredLen > 0 && s.recvLen != s.declaredLen {
			return c.streamError(id, http2.ErrCodeProtocol, reasonContentLengthDiffer)
		}
		c.endRemote(s)
	}
	c.h.Headers(id, &c.hdr, end)
	return nil
}

// refuseTooLarge answers a request whose header list is over our limit
// with 431 (RFC 9113 §10.5.1) and, if the request goes on, asks the client
// to stop sending with RST_STREAM NO_ERROR (RFC 9113 §8.1). The stream is
// charged to the reset budget, not credited as one that ended normally.
func (c *Conn) refuseTooLarge(s *stream, end bool) error {
	id := s.id
	c.removeStream(s)
	c.writeBlock(id, []Field{F(":status", "431")}, true)
	if !end {
		c.writeRST(id, http2.ErrCodeNo)
	}
	return c.spendBudget(id, http2.ErrCodeNo, reasonListTooLarge)
}

func (c *Conn) onRSTStream(id uint32, p []byte) error {
	if len(p) != 4 {
		return c.connError(http2.ErrCodeFrameSize, "RST_STREAM frame not 4 bytes")
	}
	if id == 0 || c.idle(id) {
		return c.connError(http2.ErrCodeProtocol, "RST_STREAM on stream 0 or an idle stream")
	}
	s := c.streams[id]
	if s == nil {
		return nil
	}
	c.removeStream(s)
	code := ErrCode(binary.BigEndian.Uint32(p))
	c.serr = StreamError{StreamID: id, Code: code, Remote: true}
	c.h.Reset(id, &c.serr)
	if c.peerInitiated(id) {
		return c.useBudget()
	}
	return nil
}

func (c *Conn) onSettings(flags http2.Flags, id uint32, p []byte) error {
	if id != 0 {
		return c.connError(http2.ErrCodeProtocol, "SETTINGS on a stream")
	}
	if flags.Has(http2.FlagSettingsAck) {
		if len(p) != 0 {
			return c.connError(http2.ErrCodeFrameSize, "SETTINGS ack with a payload")
		}
		if !c.settingsAcked {
			c.settingsAcked = true
			delta := int64(c.cfg.InitialWindowSize) - c.localWindow
			c.localWindow = int64(c.cfg.InitialWindowSize)
			for _, s := range c.streams {
				s.recvWindow += delta
			}
			c.dec.allowedMax = c.cfg.HeaderTableSize
		}
		c.ev = Event{Kind: EventSettingsAck}
		c.h.Control(&c.ev)
		return nil
	}
	if len(p)%6 != 0 {
		return c.connError(http2.ErrCodeFrameSize, "SETTINGS length not a multiple of 6")
	}
	opened := !c.sawSettings // DATA held for the first SETTINGS may go now
	c.sawSettings = true
	for ; len(p) > 0; p = p[6:] {
		v := binary.BigEndian.Uint32(p[2:])
		switch http2.SettingID(binary.BigEndian.Uint16(p)) {
		case http2.SettingHeaderTableSize:
			c.enc.setMaxSize(min(v, c.cfg.MaxEncoderTableSize))
		case http2.SettingEnablePush:
			if v > 1 {
				return c.connError(http2.ErrCodeProtocol, "SETTINGS_ENABLE_PUSH not 0 or 1")
			}
		case http2.SettingMaxConcurrentStreams:
			c.peerMaxStreams = v
		case http2.SettingInitialWindowSize:
			if v > maxWindow {
				return c.connError(http2.ErrCodeFlowControl, "SETTINGS_INITIAL_WINDOW_SIZE above 2^31-1")
			}
			// RFC 9113 §6.9.2: the change applies to every open stream.
			delta := int64(v) - c.peerInitWindow
			c.peerInitWindow = int64(v)
			for _, s := range c.streams {
				if s.sendWindow += delta; s.sendWindow > maxWindow {
					return c.connError(http2.ErrCodeFlowControl, "stream window above 2^31-1")
				}
			}
			opened = opened || delta > 0
		case http2.SettingMaxFrameSize:
			if v < minMaxFrameSize || v > maxMaxFrameSize {
				return c.connError(http2.ErrCodeProtocol, "SETTINGS_MAX_FRAME_SIZE out of range")
			}
			c.peerMaxFrame = v
		case http2.SettingMaxHeaderListSize:
			c.peerMaxHeaderList = v
		}
	}
	c.appendFrameHeader(0, http2.FrameSettings, http2.FlagSettingsAck, 0)
	if err := c.queuedControl(); err != nil {
		return err
	}
	c.ev = Event{Kind: EventSettings}
	c.h.Control(&c.ev)
	if opened {
		c.notifyWritable()
	}
	return nil
}

func (c *Conn) onPing(flags http2.Flags, id uint32, p []byte) error {
	if id != 0 {
		return c.connError(http2.ErrCodeProtocol, "PING on a stream")
	}
	if len(p) != 8 {
		return c.connError(http2.ErrCodeFrameSize, "PING frame not 8 bytes")
	}
	if flags.Has(http2.FlagPingAck) {
		c.ev = Event{Kind: EventPingAck}
		copy(c.ev.Ping[:], p)
		c.h.Control(&c.ev)
		return nil
	}
	c.appendFrameHeader(8, http2.FramePing, http2.FlagPingAck, 0)
	c.out = append(c.out, p...)
	return c.queuedControl()
}

func (c *Conn) onGoAway(id uint32, p []byte) error {
	if id != 0 {
		return c.connError(http2.ErrCodeProtocol, "GOAWAY on a stream")
	}
	if len(p) < 8 {
		return c.connError(http2.ErrCodeFrameSize, "GOAWAY frame shorter than 8 bytes")
	}
	last := binary.BigEndian.Uint32(p) & maxWindow
	code := ErrCode(binary.BigEndian.Uint32(p[4:]))
	c.goAwayRecv = true
	for sid, s := range c.streams {
		if !c.peerInitiated(sid) && sid > last {
			c.removeStream(s)
			c.serr = StreamError{StreamID: sid, Code: http2.ErrCodeRefusedStream, Remote: true, Reason: "not processed before GOAWAY"}
			c.h.Reset(sid, &c.serr)
		}
	}
	c.ev = Event{Kind: EventGoAway, LastStreamID: last, Code: code, Debug: p[8:]}
	c.h.Control(&c.ev)
	return nil
}

func (c *Conn) onWindowUpdate(id uint32, p []byte) error {
	if len(p) != 4 {
		return c.connError(http2.ErrCodeFrameSize, "WINDOW_UPDATE frame not 4 bytes")
	}
	inc := int64(binary.BigEndian.Uint32(p) & maxWindow)
	if id == 0 {
		if inc == 0 {
			return c.connError(http2.ErrCodeProtocol, "WINDOW_UPDATE of 0")
		}
		if c.sendWindow += inc; c.sendWindow > maxWindow {
			return c.connError(http2.ErrCodeFlowControl, "connection window above 2^31-1")
		}
		c.notifyWritable()
		return nil
	}
	s := c.streams[id]
	if s == nil {
		if c.idle(id) {
			return c.connError(http2.ErrCodeProtocol, "WINDOW_UPDATE on an idle stream")
		}
		return nil
	}
	if inc == 0 {
		return c.streamError(id, http2.ErrCodeProtocol, "WINDOW_UPDATE of 0")
	}
	if s.sendWindow += inc; s.sendWindow > maxWindow {
		return c.streamError(id, http2.ErrCodeFlowControl, "stream window above 2^31-1")
	}
	c.notifyWritable()
	return nil
}

// notifyWritable tells the handler about blocked streams that may send again.
func (c *Conn) notifyWritable() {
	if len(c.blocked) == 0 || c.sendWindow <= 0 {
		return
	}
	list := c.blocked
	c.blocked, c.blockedSwap = c.blockedSwap[:0], nil
	for i, id := range list {
		s := c.streams[id]
		if s == nil || !s.blocked {
			continue
		}
		if s.sendWindow <= 0 || c.sendWindow <= 0 {
			c.blocked = append(c.blocked, id)
			continue
		}
		s.blocked = false
		c.h.Writable(id)
		list[i] = 0
	}
	c.blockedSwap = list[:0]
}

func (c *Conn) newStream(id uint32) *stream {
	var s *stream
	if n := len(c.free); n > 0 {
		s = c.free[n-1]
		c.free = c.free[:n-1]
		*s = stream{}
	} else {
		s = new(stream)
	}
	s.id = id
	s.sendWindow = c.peerInitWindow
	s.recvWindow = c.localWindow
	s.declaredLen = -1
	c.streams[id] = s
	return s
}

// removeStream forgets a stream; its window credit owed to the peer is
// dropped as the stream is over.
func (c *Conn) removeStream(s *stream) {
	delete(c.streams, s.id)
	if c.peerInitiated(s.id) {
		c.peerStreams--
	} else {
		c.localStreams--
	}
	c.free = append(c.free, s)
}

func (c *Conn) endRemote(s *stream) {
	s.remoteClosed = true
	if s.localClosed {
		c.finishStream(s)
	}
}

func (c *Conn) endLocal(s *stream) {
	s.localClosed = true
	if s.remoteClosed {
		c.finishStream(s)
		return
	}
	if !c.client {
		// The response is complete: ask the client to stop sending the
		// request rather than keep its stream (RFC 9113 §8.1).
		c.writeRST(s.id, http2.ErrCodeNo)
		c.finishStream(s)
	}
}

// onClosedStream answers a frame on a closed stream: nothing if we reset
// it recently or it is above our GOAWAY, else STREAM_CLOSED.
func (c *Conn) onClosedStream(id uint32, reason string) error {
	if c.goAwaySent && c.peerInitiated(id) && id > c.goAwayLast {
		return nil
	}
	for _, r := range c.recentResets {
		if r == id {
			return nil
		}
	}
	return c.streamError(id, http2.ErrCodeStreamClosed, reason)
}

// finishStream closes a stream both sides ended normally; it earns back
// one unit of the reset budget.
func (c *Conn) finishStream(s *stream) {
	c.removeStream(s)
	c.resetBudget = min(c.resetBudget+1, c.cfg.ResetBudget)
}

// streamError resets stream id (RFC 9113 §5.4.2) and tells the handler.
// Every stream error the peer causes is charged to the reset budget.
func (c *Conn) streamError(id uint32, code ErrCode, reason string) error {
	c.writeRST(id, code)
	if s := c.streams[id]; s != nil {
		c.removeStream(s)
	}
	if err := c.queuedControl(); err != nil {
		return err
	}
	return c.spendBudget(id, code, reason)
}

func (c *Conn) spendBudget(id uint32, code ErrCode, reason string) error {
	c.serr = StreamError{StreamID: id, Code: code, Reason: reason}
	c.h.Reset(id, &c.serr)
	return c.useBudget()
}

func (c *Conn) useBudget() error {
	if c.resetBudget--; c.resetBudget < 0 {
		return c.connError(http2.ErrCodeEnhanceYourCalm, "too many streams reset (rapid reset)")
	}
	return nil
}

func (c *Conn) queuedControl() error {
	if c.queuedCtl++; c.queuedCtl > c.cfg.MaxQueuedControlFrames {
		return c.connError(http2.ErrCodeEnhanceYourCalm, "control frames queued faster than the peer reads them")
	}
	return nil
}

// connError ends the connection (RFC 9113 §5.4.1): GOAWAY with the last
// stream the peer opened, every open stream reported reset.
func (c *Conn) connError(code ErrCode, reason string) error {
	if c.err != nil {
		return c.err
	}
	err := &ConnError{Code: code, Reason: reason}
	c.writeGoAway(c.goAwayID(), code, strBytes(reason))
	c.err = err
	c.failStreams(code, reason)
	return err
}

func (c *Conn) failStreams(code ErrCode, reason string) {
	for id, s := range c.streams {
		c.removeStream(s)
		c.serr = StreamError{StreamID: id, Code: code, Reason: reason}
		c.h.Reset(id, &c.serr)
	}
}

// Close reports every open stream reset, for a caller whose socket failed
// or timed out; later calls on the Conn return err.
func (c *Conn) Close(err error) {
	if c.err != nil {
		return
	}
	c.err = err
	c.failStreams(http2.ErrCodeCancel, err.Error())
}

func (c *Conn) creditConn(n int64) {
	c.recvUnacked += n
	if c.recvUnacked >= int64(c.cfg.ConnWindowSize)/2 {
		c.writeWindowUpdate(0, uint32(c.recvUnacked))
		c.recvWindow += c.recvUnacked
		c.recvUnacked = 0
	}
}

func (c *Conn) creditStream(s *stream, n int64) {
	if s.remoteClosed {
		return // the peer sends nothing more: no update needed
	}
	s.recvUnacked += n
	if s.recvUnacked >= int64(c.cfg.InitialWindowSize)/2 {
		c.writeWindowUpdate(s.id, uint32(s.recvUnacked))
		s.recvWindow += s.recvUnacked
		s.recvUnacked = 0
	}
}

func (c *Conn) writeWindowUpdate(id, inc uint32) {
	c.appendFrameHeader(4, http2.FrameWindowUpdate, 0, id)
	c.out = binary.BigEndian.AppendUint32(c.out, inc)
}

// goAwayID is the last stream id a GOAWAY of ours may name: once sent, it
// can only stay or go down.
func (c *Conn) goAwayID() uint32 {
	if c.goAwaySent {
		return c.goAwayLast
	}
	return c.lastPeerID
}

func (c *Conn) writeRST(id uint32, code ErrCode) {
	c.recentResets[c.recentNext] = id
	c.recentNext = (c.recentNext + 1) % len(c.recentResets)
	c.appendFrameHeader(4, http2.FrameRSTStream, 0, id)
	c.out = binary.BigEndian.AppendUint32(c.out, uint32(code))
}

func (c *Conn) writeGoAway(last uint32, code ErrCode, debug []byte) {
	c.appendFrameHeader(8+len(debug), http2.FrameGoAway, 0, 0)
	c.out = binary.BigEndian.AppendUint32(c.out, last)
	c.out = binary.BigEndian.AppendUint32(c.out, uint32(code))
	c.out = append(c.out, debug...)
}
