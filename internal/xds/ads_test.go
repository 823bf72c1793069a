package xds_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/mosnctl/mosnctl/internal/bench"
	"github.com/mosnctl/mosnctl/internal/config"
	"github.com/mosnctl/mosnctl/internal/server"
	"github.com/mosnctl/mosnctl/internal/xds"
	"github.com/mosnctl/mosnctl/internal/xds/xdstest"
)

const node = "sidecar~127.0.0.1~test.default~default.svc.cluster.local"

// origin is a real HTTP server on loopback answering with its name.
func origin(t *testing.T, name string) (host string, port uint32) {
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, name)
	}))
	t.Cleanup(s.Close)
	h, p, _ := net.SplitHostPort(s.Listener.Addr().String())
	var n uint32
	fmt.Sscan(p, &n)
	return h, n
}

func bootstrapBase(t *testing.T, cpAddr string) *config.Config {
	t.Helper()
	file := fmt.Sprintf(`{
	  "node": {"id": %q, "cluster": "test"},
	  "dynamic_resources": {
	    "ads_config": {"api_type": "GRPC", "transport_api_version": "V3",
	      "grpc_services": [{"envoy_grpc": {"cluster_name": "xds-grpc"}}]},
	    "lds_config": {"ads": {}, "resource_api_version": "V3"},
	    "cds_config": {"ads": {}, "resource_api_version": "V3"}
	  },
	  "static_resources": {"clusters": [{
	    "name": "xds-grpc", "type": "STATIC", "connect_timeout": "1s",
	    "load_assignment": {"cluster_name": "xds-grpc", "endpoints": [{"lb_endpoints": [{"endpoint": {"address":
	      {"socket_address": {"address": "127.0.0.1", "port_value": %s}}}}]}]},
	    "typed_extension_protocol_options": {}
	  }]},
	  "admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": 0}}}
	}`, node, cpAddr[strings.LastIndex(cpAddr, ":")+1:])
	cfg, _, err := config.Parse([]byte(file), "json")
	if err != nil {
		t.Fatal(err)
	}
	b, err := xds.NewBootstrap(cfg, "", "")
	if err != nil {
		t.Fatal(err)
	}
	if b.Server != cpAddr || b.Node.GetId() != node || b.Node.GetCluster() != "test" {
		t.Fatalf("bootstrap %+v", b)
	}
	return b.Base
}

// proxy runs a server from base and an xDS client feeding it.
type proxy struct {
	srv    *server.Server
	client *xds.Client
}

func startProxy(t *testing.T, cp *xdstest.ControlPlane, opts ...func(*xds.Options)) *proxy {
	base := bootstrapBase(t, cp.Addr)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	p := &proxy{}
	o := xds.Options{Server: cp.Addr, Node: &corev3.Node{Id: node}, Base: base, Log: log,
		Apply: func(c *config.Config) error { return p.srv.Reload(c) }, MaxBackoff: time.Second}
	for _, f := range opts {
		f(&o)
	}
	p.client = xds.NewClient(o)
	srv, err := server.New(base, server.Options{Logger: log, AdminAddr: "127.0.0.1:0",
		DynamicDump: func() any { return p.client.Dump() }, Collectors: []prometheus.Collector{p.client.Collector()}})
	if err != nil {
		t.Fatal(err)
	}
	p.srv = srv
	ctx, cancel := context.WithCancel(context.Background())
	srv.Start(ctx)
	done := make(chan struct{})
	go func() { p.client.Run(ctx); close(done) }()
	t.Cleanup(func() {
		cancel()
		<-done
		sctx, c2 := context.WithTimeout(context.Background(), 5*time.Second)
		srv.Shutdown(sctx)
		c2()
	})
	return p
}

// waitFor polls cond for up to 10 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (p *proxy) typeDump(typ string) xds.TypeDump {
	for _, td := range p.client.Status().Types {
		if td.Type == typ {
			return td
		}
	}
	return xds.TypeDump{}
}

// waitVersions waits until every type has accepted version v.
func (p *proxy) waitVersions(t *testing.T, v string, types ...string) {
	t.Helper()
	if len(types) == 0 {
		types = []string{"listeners", "routes", "clusters", "endpoints"}
	}
	waitFor(t, "version "+v+" of "+strings.Join(types, ", "), func() bool {
		for _, typ := range types {
			if p.typeDump(typ).Version != v {
				return false
			}
		}
		return true
	})
}

