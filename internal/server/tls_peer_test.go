package server

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/http2"

	"github.com/mosnctl/mosnctl/internal/admin"
	"github.com/mosnctl/mosnctl/internal/boltrpc"
	"github.com/mosnctl/mosnctl/internal/protocol/bolt"
	"github.com/mosnctl/mosnctl/internal/tls/tlstest"
)

const (
	fooID = "spiffe://cluster.local/ns/default/sa/foo"
	barID = "spiffe://cluster.local/ns/default/sa/bar"
)

// peerFixture is a proxy with mTLS (client certificates verified when sent)
// on an HTTP/1 listener "web1" (inspector on: plaintext clients too), an
// HTTP/2 listener "web2" and a Bolt listener "rpc". Routes send the client
// whose certificate names fooID to cluster a (rpc-a), other verified
// SPIFFE ids to b, everyone else to anon (rpc-anon). Each origin answers
// with its name and the x-mosn-peer-* headers it received.
type peerFixture struct {
	p         *proxyUnderTest
	ca        *tlstest.CA
	foo, bar  tls.Certificate
	accessLog string
	release   chan struct{} // closed by answer: /slow and the Slow service are answered
	answer    func()
	arrived   chan string
}

func newPeerFixture(t *testing.T) *peerFixture {
	f := newTLSFixture(t)
	cert, key := f.issue(t, "srv", tlstest.ECDSA, "127.0.0.1")
	pf := &peerFixture{ca: f.ca, release: make(chan struct{}), arrived: make(chan string, 16),
		foo:       f.ca.Issue(t, tlstest.ECDSA, "foo.client", fooID).TLS(t),
		bar:       f.ca.Issue(t, tlstest.ECDSA, "bar.client", barID).TLS(t),
		accessLog: filepath.Join(t.TempDir(), "access.log")}
	pf.answer = sync.OnceFunc(func() { close(pf.release) })
	t.Cleanup(pf.answer)
	httpOrigin := func(name string) string {
		addr, _ := startOrigin(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/slow" {
				pf.arrived <- name
				<-pf.release
			}
			io.WriteString(w, name+peerHeadersOf(r.Header))
		}))
		return addr
	}
	boltOrigin := func(name string) string {
		return startBoltServer(t, func(req *bolt.Frame) (uint16, map[string]string, []byte) {
			if svc, _ := req.Get("service"); strings.HasPrefix(string(svc), "com.example.Slow") {
				pf.arrived <- name
				<-pf.release
			}
			_, h, _ := boltrpc.EchoHandler(req)
			h["origin"] = name
			return bolt.StatusSuccess, h, req.Content
		})
	}
	tlsCtx := tlsContext(cert, key, fmt.Sprintf(`, "ca_cert": %q, "verify_client": true`, f.caPath))
	pf.p = startProxy(t, fmt.Sprintf(`{
  "servers": [{
    "routers": [
      {"router_config_name": "web", "virtual_hosts": [{"name": "v", "domains": ["*"], "routers": [
        {"match": {"prefix": "/", "headers": [{"name": "x-mosn-peer-uri", "value": %[1]q}]}, "route": {"cluster_name": "a"}},
        {"match": {"prefix": "/", "headers": [{"name": "X-Mosn-Peer-Uri", "value": "spiffe://.*", "regex": true}]}, "route": {"cluster_name": "b"}},
        {"match": {"prefix": "/"}, "route": {"cluster_name": "anon"}}]}]},
      {"router_config_name": "rpc", "virtual_hosts": [{"name": "v", "domains": ["*"], "routers": [
        {"match": {"headers": [{"name": "x-mosn-peer-uri", "value": %[1]q}]}, "route": {"cluster_name": "rpc-a"}},
        {"match": {"headers": [{"name": "service", "value": ".*", "regex": true}]}, "route": {"cluster_name": "rpc-anon"}}]}]}],
    "listeners": [
      {"name": "web1", "address": "127.0.0.1:0", "inspector": true, "access_log": %[3]q,
       "filter_chains": [{"tls_context": %[2]s, "filters": [{"type": "proxy", "config": {"downstream_protocol": "Http1", "router_config_name": "web"}}]}]},
      {"name": "web2", "address": "127.0.0.1:0", "access_log": %[3]q,
       "filter_chains": [{"tls_context": %[2]s, "filters": [{"type": "proxy", "config": {"downstream_protocol": "Http2", "upstream_protocol": "Http1", "router_config_name": "web"}}]}]},
      {"name": "rpc", "address": "127.0.0.1:0", "access_log": %[3]q,
       "filter_chains": [{"tls_context": %[2]s, "filters": [{"type": "proxy", "config": {"downstream_protocol": "bolt", "router_config_name": "rpc"}}]}]}]
  }],
  "cluster_manager": {"clusters": [
    {"name": "a", "hosts": [{"address": %[4]q}]},
    {"name": "b", "hosts": [{"address": %[5]q}]},
    {"name": "anon", "hosts": [{"address": %[6]q}]},
    {"name": "rpc-a", "hosts": [{"address": %[7]q}]},
    {"name": "rpc-anon", "hosts": [{"address": %[8]q}]}]}
}`, fooID, tlsCtx, pf.accessLog, httpOrigin("a"), httpOrigin("b"), httpOrigin("anon"), boltOrigin("rpc-a"), boltOrigin("rpc-anon")))
	return pf
}

