package xds

import (
	stdjson "encoding/json"
	"strings"
	"testing"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/mosnctl/mosnctl/internal/config"
	"github.com/mosnctl/mosnctl/internal/xds/xdstest"
)

// testBase is a bootstrap-only config: no static listeners.
func testBase() *config.Config {
	return &config.Config{
		Node: &config.Node{ID: "test"},
		DynamicResources: &config.DynamicResources{
			ADSConfig: &config.APIConfigSource{APIType: "GRPC", GRPCServices: []config.GRPCService{{EnvoyGRPC: &config.EnvoyGRPC{ClusterName: "xds"}}}},
			LDSConfig: &config.ConfigSource{ADS: &struct{}{}},
			CDSConfig: &config.ConfigSource{ADS: &struct{}{}},
		},
		StaticResources: &config.StaticResources{Clusters: []stdjson.RawMessage{stdjson.RawMessage(`{"name":"xds"}`)}},
	}
}

func mustTranslate(t *testing.T, ls []*listenerv3.Listener, rs []*routev3.RouteConfiguration, cs []*clusterv3.Cluster, es []*endpointv3.ClusterLoadAssignment) *Resources {
	t.Helper()
	r := &Resources{Listeners: map[string]*Listener{}, Routes: map[string]*config.RouterConfiguration{},
		Clusters: map[string]*Cluster{}, Endpoints: map[string][]config.Host{}}
	for _, l := range ls {
		tl, err := TranslateListener(l)
		if err != nil {
			t.Fatal(err)
		}
		r.Listeners[l.Name] = tl
	}
	for _, rc := range rs {
		tr, err := TranslateRoute(rc)
		if err != nil {
			t.Fatal(err)
		}
		r.Routes[rc.Name] = tr
	}
	for _, c := range cs {
		tc, err := TranslateCluster(c)
		if err != nil {
			t.Fatal(err)
		}
		r.Clusters[c.Name] = tc
	}
	for _, e := range es {
		hs, err := TranslateEndpoints(e)
		if err != nil {
			t.Fatal(err)
		}
		r.Endpoints[e.ClusterName] = hs
	}
	return r
}