func (p *proxy) waitNack(t *testing.T, typ, version string) *xds.Nack {
	t.Helper()
	var n *xds.Nack
	waitFor(t, "a NACK of "+typ+" version "+version, func() bool {
		n = p.typeDump(typ).LastNack
		return n != nil && n.Version == version
	})
	return n
}

func get(t *testing.T, c *http.Client, url string) (int, string) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// resources is one snapshot's content.
type resources struct{ listeners, routes, clusters, endpoints []types.Resource }

func (r resources) push(cp *xdstest.ControlPlane, version string) {
	cp.Push(node, version, r.listeners, r.routes, r.clusters, r.endpoints)
}

// ingressTo is the usual set: listener "ingress" with RDS route "web",
// whose "/" goes to EDS cluster "backend", with one endpoint host:port.
func ingressTo(t *testing.T, host string, port uint32) resources {
	return resources{
		listeners: []types.Resource{xdstest.HTTPListener(t, "ingress", "127.0.0.1", 0, "web")},
		routes:    []types.Resource{xdstest.RouteConfig("web", xdstest.PrefixRoute("/", "backend"))},
		clusters:  []types.Resource{xdstest.EDSCluster("backend")},
		endpoints: []types.Resource{xdstest.Assignment("backend", xdstest.LbEndpoint(host, port))},
	}
}

func TestADSServesPushesWithoutRestart(t *testing.T) {
	hostA, portA := origin(t, "A")
	hostB, portB := origin(t, "B")
	cp := xdstest.StartControlPlane(t)
	v1 := ingressTo(t, hostA, portA)
	v1.push(cp, "1")
	p := startProxy(t, cp)
	p.waitVersions(t, "1")
	addr := p.srv.ListenerAddr("ingress")
	if addr == nil {
		t.Fatal("pushed listener not serving")
	}
	url := "http://" + addr.String()
	hc := &http.Client{Timeout: 5 * time.Second}
	if code, body := get(t, hc, url+"/x"); code != 200 || body != "A" {
		t.Fatalf("v1: %d %q", code, body)
	}

	// v2: one more endpoint and one more route, pushed while requests flow.
	v2 := v1
	direct := &routev3.Route{Match: &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Path{Path: "/hello"}},
		Action: &routev3.Route_DirectResponse{DirectResponse: &routev3.DirectResponseAction{Status: 200,
			Body: &corev3.DataSource{Specifier: &corev3.DataSource_InlineString{InlineString: "hi"}}}}}
	v2.routes = []types.Resource{xdstest.RouteConfig("web", direct, xdstest.PrefixRoute("/", "backend"))}
	v2.endpoints = []types.Resource{xdstest.Assignment("backend", xdstest.LbEndpoint(hostA, portA), xdstest.LbEndpoint(hostB, portB))}
	var failed, done atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := &http.Client{Timeout: 5 * time.Second}
			for {
				select {
				case <-stop:
					return
				default:
				}
				resp, err := c.Get(url + "/load")
				if err != nil {
					failed.Add(1)
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					failed.Add(1)
				}
				done.Add(1)
			}
		}()
	}
	time.Sleep(100 * time.Millisecond)
	v2.push(cp, "2")
	p.waitVersions(t, "2")
	time.Sleep(100 * time.Millisecond)
	close(stop)
	wg.Wait()
	if failed.Load() != 0 || done.Load() == 0 {
		t.Fatalf("during the push: %d of %d requests failed", failed.Load(), done.Load())
	}
	if addr2 := p.srv.ListenerAddr("ingress"); addr2.String() != addr.String() {
		t.Fatalf("listener moved from %s to %s", addr, addr2)
	}
	if code, body := get(t, hc, url+"/hello"); code != 200 || body != "hi" {
		t.Fatalf("v2 new route: %d %q", code, body)
	}
	seen := map[string]int{}
	for range 10 {
		_, body := get(t, hc, url+"/rr")
		seen[body]++
	}
	if seen["A"] == 0 || seen["B"] == 0 {
		t.Fatalf("round robin over the pushed endpoints: %v", seen)
	}

	// Bad pushes: each is NACKed for its type with the reason; v2 serves on.
	bad := []struct {
		version, typ, reason string
		res                  func() resources
	}{
		{"3", "clusters", `cluster "backend": lb_policy: lb policy MAGLEV is not supported`, func() resources {
			r := v2
			c := xdstest.EDSCluster("backend")
			c.LbPolicy = clusterv3.Cluster_MAGLEV
			r.clusters = []types.Resource{c}
			return r
		}},
		{"4", "listeners", `listener "ingress": address.socket_address.port_value: port 70000 out of range 0-65535`, func() resources {
			r := v2
			r.listeners = []types.Resource{xdstest.HTTPListener(t, "ingress", "127.0.0.1", 70000, "web")}
			return r
		}},
		{"5", "routes", `route_configuration "web": virtual_hosts[0].routes[0].match.safe_regex.regex: invalid regex "/(("`, func() resources {
			r := v2
			rt := xdstest.PrefixRoute("/", "backend")
			rt.Match.PathSpecifier = &routev3.RouteMatch_SafeRegex{SafeRegex: &matcherv3.RegexMatcher{Regex: "/(("}}
			r.routes = []types.Resource{xdstest.RouteConfig("web", rt)}
			return r
		}},
		{"6", "endpoints", `cluster "backend": hosts[0].weight: weight 1000 out of range`, func() resources {
			r := v2
			r.endpoints = []types.Resource{xdstest.Assignment("backend", xdstest.Weighted(xdstest.LbEndpoint(hostA, portA), 1000))}
			return r
		}},
	}
	for _, b := range bad {
		b.res().push(cp, b.version)
		n := p.waitNack(t, b.typ, b.version)
		if !strings.Contains(n.Reason, b.reason) {
			t.Errorf("%s NACK reason %q, want %q", b.typ, n.Reason, b.reason)
		}
		// The control plane got the NACK: the version it held, and the reason.
		waitFor(t, "the NACK at the control plane", func() bool {
			for _, r := range cp.Requests() {
				if r.GetErrorDetail() != nil && strings.Contains(r.GetErrorDetail().GetMessage(), b.reason) &&
					r.GetVersionInfo() != b.version && r.GetResponseNonce() != "" {
					return true
				}
			}
			return false
		})
		if code, body := get(t, hc, url+"/hello"); code != 200 || body != "hi" {
			t.Fatalf("after bad push %s: %d %q", b.version, code, body)
		}
		if _, body := get(t, hc, url+"/x"); body != "A" && body != "B" {
			t.Fatalf("after bad push %s: %q", b.version, body)
		}
	}
	// A rejected version that comes again is NACKed again after a wait, not
	// translated again and not counted twice; the next version is taken.
	p.waitVersions(t, "6", "listeners", "routes", "clusters")
	if td := p.typeDump("clusters"); td.Rejected != 1 {
		t.Errorf("clusters: %d rejected", td.Rejected)
	}

	// The admin API shows the xDS state and the metrics count the pushes.
	admin := "http://" + p.srv.AdminAddr().String()
	_, dump := get(t, hc, admin+"/api/v1/config_dump")
	for _, want := range []string{`"dynamic"`, `"last_nack"`, `lb policy MAGLEV`, `"version": "6"`, `"ingress"`} {
		if !strings.Contains(dump, want) {
			t.Errorf("config_dump lacks %s", want)
		}
	}
	_, metrics := get(t, hc, admin+"/metrics")
	for _, want := range []string{`mosn_xds_pushes_total{result="rejected",type="clusters"} 1`, `mosn_xds_stream_connected 1`,
		`mosn_xds_seconds_since_update{type="listeners"}`} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

