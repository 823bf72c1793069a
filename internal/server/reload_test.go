package server

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mosnctl/mosnctl/internal/config"
)

// reloadConfig is a config with listeners "keep" (routes / to the given
// cluster) and the named extra listeners (direct responses naming them),
// clusters "v1" and "v2" on the given origins.
func reloadConfig(keepCluster, v1, v2 string, extra ...string) string {
	listeners := []string{`{"name": "keep", "address": "127.0.0.1:0",
      "filter_chains": [{"filters": [{"type": "proxy", "config": {"downstream_protocol": "Http1", "router_config_name": "keep"}}]}]}`}
	routers := []string{fmt.Sprintf(`{"router_config_name": "keep", "virtual_hosts": [{"name": "v", "domains": ["*"], "routers": [
      {"match": {"prefix": "/"}, "route": {"cluster_name": %q}}]}]}`, keepCluster)}
	for _, name := range extra {
		listeners = append(listeners, fmt.Sprintf(`{"name": %q, "address": "127.0.0.1:0",
      "filter_chains": [{"filters": [{"type": "proxy", "config": {"downstream_protocol": "Http1", "router_config_name": %q}}]}]}`, name, name))
		routers = append(routers, fmt.Sprintf(`{"router_config_name": %q, "virtual_hosts": [{"name": "v", "domains": ["*"], "routers": [
      {"match": {"prefix": "/"}, "direct_response": {"status": 200, "body": %q}}]}]}`, name, name))
	}
	return fmt.Sprintf(`{
  "servers": [{"routers": [%s], "listeners": [%s]}],
  "cluster_manager": {"clusters": [
    {"name": "v1", "type": "SIMPLE", "hosts": [{"address": %q}]},
    {"name": "v2", "type": "SIMPLE", "hosts": [{"address": %q}]}]},
  "drain_timeout": "2s"
}`, strings.Join(routers, ","), strings.Join(listeners, ","), v1, v2)
}

// parseForTest parses a config as startProxy does, IO model included.
func parseForTest(t *testing.T, cfgJSON string) *config.Config {
	t.Helper()
	cfg, err := parseInModel(cfgJSON)
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	return cfg
}

func parseInModel(cfgJSON string) (*config.Config, error) {
	cfg, _, err := config.Parse([]byte(cfgJSON), "json")
	if err == nil {
		setTestIOModel(cfg)
	}
	return cfg, err
}

// A reload under load: a route changes, a listener is added and one
// removed. The listener that stays fails no request, a keep-alive
// connection opened before the reload sees the new route, the counters
// carry on, and hosts that stay keep their connection pools.
func TestReloadUnderLoad(t *testing.T) {
	origin := func(name string) string {
		addr, _ := startOrigin(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, name) }))
		return addr
	}
	v1, v2 := origin("v1"), origin("v2")
	p := startProxy(t, reloadConfig("v1", v1, v2, "gone"))
	keep, gone := p.url("keep", "/"), p.addr("gone")
	before := dialRaw(t, p.addr("keep"))
	before.SetDeadline(time.Now().Add(30 * time.Second))
	br := bufio.NewReader(before)
	io.WriteString(before, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	expectBodies(t, br, "v1")
	v1Host := p.clusters.load().Get("v1").Hosts[0]

	var failed, sent atomic.Int64
	var sawV2 atomic.Bool
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			client := newClient()
			for {
				select {
				case <-stop:
					return
				default:
				}
				resp, err := client.Get(keep)
				sent.Add(1)
				if err != nil {
					failed.Add(1)
					continue
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				switch {
				case resp.StatusCode != 200:
					failed.Add(1)
				case string(b) == "v2":
					sawV2.Store(true)
				}
			}
		}()
	}
	waitFor(t, "load to run", func() bool { return sent.Load() > 200 })
	totalBefore := p.Listeners()[0].RequestsTotal

	if err := p.Reload(parseForTest(t, reloadConfig("v2", v1, v2, "added"))); err != nil {
		t.Fatalf("reload: %v", err)
	}
	reloaded := time.Now()
	waitFor(t, "the new route under load", sawV2.Load)
	if d := time.Since(reloaded); d > time.Second {
		t.Errorf("the new route answered %v after the reload, want within 1s", d)
	}
	time.Sleep(200 * time.Millisecond) // more load on the new config
	close(stop)
	wg.Wait()
	if n := failed.Load(); n != 0 {
		t.Errorf("%d of %d requests failed on the listener that stayed", n, sent.Load())
	}

	io.WriteString(before, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	expectBodies(t, br, "v2") // the connection from before the reload
	if code, body := get(t, newClient(), p.url("added", "/")); code != 200 || body != "added" {
		t.Errorf("added listener: %d %q", code, body)
	}
	waitFor(t, "the removed listener to close", func() bool {
		c, err := net.Dial("tcp", gone)
		if err == nil {
			c.Close()
		}
		return err != nil
	})
	var keepTotal uint64
	for _, l := range p.Listeners() {
		if l.Name == "keep" {
			keepTotal = l.RequestsTotal
		}
	}
	if keepTotal < totalBefore {
		t.Errorf("requests_total of the listener that stayed went from %d to %d", totalBefore, keepTotal)
	}
	if p.clusters.load().Get("v1").Hosts[0] != v1Host {
		t.Errorf("an unchanged host was rebuilt: its pools and counters would start over")
	}
}

// A config that does not validate is refused with the path of the bad
// field; the running config keeps serving, and the refusal is counted.
func TestReloadRefusesBadConfig(t *testing.T) {
	v1, _ := startOrigin(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "v1") }))
	p := startProxy(t, reloadConfig("v1", v1, v1))
	next := reloadConfig("v1", v1, v1)
	p.SetConfigSource(func() (*config.Config, any, error) {
		cfg, err := parseInModel(next)
		return cfg, next, err
	}, nil)

	for _, tc := range []struct{ name, cfg, want string }{
		{"parse", strings.Replace(reloadConfig("v1", v1, v1), `"address": "127.0.0.1:0"`, `"adress": "127.0.0.1:0"`, 1),
			`servers[0].listeners[0].adress: unknown field`},
		{"unknown cluster", reloadConfig("nope", v1, v1), `no cluster`},
		{"address moved", strings.Replace(reloadConfig("v1", v1, v1), `"address": "127.0.0.1:0"`, `"address": "127.0.0.1:1"`, 1),
			`servers[0].listeners[0].address: a running listener keeps its address`},
	} {
		next = tc.cfg
		resp, err := http.Post("http://"+p.AdminAddr().String()+"/api/v1/config/reload", "", nil)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 400 || !strings.Contains(string(b), tc.want) {
			t.Errorf("%s: %d %s, want 400 naming %q", tc.name, resp.StatusCode, b, tc.want)
		}
		if code, body := get(t, newClient(), p.url("keep", "/")); code != 200 || body != "v1" {
			t.Fatalf("%s: after the refused reload: %d %q", tc.name, code, body)
		}
	}
	if _, failed := p.ReloadStats(); failed != 3 {
		t.Errorf("refused reloads counted: %d, want 3", failed)
	}
	_, metrics := get(t, newClient(), "http://"+p.AdminAddr().String()+"/metrics")
	if !strings.Contains(metrics, `mosn_config_reloads_total{result="refused"} 3`) {
		t.Errorf("metrics lack the refused reloads")
	}
	if !strings.Contains(p.log.String(), "config reload refused") {
		t.Errorf("no log line for the refused reload")
	}
}
