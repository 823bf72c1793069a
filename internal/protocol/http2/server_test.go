package http2

import (
	"testing"

	"golang.org/x/net/http2"
)

// A graceful shutdown's first GOAWAY names the highest stream id and is
// followed by a PING: streams the client sent before hearing it are still
// taken; the final GOAWAY, after the PING's ack, names the last of them,
// and a stream after it is ignored.
func TestServerGracefulGoAway(t *testing.T) {
	c, rec, p := newServer(t, Config{})
	okRequest(p, 1)
	p.mustFlush()
	c.GoAwayGraceful([8]byte{'d', 'r', 'a', 'i', 'n'})
	p.expect("GOAWAY last=2147483647 NO_ERROR", "PING ack=false 647261696e000000")
	if c.GoingAway() {
		t.Fatal("going away before the final GOAWAY")
	}
	okRequest(p, 3) // sent before the client heard
	p.w.WritePing(true, [8]byte{'d', 'r', 'a', 'i', 'n'})
	p.mustFlush()
	if len(rec.events) != 3 || !rec.has("ping-ack 647261696e000000") {
		t.Fatalf("events %v: want streams 1 and 3 and the ping ack", rec.events)
	}
	c.GoAway(http2.ErrCodeNo, nil)
	p.expect("GOAWAY last=3 NO_ERROR")
	okRequest(p, 5)
	p.mustFlush()
	if len(rec.events) != 3 || c.ActiveStreams() != 2 {
		t.Fatalf("events %v, %d active: stream 5 after the final GOAWAY was taken", rec.events, c.ActiveStreams())
	}
}