func TestADSWarmsListenerUntilRoutes(t *testing.T) {
	hostA, portA := origin(t, "A")
	cp := xdstest.StartControlPlane(t)
	// The listener names a route configuration the snapshot lacks.
	r := resources{
		listeners: []types.Resource{xdstest.HTTPListener(t, "ingress", "127.0.0.1", 0, "web")},
		clusters:  []types.Resource{xdstest.EDSCluster("backend")},
		endpoints: []types.Resource{xdstest.Assignment("backend", xdstest.LbEndpoint(hostA, portA))},
	}
	r.push(cp, "1")
	p := startProxy(t, cp)
	p.waitVersions(t, "1", "listeners", "clusters", "endpoints")
	if w := p.typeDump("listeners").Warming; len(w) != 1 || w[0] != "ingress" {
		t.Fatalf("warming %v", w)
	}
	if p.srv.ListenerAddr("ingress") != nil {
		t.Fatal("a listener without its routes serves")
	}
	r.routes = []types.Resource{xdstest.RouteConfig("web", xdstest.PrefixRoute("/", "backend"))}
	r.push(cp, "2")
	p.waitVersions(t, "2")
	addr := p.srv.ListenerAddr("ingress")
	if addr == nil {
		t.Fatal("listener still warming after its routes came")
	}
	hc := &http.Client{Timeout: 5 * time.Second}
	if _, body := get(t, hc, "http://"+addr.String()+"/"); body != "A" {
		t.Fatalf("got %q", body)
	}

	// The listener moves to routes that have not arrived: it serves on
	// with the ones it has, on the same socket, until they do.
	r.listeners = []types.Resource{xdstest.HTTPListener(t, "ingress", "127.0.0.1", 0, "web2")}
	r.push(cp, "3")
	p.waitVersions(t, "3", "listeners")
	if w := p.typeDump("listeners").Warming; len(w) != 1 {
		t.Fatalf("warming %v", w)
	}
	if a := p.srv.ListenerAddr("ingress"); a == nil || a.String() != addr.String() {
		t.Fatalf("listener at %v, was %v", a, addr)
	}
	if _, body := get(t, hc, "http://"+addr.String()+"/"); body != "A" {
		t.Fatalf("while warming: %q", body)
	}
	r.routes = []types.Resource{xdstest.RouteConfig("web2", &routev3.Route{Match: &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: "/"}},
		Action: &routev3.Route_DirectResponse{DirectResponse: &routev3.DirectResponseAction{Status: 200,
			Body: &corev3.DataSource{Specifier: &corev3.DataSource_InlineString{InlineString: "web2"}}}}})}
	r.push(cp, "4")
	p.waitVersions(t, "4")
	if _, body := get(t, hc, "http://"+addr.String()+"/"); body != "web2" {
		t.Fatalf("after web2 came: %q", body)
	}
	if w := p.typeDump("listeners").Warming; len(w) != 0 {
		t.Fatalf("still warming %v", w)
	}
}

