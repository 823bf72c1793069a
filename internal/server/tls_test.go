package server

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mosnctl/mosnctl/internal/boltrpc"
	"github.com/mosnctl/mosnctl/internal/protocol/bolt"
	mosntls "github.com/mosnctl/mosnctl/internal/tls"
	"github.com/mosnctl/mosnctl/internal/tls/tlstest"
)

// tlsFixture is a CA and certificates written to a temp dir.
type tlsFixture struct {
	dir    string
	ca     *tlstest.CA
	caPath string
}

func newTLSFixture(t *testing.T) *tlsFixture {
	t.Helper()
	dir := t.TempDir()
	ca := tlstest.NewCA(t, "mosnctl test CA")
	return &tlsFixture{dir: dir, ca: ca, caPath: ca.WriteCA(t, dir, "ca")}
}

// issue writes a certificate for names and returns its cert and key paths.
func (f *tlsFixture) issue(t *testing.T, name string, kt tlstest.KeyType, names ...string) (string, string) {
	t.Helper()
	return f.ca.Issue(t, kt, names...).Write(t, f.dir, name)
}

// tlsProxyConfig is an HTTP/1 listener "in" with the given filter chain
// TLS fields and listener extras, answering /direct itself and sending the
// rest to cluster "origin" (hosts, cluster extras).
func tlsProxyConfig(listenerExtra, chainTLS, clusterExtra string, hosts ...string) string {
	var hs []string
	for _, h := range hosts {
		hs = append(hs, fmt.Sprintf(`{"address": %q}`, h))
	}
	if len(hs) == 0 {
		hs = []string{`{"address": "127.0.0.1:1"}`}
	}
	return fmt.Sprintf(`{
  "servers": [{
    "routers": [{"router_config_name": "r", "virtual_hosts": [{"name": "v", "domains": ["*"], "routers": [
      {"match": {"prefix": "/direct"}, "direct_response": {"status": 200, "body": "direct\n"}},
      {"match": {"prefix": "/"}, "route": {"cluster_name": "origin"}}
    ]}]}],
    "listeners": [{"name": "in", "address": "127.0.0.1:0", %s
      "filter_chains": [{%s "filters": [{"type": "proxy", "config": {"downstream_protocol": "Http1", "router_config_name": "r"}}]}]}]
  }],
  "cluster_manager": {"clusters": [{"name": "origin", "type": "SIMPLE", "connect_timeout": "1s", %s "hosts": [%s]}]}
}`, listenerExtra, chainTLS, clusterExtra, strings.Join(hs, ","))
}

func tlsContext(cert, key, extra string) string {
	return fmt.Sprintf(`{"status": true, "cert_chain": %q, "private_key": %q%s}`, cert, key, extra)
}

// httpsGet sends GET path over a new TLS connection made with cfg and
// returns the status, body and connection state.
func httpsGet(t *testing.T, addr string, cfg *tls.Config, path string) (int, string, tls.ConnectionState, error) {
	t.Helper()
	tr := &http.Transport{TLSClientConfig: cfg, DisableKeepAlives: true, ForceAttemptHTTP2: false}
	var state tls.ConnectionState
	tr.DialTLSContext = func(ctx context.Context, network, a string) (net.Conn, error) {
		d := tls.Dialer{Config: cfg}
		c, err := d.DialContext(ctx, network, addr)
		if err == nil {
			state = c.(*tls.Conn).ConnectionState()
		}
		return c, err
	}
	client := &http.Client{Transport: tr, Timeout: 5 * time.Second}
	host := cfg.ServerName
	if host == "" {
		host = "127.0.0.1"
	}
	resp, err := client.Get("https://" + host + path)
	if err != nil {
		return 0, "", state, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), state, nil
}

func (p *proxyUnderTest) tlsListener(t *testing.T, name string) *mosntls.Listener {
	t.Helper()
	for _, rl := range p.listeners() {
		if rl.cfg.Name == name && rl.tls != nil {
			return rl.tls
		}
	}
	t.Fatalf("listener %s has no TLS", name)
	return nil
}

