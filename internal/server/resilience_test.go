package server

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mosnctl/mosnctl/internal/admin"
	"github.com/mosnctl/mosnctl/internal/boltrpc"
	"github.com/mosnctl/mosnctl/internal/config"
	"github.com/mosnctl/mosnctl/internal/protocol/bolt"
)

// namedOrigin is a net/http origin that answers its name on every path but
// /health, whose status the test sets (200 at first). Kill and Revive stop
// and restart it on the same address.
type namedOrigin struct {
	t      *testing.T
	name   string
	addr   string
	health atomic.Int32 // status of /health
	status atomic.Int32 // status of every other path

	mu  sync.Mutex
	srv *http.Server
}

func startNamedOrigin(t *testing.T, name string) *namedOrigin {
	o := &namedOrigin{t: t, name: name}
	o.health.Store(200)
	o.status.Store(200)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	o.addr = ln.Addr().String()
	o.serve(ln)
	t.Cleanup(o.Kill)
	return o
}

func (o *namedOrigin) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/health" {
		w.WriteHeader(int(o.health.Load()))
		return
	}
	w.WriteHeader(int(o.status.Load()))
	io.WriteString(w, o.name)
}

func (o *namedOrigin) serve(ln net.Listener) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.srv = &http.Server{Handler: o}
	go o.srv.Serve(ln)
}

// Kill closes the listener and every connection: the host is gone.
func (o *namedOrigin) Kill() {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.srv != nil {
		o.srv.Close()
		o.srv = nil
	}
}