// A version that removes a cluster and the route to it: whichever of CDS
// and RDS comes first, both end at that version (a CDS refused while the
// routes still name the cluster is tried again once RDS moved on).
func TestADSClusterRemovedWithItsRoute(t *testing.T) {
	hostA, portA := origin(t, "A")
	cp := xdstest.StartControlPlane(t)
	v1 := resources{
		listeners: []types.Resource{xdstest.HTTPListener(t, "ingress", "127.0.0.1", 0, "web")},
		routes:    []types.Resource{xdstest.RouteConfig("web", xdstest.PrefixRoute("/old/", "old"), xdstest.PrefixRoute("/", "backend"))},
		clusters:  []types.Resource{xdstest.EDSCluster("backend"), xdstest.EDSCluster("old")},
		endpoints: []types.Resource{xdstest.Assignment("backend", xdstest.LbEndpoint(hostA, portA)), xdstest.Assignment("old", xdstest.LbEndpoint(hostA, portA))},
	}
	v1.push(cp, "1")
	p := startProxy(t, cp)
	p.waitVersions(t, "1")
	v2 := v1
	v2.routes = []types.Resource{xdstest.RouteConfig("web", xdstest.PrefixRoute("/", "backend"))}
	v2.clusters = v1.clusters[:1]
	v2.endpoints = v1.endpoints[:1]
	v2.push(cp, "2")
	p.waitVersions(t, "2", "routes", "clusters")
	if n := len(p.srv.Clusters()); n != 1 {
		t.Fatalf("%d clusters after the removal", n)
	}
	t.Logf("clusters NACKed on the way: %d", p.typeDump("clusters").Rejected)
}

// An endpoint-only push changes the host set in place: a host that stays
// keeps its counters (and its connection pool) across the swap.
func TestADSEndpointPushKeepsHostState(t *testing.T) {
	hostA, portA := origin(t, "A")
	hostB, portB := origin(t, "B")
	cp := xdstest.StartControlPlane(t)
	r := ingressTo(t, hostA, portA)
	r.push(cp, "1")
	p := startProxy(t, cp)
	p.waitVersions(t, "1")
	url := "http://" + p.srv.ListenerAddr("ingress").String() + "/"
	hc := &http.Client{Timeout: 5 * time.Second}
	for range 3 {
		get(t, hc, url)
	}
	hostRequests := func(addr string) (uint64, bool) {
		for _, c := range p.srv.Clusters() {
			for _, h := range c.Hosts {
				if c.Name == "backend" && h.Address == addr {
					return h.Requests, true
				}
			}
		}
		return 0, false
	}
	a := net.JoinHostPort(hostA, fmt.Sprint(portA))
	if n, _ := hostRequests(a); n != 3 {
		t.Fatalf("host A served %d requests", n)
	}
	r.endpoints = []types.Resource{xdstest.Assignment("backend", xdstest.LbEndpoint(hostA, portA), xdstest.LbEndpoint(hostB, portB))}
	r.push(cp, "2")
	p.waitVersions(t, "2")
	if n, ok := hostRequests(a); n != 3 {
		t.Fatalf("host A after the endpoint push: %d requests (present %v), want its 3 kept", n, ok)
	}
	if _, ok := hostRequests(net.JoinHostPort(hostB, fmt.Sprint(portB))); !ok {
		t.Fatal("host B not added")
	}
}

