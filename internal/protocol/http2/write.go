package http2

import (
	"golang.org/x/net/http2"
)

// OpenStream starts a client stream with a request head and returns its
// id. ErrStreamLimit or ErrGoAway mean this connection takes no new stream
// now: a pool opens another.
func (c *Conn) OpenStream(fields []Field, endStream bool) (uint32, error) {
	if c.err != nil {
		return 0, c.err
	}
	if !c.client {
		return 0, ErrStreamClosed
	}
	if c.goAwayRecv || c.goAwaySent {
		return 0, ErrGoAway
	}
	if uint32(c.localStreams) >= c.peerMaxStreams {
		return 0, ErrStreamLimit
	}
	if c.nextID > maxWindow {
		return 0, ErrStreamIDsExhausted
	}
	if !c.fitsPeerList(fields) {
		return 0, ErrHeaderListTooLarge
	}
	id := c.nextID
	c.nextID += 2
	s := c.newStream(id)
	c.localStreams++
	for i := range fields {
		if string(fields[i].Name) == ":method" {
			s.headRequest = string(fields[i].Value) == "HEAD"
		}
	}
	s.sentHeaders = true
	c.writeBlock(id, fields, endStream)
	if endStream {
		c.endLocal(s)
	}
	return id, nil
}

// WriteHeaders sends a stream's response head (server), an informational
// 1xx head, or — once a head was sent — trailers, which must end the
// stream. Field names are sent lower-cased and connection-specific fields
// (Connection, Keep-Alive, Proxy-Connection, Transfer-Encoding, Upgrade, and
// TE other than "trailers") are left out, as RFC 9113 §8.2.2 requires of an
// intermediary.
func (c *Conn) WriteHeaders(id uint32, fields []Field, endStream bool) error {
	if c.err != nil {
		return c.err
	}
	s := c.streams[id]
	if s == nil || s.localClosed {
		return ErrStreamClosed
	}
	if s.sentHeaders {
		if !endStream {
			return ErrHeadersSent
		}
		for i := range fields {
			if len(fields[i].Name) > 0 && fields[i].Name[0] == ':' {
				return ErrPseudoInTrailers
			}
		}
	}
	if !c.fitsPeerList(fields) {
		return ErrHeaderListTooLarge
	}
	if !informational(fields) {
		s.sentHeaders = true
	}
	c.writeBlock(id, fields, endStream)
	if endStream {
		c.endLocal(s)
	}
	return nil
}

// WriteTrailers sends trailers and ends the stream.
func (c *Conn) WriteTrailers(id uint32, fields []Field) error {
	if s := c.streams[id]; s != nil && !s.sentHeaders {
		return ErrStreamClosed // trailers need a head before them
	}
	return c.WriteHeaders(id, fields, true)
}

func informational(fields []Field) bool {
	for i := range fields {
		if string(fields[i].Name) == ":status" {
			v := fields[i].Value
			return len(v) == 3 && v[0] == '1'
		}
	}
	return false
}

// fitsPeerList checks the peer's SETTINGS_MAX_HEADER_LIST_SIZE.
func (c *Conn) fitsPeerList(fields []Field) bool {
	if c.peerMaxHeaderList == ^uint32(0) {
		return true
	}
	var n uint64
	for i := range fields {
		n += uint64(len(fields[i].Name)+len(fields[i].Value)) + entryOverhead
	}
	return n <= uint64(c.peerMaxHeaderList)
}

// connectionSpecific reports a field HTTP/2 forbids (RFC 9113 §8.2.2).
func connectionSpecific(name, value []byte) bool {
	switch string(name) {
	case "connection", "proxy-connection", "keep-alive", "transfer-encoding", "upgrade":
		return true
	case "te":
		return string(value) != "trailers"
	}
	return false
}