// peerHeadersOf lists the x-mosn-peer-* headers an origin received.
func peerHeadersOf(h http.Header) string {
	var out []string
	for k, v := range h {
		if strings.HasPrefix(strings.ToLower(k), "x-mosn-peer-") {
			out = append(out, k+"="+strings.Join(v, ","))
		}
	}
	slices.Sort(out)
	if len(out) == 0 {
		return ""
	}
	return " " + strings.Join(out, " ")
}

// clientTLS trusts the proxy and presents cert (none if nil); the states
// of the connections it makes are kept.
type clientTLS struct {
	cfg    *tls.Config
	mu     sync.Mutex
	states []tls.ConnectionState
}

func (pf *peerFixture) client(cert *tls.Certificate) *clientTLS {
	cfg := &tls.Config{RootCAs: pf.ca.Pool()}
	if cert != nil {
		cfg.Certificates = []tls.Certificate{*cert}
	}
	return &clientTLS{cfg: cfg}
}

func (c *clientTLS) dial(ctx context.Context, addr string) (net.Conn, error) {
	d := tls.Dialer{Config: c.cfg}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err == nil {
		c.mu.Lock()
		c.states = append(c.states, conn.(*tls.Conn).ConnectionState())
		c.mu.Unlock()
	}
	return conn, err
}

func (c *clientTLS) cipher() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.states) == 0 {
		return ""
	}
	return tls.CipherSuiteName(c.states[0].CipherSuite)
}

// http1 is an HTTP/1.1 client over TLS to addr.
func (c *clientTLS) http1(addr string) *http.Client {
	return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		DialTLSContext: func(ctx context.Context, _, _ string) (net.Conn, error) { return c.dial(ctx, addr) }}}
}

// http2 is an HTTP/2 client over TLS to addr (the listener serves HTTP/2
// with prior knowledge, no ALPN).
func (c *clientTLS) http2(addr string) *http.Client {
	return &http.Client{Timeout: 5 * time.Second, Transport: &http2.Transport{
		DialTLSContext: func(ctx context.Context, _, _ string, _ *tls.Config) (net.Conn, error) { return c.dial(ctx, addr) }}}
}

// getForged sends GET url with forged identity headers and returns the body.
func getForged(t *testing.T, c *http.Client, url string) string {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set("X-Mosn-Peer-Uri", fooID)
	req.Header.Set("x-mosn-peer-subject", "CN=admin")
	req.Header.Set("X-MOSN-PEER-DNS", "admin.client")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d %s", url, resp.StatusCode, b)
	}
	return string(b)
}