func TestBuildTranslatesEveryType(t *testing.T) {
	rc := xdstest.RouteConfig("web",
		&routev3.Route{
			Match: &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_SafeRegex{SafeRegex: &matcherv3.RegexMatcher{Regex: "/v[0-9]+/.*"}},
				CaseSensitive: wrapperspb.Bool(false),
				Headers: []*routev3.HeaderMatcher{
					{Name: "X-Legacy", HeaderMatchSpecifier: &routev3.HeaderMatcher_ExactMatch{ExactMatch: "a"}},
					{Name: "x-pre", HeaderMatchSpecifier: &routev3.HeaderMatcher_PrefixMatch{PrefixMatch: "a.b"}},
					{Name: "x-str", HeaderMatchSpecifier: &routev3.HeaderMatcher_StringMatch{StringMatch: &matcherv3.StringMatcher{
						MatchPattern: &matcherv3.StringMatcher_Exact{Exact: "Yes"}, IgnoreCase: true}}},
					{Name: "x-here", HeaderMatchSpecifier: &routev3.HeaderMatcher_PresentMatch{PresentMatch: true}},
				}},
			Action: &routev3.Route_Route{Route: &routev3.RouteAction{
				ClusterSpecifier: &routev3.RouteAction_WeightedClusters{WeightedClusters: &routev3.WeightedCluster{
					Clusters: []*routev3.WeightedCluster_ClusterWeight{
						{Name: "backend", Weight: wrapperspb.UInt32(3)}, {Name: "static", Weight: wrapperspb.UInt32(1)}}}},
				Timeout:     durationpb.New(2 * time.Second),
				RetryPolicy: &routev3.RetryPolicy{RetryOn: "connect-failure,reset", NumRetries: wrapperspb.UInt32(2), PerTryTimeout: durationpb.New(time.Second)},
			}}},
		&routev3.Route{Match: &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Path{Path: "/health"}},
			Action: &routev3.Route_DirectResponse{DirectResponse: &routev3.DirectResponseAction{Status: 200,
				Body: &corev3.DataSource{Specifier: &corev3.DataSource_InlineString{InlineString: "ok"}}}}},
	)
	pr := xdstest.PrefixRoute("/api/", "backend")
	pr.GetRoute().PrefixRewrite = "/"
	rc.VirtualHosts[0].Routes = append(rc.VirtualHosts[0].Routes, pr)
	static := &clusterv3.Cluster{Name: "static", LbPolicy: clusterv3.Cluster_LEAST_REQUEST,
		LoadAssignment: xdstest.Assignment("static", xdstest.LbEndpoint("127.0.0.1", 9000))}
	dns := &clusterv3.Cluster{Name: "dns", ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: clusterv3.Cluster_STRICT_DNS},
		LoadAssignment: xdstest.Assignment("dns", xdstest.LbEndpoint("localhost", 9001))}
	md := xdstest.LbEndpoint("127.0.0.3", 80)
	md.Metadata = &corev3.Metadata{FilterMetadata: map[string]*structpb.Struct{"istio": {Fields: map[string]*structpb.Value{"workload": structpb.NewStringValue("w1")}}}}
	unhealthy := xdstest.LbEndpoint("127.0.0.4", 80)
	unhealthy.HealthStatus = corev3.HealthStatus_UNHEALTHY
	r := mustTranslate(t,
		[]*listenerv3.Listener{xdstest.HTTPListener(t, "http", "127.0.0.1", 15001, "web"), xdstest.TCPListener(t, "tcp", "127.0.0.1", 15002, "dns")},
		[]*routev3.RouteConfiguration{rc},
		[]*clusterv3.Cluster{xdstest.EDSCluster("backend"), static, dns},
		[]*endpointv3.ClusterLoadAssignment{xdstest.Assignment("backend", xdstest.Weighted(xdstest.LbEndpoint("127.0.0.2", 80), 5), md, unhealthy)})
	cfg, warming, err := Build(testBase(), r)
	if err != nil {
		t.Fatal(err)
	}
	if len(warming) != 0 {
		t.Fatalf("warming %v", warming)
	}
	srv := cfg.Servers[len(cfg.Servers)-1]
	if srv.ServerName != DynamicServerName || len(srv.Listeners) != 2 || len(srv.Routers) != 1 {
		t.Fatalf("server %+v", srv)
	}
	l := srv.Listeners[0]
	if l.Name != "http" || l.Address != "127.0.0.1:15001" {
		t.Errorf("listener %+v", l)
	}
	p, err := config.DecodeProxy(l.FilterChains[0].Filters[0], "")
	if err != nil || p.RouterConfigName != "web" || p.DownstreamProtocol != config.ProtocolHTTP1 {
		t.Errorf("proxy %+v %v", p, err)
	}
	tp, err := config.DecodeTCPProxy(srv.Listeners[1].FilterChains[0].Filters[0], "")
	if err != nil || tp.Cluster != "dns" || tp.IdleTimeout.Get(0) != time.Minute {
		t.Errorf("tcp_proxy %+v %v", tp, err)
	}
	routes := srv.Routers[0].VirtualHosts[0].Routers
	m := routes[0].Match
	if m.Regex != "/v[0-9]+/.*" || m.CaseSensitive == nil || *m.CaseSensitive {
		t.Errorf("match %+v", m)
	}
	wantHeaders := []config.HeaderMatcher{{Name: "x-legacy", Value: "a"}, {Name: "x-pre", Value: `a\.b.*`, Regex: true},
		{Name: "x-str", Value: "(?i)Yes", Regex: true}, {Name: "x-here", Value: ".*", Regex: true}}
	for i, h := range wantHeaders {
		if m.Headers[i] != h {
			t.Errorf("header %d = %+v, want %+v", i, m.Headers[i], h)
		}
	}
	a := routes[0].Route
	if len(a.WeightedClusters) != 2 || a.WeightedClusters[0].Cluster.Weight != 3 || a.Timeout.Get(0) != 2*time.Second ||
		!a.RetryPolicy.RetryOn.Enabled || a.RetryPolicy.NumRetries != 2 || a.RetryPolicy.RetryTimeout.Get(0) != time.Second {
		t.Errorf("action %+v", a)
	}
	if d := routes[1].DirectResponse; d == nil || d.StatusCode != 200 || d.Body != "ok" || routes[1].Match.Path != "/health" {
		t.Errorf("direct %+v", routes[1])
	}
	if routes[2].Route.PrefixRewrite != "/" || routes[2].Match.Prefix != "/api/" {
		t.Errorf("rewrite %+v", routes[2])
	}
	clusters := map[string]config.Cluster{}
	for _, c := range cfg.ClusterManager.Clusters {
		clusters[c.Name] = c
	}
	b := clusters["backend"]
	if b.LbType != config.LBWeightedRoundRobin || len(b.Hosts) != 2 || b.Hosts[0].Address != "127.0.0.2:80" || b.Hosts[0].Weight != 5 ||
		b.Hosts[1].Metadata["istio"].(map[string]any)["workload"] != "w1" || b.ConnectTimeout.Get(0) != time.Second {
		t.Errorf("backend %+v", b)
	}
	if s := clusters["static"]; s.LbType != config.LBLeastRequest || len(s.Hosts) != 1 || s.Hosts[0].Address != "127.0.0.1:9000" {
		t.Errorf("static %+v", s)
	}
	if d := clusters["dns"]; len(d.Hosts) != 1 || d.Hosts[0].Address != "localhost:9001" || d.LbType != config.LBRoundRobin {
		t.Errorf("dns %+v", d)
	}
}