// Listeners are asked for after the clusters and their endpoints, as Envoy
// starts: a listener never serves before its clusters have hosts.
func TestADSListenersAfterClustersAndEndpoints(t *testing.T) {
	hostA, portA := origin(t, "A")
	cp := xdstest.StartControlPlane(t)
	r := ingressTo(t, hostA, portA)
	r.push(cp, "1")
	p := startProxy(t, cp)
	p.waitVersions(t, "1")
	first := map[string]int{}
	for i, q := range cp.Requests() {
		if _, seen := first[q.GetTypeUrl()]; !seen {
			first[q.GetTypeUrl()] = i
		}
	}
	if !(first[xds.ClusterType] < first[xds.EndpointType] && first[xds.EndpointType] < first[xds.ListenerType] && first[xds.ListenerType] < first[xds.RouteType]) {
		t.Fatalf("first requests at %v, want CDS, EDS, LDS, RDS", first)
	}
}

// An EDS cluster whose endpoints never come holds the listeners back only
// for the initial fetch timeout.
func TestADSInitialFetchTimeout(t *testing.T) {
	cp := xdstest.StartControlPlane(t)
	cp.Push(node, "1",
		[]types.Resource{xdstest.HTTPListener(t, "ingress", "127.0.0.1", 0, "web")},
		[]types.Resource{xdstest.RouteConfig("web", xdstest.PrefixRoute("/", "backend"))},
		[]types.Resource{xdstest.EDSCluster("backend")},
		// An assignment nothing asks for: go-control-plane's ADS cache
		// then holds the EDS response back.
		[]types.Resource{xdstest.Assignment("backend"), xdstest.Assignment("unasked")})
	p := startProxy(t, cp, func(o *xds.Options) { o.InitialFetchTimeout = 300 * time.Millisecond })
	p.waitVersions(t, "1", "clusters", "listeners", "routes")
	waitFor(t, "the listener", func() bool { return p.srv.ListenerAddr("ingress") != nil })
	if v := p.typeDump("endpoints").Version; v != "" {
		t.Fatalf("endpoints version %q: the test wants EDS unanswered", v)
	}
}

func TestADSReconnectsAndResubscribes(t *testing.T) {
	hostA, portA := origin(t, "A")
	hostB, portB := origin(t, "B")
	cp := xdstest.StartControlPlane(t)
	r := ingressTo(t, hostA, portA)
	r.push(cp, "1")
	p := startProxy(t, cp)
	p.waitVersions(t, "1")
	url := "http://" + p.srv.ListenerAddr("ingress").String()
	hc := &http.Client{Timeout: 5 * time.Second}

	cp.Stop()
	waitFor(t, "the stream to drop", func() bool { return !p.client.Status().Connected })
	for range 5 {
		if code, body := get(t, hc, url+"/"); code != 200 || body != "A" {
			t.Fatalf("while the control plane is down: %d %q", code, body)
		}
	}
	before := len(cp.Requests())
	cp.Start()
	start := time.Now()
	waitFor(t, "the stream to come back", func() bool { return p.client.Status().Connected })
	t.Logf("stream back %v after the control plane restarted", time.Since(start).Round(time.Millisecond))
	// The new stream asked again with the versions held, node on the first request.
	reqs := cp.Requests()[before:]
	if len(reqs) == 0 || reqs[0].GetNode().GetId() != node {
		t.Fatalf("first request after reconnect: %v", reqs)
	}
	held := map[string]bool{}
	for _, q := range reqs {
		if q.GetVersionInfo() == "1" && q.GetResponseNonce() == "" {
			held[q.GetTypeUrl()] = true
		}
	}
	for _, u := range []string{xds.ClusterType, xds.ListenerType, xds.EndpointType, xds.RouteType} {
		if !held[u] {
			t.Errorf("no resubscription with held version 1 for %s", u)
		}
	}
	r.endpoints = []types.Resource{xdstest.Assignment("backend", xdstest.LbEndpoint(hostB, portB))}
	r.push(cp, "2")
	p.waitVersions(t, "2")
	if _, body := get(t, hc, url+"/"); body != "B" {
		t.Fatalf("after the reconnect push: %q", body)
	}
}