// SNI picks among a tls_context_set's certificates (exact name, wildcard,
// the first as default); TLS 1.3 is negotiated, TLS 1.1 refused; ALPN
// offers only HTTP/1.1.
func TestTLSListenerSNI(t *testing.T) {
	f := newTLSFixture(t)
	aCert, aKey := f.issue(t, "a", tlstest.ECDSA, "a.example", "127.0.0.1")
	bCert, bKey := f.issue(t, "b", tlstest.RSA, "b.example")
	wCert, wKey := f.issue(t, "w", tlstest.ECDSA, "*.wild.example")
	p := startProxy(t, tlsProxyConfig("", fmt.Sprintf(`"tls_context_set": [%s, %s, %s],`,
		tlsContext(aCert, aKey, ""), tlsContext(bCert, bKey, ""), tlsContext(wCert, wKey, "")), ""))
	addr := p.addr("in")
	for _, tt := range []struct {
		sni, wantCN string
		rsa         bool
	}{
		{"a.example", "a.example", false},
		{"b.example", "b.example", true},
		{"x.wild.example", "*.wild.example", false},
		{"unknown.example", "a.example", false},
		{"", "a.example", false},
	} {
		cfg := &tls.Config{RootCAs: f.ca.Pool(), ServerName: tt.sni, NextProtos: []string{"h2", "http/1.1"}}
		if tt.sni == "" || tt.sni == "unknown.example" {
			cfg.InsecureSkipVerify = true // the default certificate is not for this name
		}
		status, body, st, err := httpsGet(t, addr, cfg, "/direct")
		if err != nil {
			t.Fatalf("sni %q: %v", tt.sni, err)
		}
		if status != 200 || body != "direct\n" {
			t.Errorf("sni %q: %d %q", tt.sni, status, body)
		}
		leaf := st.PeerCertificates[0]
		if leaf.Subject.CommonName != tt.wantCN {
			t.Errorf("sni %q: got certificate %q, want %q", tt.sni, leaf.Subject.CommonName, tt.wantCN)
		}
		if _, isRSA := leaf.PublicKey.(interface{ Size() int }); isRSA != tt.rsa {
			t.Errorf("sni %q: RSA key %v, want %v", tt.sni, isRSA, tt.rsa)
		}
		if st.Version != tls.VersionTLS13 {
			t.Errorf("sni %q: version %x, want TLS 1.3", tt.sni, st.Version)
		}
		if st.NegotiatedProtocol != "http/1.1" {
			t.Errorf("sni %q: ALPN %q, want http/1.1 (an Http1 listener)", tt.sni, st.NegotiatedProtocol)
		}
	}
	// TLS 1.1 is refused during the handshake.
	old := &tls.Config{RootCAs: f.ca.Pool(), ServerName: "a.example", MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11}
	if _, _, _, err := httpsGet(t, addr, old, "/direct"); err == nil {
		t.Fatal("TLS 1.1 handshake succeeded")
	}
	// TLS 1.2 still works, and sessions resume.
	cache := tls.NewLRUClientSessionCache(4)
	v12 := &tls.Config{RootCAs: f.ca.Pool(), ServerName: "a.example", MaxVersion: tls.VersionTLS12, ClientSessionCache: cache}
	for i := range 2 {
		_, _, st, err := httpsGet(t, addr, v12, "/direct")
		if err != nil || st.Version != tls.VersionTLS12 {
			t.Fatalf("TLS 1.2: %v %x", err, st.Version)
		}
		if i == 1 && !st.DidResume {
			t.Error("second TLS 1.2 connection did not resume its session (session tickets)")
		}
	}
	stats := &p.tlsListener(t, "in").Stats
	waitFor(t, "handshake counters", func() bool {
		return stats.Handshakes.Load() >= 7 && stats.Failures[mosntls.ReasonVersion].Load() == 1 && stats.Resumed.Load() >= 1
	})
}