func TestBuildWarmsListenerWithoutRoutes(t *testing.T) {
	r := mustTranslate(t, []*listenerv3.Listener{xdstest.HTTPListener(t, "http", "127.0.0.1", 0, "later")}, nil, nil, nil)
	cfg, warming, err := Build(testBase(), r)
	if err != nil {
		t.Fatal(err)
	}
	if len(warming) != 1 || warming[0] != "http" || len(cfg.Servers[0].Listeners) != 0 {
		t.Fatalf("warming %v, listeners %v", warming, cfg.Servers[0].Listeners)
	}
	r.Routes["later"], _ = TranslateRoute(xdstest.RouteConfig("later", &routev3.Route{Match: &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Prefix{}},
		Action: &routev3.Route_DirectResponse{DirectResponse: &routev3.DirectResponseAction{Status: 204}}}))
	cfg, warming, err = Build(testBase(), r)
	if err != nil || len(warming) != 0 || len(cfg.Servers[0].Listeners) != 1 {
		t.Fatalf("after RDS: %v %v %+v", err, warming, cfg)
	}
}

func TestBuildErrorsNameTheResource(t *testing.T) {
	r := mustTranslate(t, []*listenerv3.Listener{xdstest.HTTPListener(t, "http", "127.0.0.1", 0, "web")},
		[]*routev3.RouteConfiguration{xdstest.RouteConfig("web", xdstest.PrefixRoute("/", "nowhere"))}, nil, nil)
	_, _, err := Build(testBase(), r)
	want := `route_configuration "web": virtual_hosts[0].routers[0].route.cluster_name: no cluster named "nowhere"`
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("got %v, want %q", err, want)
	}
	r = mustTranslate(t, nil, nil, []*clusterv3.Cluster{xdstest.EDSCluster("big")},
		[]*endpointv3.ClusterLoadAssignment{xdstest.Assignment("big", xdstest.Weighted(xdstest.LbEndpoint("127.0.0.1", 80), 1000))})
	_, _, err = Build(testBase(), r)
	want = `cluster "big": hosts[0].weight: weight 1000 out of range`
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("got %v, want %q", err, want)
	}
}

