package server

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/interop"
	testgrpc "google.golang.org/grpc/interop/grpc_testing"
	testpb "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/status"

	"github.com/mosnctl/mosnctl/internal/boltrpc"
	"github.com/mosnctl/mosnctl/internal/tls/tlstest"
)

// h2TLSConfig is one proxy listener "in" with the given protocols and
// filter chain fields (a tls_context), routing /direct to a direct
// response and the rest to cluster "origin" (its extra fields, hosts).
func h2TLSConfig(down, up, chainTLS, clusterExtra string, hosts ...string) string {
	var hs []string
	for _, h := range hosts {
		hs = append(hs, fmt.Sprintf(`{"address": %q}`, h))
	}
	return fmt.Sprintf(`{
  "servers": [{
    "routers": [{"router_config_name": "r", "virtual_hosts": [{"name": "v", "domains": ["*"], "routers": [
      {"match": {"prefix": "/direct"}, "direct_response": {"status": 200, "body": "direct\n"}},
      {"match": {"prefix": "/"}, "route": {"cluster_name": "origin"}}
    ]}]}],
    "listeners": [{"name": "in", "address": "127.0.0.1:0",
      "filter_chains": [{%s "filters": [{"type": "proxy", "config": {"downstream_protocol": %q, "upstream_protocol": %q, "router_config_name": "r"}}]}]}]
  }],
  "cluster_manager": {"clusters": [{"name": "origin", "type": "SIMPLE", "lb_type": "LB_ROUNDROBIN", "connect_timeout": "1s", %s "hosts": [%s]}]}
}`, chainTLS, down, up, clusterExtra, strings.Join(hs, ","))
}

// h2TLSClient is x/net's HTTP/2 Transport over TLS (ALPN h2) trusting pool.
func h2TLSClient(pool *x509.CertPool) *http.Client {
	return &http.Client{Timeout: 10 * time.Second, Transport: &http2.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
}

// protoEcho answers with the protocol it was asked in, the path and the
// body, and a trailer counting the body.
func protoEcho() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("Trailer", "X-Body-Len")
		fmt.Fprintf(w, "%s %s %d", r.Proto, r.URL.Path, len(body))
		w.Header().Set("X-Body-Len", fmt.Sprint(len(body)))
	})
}