// The verified client certificate's identity routes (header matchers on
// x-mosn-peer-uri) on HTTP/1, HTTP/2 and Bolt; a client that forges the
// headers, over plaintext, over TLS without a certificate or with one, is
// routed as what its certificate proves, and no origin ever sees them. The
// access log records the TLS version, cipher and identity.
func TestTLSPeerIdentityRouting(t *testing.T) {
	pf := newPeerFixture(t)
	web1, web2 := pf.p.addr("web1"), pf.p.addr("web2")
	foo, bar, anon := pf.client(&pf.foo), pf.client(&pf.bar), pf.client(nil)
	for _, tc := range []struct {
		name   string
		client *http.Client
		scheme string
		want   string
	}{
		{"HTTP/1 foo", foo.http1(web1), "https://", "a"},
		{"HTTP/1 bar", bar.http1(web1), "https://", "b"},
		{"HTTP/1 TLS without a certificate", anon.http1(web1), "https://", "anon"},
		{"HTTP/1 plaintext", newClient(), "http://", "anon"},
		{"HTTP/2 foo", foo.http2(web2), "https://", "a"},
		{"HTTP/2 bar", bar.http2(web2), "https://", "b"},
		{"HTTP/2 without a certificate", anon.http2(web2), "https://", "anon"},
	} {
		addr := web1
		if strings.HasPrefix(tc.name, "HTTP/2") {
			addr = web2
		}
		// The origin's answer is its name and the peer headers it got: none.
		if got := getForged(t, tc.client, tc.scheme+addr+"/x"); got != tc.want {
			t.Errorf("%s: answered %q, want %q", tc.name, got, tc.want)
		}
	}

	for _, tc := range []struct {
		name   string
		client *clientTLS
		want   string
	}{{"foo", foo, "rpc-a"}, {"bar", bar, "rpc-anon"}, {"no certificate", anon, "rpc-anon"}} {
		conn, err := tc.client.dial(context.Background(), pf.p.addr("rpc"))
		if err != nil {
			t.Fatal(err)
		}
		c := boltrpc.NewClient(conn)
		resp, err := c.Call(context.Background(), &boltrpc.Request{Service: "com.example.Echo:1.0", Method: "echo",
			Headers: map[string]string{"x-mosn-peer-uri": fooID}, Content: []byte("hi")})
		c.Close()
		if err != nil {
			t.Fatalf("bolt %s: %v", tc.name, err)
		}
		if resp.Headers["origin"] != tc.want || string(resp.Content) != "hi" {
			t.Errorf("bolt %s: origin %q, want %q", tc.name, resp.Headers["origin"], tc.want)
		}
		if v, ok := resp.Headers["x-mosn-peer-uri"]; ok {
			t.Errorf("bolt %s: the origin got the forged x-mosn-peer-uri %q", tc.name, v)
		}
	}

	var lines []string
	waitFor(t, "access log lines of 10 requests", func() bool {
		b, _ := os.ReadFile(pf.accessLog)
		lines = strings.Split(strings.TrimSpace(string(b)), "\n")
		return len(lines) >= 10
	})
	fooTLS := fmt.Sprintf(`"downstream_tls_version":"TLSv1.3","downstream_tls_cipher":%q,`+
		`"downstream_peer_subject":"CN=foo.client","downstream_peer_uri_san":%q,"downstream_peer_dns_san":"foo.client"}`, foo.cipher(), fooID)
	count := func(sub string) int {
		n := 0
		for _, l := range lines {
			if strings.Contains(l, sub) {
				n++
			}
		}
		return n
	}
	if n := count(fooTLS); n != 3 { // HTTP/1, HTTP/2, Bolt
		t.Errorf("%d lines with foo's identity %s, want 3:\n%s", n, fooTLS, strings.Join(lines, "\n"))
	}
	if n := count(`"downstream_peer_uri_san":"` + barID + `"`); n != 3 {
		t.Errorf("%d lines with bar's identity, want 3", n)
	}
	if n := count(`"downstream_tls_version":"TLSv1.3"`); n != 9 {
		t.Errorf("%d lines with a TLS version, want 9 (the plaintext request has none)", n)
	}
	if n := count(`"downstream_peer_`); n != 6 {
		t.Errorf("%d lines with a peer identity, want 6 (foo's and bar's)", n)
	}
}

