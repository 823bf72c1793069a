package http2

import "golang.org/x/net/http2"

// Reading reports a frame or a header block the peer has begun and not
// completed: bytes it owes now, which a read timeout bounds (unlike the
// quiet between frames, which an idle timeout bounds).
func (c *Conn) Reading() bool { return len(c.in) > 0 || c.hbActive }

// GoAwayGraceful queues the first GOAWAY of a graceful shutdown (RFC 9113
// §6.8): NO_ERROR with the highest stream id, so the peer opens no more
// streams while the ones it sent before hearing it are still taken, and a
// PING after it. Once the PING's ack is back (EventPingAck with ping)
// every such stream has arrived: GoAway then names the last one.
func (c *Conn) GoAwayGraceful(ping [8]byte) {
	if c.err != nil || c.goAwaySent {
		return
	}
	c.writeGoAway(maxWindow, http2.ErrCodeNo, nil)
	c.Ping(ping)
}