func TestTranslateRefuses(t *testing.T) {
	hcmWith := func(f func(*hcmv3.HttpConnectionManager)) *listenerv3.Listener {
		l := xdstest.HTTPListener(t, "l", "127.0.0.1", 80, "r")
		h := &hcmv3.HttpConnectionManager{}
		l.FilterChains[0].Filters[0].GetTypedConfig().UnmarshalTo(h)
		f(h)
		l.FilterChains[0].Filters[0].ConfigType = &listenerv3.Filter_TypedConfig{TypedConfig: xdstest.MustAny(t, h)}
		return l
	}
	badPort := xdstest.HTTPListener(t, "l", "127.0.0.1", 70000, "r")
	useOrig := xdstest.HTTPListener(t, "l", "127.0.0.1", 80, "r")
	useOrig.UseOriginalDst = wrapperspb.Bool(true)
	unknownFilter := xdstest.HTTPListener(t, "l", "127.0.0.1", 80, "r")
	unknownFilter.FilterChains[0].Filters[0].ConfigType = &listenerv3.Filter_TypedConfig{TypedConfig: xdstest.MustAny(t, &routev3.Route{})}
	badRegex := xdstest.RouteConfig("r", &routev3.Route{
		Match:  &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_SafeRegex{SafeRegex: &matcherv3.RegexMatcher{Regex: "/(a"}}},
		Action: &routev3.Route_Route{Route: &routev3.RouteAction{ClusterSpecifier: &routev3.RouteAction_Cluster{Cluster: "c"}}}})
	badRetry := xdstest.RouteConfig("r", xdstest.PrefixRoute("/", "c"))
	badRetry.VirtualHosts[0].Routes[0].GetRoute().RetryPolicy = &routev3.RetryPolicy{RetryOn: "5xx,unavailable"}
	invert := xdstest.RouteConfig("r", xdstest.PrefixRoute("/", "c"))
	invert.VirtualHosts[0].Routes[0].Match.Headers = []*routev3.HeaderMatcher{{Name: "x", InvertMatch: true,
		HeaderMatchSpecifier: &routev3.HeaderMatcher_ExactMatch{ExactMatch: "a"}}}
	maglev := xdstest.EDSCluster("c")
	maglev.LbPolicy = clusterv3.Cluster_MAGLEV
	unknownLB := xdstest.EDSCluster("c")
	unknownLB.LbPolicy = 42
	logical := xdstest.EDSCluster("c")
	logical.ClusterDiscoveryType = &clusterv3.Cluster_Type{Type: clusterv3.Cluster_LOGICAL_DNS}
	logical.EdsClusterConfig = nil
	breakers := xdstest.EDSCluster("c")
	breakers.CircuitBreakers = &clusterv3.CircuitBreakers{}
	nameInEDS := xdstest.Assignment("c", xdstest.LbEndpoint("example.com", 80))
	epPort := xdstest.Assignment("c", xdstest.LbEndpoint("127.0.0.1", 0))

	tests := []struct {
		name string
		err  func() error
		want string
	}{
		{"port out of range", func() error { _, err := TranslateListener(badPort); return err },
			`listener "l": address.socket_address.port_value: port 70000 out of range 0-65535`},
		{"unhandled listener field", func() error { _, err := TranslateListener(useOrig); return err },
			`listener "l": use_original_dst: not supported`},
		{"unknown network filter", func() error { _, err := TranslateListener(unknownFilter); return err },
			`filter_chains[0].filters[0].typed_config: network filter type.googleapis.com/envoy.config.route.v3.Route`},
		{"http3 codec", func() error {
			_, err := TranslateListener(hcmWith(func(h *hcmv3.HttpConnectionManager) { h.CodecType = hcmv3.HttpConnectionManager_HTTP3 }))
			return err
		}, `codec_type: codec HTTP3 is not supported yet`},
		{"other http filter", func() error {
			_, err := TranslateListener(hcmWith(func(h *hcmv3.HttpConnectionManager) {
				h.HttpFilters = append([]*hcmv3.HttpFilter{{Name: "envoy.filters.http.cors"}}, h.HttpFilters...)
			}))
			return err
		}, `http_filters[0]: http filter "envoy.filters.http.cors"`},
		{"rds not over ads", func() error {
			_, err := TranslateListener(hcmWith(func(h *hcmv3.HttpConnectionManager) {
				h.GetRds().ConfigSource = &corev3.ConfigSource{ConfigSourceSpecifier: &corev3.ConfigSource_Path{Path: "/x"}}
			}))
			return err
		}, `rds.config_source.path: not supported`},
		{"bad regex", func() error { _, err := TranslateRoute(badRegex); return err },
			`route_configuration "r": virtual_hosts[0].routes[0].match.safe_regex.regex: invalid regex "/(a"`},
		{"retry on a gRPC status", func() error { _, err := TranslateRoute(badRetry); return err },
			`retry_policy.retry_on: retry condition "unavailable" is not supported`},
		{"inverted header match", func() error { _, err := TranslateRoute(invert); return err },
			`match.headers[0].invert_match: not supported`},
		{"maglev", func() error { _, err := TranslateCluster(maglev); return err },
			`cluster "c": lb_policy: lb policy MAGLEV is not supported`},
		{"unknown lb policy", func() error { _, err := TranslateCluster(unknownLB); return err },
			`cluster "c": lb_policy: unknown lb policy 42`},
		{"logical dns", func() error { _, err := TranslateCluster(logical); return err },
			`cluster "c": type: cluster type LOGICAL_DNS is not supported`},
		{"circuit breakers", func() error { _, err := TranslateCluster(breakers); return err },
			`cluster "c": circuit_breakers: not supported`},
		{"name in EDS", func() error { _, err := TranslateEndpoints(nameInEDS); return err },
			`cluster_load_assignment "c": endpoints[0].lb_endpoints[0].endpoint.address.socket_address.address: "example.com" is not an IP address`},
		{"endpoint port 0", func() error { _, err := TranslateEndpoints(epPort); return err },
			`port_value: port 0 is not a valid upstream port`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.err()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want %q", err, tt.want)
			}
		})
	}
}