// writeBlock encodes fields and queues them as HEADERS plus as many
// CONTINUATION frames as the peer's SETTINGS_MAX_FRAME_SIZE needs.
func (c *Conn) writeBlock(id uint32, fields []Field, endStream bool) {
	b := c.hbuf[:0]
	for i := range fields {
		f := &fields[i]
		name := f.Name
		for _, ch := range name {
			if ch >= 'A' && ch <= 'Z' {
				c.enc.lower = append(c.enc.lower[:0], name...)
				for j, ch := range c.enc.lower {
					if ch >= 'A' && ch <= 'Z' {
						c.enc.lower[j] = ch + ('a' - 'A')
					}
				}
				name = c.enc.lower
				break
			}
		}
		if connectionSpecific(name, f.Value) {
			continue
		}
		b = c.enc.appendField(b, name, f.Value, f.Sensitive)
	}
	c.hbuf = b
	typ := http2.FrameHeaders
	var flags http2.Flags
	if endStream {
		flags = http2.FlagHeadersEndStream
	}
	max := int(c.peerMaxFrame)
	for {
		n := min(len(b), max)
		f := flags
		if n == len(b) {
			f |= http2.FlagHeadersEndHeaders
		}
		c.appendFrameHeader(n, typ, f, id)
		c.out = append(c.out, b[:n]...)
		b = b[n:]
		if len(b) == 0 {
			return
		}
		typ, flags = http2.FrameContinuation, 0
	}
}

// WriteData queues as much of p as the peer's connection and stream
// windows allow and returns how much that was. When n < len(p) the stream
// is blocked: END_STREAM was not sent, and Handler.Writable(id) will say
// when to offer the rest. An empty p with endStream ends the stream at once.
func (c *Conn) WriteData(id uint32, p []byte, endStream bool) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	s := c.streams[id]
	if s == nil || s.localClosed {
		return 0, ErrStreamClosed
	}
	n := int(max(0, min(int64(len(p)), s.sendWindow, c.sendWindow)))
	if !c.sawSettings {
		// A client holds DATA until the server's SETTINGS: some servers
		// (x/net's among them) enforce their smaller initial window at
		// once rather than from our acknowledgement.
		n = 0
	}
	s.sendWindow -= int64(n)
	c.sendWindow -= int64(n)
	done := n == len(p)
	for sent := 0; sent < n; {
		k := min(n-sent, int(c.peerMaxFrame))
		var flags http2.Flags
		if done && endStream && sent+k == n {
			flags = http2.FlagDataEndStream
		}
		c.appendFrameHeader(k, http2.FrameData, flags, id)
		c.out = append(c.out, p[sent:sent+k]...)
		sent += k
	}
	if n == 0 && done && endStream {
		c.appendFrameHeader(0, http2.FrameData, http2.FlagDataEndStream, id)
	}
	if !done {
		if !s.blocked {
			s.blocked = true
			c.blocked = append(c.blocked, id)
		}
		return n, nil
	}
	if endStream {
		c.endLocal(s)
	}
	return n, nil
}

// Consumed reports that the application has used n bytes of stream id's
// DATA; the windows are reopened with WINDOW_UPDATE once half of one is
// owed, so a slow reader holds back only its own stream. The connection
// window is credited even after the stream has ended.
func (c *Conn) Consumed(id uint32, n int) {
	if c.err != nil || n <= 0 {
		return
	}
	c.creditConn(int64(n))
	if s := c.streams[id]; s != nil {
		c.creditStream(s, int64(n))
	}
}

// Reset ends stream id with RST_STREAM code; a downstream cancel becomes
// CANCEL upstream. Resetting an unknown or ended stream does nothing.
func (c *Conn) Reset(id uint32, code ErrCode) {
	if c.err != nil {
		return
	}
	s := c.streams[id]
	if s == nil {
		return
	}
	c.writeRST(id, code)
	c.removeStream(s)
}

// GoAway queues GOAWAY naming the last stream the peer opened: streams up
// to it finish, new ones are ignored (RFC 9113 §6.8). With NO_ERROR this is
// a graceful drain; close the connection once ActiveStreams is 0.
func (c *Conn) GoAway(code ErrCode, debug []byte) {
	if c.err != nil {
		return
	}
	c.goAwayLast = c.goAwayID()
	c.goAwaySent = true
	c.writeGoAway(c.goAwayLast, code, debug)
}

// Ping queues a PING; its answer arrives as EventPingAck.
func (c *Conn) Ping(data [8]byte) {
	if c.err != nil {
		return
	}
	c.appendFrameHeader(8, http2.FramePing, 0, 0)
	c.out = append(c.out, data[:]...)
}