// An Http2 TLS listener advertises ALPN h2 and serves HTTP/2 over TLS to
// x/net's Transport and to curl --http2 (bodies, trailers, direct
// responses), forwarding to an h2c origin.
func TestTLSHTTP2Listener(t *testing.T) {
	f := newTLSFixture(t)
	cert, key := f.issue(t, "srv", tlstest.ECDSA, "127.0.0.1")
	origin := startH2cOrigin(t, protoEcho())
	p := startProxy(t, h2TLSConfig("Http2", "Http2", `"tls_context": `+tlsContext(cert, key, "")+",", "", origin))
	addr := p.addr("in")

	conn, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: f.ca.Pool(), NextProtos: []string{"h2", "http/1.1"}})
	if err != nil {
		t.Fatal(err)
	}
	if got := conn.ConnectionState().NegotiatedProtocol; got != "h2" {
		t.Errorf("ALPN picked %q, want h2", got)
	}
	conn.Close()

	client := h2TLSClient(f.ca.Pool())
	for _, size := range []int{0, 128, 1 << 20} {
		resp, err := client.Post("https://"+addr+"/up", "application/octet-stream", bytes.NewReader(make([]byte, size)))
		if err != nil {
			t.Fatalf("%d B: %v", size, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || resp.Proto != "HTTP/2.0" || string(body) != fmt.Sprintf("HTTP/2.0 /up %d", size) {
			t.Fatalf("%d B: %d %s %q", size, resp.StatusCode, resp.Proto, body)
		}
		if got := resp.Trailer.Get("X-Body-Len"); got != fmt.Sprint(size) {
			t.Errorf("%d B: trailer %q", size, got)
		}
	}
	if status, body := get(t, client, "https://"+addr+"/direct"); status != 200 || body != "direct\n" {
		t.Errorf("direct response: %d %q", status, body)
	}

	curl, err := exec.LookPath("curl")
	if err != nil {
		t.Log("curl not installed: skipping its part")
		return
	}
	if v, _ := exec.Command(curl, "-V").Output(); !bytes.Contains(v, []byte("HTTP2")) {
		t.Log("curl lacks HTTP/2: skipping its part")
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, curl, "-sS", "--http2", "--cacert", f.caPath, "-w", "\n%{http_version} %{http_code}",
		"https://"+addr+"/curl").CombinedOutput()
	if err != nil || string(out) != "HTTP/2.0 /curl 0\n2 200" {
		t.Errorf("curl --http2: %v\n%s", err, out)
	}
}

// An Auto TLS listener with the inspector serves, at once on one port: an
// h2 client (ALPN h2), an HTTP/1.1 client (ALPN http/1.1), Bolt over TLS
// (no ALPN: detected on the decrypted bytes), and plaintext HTTP/1 and h2c
// clients. Each HTTP/2 request goes upstream as HTTP/2, each HTTP/1 one as
// HTTP/1.
func TestTLSAutoALPN(t *testing.T) {
	f := newTLSFixture(t)
	cert, key := f.issue(t, "srv", tlstest.ECDSA, "127.0.0.1")
	origin := startH2cOrigin(t, protoEcho()) // h2c and HTTP/1 on one port
	boltUp := startBoltServer(t, slowAwareEcho)
	p := startProxy(t, fmt.Sprintf(`{
  "servers": [{
    "routers": [{"router_config_name": "r", "virtual_hosts": [{"name": "v", "domains": ["*"], "routers": [
      {"match": {"headers": [{"name": "service", "value": ".*", "regex": true}]}, "route": {"cluster_name": "rpc"}},
      {"match": {"prefix": "/"}, "route": {"cluster_name": "web"}}]}]}],
    "listeners": [{"name": "auto", "address": "127.0.0.1:0", "inspector": true, "filter_chains": [{"tls_context": %s,
      "filters": [{"type": "proxy", "config": {"downstream_protocol": "Auto", "router_config_name": "r"}}]}]}]
  }],
  "cluster_manager": {"clusters": [
    {"name": "web", "hosts": [{"address": %q}]},
    {"name": "rpc", "hosts": [{"address": %q}]}]}
}`, tlsContext(cert, key, ""), origin, boltUp))
	addr := p.addr("auto")
	h1TLS := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: f.ca.Pool(), NextProtos: []string{"http/1.1"}}}}
	clients := []struct {
		name, url, proto string
		c                *http.Client
	}{
		{"h2 over TLS", "https://" + addr, "HTTP/2.0", h2TLSClient(f.ca.Pool())},
		{"HTTP/1.1 over TLS", "https://" + addr, "HTTP/1.1", h1TLS},
		{"plaintext HTTP/1.1", "http://" + addr, "HTTP/1.1", newClient()},
		{"plaintext h2c", "http://" + addr, "HTTP/2.0", h2cClient()},
	}
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for _, cl := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 20 {
				path := fmt.Sprintf("/%d", i)
				resp, err := cl.c.Get(cl.url + path)
				if err != nil {
					errs <- fmt.Errorf("%s: %v", cl.name, err)
					return
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.Proto != cl.proto || string(body) != cl.proto+" "+path+" 0" {
					errs <- fmt.Errorf("%s: %s %d %q", cl.name, resp.Proto, resp.StatusCode, body)
					return
				}
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		conn, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: f.ca.Pool()}) // no ALPN
		if err != nil {
			errs <- fmt.Errorf("bolt over TLS: %v", err)
			return
		}
		c := boltrpc.NewClient(conn)
		defer c.Close()
		for i := range 20 {
			want := fmt.Sprintf("call %d", i)
			resp, err := c.Call(context.Background(), &boltrpc.Request{Service: "com.example.Echo:1.0", Method: "echo", Content: []byte(want)})
			if err != nil || string(resp.Content) != want {
				errs <- fmt.Errorf("bolt over TLS: %+v %v", resp, err)
				return
			}
		}
	}()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	// ALPN decides, not the bytes: a client that agreed on h2 and then
	// speaks HTTP/1 meets the HTTP/2 server, which closes the connection
	// (detection would have served it as HTTP/1).
	conn, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: f.ca.Pool(), NextProtos: []string{"h2"}})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	io.WriteString(conn, "GET /x HTTP/1.1\r\nHost: a\r\n\r\n")
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if got, _ := io.ReadAll(conn); bytes.Contains(got, []byte("HTTP/1.1")) {
		t.Errorf("HTTP/1 after ALPN h2 was served as HTTP/1: %q", got)
	}
	st := &p.tlsListener(t, "auto").Stats
	if st.Handshakes.Load() < 3 || st.Plaintext.Load() < 2 {
		t.Errorf("handshakes %d, plaintext connections %d: want TLS and plaintext clients both served",
			st.Handshakes.Load(), st.Plaintext.Load())
	}
}