// mTLS: require_client_cert refuses a client without a certificate, and
// one signed by another CA; a client with a good certificate is served.
func TestTLSMutual(t *testing.T) {
	f := newTLSFixture(t)
	cert, key := f.issue(t, "srv", tlstest.ECDSA, "127.0.0.1")
	client := f.ca.Issue(t, tlstest.ECDSA, "client", "spiffe://mesh.local/ns/a/sa/b").TLS(t)
	stranger := tlstest.NewCA(t, "other CA").Issue(t, tlstest.ECDSA, "client").TLS(t)
	p := startProxy(t, tlsProxyConfig("", fmt.Sprintf(`"tls_context": %s,`,
		tlsContext(cert, key, fmt.Sprintf(`, "ca_cert": %q, "verify_client": true, "require_client_cert": true`, f.caPath))), ""))
	addr := p.addr("in")
	base := &tls.Config{RootCAs: f.ca.Pool()}
	if _, _, _, err := httpsGet(t, addr, base, "/direct"); err == nil {
		t.Fatal("client without a certificate was served")
	}
	bad := base.Clone()
	// Sent even though its issuer is not among the CAs the server asks for.
	bad.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &stranger, nil }
	if _, _, _, err := httpsGet(t, addr, bad, "/direct"); err == nil {
		t.Fatal("client with an untrusted certificate was served")
	}
	good := base.Clone()
	good.Certificates = []tls.Certificate{client}
	status, body, _, err := httpsGet(t, addr, good, "/direct")
	if err != nil || status != 200 || body != "direct\n" {
		t.Fatalf("client with a certificate: %v %d %q", err, status, body)
	}
	stats := &p.tlsListener(t, "in").Stats
	waitFor(t, "failure counters", func() bool {
		return stats.Failures[mosntls.ReasonNoClientCert].Load() == 1 && stats.Failures[mosntls.ReasonBadCertificate].Load() == 1
	})
	if !strings.Contains(p.log.String(), "TLS handshake failed") {
		t.Error("no log line for the refused handshakes")
	}
}

// With the inspector, plaintext HTTP and TLS clients share one port; the
// protocol detector of an Auto listener sees the decrypted stream.
func TestTLSInspector(t *testing.T) {
	f := newTLSFixture(t)
	cert, key := f.issue(t, "srv", tlstest.ECDSA, "127.0.0.1")
	for _, proto := range []string{"Http1", "Auto"} {
		t.Run(proto, func(t *testing.T) {
			cfg := tlsProxyConfig(`"inspector": true,`, fmt.Sprintf(`"tls_context": %s,`, tlsContext(cert, key, "")), "")
			cfg = strings.Replace(cfg, `"downstream_protocol": "Http1"`, `"downstream_protocol": "`+proto+`"`, 1)
			p := startProxy(t, cfg)
			addr := p.addr("in")
			status, body := get(t, newClient(), "http://"+addr+"/direct")
			if status != 200 || body != "direct\n" {
				t.Fatalf("plaintext: %d %q", status, body)
			}
			status, body, st, err := httpsGet(t, addr, &tls.Config{RootCAs: f.ca.Pool()}, "/direct")
			if err != nil || status != 200 || body != "direct\n" || !st.HandshakeComplete {
				t.Fatalf("TLS: %v %d %q", err, status, body)
			}
			stats := &p.tlsListener(t, "in").Stats
			if stats.Plaintext.Load() != 1 || stats.Handshakes.Load() != 1 {
				t.Errorf("plaintext %d handshakes %d, want 1 and 1", stats.Plaintext.Load(), stats.Handshakes.Load())
			}
		})
	}
}

