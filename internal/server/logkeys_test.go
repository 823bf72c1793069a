package server

import (
	"net"
	"net/http"
	"strings"
	"testing"
)

// The proxy's logger already carries the listener key: a line must not
// repeat it (text handlers print it twice, JSON ones emit a duplicate key).
func TestLogLinesNameTheListenerOnce(t *testing.T) {
	// An origin that hangs up on every request: HTTP/1 "upstream failed".
	broken := serveTCP(t, func(c net.Conn) {
		c.Read(make([]byte, 4096))
		c.Close()
	})
	p := startProxy(t, httpProxyConfig("LB_ROUNDROBIN", "", broken))
	if code, _ := get(t, newClient(), p.url("in", "/")); code != http.StatusBadGateway {
		t.Fatalf("status %d, want 502", code)
	}
	// tcp_proxy to nothing: "upstream connect failed".
	tp := startProxy(t, tcpProxyConfig(closedAddr(t), ""))
	c := dialRaw(t, tp.addr("tcp"))
	c.Read(make([]byte, 1)) // until the proxy closes it

	for _, tc := range []struct {
		p   *proxyUnderTest
		msg string
	}{{p, "upstream failed"}, {tp, "tcp_proxy: upstream connect failed"}} {
		var line string
		for l := range strings.Lines(tc.p.log.String()) {
			if strings.Contains(l, `msg="`+tc.msg+`"`) {
				line = l
			}
		}
		if line == "" {
			t.Fatalf("no %q line in the log:\n%s", tc.msg, tc.p.log.String())
		}
		if n := strings.Count(line, " listener="); n != 1 {
			t.Errorf("%q line has the listener key %d times, want 1: %s", tc.msg, n, line)
		}
	}
}