// startTLSH2Origin runs an HTTP/2-over-TLS origin (net/http with x/net's
// server, ALPN h2) that requires a client certificate from clientCA when
// set; it answers with the protocol and the client's name, and counts its
// connections.
func startTLSH2Origin(t *testing.T, cert tls.Certificate, clientCA *x509.CertPool) (string, *atomic.Int64) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var conns atomic.Int64
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"h2"}}
	if clientCA != nil {
		cfg.ClientAuth, cfg.ClientCAs = tls.RequireAndVerifyClientCert, clientCA
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		peer := ""
		if len(r.TLS.PeerCertificates) > 0 {
			peer = r.TLS.PeerCertificates[0].Subject.CommonName
		}
		fmt.Fprintf(w, "%s over TLS, client %s", r.Proto, peer)
	}), TLSConfig: cfg, ConnState: func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}}
	if err := http2.ConfigureServer(srv, &http2.Server{}); err != nil {
		t.Fatal(err)
	}
	go srv.Serve(tls.NewListener(ln, cfg))
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String(), &conns
}

// A cluster's tls_context takes HTTP/2 upstream over TLS: h2c and HTTP/1
// clients (the latter converted to HTTP/2) reach an origin that speaks h2
// only over TLS and requires a client certificate, on pooled multiplexed
// connections. A host without h2, an untrusted one and a missing client
// certificate are connect failures with a log line naming the reason.
func TestTLSClusterHTTP2(t *testing.T) {
	f := newTLSFixture(t)
	originCert := f.ca.Issue(t, tlstest.ECDSA, "origin.internal", "127.0.0.1").TLS(t)
	clientCert, clientKey := f.issue(t, "client", tlstest.ECDSA, "mesh-client")
	origin, conns := startTLSH2Origin(t, originCert, f.ca.Pool())
	good := fmt.Sprintf(`"tls_context": {"status": true, "server_name": "origin.internal", "ca_cert": %q, "cert_chain": %q, "private_key": %q},`,
		f.caPath, clientCert, clientKey)
	for _, tt := range []struct {
		name, down string
		client     *http.Client
	}{{"h2c", "Http2", h2cClient()}, {"http1 to http2", "Http1", newClient()}} {
		t.Run(tt.name, func(t *testing.T) {
			conns.Store(0)
			p := startProxy(t, h2TLSConfig(tt.down, "Http2", "", good, origin))
			if status, body := get(t, tt.client, p.url("in", "/first")); status != 200 || body != "HTTP/2.0 over TLS, client mesh-client" {
				t.Fatalf("first: %d %q", status, body)
			}
			// The h2c client's streams share its one connection, so one
			// pool: they go concurrently. The HTTP/1 client's requests
			// follow each other on one keep-alive connection.
			var wg sync.WaitGroup
			errs := make(chan string, 40)
			for range 40 {
				wg.Add(1)
				one := func() {
					defer wg.Done()
					resp, err := tt.client.Get(p.url("in", "/x"))
					if err != nil {
						errs <- err.Error()
						return
					}
					body, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					if resp.StatusCode != 200 || string(body) != "HTTP/2.0 over TLS, client mesh-client" {
						errs <- fmt.Sprintf("%d %q", resp.StatusCode, body)
					}
				}
				if tt.down == "Http2" {
					go one()
				} else {
					one()
				}
			}
			wg.Wait()
			close(errs)
			for e := range errs {
				t.Error(e)
			}
			// Pooled and multiplexed: one connection, one handshake.
			if n := conns.Load(); n != 1 {
				t.Errorf("origin saw %d connections for 41 requests, want 1", n)
			}
			for _, c := range p.clusters.load().Clusters() {
				if n := c.TLS.Stats.Handshakes.Load(); n != 1 {
					t.Errorf("%d upstream handshakes, want 1", n)
				}
			}
		})
	}

	t.Run("no client certificate", func(t *testing.T) {
		noCert := fmt.Sprintf(`"tls_context": {"status": true, "server_name": "origin.internal", "ca_cert": %q},`, f.caPath)
		p := startProxy(t, h2TLSConfig("Http2", "Http2", "", noCert, origin))
		// TLS 1.3 tells a client of its refused certificate after the
		// handshake, on the first read: the stream fails then.
		if status, _ := get(t, h2cClient(), p.url("in", "/x")); status != 503 && status != 502 {
			t.Errorf("origin refusing our missing client certificate: status %d, want 503", status)
		}
	})
	t.Run("untrusted origin", func(t *testing.T) {
		otherCA := tlstest.NewCA(t, "untrusted CA")
		untrusted, _ := startTLSH2Origin(t, otherCA.Issue(t, tlstest.ECDSA, "origin.internal").TLS(t), nil)
		p := startProxy(t, h2TLSConfig("Http2", "Http2", "", good, untrusted))
		if status, _ := get(t, h2cClient(), p.url("in", "/x")); status != 503 {
			t.Errorf("untrusted origin: status %d, want 503", status)
		}
		waitFor(t, "the log line", func() bool {
			l := p.log.String()
			return strings.Contains(l, "upstream TLS handshake failed") && strings.Contains(l, "reason=bad_certificate")
		})
	})
	t.Run("origin without h2", func(t *testing.T) {
		h1only := startTLSH1Origin(t, originCert, []string{"http/1.1"})
		noALPN := startTLSH1Origin(t, originCert, nil)
		for _, tt := range []struct{ alpn, origin, reason string }{
			{"", h1only, "no application protocol"},
			{`, "alpn": "h2,http/1.1"`, h1only, "did not pick h2 by ALPN (offered h2,http/1.1, picked http/1.1)"},
			{"", noALPN, "did not pick h2 by ALPN (offered h2, picked none)"},
		} {
			ctx := fmt.Sprintf(`"tls_context": {"status": true, "server_name": "origin.internal", "ca_cert": %q%s},`, f.caPath, tt.alpn)
			p := startProxy(t, h2TLSConfig("Http1", "Http2", "", ctx, tt.origin))
			if status, body := get(t, newClient(), p.url("in", "/x")); status != 503 {
				t.Errorf("alpn %q: origin without h2: %d %q, want 503", tt.alpn, status, body)
			}
			waitFor(t, "the log line", func() bool {
				l := p.log.String()
				return strings.Contains(l, "upstream TLS handshake failed") && strings.Contains(l, "reason=alpn") && strings.Contains(l, tt.reason)
			})
		}
	})
}