// Garbage and 200 half-finished handshakes on a TLS port: each costs its
// own connection only, and other clients are served meanwhile.
func TestTLSGarbageAndHalfHandshakes(t *testing.T) {
	f := newTLSFixture(t)
	cert, key := f.issue(t, "srv", tlstest.ECDSA, "127.0.0.1")
	p := startProxy(t, tlsProxyConfig("", fmt.Sprintf(`"tls_context": %s,`, tlsContext(cert, key, "")), ""))
	addr := p.addr("in")
	// A real ClientHello, cut short.
	hello := captureClientHello(t)
	var stuck []net.Conn
	for i := range 200 {
		c := dialRaw(t, addr)
		c.Write(hello[:5+i%(len(hello)-5)])
		stuck = append(stuck, c)
	}
	defer func() {
		for _, c := range stuck {
			c.Close()
		}
	}()
	for _, garbage := range []string{"GET / HTTP/1.1\r\nHost: x\r\n\r\n", "\x16\x03\x01\x00\x05\x02\x00\x00\x00\x00", "\x00\x00\x00\x00\x00\x00\x00\x00"} {
		c := dialRaw(t, addr)
		c.Write([]byte(garbage))
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		b, _ := io.ReadAll(c) // the server answers with an alert at most, then closes
		c.Close()
		if strings.Contains(string(b), "HTTP/1.1 200") {
			t.Errorf("garbage %q was served: %q", garbage, b)
		}
	}
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			status, _, _, err := httpsGet(t, addr, &tls.Config{RootCAs: f.ca.Pool()}, "/direct")
			if err == nil && status != 200 {
				err = fmt.Errorf("status %d", status)
			}
			if err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	stats := &p.tlsListener(t, "in").Stats
	if n := stats.Failures[mosntls.ReasonNotTLS].Load(); n < 2 {
		t.Errorf("not_tls failures %d, want at least 2", n)
	}
	if n := stats.Handshakes.Load(); n != 20 {
		t.Errorf("handshakes %d, want 20", n)
	}
}

// captureClientHello returns the first flight of a Go TLS client.
func captureClientHello(t *testing.T) []byte {
	t.Helper()
	a, b := net.Pipe()
	go func() {
		tls.Client(a, &tls.Config{ServerName: "x"}).Handshake()
		a.Close()
	}()
	b.SetReadDeadline(time.Now().Add(5 * time.Second))
	hdr := make([]byte, 5)
	if _, err := io.ReadFull(b, hdr); err != nil {
		t.Fatal(err)
	}
	body := make([]byte, int(hdr[3])<<8|int(hdr[4]))
	if _, err := io.ReadFull(b, body); err != nil {
		t.Fatal(err)
	}
	b.Close()
	return append(hdr, body...)
}

// startTLSOrigin runs a net/http origin over TLS that requires a client
// certificate from ca when clientCA is set.
func startTLSOrigin(t *testing.T, cert tls.Certificate, clientCA *x509.CertPool) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}}
	if clientCA != nil {
		cfg.ClientAuth, cfg.ClientCAs = tls.RequireAndVerifyClientCert, clientCA
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		peer := ""
		if r.TLS != nil && len(r.TLS.PeerCertificates) > 0 {
			peer = r.TLS.PeerCertificates[0].Subject.CommonName
		}
		if r.URL.RawQuery == "close" {
			w.Header().Set("Connection", "close")
		}
		fmt.Fprintf(w, "origin over TLS, client %s", peer)
	}), TLSConfig: cfg}
	go srv.ServeTLS(ln, "", "")
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

