package proxy

import (
	"testing"

	"github.com/mosnctl/mosnctl/internal/protocol/http1"
	"github.com/mosnctl/mosnctl/internal/stream"
	mosntls "github.com/mosnctl/mosnctl/internal/tls"
)

// The peer identity names answer from the connection alone, in any case;
// without a verified certificate they are absent; other names are not
// reserved.
func TestPeerHeader(t *testing.T) {
	verified := &mosntls.State{Version: "TLSv1.3", PeerURI: []byte("spiffe://x/y"), PeerDNS: []byte("a.b"), PeerSubject: []byte("CN=a")}
	unverified := &mosntls.State{Version: "TLSv1.3"}
	for _, tc := range []struct {
		st             *mosntls.State
		name           string
		want           string
		ok, isReserved bool
	}{
		{verified, "x-mosn-peer-uri", "spiffe://x/y", true, true},
		{verified, "X-Mosn-Peer-URI", "spiffe://x/y", true, true},
		{verified, "x-mosn-peer-dns", "a.b", true, true},
		{verified, "x-mosn-peer-subject", "CN=a", true, true},
		{&mosntls.State{PeerSubject: []byte("CN=a")}, "x-mosn-peer-uri", "", false, true}, // no URI SAN
		{unverified, "x-mosn-peer-uri", "", false, true},
		{nil, "x-mosn-peer-uri", "", false, true},
		{nil, "x-mosn-peer-other", "", false, false},
		{verified, "x-mosn-peer-", "", false, false},
		{verified, "service", "", false, false},
	} {
		v, ok, reserved := peerHeader(tc.st, tc.name)
		if string(v) != tc.want || ok != tc.ok || reserved != tc.isReserved {
			t.Errorf("%q on %+v: %q %v %v, want %q %v %v", tc.name, tc.st, v, ok, reserved, tc.want, tc.ok, tc.isReserved)
		}
	}
}

func parsedStream(t testing.TB, raw string) *stream.HTTP1ServerStream {
	s := new(stream.HTTP1ServerStream)
	if _, err := http1.ParseRequest([]byte(raw), &s.Req, http1.Limits{}); err != nil {
		t.Fatal(err)
	}
	return s
}

// Client-sent identity headers are dropped whatever their case; others stay.
func TestDropPeerHeaders(t *testing.T) {
	s := parsedStream(t, "GET / HTTP/1.1\r\nHost: h\r\nX-Mosn-Peer-Uri: spiffe://forged\r\nx-mosn-peer-subject: CN=x\r\n"+
		"X-MOSN-PEER-DNS: d\r\nx-mosn-peer-uri: again\r\nX-Keep: 1\r\n\r\n")
	dropPeerHeaders(s)
	for _, name := range peerHeaderNames {
		if v, ok := s.Header(name); ok {
			t.Errorf("%s: %q left", name, v)
		}
	}
	if v, ok := s.Header("x-keep"); !ok || string(v) != "1" {
		t.Errorf("x-keep: %q %v", v, ok)
	}
}

// BenchmarkDropPeerHeaders is what every request pays for the sanitizing:
// three lookups that find nothing in a typical head.
func BenchmarkDropPeerHeaders(b *testing.B) {
	s := parsedStream(b, "GET /bench/items?id=42 HTTP/1.1\r\nHost: 127.0.0.1:2046\r\nUser-Agent: wrk\r\nAccept: */*\r\n"+
		"X-Request-Id: 4f0c1c9e\r\nConnection: keep-alive\r\n\r\n")
	b.ReportAllocs()
	for b.Loop() {
		dropPeerHeaders(s)
	}
}