// startTLSH1Origin runs an HTTP/1.1-only origin over TLS advertising
// nextProtos with ALPN (nil: no ALPN at all).
func startTLSH1Origin(t *testing.T, cert tls.Certificate, nextProtos []string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: nextProtos}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, r.Proto) }),
		TLSNextProto: map[string]func(*http.Server, *tls.Conn, http.Handler){}} // no h2
	go srv.Serve(tls.NewListener(ln, cfg))
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

// startGRPCTLSOrigin runs the interop TestService over TLS, requiring a
// client certificate from clientCA when set.
func startGRPCTLSOrigin(t *testing.T, cert tls.Certificate, clientCA *x509.CertPool) string {
	t.Helper()
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}}
	if clientCA != nil {
		cfg.ClientAuth, cfg.ClientCAs = tls.RequireAndVerifyClientCert, clientCA
	}
	srv := grpc.NewServer(grpc.Creds(credentials.NewTLS(cfg)))
	testgrpc.RegisterTestServiceServer(srv, interop.NewTestServer())
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(srv.Stop)
	return ln.Addr().String()
}

// gRPC over TLS both ways: grpc-go with TLS credentials (it insists on
// ALPN h2) through a TLS listener, to the interop server over TLS with a
// client certificate, and to a plaintext one; unary and streaming calls.
// An origin whose certificate is not trusted is UNAVAILABLE.
func TestTLSGRPC(t *testing.T) {
	f := newTLSFixture(t)
	cert, key := f.issue(t, "srv", tlstest.ECDSA, "127.0.0.1")
	originCert := f.ca.Issue(t, tlstest.ECDSA, "origin.internal").TLS(t)
	clientCert, clientKey := f.issue(t, "client", tlstest.ECDSA, "mesh-client")
	listenerTLS := `"tls_context": ` + tlsContext(cert, key, "") + ","
	clusterTLS := fmt.Sprintf(`"tls_context": {"status": true, "server_name": "origin.internal", "ca_cert": %q, "cert_chain": %q, "private_key": %q},`,
		f.caPath, clientCert, clientKey)
	creds := credentials.NewTLS(&tls.Config{RootCAs: f.ca.Pool()})
	dial := func(t *testing.T, addr string, creds credentials.TransportCredentials) testgrpc.TestServiceClient {
		cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(creds))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cc.Close() })
		return testgrpc.NewTestServiceClient(cc)
	}
	calls := func(t *testing.T, tc testgrpc.TestServiceClient) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		interopEveryKind(ctx, tc)
		interop.DoStatusCodeAndMessage(ctx, tc)
	}
	t.Run("TLS in, TLS with client certificate out", func(t *testing.T) {
		origin := startGRPCTLSOrigin(t, originCert, f.ca.Pool())
		p := startProxy(t, h2TLSConfig("Http2", "Http2", listenerTLS, clusterTLS, origin))
		calls(t, dial(t, p.addr("in"), creds))
	})
	t.Run("TLS in, h2c out", func(t *testing.T) {
		o := startGRPCOrigin(t)
		p := startProxy(t, h2TLSConfig("Http2", "Http2", listenerTLS, "", o.addr))
		calls(t, dial(t, p.addr("in"), creds))
	})
	t.Run("h2c in, untrusted origin", func(t *testing.T) {
		otherCA := tlstest.NewCA(t, "untrusted CA")
		untrusted := startGRPCTLSOrigin(t, otherCA.Issue(t, tlstest.ECDSA, "origin.internal").TLS(t), nil)
		p := startProxy(t, h2TLSConfig("Http2", "Http2", "", clusterTLS, untrusted))
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, err := dial(t, p.addr("in"), insecure.NewCredentials()).EmptyCall(ctx, &testpb.Empty{})
		if status.Code(err) != codes.Unavailable {
			t.Fatalf("untrusted origin: %v, want UNAVAILABLE", err)
		}
		waitFor(t, "the log line", func() bool { return strings.Contains(p.log.String(), "reason=bad_certificate") })
	})
}