func TestEndpointsHealth(t *testing.T) {
	deg := xdstest.LbEndpoint("127.0.0.1", 1)
	deg.HealthStatus = corev3.HealthStatus_DEGRADED
	drain := xdstest.LbEndpoint("127.0.0.2", 1)
	drain.HealthStatus = corev3.HealthStatus_DRAINING
	hs, err := TranslateEndpoints(xdstest.Assignment("c", deg, drain))
	if err != nil || len(hs) != 1 || hs[0].Address != "127.0.0.1:1" {
		t.Fatalf("only degraded: %v %v", hs, err)
	}
	hs, err = TranslateEndpoints(xdstest.Assignment("c", deg, drain, xdstest.LbEndpoint("127.0.0.3", 1)))
	if err != nil || len(hs) != 1 || hs[0].Address != "127.0.0.3:1" {
		t.Fatalf("healthy beats degraded: %v %v", hs, err)
	}
}

// MOSN's "Mix" mode: static listeners and clusters in MOSN's format beside
// the pushed ones; a pushed cluster may not take a static one's name.
func TestBuildKeepsStaticConfig(t *testing.T) {
	base := testBase()
	base.Servers = []config.Server{{Listeners: []config.Listener{{Name: "static", Address: "127.0.0.1:0",
		FilterChains: []config.FilterChain{{Filters: []config.Filter{{Type: config.FilterTCPProxy, Config: stdjson.RawMessage(`{"cluster":"local"}`)}}}}}}}}
	base.ClusterManager.Clusters = []config.Cluster{{Name: "local", Hosts: []config.Host{{Address: "127.0.0.1:9"}}}}
	base.ApplyDefaults()
	r := mustTranslate(t, []*listenerv3.Listener{xdstest.TCPListener(t, "pushed", "127.0.0.1", 0, "local")}, nil, nil, nil)
	cfg, _, err := Build(base, r)
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Servers) != 2 || cfg.Servers[0].Listeners[0].Name != "static" || cfg.Servers[1].Listeners[0].Name != "pushed" {
		t.Fatalf("servers %+v", cfg.Servers)
	}
	if &cfg.Servers[0].Listeners[0] == &base.Servers[0].Listeners[0] {
		t.Fatal("the built config shares the base's listeners")
	}
	r = mustTranslate(t, nil, nil, []*clusterv3.Cluster{xdstest.EDSCluster("local")}, nil)
	if _, _, err := Build(base, r); err == nil || !strings.Contains(err.Error(), `cluster "local": name: duplicate cluster name "local"`) {
		t.Fatalf("got %v", err)
	}
}

func TestBuildInlineRouteConfig(t *testing.T) {
	l := xdstest.HTTPListener(t, "in", "127.0.0.1", 0, "unused")
	h := &hcmv3.HttpConnectionManager{}
	l.FilterChains[0].Filters[0].GetTypedConfig().UnmarshalTo(h)
	h.RouteSpecifier = &hcmv3.HttpConnectionManager_RouteConfig{RouteConfig: xdstest.RouteConfig("web", xdstest.PrefixRoute("/", "nowhere"))}
	l.FilterChains[0].Filters[0].ConfigType = &listenerv3.Filter_TypedConfig{TypedConfig: xdstest.MustAny(t, h)}
	tl, err := TranslateListener(l)
	if err != nil {
		t.Fatal(err)
	}
	if tl.RouteName != "" || tl.Inline == nil || tl.Inline.RouterConfigName != "inline:in" {
		t.Fatalf("translated %+v", tl)
	}
	r := mustTranslate(t, []*listenerv3.Listener{l}, nil, nil, nil)
	_, _, err = Build(testBase(), r)
	want := `listener "in": route_config: virtual_hosts[0].routers[0].route.cluster_name: no cluster named "nowhere"`
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("got %v, want %q", err, want)
	}
	r.Clusters["nowhere"], _ = TranslateCluster(xdstest.EDSCluster("nowhere"))
	cfg, warming, err := Build(testBase(), r)
	if err != nil || len(warming) != 0 {
		t.Fatal(err, warming)
	}
	if rs := cfg.Servers[0].Routers; len(rs) != 1 || rs[0].RouterConfigName != "inline:in" {
		t.Fatalf("routers %+v", rs)
	}
}
