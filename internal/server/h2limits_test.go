package server

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// h2ListenerConfig is an Http2 -> Http2 proxy listener "in" with extra
// listener JSON, routing / to origin.
func h2ListenerConfig(listenerExtra, origin string) string {
	return fmt.Sprintf(`{
  "servers": [{
    "routers": [{"router_config_name": "r", "virtual_hosts": [{"name": "v", "domains": ["*"], "routers": [
      {"match": {"prefix": "/"}, "route": {"cluster_name": "origin", "timeout": "0s"}}]}]}],
    "listeners": [{"name": "in", "address": "127.0.0.1:0"%s,
      "filter_chains": [{"filters": [{"type": "proxy", "config": {"downstream_protocol": "Http2", "upstream_protocol": "Http2", "router_config_name": "r"}}]}]}]
  }],
  "cluster_manager": {"clusters": [{"name": "origin", "type": "SIMPLE", "hosts": [{"address": %q}]}]}
}`, listenerExtra, origin)
}

// h2Raw is a raw h2c connection with x/net's framer.
type h2Raw struct {
	c  net.Conn
	fr *http2.Framer
}

func dialH2Raw(t *testing.T, addr string) *h2Raw {
	t.Helper()
	c := dialRaw(t, addr)
	io.WriteString(c, http2.ClientPreface)
	r := &h2Raw{c: c, fr: http2.NewFramer(c, c)}
	r.fr.WriteSettings()
	return r
}

func (r *h2Raw) headers(id uint32, path string, endHeaders bool) {
	var hb bytes.Buffer
	enc := hpack.NewEncoder(&hb)
	for _, f := range [][2]string{{":method", "GET"}, {":scheme", "http"}, {":authority", "proxy"}, {":path", path}} {
		enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
	}
	r.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: hb.Bytes(), EndStream: true, EndHeaders: endHeaders})
}

// closedWithin reads frames until the proxy closes the connection, and
// reports whether that happened within d.
func (r *h2Raw) closedWithin(d time.Duration) bool {
	r.c.SetReadDeadline(time.Now().Add(d))
	for {
		_, err := r.fr.ReadFrame()
		if err != nil {
			var ne net.Error
			return !(errors.As(err, &ne) && ne.Timeout())
		}
	}
}

// read_timeout bounds a frame or header block begun and not completed on an
// Http2 listener, as it bounds a started HTTP/1 request head, with streams
// in flight or not; the quiet between frames is bounded by the idle timeout
// only (here 60s), so a quiet connection stays open.
func TestHTTP2ReadTimeout(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	origin := startH2cOrigin(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/hold" {
			select {
			case <-release:
			case <-r.Context().Done():
			}
		}
		io.WriteString(w, "ok")
	}))
	p := startProxy(t, h2ListenerConfig(`, "read_timeout": "300ms", "connection_idle_timeout": "60s"`, origin))
	addr := p.addr("in")

	// Quiet between frames: still open after several read timeouts.
	quiet := dialH2Raw(t, addr)
	time.Sleep(time.Second)
	quiet.fr.WritePing(false, [8]byte{1})
	quiet.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		f, err := quiet.fr.ReadFrame()
		if err != nil {
			t.Fatalf("quiet connection: %v", err)
		}
		if ping, ok := f.(*http2.PingFrame); ok && ping.IsAck() {
			break
		}
	}

	cases := []struct {
		name  string
		stall func(r *h2Raw)
	}{
		{"half a frame header", func(r *h2Raw) { r.c.Write([]byte{0, 0, 8}) }},
		{"half a frame", func(r *h2Raw) { r.c.Write([]byte{0, 0, 8, byte(http2.FramePing), 0, 0, 0, 0, 0, 1, 2}) }},
		{"header block without its CONTINUATION", func(r *h2Raw) { r.headers(1, "/", false) }},
		{"half a frame with a stream in flight", func(r *h2Raw) {
			r.headers(1, "/hold", true)
			time.Sleep(100 * time.Millisecond)
			r.c.Write([]byte{0, 0, 8, byte(http2.FramePing), 0})
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := dialH2Raw(t, addr)
			tc.stall(r)
			// Generous: the read timeout is 300ms, the idle timeout 60s.
			if !r.closedWithin(15 * time.Second) {
				t.Fatalf("connection still open after 15s")
			}
		})
	}
	// (Rate-limited by reason: at least one line says why.)
	if !strings.Contains(p.log.String(), "not completed within read_timeout") {
		t.Errorf("no log line says why the connections closed")
	}
}

// The listener's connection_idle_timeout and send_timeout apply to its
// HTTP/2 connections (defaults 90s and 60s): a quiet connection without
// streams closes after the idle timeout; one whose client opened its
// windows wide and stopped reading closes after the send timeout.
func TestHTTP2ListenerTimeouts(t *testing.T) {
	origin := startH2cOrigin(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(w, &patternBody{n: 64 << 20})
	}))
	t.Run("connection_idle_timeout", func(t *testing.T) {
		p := startProxy(t, h2ListenerConfig(`, "connection_idle_timeout": "300ms"`, origin))
		r := dialH2Raw(t, p.addr("in"))
		if !r.closedWithin(15 * time.Second) {
			t.Fatal("a quiet connection is still open after 15s")
		}
	})
	t.Run("send_timeout", func(t *testing.T) {
		p := startProxy(t, h2ListenerConfig(`, "send_timeout": "300ms"`, origin))
		c := dialRaw(t, p.addr("in"))
		io.WriteString(c, http2.ClientPreface)
		r := &h2Raw{c: c, fr: http2.NewFramer(c, c)}
		r.fr.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 1<<31 - 1})
		r.fr.WriteWindowUpdate(0, 1<<31-1-65535)
		r.headers(1, "/big", true)
		time.Sleep(3 * time.Second) // not reading: the proxy's writes wait
		// Reading now drains what the socket buffers hold; a connection
		// still open would go on sending the 64 MiB answer.
		if !r.closedWithin(15 * time.Second) {
			t.Fatal("a client that stopped reading is still connected")
		}
	})
}