// An Http2 listener with the inspector serves h2 over TLS (ALPN) and h2c
// in plaintext on one port, at once.
func TestTLSHTTP2Inspector(t *testing.T) {
	f := newTLSFixture(t)
	cert, key := f.issue(t, "srv", tlstest.ECDSA, "127.0.0.1")
	origin := startH2cOrigin(t, protoEcho())
	cfg := h2TLSConfig("Http2", "Http2", `"tls_context": `+tlsContext(cert, key, "")+",", "", origin)
	cfg = strings.Replace(cfg, `"address": "127.0.0.1:0",`, `"address": "127.0.0.1:0", "inspector": true,`, 1)
	p := startProxy(t, cfg)
	addr := p.addr("in")
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	for _, cl := range []struct {
		url string
		c   *http.Client
	}{{"https://" + addr, h2TLSClient(f.ca.Pool())}, {"http://" + addr, h2cClient()}} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 20 {
				path := fmt.Sprintf("/%d", i)
				resp, err := cl.c.Get(cl.url + path)
				if err != nil {
					errs <- err
					return
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if string(body) != "HTTP/2.0 "+path+" 0" {
					errs <- fmt.Errorf("%s%s: %d %q", cl.url, path, resp.StatusCode, body)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	st := &p.tlsListener(t, "in").Stats
	if st.Handshakes.Load() != 1 || st.Plaintext.Load() != 1 {
		t.Errorf("handshakes %d, plaintext connections %d: want one of each", st.Handshakes.Load(), st.Plaintext.Load())
	}
}

// An h2 client over TLS that stops reading its socket holds up only
// itself: another client's stream, on the same upstream connection, is
// answered meanwhile (a TLS record can't be written in part, so the proxy
// writes to that client only what its socket takes and leaves the rest to
// the connection's flusher).
func TestTLSHTTP2SlowReader(t *testing.T) {
	f := newTLSFixture(t)
	cert, key := f.issue(t, "srv", tlstest.ECDSA, "127.0.0.1")
	origin := startH2cOrigin(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/big" {
			io.WriteString(w, "small")
			return
		}
		buf := make([]byte, 1<<20)
		for range 256 {
			if _, err := w.Write(buf); err != nil {
				return
			}
		}
	}))
	p := startProxy(t, h2TLSConfig("Http2", "Http2", `"tls_context": `+tlsContext(cert, key, "")+",", "", origin))
	addr := p.addr("in")
	// The stalled client: a window as large as HTTP/2 allows, one request,
	// and not a byte read after that.
	raw, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: f.ca.Pool(), NextProtos: []string{"h2"}})
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	io.WriteString(raw, http2.ClientPreface)
	fr := http2.NewFramer(raw, nil)
	fr.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 1<<31 - 1})
	fr.WriteWindowUpdate(0, 1<<31-1-65535)
	var hb bytes.Buffer
	enc := hpack.NewEncoder(&hb)
	for _, f := range [][2]string{{":method", "GET"}, {":scheme", "https"}, {":authority", "a"}, {":path", "/big"}} {
		enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
	}
	fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: hb.Bytes(), EndStream: true, EndHeaders: true})
	// Wait until the proxy has had more for that client than its socket
	// takes and stopped pulling (it queues at most 1 MiB for a peer that
	// does not read, then the stream waits within its window).
	up := p.pools.ClusterCounters("origin")
	var last uint64
	waitFor(t, "the big response to fill the stalled client's socket and stall", func() bool {
		n := up.BytesIn.Load()
		stalled := n > 1<<20 && n == last
		last = n
		if !stalled {
			time.Sleep(100 * time.Millisecond)
		}
		return stalled
	})
	// Clients on both event loops (netpoll) or the one pool (goroutines).
	client := h2TLSClient(f.ca.Pool())
	for i := range 4 {
		client.Transport.(*http2.Transport).CloseIdleConnections()
		if status, body := get(t, client, fmt.Sprintf("https://%s/small/%d", addr, i)); status != 200 || body != "small" {
			t.Fatalf("another client while one does not read: %d %q", status, body)
		}
	}
}

