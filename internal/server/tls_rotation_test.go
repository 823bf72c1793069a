package server

import (
	"crypto/tls"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mosnctl/mosnctl/internal/tls/tlstest"
)

// tlsLoad sends requests over keep-alive and new TLS connections until
// stop, counting failures; it reports the serial numbers it was served.
type tlsLoad struct {
	ok, failed atomic.Uint64
	stop       chan struct{}
	wg         sync.WaitGroup
	mu         sync.Mutex
	lastErr    error
}

func startTLSLoad(t *testing.T, addr string, cfg *tls.Config) *tlsLoad {
	l := &tlsLoad{stop: make(chan struct{})}
	for i := range 4 {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			keepAlive := i%2 == 0
			tr := &http.Transport{TLSClientConfig: cfg, DisableKeepAlives: !keepAlive}
			defer tr.CloseIdleConnections()
			c := &http.Client{Transport: tr, Timeout: 5 * time.Second}
			for {
				select {
				case <-l.stop:
					return
				default:
				}
				resp, err := c.Get("https://" + addr + "/direct")
				if err == nil {
					resp.Body.Close()
					if resp.StatusCode != 200 {
						err = fmt.Errorf("status %d", resp.StatusCode)
					}
				}
				if err != nil {
					l.failed.Add(1)
					l.mu.Lock()
					l.lastErr = err
					l.mu.Unlock()
					continue
				}
				l.ok.Add(1)
			}
		}()
	}
	return l
}

func (l *tlsLoad) finish(t *testing.T) {
	t.Helper()
	close(l.stop)
	l.wg.Wait()
	if n := l.failed.Load(); n > 0 {
		t.Errorf("%d of %d requests failed during rotation, last: %v", n, n+l.ok.Load(), l.lastErr)
	}
	if l.ok.Load() == 0 {
		t.Error("no request succeeded")
	}
}

// servedSerial is the serial number of the certificate a new connection
// gets.
func servedSerial(t *testing.T, addr string, ca *tlstest.CA) string {
	t.Helper()
	c, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: ca.Pool()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.ConnectionState().PeerCertificates[0].SerialNumber.String()
}

// A certificate file replaced on disk is served to new connections
// without a reload, while a load runs without a failed request; a bad file
// keeps the certificate served before.
func TestTLSRotationByFileChange(t *testing.T) {
	f := newTLSFixture(t)
	first := f.ca.Issue(t, tlstest.ECDSA, "127.0.0.1")
	cert, key := first.Write(t, f.dir, "srv")
	p := startProxy(t, tlsProxyConfig("", fmt.Sprintf(`"tls_context": %s,`, tlsContext(cert, key, "")), ""))
	addr := p.addr("in")
	if got := servedSerial(t, addr, f.ca); got != first.Leaf.SerialNumber.String() {
		t.Fatalf("serial %s, want %s", got, first.Leaf.SerialNumber)
	}
	load := startTLSLoad(t, addr, &tls.Config{RootCAs: f.ca.Pool()})
	second := f.ca.Issue(t, tlstest.RSA, "127.0.0.1")
	second.Write(t, f.dir, "srv") // key then cert, each renamed into place
	waitFor(t, "the new certificate", func() bool { return servedSerial(t, addr, f.ca) == second.Leaf.SerialNumber.String() })
	tlstest.WriteFile(t, cert, []byte("garbage\n"))
	waitFor(t, "the log line", func() bool { return strings.Contains(p.log.String(), "do not load; the old certificates stay") })
	if got := servedSerial(t, addr, f.ca); got != second.Leaf.SerialNumber.String() {
		t.Errorf("after a bad file: serial %s, want the previous %s", got, second.Leaf.SerialNumber)
	}
	time.Sleep(100 * time.Millisecond) // some load on the kept certificate
	load.finish(t)
}

// A reload (SIGHUP) reads certificate files again, for listeners and
// clusters; a bad file refuses the reload and the old certificate stays.
func TestTLSRotationByReload(t *testing.T) {
	f := newTLSFixture(t)
	originCert := f.ca.Issue(t, tlstest.ECDSA, "127.0.0.1").TLS(t)
	origin := startTLSOrigin(t, originCert, f.ca.Pool())
	first := f.ca.Issue(t, tlstest.ECDSA, "127.0.0.1")
	cert, key := first.Write(t, f.dir, "srv")
	clientCert, clientKey := f.ca.Issue(t, tlstest.ECDSA, "client-one").Write(t, f.dir, "client")
	cluster := fmt.Sprintf(`"tls_context": {"status": true, "ca_cert": %q, "cert_chain": %q, "private_key": %q},`, f.caPath, clientCert, clientKey)
	cfgJSON := tlsProxyConfig("", fmt.Sprintf(`"tls_context": %s,`, tlsContext(cert, key, "")), cluster, origin)
	p := startProxy(t, cfgJSON)
	p.stopCertWatch() // the reload alone must do it
	addr := p.addr("in")
	load := startTLSLoad(t, addr, &tls.Config{RootCAs: f.ca.Pool()})
	httpsClient := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: f.ca.Pool()}, DisableKeepAlives: true}}
	if status, body := get(t, httpsClient, "https://"+addr+"/x?close"); status != 200 || !strings.HasSuffix(body, "client-one") {
		t.Fatalf("before: %d %q", status, body)
	}
	second := f.ca.Issue(t, tlstest.ECDSA, "127.0.0.1")
	second.Write(t, f.dir, "srv")
	f.ca.Issue(t, tlstest.ECDSA, "client-two").Write(t, f.dir, "client")
	if err := p.Reload(parseForTest(t, cfgJSON)); err != nil {
		t.Fatal(err)
	}
	if got := servedSerial(t, addr, f.ca); got != second.Leaf.SerialNumber.String() {
		t.Errorf("after reload: serial %s, want %s", got, second.Leaf.SerialNumber)
	}
	// Pooled connections keep the certificate they were made with (the
	// origin closed them: ?close); a new one carries the new client
	// certificate.
	if status, body := get(t, httpsClient, "https://"+addr+"/x"); status != 200 || !strings.HasSuffix(body, "client-two") {
		t.Errorf("after reload: %d %q, want the origin to see client-two", status, body)
	}
	parsed := parseForTest(t, cfgJSON)
	tlstest.WriteFile(t, key, []byte("garbage\n"))
	// SIGHUP reads the config again: the bad key refuses it.
	if _, err := parseInModel(cfgJSON); err == nil || !strings.Contains(err.Error(), "tls_context.private_key") {
		t.Errorf("config with a bad key: %v, want a refusal naming tls_context.private_key", err)
	}
	// And should the file break between reading the config and building.
	if err := p.Reload(parsed); err == nil || !strings.Contains(err.Error(), "tls_context.private_key") {
		t.Errorf("reload with a bad key: %v, want a refusal naming tls_context.private_key", err)
	}
	if got := servedSerial(t, addr, f.ca); got != second.Leaf.SerialNumber.String() {
		t.Errorf("after a refused reload: serial %s, want %s", got, second.Leaf.SerialNumber)
	}
	load.finish(t)
}