// A cluster's tls_context dials its hosts over TLS with a client
// certificate; a host whose certificate is not trusted is a connect
// failure: 503 and a log line naming the reason.
func TestTLSCluster(t *testing.T) {
	f := newTLSFixture(t)
	originCert := f.ca.Issue(t, tlstest.ECDSA, "origin.internal", "127.0.0.1").TLS(t)
	clientCert, clientKey := f.issue(t, "client", tlstest.ECDSA, "mesh-client")
	origin := startTLSOrigin(t, originCert, f.ca.Pool())
	good := fmt.Sprintf(`"tls_context": {"status": true, "server_name": "origin.internal", "ca_cert": %q, "cert_chain": %q, "private_key": %q},`,
		f.caPath, clientCert, clientKey)
	p := startProxy(t, tlsProxyConfig("", "", good, origin))
	client := newClient()
	for range 3 {
		status, body := get(t, client, p.url("in", "/x"))
		if status != 200 || body != "origin over TLS, client mesh-client" {
			t.Fatalf("through a TLS cluster: %d %q", status, body)
		}
	}
	// Without a client certificate the origin refuses the handshake.
	noCert := fmt.Sprintf(`"tls_context": {"status": true, "server_name": "origin.internal", "ca_cert": %q},`, f.caPath)
	p2 := startProxy(t, tlsProxyConfig("", "", noCert, origin))
	if status, _ := get(t, newClient(), p2.url("in", "/x")); status != 503 && status != 502 {
		t.Errorf("origin refusing our missing client certificate: status %d, want 503", status)
	}
	// An origin signed by a CA the cluster does not trust.
	otherCA := tlstest.NewCA(t, "untrusted CA")
	untrusted := startTLSOrigin(t, otherCA.Issue(t, tlstest.ECDSA, "origin.internal").TLS(t), nil)
	p3 := startProxy(t, tlsProxyConfig("", "", noCert, untrusted))
	if status, _ := get(t, newClient(), p3.url("in", "/x")); status != 503 {
		t.Errorf("untrusted origin: status %d, want 503", status)
	}
	waitFor(t, "the log line", func() bool {
		return strings.Contains(p3.log.String(), "upstream TLS handshake failed") && strings.Contains(p3.log.String(), "reason=bad_certificate")
	})
	// A host with tls_disable is dialled in plaintext in a TLS cluster.
	plain, _ := startOrigin(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "plaintext origin") }))
	cfg := tlsProxyConfig("", "", noCert, plain)
	cfg = strings.Replace(cfg, fmt.Sprintf(`{"address": %q}`, plain), fmt.Sprintf(`{"address": %q, "tls_disable": true}`, plain), 1)
	p5 := startProxy(t, cfg)
	if status, body := get(t, newClient(), p5.url("in", "/x")); status != 200 || body != "plaintext origin" {
		t.Errorf("tls_disable host: %d %q", status, body)
	}
	// insecure_skip trusts any certificate, as asked.
	p4 := startProxy(t, tlsProxyConfig("", "", `"tls_context": {"status": true, "insecure_skip": true},`, untrusted))
	if status, body := get(t, newClient(), p4.url("in", "/x")); status != 200 || !strings.HasPrefix(body, "origin over TLS") {
		t.Errorf("insecure_skip: %d %q", status, body)
	}
}

// curl and openssl s_client against the listener: SNI chooses the
// certificate, TLS 1.3 is negotiated, TLS 1.1 is refused.
func TestTLSWithCurlAndOpenSSL(t *testing.T) {
	curl, errCurl := exec.LookPath("curl")
	openssl, errSSL := exec.LookPath("openssl")
	if errCurl != nil && errSSL != nil {
		t.Skip("neither curl nor openssl installed")
	}
	f := newTLSFixture(t)
	aCert, aKey := f.issue(t, "a", tlstest.ECDSA, "a.example")
	bCert, bKey := f.issue(t, "b", tlstest.RSA, "b.example")
	p := startProxy(t, tlsProxyConfig("", fmt.Sprintf(`"tls_context_set": [%s, %s],`,
		tlsContext(aCert, aKey, ""), tlsContext(bCert, bKey, "")), ""))
	_, port, _ := net.SplitHostPort(p.addr("in"))
	run := func(name string, args ...string) (string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, name, args...)
		cmd.Stdin = strings.NewReader("")
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	if errCurl == nil {
		for _, host := range []string{"a.example", "b.example"} {
			out, err := run(curl, "-sS", "--cacert", f.caPath, "--resolve", host+":"+port+":127.0.0.1",
				"-w", "\n%{http_code} %{ssl_verify_result}", "https://"+host+":"+port+"/direct")
			if err != nil || !strings.HasSuffix(out, "direct\n\n200 0") {
				t.Errorf("curl %s: %v\n%s", host, err, out)
			}
		}
		if out, err := run(curl, "-sS", "-k", "--tlsv1.1", "--tls-max", "1.1", "--resolve", "a.example:"+port+":127.0.0.1",
			"https://a.example:"+port+"/direct"); err == nil {
			t.Errorf("curl with TLS 1.1 was served:\n%s", out)
		}
	}
	if errSSL == nil {
		for _, tt := range []struct{ sni, want string }{{"a.example", "CN=a.example"}, {"b.example", "CN=b.example"}} {
			out, err := run(openssl, "s_client", "-connect", "127.0.0.1:"+port, "-servername", tt.sni, "-CAfile", f.caPath, "-brief")
			if err != nil || !strings.Contains(out, "TLSv1.3") || !strings.Contains(strings.ReplaceAll(out, " = ", "="), tt.want) {
				t.Errorf("openssl s_client -servername %s: %v\n%s", tt.sni, err, out)
			}
		}
		out, err := run(openssl, "s_client", "-connect", "127.0.0.1:"+port, "-servername", "a.example", "-tls1_1")
		if err == nil && !strings.Contains(out, "alert") {
			t.Errorf("openssl with TLS 1.1 was not refused:\n%s", out)
		}
	}
}

