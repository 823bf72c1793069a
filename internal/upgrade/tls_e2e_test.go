package upgrade

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mosnctl/mosnctl/internal/tls/tlstest"
)

// A TLS listener is handed over like a plaintext one: its socket goes to
// the new process, which loads the certificate from the config; open TLS
// connections (their keys stay in the old process) drain, and clients
// under load fail no request.
func TestUpgradeTLSListener(t *testing.T) {
	dir := t.TempDir()
	httpOrigin, _, _ := startOrigins(t)
	ca := tlstest.NewCA(t, "upgrade CA")
	cert, key := ca.Issue(t, tlstest.ECDSA, "127.0.0.1").Write(t, dir, "srv")
	cfg := fmt.Sprintf(`{
  "servers": [{
    "routers": [{"router_config_name": "web", "virtual_hosts": [{"name": "v", "domains": ["*"], "routers": [{"match": {"prefix": "/"}, "route": {"cluster_name": "origin"}}]}]}],
    "listeners": [{"name": "tls", "address": "127.0.0.1:0", "inspector": true,
      "filter_chains": [{"tls_context": {"status": true, "cert_chain": %q, "private_key": %q},
        "filters": [{"type": "proxy", "config": {"downstream_protocol": "Http1", "router_config_name": "web"}}]}]}]
  }],
  "cluster_manager": {"clusters": [{"name": "origin", "type": "SIMPLE", "connect_timeout": "1s", "hosts": [{"address": %q}]}]},
  "admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": 0}}},
  "drain_timeout": "10s"
}`, cert, key, httpOrigin)
	old := startServe(t, dir, cfg)
	addr := listenerAddr(t, old, "tls")

	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	var ok, failed atomic.Uint64
	var mu sync.Mutex
	var lastErr error
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool()}}
			defer tr.CloseIdleConnections()
			c := &http.Client{Transport: tr, Timeout: 5 * time.Second}
			scheme := "https://"
			if i%4 == 3 {
				scheme = "http://" // plaintext on the inspector's port
			}
			for ctx.Err() == nil {
				resp, err := c.Get(scheme + addr + "/")
				if err == nil {
					body, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					if resp.StatusCode != 200 || string(body) != "ok" {
						err = fmt.Errorf("%d %q", resp.StatusCode, body)
					}
				}
				if err != nil {
					if ctx.Err() != nil {
						return
					}
					failed.Add(1)
					mu.Lock()
					lastErr = err
					mu.Unlock()
					continue
				}
				ok.Add(1)
			}
		}()
	}
	time.Sleep(500 * time.Millisecond)
	res := upgradeJSON(t, old.pid)
	afterUpgrade := ok.Load()
	time.Sleep(2 * time.Second)
	stop()
	wg.Wait()
	if n := failed.Load(); n > 0 {
		t.Errorf("%d requests failed, last: %v", n, lastErr)
	}
	if ok.Load() == afterUpgrade {
		t.Error("no request succeeded after the upgrade")
	}
	c, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: ca.Pool()})
	if err != nil {
		t.Fatalf("TLS after the upgrade: %v", err)
	}
	c.Close()
	if res.Serving != res.NewPID || !res.OldExited {
		t.Errorf("result %+v", res)
	}
	t.Logf("requests %d; migrated %d (plaintext keep-alive), finished in old %d, cut %d", ok.Load(), res.Migrated, res.Finished, res.Cut)
}