// Revive listens on the same address again.
func (o *namedOrigin) Revive() {
	var ln net.Listener
	var err error
	for i := 0; i < 100; i++ {
		if ln, err = net.Listen("tcp", o.addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		o.t.Fatalf("relisten on %s: %v", o.addr, err)
	}
	o.serve(ln)
}

// resilienceConfig is an HTTP/1 listener "in" and a Bolt listener "rpc"
// with routes to cluster "c" (clusterExtra: its extra fields, hosts: its
// hosts array); HTTP routes /v1, /v2, /v3 carry metadata_match version
// v1, v2, v3, every other path none.
func resilienceConfig(clusterExtra, hosts string) string {
	mm := func(v string) string {
		return fmt.Sprintf(`, "metadata_match": {"filter_metadata": {"mosn.lb": {"version": %q}}}`, v)
	}
	return fmt.Sprintf(`{
  "servers": [{
    "routers": [
      {"router_config_name": "r", "virtual_hosts": [{"name": "v", "domains": ["*"], "routers": [
        {"match": {"prefix": "/v1"}, "route": {"cluster_name": "c"%s}},
        {"match": {"prefix": "/v2"}, "route": {"cluster_name": "c"%s}},
        {"match": {"prefix": "/v3"}, "route": {"cluster_name": "c"%s}},
        {"match": {"prefix": "/"}, "route": {"cluster_name": "c"}}
      ]}]},
      {"router_config_name": "rb", "virtual_hosts": [{"name": "v", "domains": ["*"], "routers": [
        {"match": {"headers": [{"name": "service", "value": ".*", "regex": true}]}, "route": {"cluster_name": "c"}}
      ]}]}
    ],
    "listeners": [
      {"name": "in", "address": "127.0.0.1:0",
       "filter_chains": [{"filters": [{"type": "proxy", "config": {"downstream_protocol": "Http1", "router_config_name": "r"}}]}]},
      {"name": "rpc", "address": "127.0.0.1:0",
       "filter_chains": [{"filters": [{"type": "proxy", "config": {"downstream_protocol": "bolt", "router_config_name": "rb"}}]}]}
    ]
  }],
  "cluster_manager": {"clusters": [{"name": "c", "type": "SIMPLE", "lb_type": "LB_ROUNDROBIN", "connect_timeout": "1s",
    "hosts": %s%s}]}
}`, mm("v1"), mm("v2"), mm("v3"), hosts, clusterExtra)
}

func hostsJSON(addrs ...string) string {
	var hs []string
	for _, a := range addrs {
		hs = append(hs, fmt.Sprintf(`{"address": %q}`, a))
	}
	return "[" + strings.Join(hs, ",") + "]"
}

// hostState returns the admin view of cluster c's host addr.
func hostState(t *testing.T, p *proxyUnderTest, addr string) admin.HostInfo {
	t.Helper()
	for _, c := range p.Clusters() {
		for _, h := range c.Hosts {
			if h.Address == addr {
				return h
			}
		}
	}
	t.Fatalf("no host %s in /api/v1/clusters", addr)
	return admin.HostInfo{}
}

// waitState polls the admin view of a host until cond holds (10 s at most)
// and returns how long it took.
func waitState(t *testing.T, p *proxyUnderTest, addr, what string, cond func(admin.HostInfo) bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond(hostState(t, p, addr)) {
		if time.Since(start) > 10*time.Second {
			t.Fatalf("host %s: timed out waiting until %s: %+v", addr, what, hostState(t, p, addr))
		}
		time.Sleep(5 * time.Millisecond)
	}
	return time.Since(start)
}

// served sends n GETs of path through the proxy and counts the answers by
// body (the origin's name) and status.
func served(t *testing.T, p *proxyUnderTest, path string, n int) map[string]int {
	t.Helper()
	c := newClient()
	got := map[string]int{}
	for i := 0; i < n; i++ {
		status, body := get(t, c, p.url("in", path))
		got[fmt.Sprintf("%d %s", status, body)]++
	}
	return got
}

const healthCheck = `, "health_check": {"protocol": "%s", "timeout": "500ms", "interval": "%s", "interval_jitter": "10ms",
  "healthy_threshold": %d, "unhealthy_threshold": %d%s}`

// A killed host is out of rotation within interval x unhealthy_threshold
// plus one interval (checked with a generous margin), every request then
// goes to the other host, and the host is back once it listens again.
func TestHealthCheckHTTP1KilledHostLeavesAndReturns(t *testing.T) {
	a, b := startNamedOrigin(t, "a"), startNamedOrigin(t, "b")
	const interval, unhealthy = 100 * time.Millisecond, 2
	hc := fmt.Sprintf(healthCheck, "Http1", interval, 1, unhealthy, `, "check_config": {"path": "/health"}`)
	p := startProxy(t, resilienceConfig(hc, hostsJSON(a.addr, b.addr)))
	if got := served(t, p, "/", 10); got["200 a"] != 5 || got["200 b"] != 5 {
		t.Fatalf("both up: %v", got)
	}

	a.Kill()
	took := waitState(t, p, a.addr, "unhealthy", func(h admin.HostInfo) bool { return !h.Healthy })
	bound := interval*unhealthy + interval
	t.Logf("killed host out after %v (bound %v)", took, bound)
	if took > 10*bound { // generous: a loaded 2-core host delays timers
		t.Errorf("killed host out after %v, want about %v", took, bound)
	}
	if got := served(t, p, "/", 20); got["200 b"] != 20 {
		t.Errorf("with a out: %v, want every request on b", got)
	}
	if !strings.Contains(p.log.String(), "health check: host unhealthy") {
		t.Error("no log line for the transition")
	}

	a.Revive()
	waitState(t, p, a.addr, "healthy", func(h admin.HostInfo) bool { return h.Healthy })
	if got := served(t, p, "/", 10); got["200 a"] != 5 || got["200 b"] != 5 {
		t.Errorf("a back: %v", got)
	}
	if !strings.Contains(p.log.String(), "health check: host healthy again") {
		t.Error("no log line for the way back")
	}
	// The metric says so too.
	metrics := scrape(t, p)
	if want := fmt.Sprintf(`mosn_upstream_host_healthy{cluster="c",host=%q} 1`, a.addr); !strings.Contains(metrics, want) {
		t.Errorf("metrics lack %s", want)
	}
}

func scrape(t *testing.T, p *proxyUnderTest) string {
	t.Helper()
	_, body := get(t, newClient(), "http://"+p.AdminAddr().String()+"/metrics")
	return body
}

// A Bolt heartbeat check takes a dead Bolt host out; calls go to the other.
func TestHealthCheckBoltKilledHostLeavesAndReturns(t *testing.T) {
	named := func(name string) boltrpc.Handler {
		return func(*bolt.Frame) (uint16, map[string]string, []byte) {
			return bolt.StatusSuccess, nil, []byte(name)
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	aAddr := ln.Addr().String()
	aSrv := &boltrpc.Server{Handler: named("a")}
	go aSrv.Serve(ln)
	t.Cleanup(func() { aSrv.Close() })
	bAddr := startBoltServer(t, named("b"))

	hc := fmt.Sprintf(healthCheck, "bolt", 100*time.Millisecond, 1, 2, "")
	p := startProxy(t, resilienceConfig(hc, hostsJSON(aAddr, bAddr)))
	call := func(n int) map[string]int {
		t.Helper()
		c, err := boltrpc.Dial(context.Background(), p.addr("rpc"))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		got := map[string]int{}
		for i := 0; i < n; i++ {
			resp, err := c.Call(context.Background(), &boltrpc.Request{Service: "svc", Method: "m", Timeout: 5 * time.Second})
			if err != nil {
				t.Fatalf("call: %v", err)
			}
			got[fmt.Sprintf("%d %s", resp.Status, resp.Content)]++
		}
		return got
	}
	if got := call(10); got["0 a"] != 5 || got["0 b"] != 5 {
		t.Fatalf("both up: %v", got)
	}
	aSrv.Close()
	waitState(t, p, aAddr, "unhealthy", func(h admin.HostInfo) bool { return !h.Healthy })
	if got := call(20); got["0 b"] != 20 {
		t.Errorf("with a out: %v", got)
	}
	var ln2 net.Listener
	for i := 0; i < 100; i++ {
		if ln2, err = net.Listen("tcp", aAddr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	aSrv2 := &boltrpc.Server{Handler: named("a")}
	go aSrv2.Serve(ln2)
	t.Cleanup(func() { aSrv2.Close() })
	waitState(t, p, aAddr, "healthy", func(h admin.HostInfo) bool { return h.Healthy })
	if got := call(10); got["0 a"] != 5 || got["0 b"] != 5 {
		t.Errorf("a back: %v", got)
	}
}

// A plain TCP check takes a closed port out.
func TestHealthCheckTCP(t *testing.T) {
	a, b := startNamedOrigin(t, "a"), startNamedOrigin(t, "b")
	hc := fmt.Sprintf(healthCheck, "tcp", 100*time.Millisecond, 1, 1, "")
	p := startProxy(t, resilienceConfig(hc, hostsJSON(a.addr, b.addr)))
	a.Kill()
	waitState(t, p, a.addr, "unhealthy", func(h admin.HostInfo) bool { return !h.Healthy })
	if got := served(t, p, "/", 10); got["200 b"] != 10 {
		t.Errorf("with a out: %v", got)
	}
}

// When every host fails its checks, traffic still goes to all of them
// (Envoy's panic mode) rather than to none.
func TestHealthCheckAllUnhealthyPanicMode(t *testing.T) {
	a, b := startNamedOrigin(t, "a"), startNamedOrigin(t, "b")
	a.health.Store(500)
	b.health.Store(500)
	hc := fmt.Sprintf(healthCheck, "Http1", 100*time.Millisecond, 1, 1, `, "check_config": {"path": "/health"}`)
	p := startProxy(t, resilienceConfig(hc, hostsJSON(a.addr, b.addr)))
	waitState(t, p, a.addr, "unhealthy", func(h admin.HostInfo) bool { return !h.Healthy })
	waitState(t, p, b.addr, "unhealthy", func(h admin.HostInfo) bool { return !h.Healthy })
	if got := served(t, p, "/", 10); got["200 a"] != 5 || got["200 b"] != 5 {
		t.Errorf("all unhealthy: %v, want both hosts used", got)
	}
	// One back: it alone takes traffic.
	b.health.Store(200)
	waitState(t, p, b.addr, "healthy", func(h admin.HostInfo) bool { return h.Healthy })
	if got := served(t, p, "/", 10); got["200 b"] != 10 {
		t.Errorf("b healthy again: %v", got)
	}
}

// A reload that changes the cluster keeps the health of the hosts that
// stay: a host out stays out, without starting its streak over.
func TestHealthCheckStateSurvivesReload(t *testing.T) {
	a, b, c := startNamedOrigin(t, "a"), startNamedOrigin(t, "b"), startNamedOrigin(t, "c")
	a.health.Store(503)
	hc := fmt.Sprintf(healthCheck, "Http1", 300*time.Millisecond, 1, 2, `, "check_config": {"path": "/health"}`)
	p := startProxy(t, resilienceConfig(hc, hostsJSON(a.addr, b.addr)))
	waitState(t, p, a.addr, "unhealthy", func(h admin.HostInfo) bool { return !h.Healthy })

	// A changed cluster (a host added) is a new cluster with a new checker;
	// a new host would start healthy and need two failed probes, 300 ms
	// apart, to go out. a must be out at once.
	cfg, _, err := config.Parse([]byte(resilienceConfig(hc, hostsJSON(a.addr, b.addr, c.addr))), "json")
	if err != nil {
		t.Fatal(err)
	}
	setTestIOModel(cfg)
	if err := p.Reload(cfg); err != nil {
		t.Fatal(err)
	}
	if h := hostState(t, p, a.addr); h.Healthy {
		t.Errorf("a is healthy right after the reload: its health was lost")
	}
	// (Round robin gives a's turn to the next host, b.)
	if got := served(t, p, "/", 21); got["200 a"] != 0 || got["200 b"] != 14 || got["200 c"] != 7 {
		t.Errorf("after the reload: %v, want b and c only", got)
	}
	// The new checker carries on: a comes back when it passes.
	a.health.Store(200)
	waitState(t, p, a.addr, "healthy", func(h admin.HostInfo) bool { return h.Healthy })

	// Removing the health check brings every host in.
	a.health.Store(503)
	waitState(t, p, a.addr, "unhealthy", func(h admin.HostInfo) bool { return !h.Healthy })
	cfg, _, err = config.Parse([]byte(resilienceConfig("", hostsJSON(a.addr, b.addr, c.addr))), "json")
	if err != nil {
		t.Fatal(err)
	}
	setTestIOModel(cfg)
	if err := p.Reload(cfg); err != nil {
		t.Fatal(err)
	}
	if h := hostState(t, p, a.addr); !h.Healthy {
		t.Errorf("a still out after its cluster's health check was removed")
	}
}

const outlier = `, "outlier_detection": {"consecutive_5xx": 3, "interval": "10s", "base_ejection_time": "%s", "max_ejection_percent": 50}`

// A host answering 503 is ejected after consecutive_5xx of them, gets no
// request while ejected, and comes back when its ejection time is over.
func TestOutlierDetectionHTTP1Ejects5xxHost(t *testing.T) {
	a, b := startNamedOrigin(t, "a"), startNamedOrigin(t, "b")
	a.status.Store(503)
	p := startProxy(t, resilienceConfig(fmt.Sprintf(outlier, "1s"), hostsJSON(a.addr, b.addr)))
	// Round robin: a gets every other request; its third 503 ejects it.
	if got := served(t, p, "/", 6); got["503 a"] != 3 || got["200 b"] != 3 {
		t.Fatalf("before the ejection: %v", got)
	}
	h := hostState(t, p, a.addr)
	if !h.Ejected || h.Ejections != 1 {
		t.Fatalf("a not ejected after 3 503s in a row: %+v", h)
	}
	before := h.Requests
	if got := served(t, p, "/", 20); got["200 b"] != 20 {
		t.Errorf("while a is ejected: %v", got)
	}
	if h := hostState(t, p, a.addr); h.Requests != before && h.Ejected {
		t.Errorf("ejected host got %d requests", h.Requests-before)
	}
	if !strings.Contains(p.log.String(), "outlier detection: host ejected") {
		t.Error("no log line for the ejection")
	}
	waitState(t, p, a.addr, "back from ejection", func(h admin.HostInfo) bool { return !h.Ejected })
	if got := served(t, p, "/", 2); got["503 a"] != 1 {
		t.Errorf("after the ejection: %v, want a in rotation again", got)
	}
	if want := fmt.Sprintf(`mosn_upstream_outlier_ejections_total{cluster="c",host=%q} 1`, a.addr); !strings.Contains(scrape(t, p), want) {
		t.Errorf("metrics lack %s", want)
	}
}

// The same over Bolt: an error status is a failure of the host, fed to
// outlier detection through the same Tries.
func TestOutlierDetectionBoltEjectsFailingHost(t *testing.T) {
	aAddr := startBoltServer(t, func(*bolt.Frame) (uint16, map[string]string, []byte) {
		return bolt.StatusServerException, nil, []byte("a")
	})
	bAddr := startBoltServer(t, func(*bolt.Frame) (uint16, map[string]string, []byte) {
		return bolt.StatusSuccess, nil, []byte("b")
	})
	p := startProxy(t, resilienceConfig(fmt.Sprintf(outlier, "30s"), hostsJSON(aAddr, bAddr)))
	c, err := boltrpc.Dial(context.Background(), p.addr("rpc"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	got := map[string]int{}
	for i := 0; i < 26; i++ {
		resp, err := c.Call(context.Background(), &boltrpc.Request{Service: "svc", Method: "m", Timeout: 5 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		got[fmt.Sprintf("%d %s", resp.Status, resp.Content)]++
	}
	if got[fmt.Sprintf("%d a", bolt.StatusServerException)] != 3 || got["0 b"] != 23 {
		t.Errorf("calls: %v, want 3 failures on a, then every call on b", got)
	}
	if h := hostState(t, p, aAddr); !h.Ejected {
		t.Errorf("a not ejected: %+v", h)
	}
}

// Subset routing: a route's metadata_match sends its requests only to the
// hosts with those labels; requests matching no subset go to the
// default_subset fallback.
func TestSubsetRouting(t *testing.T) {
	a, b, c := startNamedOrigin(t, "a"), startNamedOrigin(t, "b"), startNamedOrigin(t, "c")
	host := func(o *namedOrigin, version string) string {
		return fmt.Sprintf(`{"address": %q, "metadata": {"filter_metadata": {"mosn.lb": {"version": %q}}}}`, o.addr, version)
	}
	hosts := "[" + host(a, "v1") + "," + host(b, "v1") + "," + host(c, "v2") + "]"
	subsets := `, "lb_subset_config": {"fall_back_policy": 2, "default_subset": {"version": "v1"}, "subset_selectors": [["version"]]}`
	p := startProxy(t, resilienceConfig(subsets, hosts))
	if got := served(t, p, "/v2", 20); got["200 c"] != 20 {
		t.Errorf("/v2: %v, want c only", got)
	}
	if got := served(t, p, "/v1", 20); got["200 a"] != 10 || got["200 b"] != 10 {
		t.Errorf("/v1: %v, want a and b only", got)
	}
	for _, path := range []string{"/v3", "/none"} { // no such subset; no match at all
		if got := served(t, p, path, 20); got["200 a"] != 10 || got["200 b"] != 10 {
			t.Errorf("%s: %v, want the default subset (a and b)", path, got)
		}
	}

	// fall_back_policy 0: a request for no subset gets no host.
	noFallback := `, "lb_subset_config": {"subset_selectors": [["version"]]}`
	cfg, _, err := config.Parse([]byte(resilienceConfig(noFallback, hosts)), "json")
	if err != nil {
		t.Fatal(err)
	}
	setTestIOModel(cfg)
	if err := p.Reload(cfg); err != nil {
		t.Fatal(err)
	}
	for k := range served(t, p, "/v3", 3) {
		if !strings.HasPrefix(k, "503 ") {
			t.Errorf("/v3 without fallback answered %q", k)
		}
	}
	if got := served(t, p, "/v2", 5); got["200 c"] != 5 {
		t.Errorf("/v2 without fallback: %v", got)
	}
}

// A retry goes to a host not tried yet: with one of two hosts refusing
// connections, a random balancer and one retry, every request succeeds.
// (A retry free to draw the same host again would fail about a quarter of
// them.)
func TestRetryGoesToAnotherHost(t *testing.T) {
	a, b := startNamedOrigin(t, "a"), startNamedOrigin(t, "b")
	a.Kill()
	cfgJSON := strings.Replace(resilienceConfig("", hostsJSON(a.addr, b.addr)),
		`{"match": {"prefix": "/"}, "route": {"cluster_name": "c"}}`,
		`{"match": {"prefix": "/"}, "route": {"cluster_name": "c", "retry_policy": {"retry_on": true, "num_retries": 1}}}`, 1)
	cfgJSON = strings.Replace(cfgJSON, "LB_ROUNDROBIN", "LB_RANDOM", 1)
	p := startProxy(t, cfgJSON)
	if got := served(t, p, "/", 40); got["200 b"] != 40 {
		t.Errorf("with a down and one retry: %v, want every request served by b", got)
	}
	if h := hostState(t, p, a.addr); h.ConnectFailures == 0 {
		t.Errorf("a was never tried: the test proves nothing (%+v)", h)
	}
}

// Under concurrent load: once the health check has taken a killed host out,
// no request fails and none is sent to it; when it returns it takes
// traffic again.
func TestHealthCheckKilledHostUnderLoad(t *testing.T) {
	a, b := startNamedOrigin(t, "a"), startNamedOrigin(t, "b")
	hc := fmt.Sprintf(healthCheck, "Http1", 100*time.Millisecond, 1, 2, `, "check_config": {"path": "/health"}`)
	cfgJSON := strings.Replace(resilienceConfig(hc, hostsJSON(a.addr, b.addr)),
		`{"match": {"prefix": "/"}, "route": {"cluster_name": "c"}}`,
		`{"match": {"prefix": "/"}, "route": {"cluster_name": "c", "retry_policy": {"retry_on": true, "num_retries": 1}}}`, 1)
	p := startProxy(t, cfgJSON)

	// phase: 0 before a is out, 1 while it is out, 2 from its revival on.
	var phase atomic.Int32
	var failed [3]atomic.Int64
	var servedBy [3][2]atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := newClient()
			for {
				select {
				case <-stop:
					return
				default:
				}
				ph := phase.Load()
				resp, err := c.Get(p.url("in", "/"))
				if err != nil {
					failed[ph].Add(1)
					continue
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				switch {
				case resp.StatusCode != 200:
					failed[ph].Add(1)
				case string(body) == "a":
					servedBy[ph][0].Add(1)
				default:
					servedBy[ph][1].Add(1)
				}
			}
		}()
	}
	a.Kill()
	waitState(t, p, a.addr, "unhealthy", func(h admin.HostInfo) bool { return !h.Healthy })
	phase.Store(1)
	time.Sleep(500 * time.Millisecond)
	phase.Store(2)
	a.Revive()
	waitState(t, p, a.addr, "healthy", func(h admin.HostInfo) bool { return h.Healthy })
	time.Sleep(300 * time.Millisecond)
	close(stop)
	wg.Wait()
	t.Logf("failed %d/%d/%d; a %d/%d/%d; b %d/%d/%d", failed[0].Load(), failed[1].Load(), failed[2].Load(),
		servedBy[0][0].Load(), servedBy[1][0].Load(), servedBy[2][0].Load(),
		servedBy[0][1].Load(), servedBy[1][1].Load(), servedBy[2][1].Load())
	if failed[1].Load() != 0 || failed[2].Load() != 0 {
		t.Errorf("%d requests failed while a was out, %d after it came back", failed[1].Load(), failed[2].Load())
	}
	if servedBy[1][0].Load() != 0 || servedBy[1][1].Load() == 0 {
		t.Errorf("while a was out: a served %d, b %d", servedBy[1][0].Load(), servedBy[1][1].Load())
	}
	if servedBy[2][0].Load() == 0 {
		t.Error("a served nothing after it came back")
	}
}
