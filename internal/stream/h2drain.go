package stream

import (
	"time"

	"github.com/mosnctl/mosnctl/internal/protocol/http2"
	xhttp2 "golang.org/x/net/http2"
)

// h2Drain is a downstream connection's graceful shutdown (RFC 9113 §6.8),
// in two steps: a GOAWAY naming the highest stream id and a PING, so the
// client opens no more streams while the ones it sent before hearing it
// are still served; once the PING comes back (or after
// drainPingWait) the GOAWAY naming the last stream taken. A client that
// sent a stream in the meantime never sees it dropped, even one whose body
// it cannot send again. Under the connection's lock.
type h2Drain struct {
	graceSent bool
	acked     bool
}

// drainPing is the graceful GOAWAY's PING payload.
var drainPing = [8]byte{'m', 'o', 's', 'n', 'd', 'r', 'a', 'n'}

// drainPingWait bounds the wait for a client that does not answer PING.
const drainPingWait = time.Second

// control notes the answer to the drain's PING.
func (g *h2Drain) control(ev *http2.Event) {
	if ev.Kind == http2.EventPingAck && ev.Ping == drainPing {
		g.acked = true
	}
}

// goAway takes the drain a step: the graceful GOAWAY first, then, once the
// PING is answered or since is drainPingWait ago, the final one; it
// reports whether the final one went out.
func (d *H2Downstream) goAway(since time.Time) bool {
	d.lock()
	defer d.unlock()
	g := &d.drain
	if !g.graceSent {
		g.graceSent = true
		d.eng.GoAwayGraceful(drainPing)
		d.flushLocked()
		return false
	}
	if !g.acked && time.Since(since) < drainPingWait {
		return false
	}
	d.eng.GoAway(xhttp2.ErrCodeNo, nil)
	d.flushLocked()
	return true
}