// Many requests that need a connection to a TLS HTTP/2 host at once share
// one dial per pool (one pool per event loop): the TLS handshake takes a
// while, and each waiting request used to dial its own connection.
func TestTLSClusterHTTP2FirstDialShared(t *testing.T) {
	f := newTLSFixture(t)
	originCert := f.ca.Issue(t, tlstest.ECDSA, "origin.internal", "127.0.0.1").TLS(t)
	clientCert, clientKey := f.issue(t, "client", tlstest.ECDSA, "mesh-client")
	origin, conns := startTLSH2Origin(t, originCert, f.ca.Pool())
	cluster := fmt.Sprintf(`"tls_context": {"status": true, "server_name": "origin.internal", "ca_cert": %q, "cert_chain": %q, "private_key": %q},`,
		f.caPath, clientCert, clientKey)
	p := startProxy(t, h2TLSConfig("Http1", "Http2", "", cluster, origin))
	var wg sync.WaitGroup
	errs := make(chan string, 40)
	start := make(chan struct{})
	for range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := newClient() // a connection each: the requests reach the proxy at once
			<-start
			status, body := get(t, c, p.url("in", "/x"))
			if status != 200 || body != "HTTP/2.0 over TLS, client mesh-client" {
				errs <- fmt.Sprintf("%d %q", status, body)
			}
		}()
	}
	close(start)
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	if n, most := conns.Load(), int64(runtime.GOMAXPROCS(0)); n > most {
		t.Errorf("origin saw %d connections for 40 requests at once, want at most one per event loop (%d)", n, most)
	}
}