// TestADSLargePush measures a push of 1000 clusters of 10 endpoints and a
// route configuration of 1000 routes: from the snapshot being set to every
// type ACKed and applied. It logs the figure; it asserts only the result.
func TestADSLargePush(t *testing.T) {
	if testing.Short() {
		t.Skip("large push")
	}
	hostA, portA := origin(t, "A")
	cp := xdstest.StartControlPlane(t)
	small := ingressTo(t, hostA, portA)
	small.push(cp, "1")
	p := startProxy(t, cp)
	p.waitVersions(t, "1")

	large := largePush(small)
	start := time.Now()
	large.push(cp, "2")
	p.waitVersions(t, "2")
	elapsed := time.Since(start)
	t.Logf("push of 1000 clusters x 10 endpoints + 1000 routes applied in %v", elapsed.Round(time.Millisecond))
	url := "http://" + p.srv.ListenerAddr("ingress").String()
	if _, body := get(t, &http.Client{Timeout: 5 * time.Second}, url+"/other"); body != "A" {
		t.Fatalf("after the large push: %q", body)
	}
	if got := len(p.srv.Clusters()); got != 1001 {
		t.Fatalf("%d clusters running", got)
	}
}

// largePush is small plus 1000 EDS clusters of 10 endpoints each and a
// route to each in small's route configuration "web".
func largePush(small resources) resources {
	large := small
	large.clusters = slices.Clone(small.clusters)
	large.endpoints = slices.Clone(small.endpoints)
	var rts []*routev3.Route
	for i := range 1000 {
		name := fmt.Sprintf("svc-%04d", i)
		large.clusters = append(large.clusters, xdstest.EDSCluster(name))
		cla := xdstest.Assignment(name)
		for j := range 10 {
			cla.Endpoints[0].LbEndpoints = append(cla.Endpoints[0].LbEndpoints, xdstest.LbEndpoint(fmt.Sprintf("127.0.%d.%d", i/250+1, i%250+1), uint32(8000+j)))
		}
		large.endpoints = append(large.endpoints, cla)
		rts = append(rts, xdstest.PrefixRoute("/"+name+"/", name))
	}
	rts = append(rts, xdstest.PrefixRoute("/", "backend"))
	large.routes = []types.Resource{xdstest.RouteConfig("web", rts...)}
	return large
}

// TestADSLargePushUnderLoad runs HTTP/1 load (internal/bench, the engine
// of mosnctl bench) through the pushed listener, once without a push and
// once while the large push is applied: no request may fail; the two rates
// are logged (a 2-core host shared with the load generator and the origin:
// a figure, not an assertion).
func TestADSLargePushUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("load")
	}
	hostA, portA := origin(t, "A")
	cp := xdstest.StartControlPlane(t)
	small := ingressTo(t, hostA, portA)
	small.push(cp, "1")
	p := startProxy(t, cp)
	p.waitVersions(t, "1")
	cfg := bench.Config{Targets: []string{"http://" + p.srv.ListenerAddr("ingress").String() + "/load"},
		Conns: 4, Duration: time.Second, Warmup: 200 * time.Millisecond, Timeout: 5 * time.Second}
	before, err := bench.Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	large := largePush(small)
	type result struct {
		r   *bench.Result
		err error
	}
	during := make(chan result, 1)
	cfg.Warmup = 0
	go func() {
		r, err := bench.Run(context.Background(), cfg)
		during <- result{r, err}
	}()
	time.Sleep(200 * time.Millisecond)
	start := time.Now()
	large.push(cp, "2")
	p.waitVersions(t, "2")
	applied := time.Since(start)
	d := <-during
	if d.err != nil {
		t.Fatal(d.err)
	}
	if before.Errors.Total != 0 || d.r.Errors.Total != 0 || d.r.Responses == 0 {
		t.Fatalf("errors: %d before, %d of %d during the push", before.Errors.Total, d.r.Errors.Total, d.r.Requests)
	}
	t.Logf("HTTP/1 through the unchanged listener: %.0f req/s before, %.0f req/s over the 1 s window holding the push (%+.1f%%); push applied in %v",
		before.RPS, d.r.RPS, (d.r.RPS-before.RPS)/before.RPS*100, applied.Round(time.Millisecond))
}