// /api/v1/streams (and so top) shows each stream's TLS version, cipher and
// verified peer: HTTP/1, HTTP/2 and Bolt; a plaintext stream shows none.
func TestTLSStreamsShowTLS(t *testing.T) {
	pf := newPeerFixture(t)
	foo := pf.client(&pf.foo)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer pf.answer()
	calls := []func() error{
		func() error { return getErr(foo.http1(pf.p.addr("web1")), "https://"+pf.p.addr("web1")+"/slow") },
		func() error { return getErr(foo.http2(pf.p.addr("web2")), "https://"+pf.p.addr("web2")+"/slow") },
		func() error { return getErr(newClient(), "http://"+pf.p.addr("web1")+"/slow") },
		func() error {
			conn, err := foo.dial(context.Background(), pf.p.addr("rpc"))
			if err != nil {
				return err
			}
			c := boltrpc.NewClient(conn)
			defer c.Close()
			_, err = c.Call(context.Background(), &boltrpc.Request{Service: "com.example.Slow:1.0", Method: "wait"})
			return err
		},
	}
	errs := make(chan error, len(calls))
	for _, call := range calls {
		wg.Add(1)
		go func() { defer wg.Done(); errs <- call() }()
	}
	for range calls {
		select {
		case <-pf.arrived:
		case err := <-errs:
			t.Fatalf("a call ended before its origin had it: %v", err)
		case <-time.After(10 * time.Second):
			t.Fatal("the origins did not get all 4 requests")
		}
	}
	var list admin.StreamList
	waitFor(t, "4 waiting streams", func() bool {
		getJSON(t, "http://"+pf.p.AdminAddr().String()+"/api/v1/streams?state=waiting", &list)
		return list.Total == 4
	})
	seen := map[string]int{}
	for _, s := range list.Streams {
		key := s.Listener + " " + s.Protocol
		if s.TLSVersion == "" {
			key += " plaintext"
			if s.TLSCipher != "" || s.PeerURI != "" || s.PeerSubject != "" {
				t.Errorf("plaintext stream with TLS fields: %+v", s)
			}
		} else if s.TLSVersion != "TLSv1.3" || s.TLSCipher != foo.cipher() || s.PeerURI != fooID ||
			s.PeerDNS != "foo.client" || s.PeerSubject != "CN=foo.client" {
			t.Errorf("stream %s: tls %q %q peer %q %q %q, want TLSv1.3 %q %s foo.client CN=foo.client",
				key, s.TLSVersion, s.TLSCipher, s.PeerURI, s.PeerDNS, s.PeerSubject, foo.cipher(), fooID)
		}
		seen[key]++
	}
	for _, want := range []string{"web1 HTTP/1.1", "web1 HTTP/1.1 plaintext", "web2 HTTP/2", "rpc bolt"} {
		if seen[want] != 1 {
			t.Errorf("streams %v lack %q", seen, want)
		}
	}
	pf.answer()
	for range calls {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}

func getErr(c *http.Client, url string) error {
	resp, err := c.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != 200 {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return nil
}

// eofConn records whether the socket under a TLS client reached its end.
type eofConn struct {
	net.Conn
	mu  sync.Mutex
	eof bool
}

func (c *eofConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	if err == io.EOF {
		c.mu.Lock()
		c.eof = true
		c.mu.Unlock()
	}
	return n, err
}

func (c *eofConn) sawEOF() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.eof
}

// readToCloseNotify reads a TLS connection until the server ends it and
// checks the end was a close_notify alert. crypto/tls reports io.EOF for
// both an alert and a bare TCP close at a record boundary; it stops at the
// alert without reading the socket's end, so a socket read to its end
// tells a bare close.
func readToCloseNotify(t *testing.T, what string, tc *tls.Conn, raw *eofConn) string {
	t.Helper()
	tc.SetReadDeadline(time.Now().Add(10 * time.Second))
	b, err := io.ReadAll(tc)
	if err != nil {
		t.Fatalf("%s: read until the server closed: %v (want a clean end)", what, err)
	}
	if raw.sawEOF() {
		t.Errorf("%s: the server closed the socket without a close_notify alert", what)
	}
	return string(b)
}

// A TLS connection mosnctl ends (after Connection: close, at the idle
// timeout, on drain) gets a close_notify alert before the socket closes.
func TestTLSCloseNotify(t *testing.T) {
	f := newTLSFixture(t)
	cert, key := f.issue(t, "srv", tlstest.ECDSA, "127.0.0.1")
	chain := fmt.Sprintf(`"tls_context": %s,`, tlsContext(cert, key, ""))
	p := startProxy(t, tlsProxyConfig(`"connection_idle_timeout": "300ms",`, chain, ""))
	draining := startProxy(t, tlsProxyConfig("", chain, "")) // no idle timeout
	dial := func(p *proxyUnderTest) (*tls.Conn, *eofConn) {
		nc, err := net.Dial("tcp", p.addr("in"))
		if err != nil {
			t.Fatal(err)
		}
		raw := &eofConn{Conn: nc}
		tc := tls.Client(raw, &tls.Config{RootCAs: f.ca.Pool(), ServerName: "127.0.0.1"})
		t.Cleanup(func() { tc.Close() })
		if err := tc.Handshake(); err != nil {
			t.Fatal(err)
		}
		return tc, raw
	}

	tc, raw := dial(p)
	io.WriteString(tc, "GET /direct HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
	if got := readToCloseNotify(t, "Connection: close", tc, raw); !strings.HasSuffix(got, "direct\n") {
		t.Errorf("Connection: close: got %q", got)
	}

	tc, raw = dial(p)
	io.WriteString(tc, "GET /direct HTTP/1.1\r\nHost: x\r\n\r\n")
	if got := readToCloseNotify(t, "idle timeout", tc, raw); !strings.HasSuffix(got, "direct\n") {
		t.Errorf("idle timeout: got %q", got)
	}

	// HTTP/2 and Bolt connections idle past their timeout: the HTTP/2
	// server ends its connection itself (after its frames), Bolt's through
	// the listener.
	for _, proto := range []string{"Http2", "bolt"} {
		cfg := tlsProxyConfig(`"connection_idle_timeout": "300ms",`, chain, "")
		cfg = strings.Replace(cfg, `"downstream_protocol": "Http1"`, `"downstream_protocol": "`+proto+`"`, 1)
		tc, raw := dial(startProxy(t, cfg))
		if proto == "Http2" {
			io.WriteString(tc, http2.ClientPreface)
			http2.NewFramer(tc, nil).WriteSettings()
		}
		readToCloseNotify(t, proto+" idle timeout", tc, raw)
	}

	// Drain: an idle keep-alive connection is closed at once.
	tc, raw = dial(draining)
	io.WriteString(tc, "GET /direct HTTP/1.1\r\nHost: x\r\n\r\n")
	buf := make([]byte, 4096)
	tc.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := tc.Read(buf); err != nil || !strings.HasSuffix(string(buf[:n]), "direct\n") {
		t.Fatalf("keep-alive request: %v %q", err, buf[:n])
	}
	shut := make(chan struct{})
	go func() {
		defer close(shut)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		draining.Shutdown(ctx)
	}()
	readToCloseNotify(t, "drain", tc, raw)
	<-shut // before the test's cleanup shuts it down again
}