// /api/v1/certs lists the certificates in use with their expiry, and
// /metrics has handshake counters by listener and reason and the expiry
// gauge.
func TestTLSAdminAndMetrics(t *testing.T) {
	f := newTLSFixture(t)
	expiry := time.Now().Add(72 * time.Hour).Truncate(time.Second)
	leaf := f.ca.IssueUntil(t, tlstest.ECDSA, expiry, "a.example", "spiffe://mesh.local/ns/web")
	cert, key := leaf.Write(t, f.dir, "srv")
	clientCert, clientKey := f.issue(t, "client", tlstest.ECDSA, "mesh-client")
	p := startProxy(t, tlsProxyConfig("", fmt.Sprintf(`"tls_context": %s,`, tlsContext(cert, key, "")),
		fmt.Sprintf(`"tls_context": {"status": true, "cert_chain": %q, "private_key": %q},`, clientCert, clientKey)))
	c := dialRaw(t, p.addr("in"))
	c.Write([]byte("\x16\x03\x01\x00\x05\x02\x00\x00\x00\x00")) // not a ClientHello
	io.ReadAll(c)
	c.Close()
	if _, _, _, err := httpsGet(t, p.addr("in"), &tls.Config{RootCAs: f.ca.Pool(), ServerName: "a.example"}, "/direct"); err != nil {
		t.Fatal(err)
	}
	admin := "http://" + p.AdminAddr().String()
	_, body := get(t, newClient(), admin+"/api/v1/certs")
	var certs []struct {
		Owner     string    `json:"owner"`
		Names     []string  `json:"names"`
		Serial    string    `json:"serial"`
		NotAfter  time.Time `json:"not_after"`
		ExpiresIn int64     `json:"expires_in_seconds"`
		Source    string    `json:"source"`
	}
	if err := json.Unmarshal([]byte(body), &certs); err != nil || len(certs) != 2 {
		t.Fatalf("certs: %v %s", err, body)
	}
	l := certs[0]
	if l.Owner != "listener in" || !l.NotAfter.Equal(expiry) || l.Serial != leaf.Leaf.SerialNumber.String() || l.Source != cert ||
		strings.Join(l.Names, ",") != "a.example,spiffe://mesh.local/ns/web" || l.ExpiresIn < 71*3600 {
		t.Errorf("listener certificate: %+v", l)
	}
	if certs[1].Owner != "cluster origin" || strings.Join(certs[1].Names, ",") != "mesh-client" {
		t.Errorf("cluster certificate: %+v", certs[1])
	}
	_, metrics := get(t, newClient(), admin+"/metrics")
	for _, want := range []string{
		`mosn_downstream_tls_handshakes_total{listener="in"} 1`,
		`mosn_downstream_tls_handshake_failures_total{listener="in",reason="not_tls"} 1`,
		`mosn_downstream_tls_handshake_failures_total{listener="in",reason="timeout"} 0`,
		fmt.Sprintf(`mosn_tls_cert_expiry_timestamp_seconds{owner="listener in",serial="%s",subject="CN=a.example"} %s`,
			leaf.Leaf.SerialNumber, strconv.FormatFloat(float64(expiry.Unix()), 'g', -1, 64)),
		`mosn_upstream_tls_handshakes_total{cluster="origin"} 0`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

// TLS is terminated for every protocol of the data path: Bolt (answers
// written through the TLS connection) and tcp_proxy (bytes forwarded
// after decryption), in an Auto listener too.
func TestTLSBoltAndTCPProxy(t *testing.T) {
	f := newTLSFixture(t)
	cert, key := f.issue(t, "srv", tlstest.ECDSA, "127.0.0.1")
	boltUp := startBoltServer(t, slowAwareEcho)
	echo := serveTCP(t, func(c net.Conn) { io.Copy(c, c); c.Close() })
	tlsCtx := tlsContext(cert, key, "")
	p := startProxy(t, fmt.Sprintf(`{
  "servers": [{
    "routers": [{"router_config_name": "rpc", "virtual_hosts": [{"name": "v", "domains": ["*"], "routers": [
      {"match": {"headers": [{"name": "service", "value": ".*", "regex": true}]}, "route": {"cluster_name": "rpc"}}]}]}],
    "listeners": [
      {"name": "bolt", "address": "127.0.0.1:0", "filter_chains": [{"tls_context": %[1]s,
        "filters": [{"type": "proxy", "config": {"downstream_protocol": "bolt", "router_config_name": "rpc"}}]}]},
      {"name": "auto", "address": "127.0.0.1:0", "filter_chains": [{"tls_context": %[1]s,
        "filters": [{"type": "proxy", "config": {"downstream_protocol": "Auto", "router_config_name": "rpc"}}]}]},
      {"name": "tcp", "address": "127.0.0.1:0", "filter_chains": [{"tls_context": %[1]s,
        "filters": [{"type": "tcp_proxy", "config": {"cluster": "echo"}}]}]}
    ]
  }],
  "cluster_manager": {"clusters": [
    {"name": "rpc", "hosts": [{"address": %[2]q}]},
    {"name": "echo", "hosts": [{"address": %[3]q}]}]}
}`, tlsCtx, boltUp, echo))
	cfg := &tls.Config{RootCAs: f.ca.Pool()}
	for _, name := range []string{"bolt", "auto"} {
		conn, err := tls.Dial("tcp", p.addr(name), cfg)
		if err != nil {
			t.Fatal(err)
		}
		c := boltrpc.NewClient(conn)
		for i := range 20 {
			want := fmt.Sprintf("call %d", i)
			resp, err := c.Call(context.Background(), &boltrpc.Request{Service: "com.example.Echo:1.0", Method: "echo", Content: []byte(want)})
			if err != nil || string(resp.Content) != want {
				t.Fatalf("%s: bolt over TLS: %+v %v", name, resp, err)
			}
		}
		c.Close()
	}
	conn, err := tls.Dial("tcp", p.addr("tcp"), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	msg := strings.Repeat("tcp over tls ", 5000)
	go conn.Write([]byte(msg))
	got := make([]byte, len(msg))
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(conn, got); err != nil || string(got) != msg {
		t.Fatalf("tcp_proxy over TLS: %v (%d bytes)", err, len(got))
	}
}

// An origin closing an idle pooled TLS connection sends close_notify
// first: the pool drops the connection quietly (no protocol error) and the
// next request goes on a new one.
func TestTLSClusterIdleClose(t *testing.T) {
	f := newTLSFixture(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }),
		IdleTimeout: 50 * time.Millisecond,
		TLSConfig:   &tls.Config{Certificates: []tls.Certificate{f.ca.Issue(t, tlstest.ECDSA, "127.0.0.1").TLS(t)}}}
	go srv.ServeTLS(ln, "", "")
	t.Cleanup(func() { srv.Close() })
	p := startProxy(t, tlsProxyConfig("", "", fmt.Sprintf(`"tls_context": {"status": true, "ca_cert": %q},`, f.caPath), ln.Addr().String()))
	client := newClient()
	for range 3 {
		if status, body := get(t, client, p.url("in", "/")); status != 200 || body != "ok" {
			t.Fatalf("%d %q", status, body)
		}
		time.Sleep(300 * time.Millisecond) // the origin closes the idle connection meanwhile
	}
	if strings.Contains(p.log.String(), "bytes nobody asked for") {
		t.Error("a close_notify on an idle connection was logged as a protocol error")
	}
	for _, c := range p.clusters.load().Clusters() {
		for _, h := range c.Hosts {
			if n := h.ProtocolErrors.Load(); n != 0 {
				t.Errorf("host %s: %d protocol errors", h.Address, n)
			}
		}
		if n := c.TLS.Stats.Handshakes.Load(); n < 3 {
			t.Errorf("%d upstream handshakes, want a new connection per request (3)", n)
		}
	}
}

// A cluster's tls_context originates TLS for Bolt and tcp_proxy as for
// HTTP/1: calls and bytes reach origins that speak only TLS, verified
// against the cluster's CA.
func TestTLSClusterBoltAndTCPProxy(t *testing.T) {
	f := newTLSFixture(t)
	originCert := f.ca.Issue(t, tlstest.ECDSA, "origin.internal").TLS(t)
	serverTLS := &tls.Config{Certificates: []tls.Certificate{originCert}, MinVersion: tls.VersionTLS12}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", serverTLS)
	if err != nil {
		t.Fatal(err)
	}
	bolts := &boltrpc.Server{Handler: boltrpc.EchoHandler}
	go bolts.Serve(ln)
	t.Cleanup(func() { bolts.Close() })
	echoLn, err := tls.Listen("tcp", "127.0.0.1:0", serverTLS)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { echoLn.Close() })
	go func() {
		for {
			c, err := echoLn.Accept()
			if err != nil {
				return
			}
			go func() { io.Copy(c, c); c.Close() }()
		}
	}()
	clusterTLS := fmt.Sprintf(`"tls_context": {"status": true, "server_name": "origin.internal", "ca_cert": %q}`, f.caPath)
	p := startProxy(t, fmt.Sprintf(`{
  "servers": [{
    "routers": [{"router_config_name": "rpc", "virtual_hosts": [{"name": "v", "domains": ["*"], "routers": [
      {"match": {"headers": [{"name": "service", "value": ".*", "regex": true}]}, "route": {"cluster_name": "rpc"}}]}]}],
    "listeners": [
      {"name": "bolt", "address": "127.0.0.1:0", "filter_chains": [{
        "filters": [{"type": "proxy", "config": {"downstream_protocol": "bolt", "router_config_name": "rpc"}}]}]},
      {"name": "tcp", "address": "127.0.0.1:0", "filter_chains": [{
        "filters": [{"type": "tcp_proxy", "config": {"cluster": "echo"}}]}]}
    ]
  }],
  "cluster_manager": {"clusters": [
    {"name": "rpc", %[1]s, "hosts": [{"address": %[2]q}]},
    {"name": "echo", %[1]s, "hosts": [{"address": %[3]q}]}]}
}`, clusterTLS, ln.Addr().String(), echoLn.Addr().String()))
	c, err := boltrpc.Dial(context.Background(), p.addr("bolt"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for i := range 10 {
		want := fmt.Sprint("call ", i)
		resp, err := c.Call(context.Background(), &boltrpc.Request{Service: "com.example.Echo:1.0", Content: []byte(want), Timeout: 5 * time.Second})
		if err != nil || resp.Status != bolt.StatusSuccess || string(resp.Content) != want {
			t.Fatalf("bolt to a TLS origin: %+v %v", resp, err)
		}
	}
	conn := dialRaw(t, p.addr("tcp"))
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(conn, "over tls")
	got := make([]byte, len("over tls"))
	if _, err := io.ReadFull(conn, got); err != nil || string(got) != "over tls" {
		t.Fatalf("tcp_proxy to a TLS origin: %q %v", got, err)
	}
}
