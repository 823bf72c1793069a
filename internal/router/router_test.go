package router

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/mosnctl/mosnctl/internal/config"
)

// httpReq is an HTTP request view: header names fold case, as the proxy's do.
type httpReq struct {
	host, path []byte
	headers    [][2][]byte
}

func (r *httpReq) Host() []byte { return r.host }
func (r *httpReq) Path() []byte { return r.path }
func (r *httpReq) Header(name string) ([]byte, bool) {
	for _, h := range r.headers {
		if equalFoldASCII(h[0], name) {
			return h[1], true
		}
	}
	return nil, false
}

// methodReq is an HTTP request view that knows its method.
type methodReq struct {
	httpReq
	method []byte
}

func (r *methodReq) Header(name string) ([]byte, bool) {
	if name == ":method" {
		return r.method, true
	}
	return r.httpReq.Header(name)
}

func TestMethodMatcher(t *testing.T) {
	tbl := mustTable(t, `{"router_config_name": "m", "virtual_hosts": [{"domains": ["*"], "routers": [
	  {"match": {"prefix": "/", "headers": [{"name": "method", "value": "POST"}]}, "route": {"cluster_name": "post"}},
	  {"match": {"prefix": "/", "headers": [{"name": ":method", "value": "GET|HEAD", "regex": true}]}, "route": {"cluster_name": "read"}},
	  {"match": {"prefix": "/"}, "route": {"cluster_name": "other"}}]}]}`)
	tests := []struct {
		req  Request
		want string
	}{
		{&methodReq{httpReq: *req("h", "/"), method: []byte("POST")}, "post"},
		{&methodReq{httpReq: *req("h", "/"), method: []byte("HEAD")}, "read"},
		{&methodReq{httpReq: *req("h", "/", "method", "POST"), method: []byte("PUT")}, "other"},
		// A view without Method is asked for a header named "method".
		{req("h", "/", "method", "POST"), "post"},
		{bolt("method", "POST"), "post"},
	}
	for i, tt := range tests {
		if got := clusterOf(tbl.Match(tt.req)); got != tt.want {
			t.Errorf("case %d: got %s, want %s", i, got, tt.want)
		}
	}
}

// boltReq is a Bolt request view: no host or path, header keys exact.
type boltReq struct{ headers [][2][]byte }

func (r *boltReq) Host() []byte { return nil }
func (r *boltReq) Path() []byte { return nil }
func (r *boltReq) Header(name string) ([]byte, bool) {
	for _, h := range r.headers {
		if string(h[0]) == name {
			return h[1], true
		}
	}
	return nil, false
}

func req(host, path string, kv ...string) *httpReq {
	r := &httpReq{host: []byte(host), path: []byte(path)}
	for i := 0; i+1 < len(kv); i += 2 {
		r.headers = append(r.headers, [2][]byte{[]byte(kv[i]), []byte(kv[i+1])})
	}
	return r
}

func bolt(kv ...string) *boltReq {
	r := &boltReq{}
	for i := 0; i+1 < len(kv); i += 2 {
		r.headers = append(r.headers, [2][]byte{[]byte(kv[i]), []byte(kv[i+1])})
	}
	return r
}

func mustTable(t testing.TB, js string) *Table {
	t.Helper()
	var cfg config.RouterConfiguration
	dec := json.NewDecoder(strings.NewReader(js))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&cfg); err != nil {
		t.Fatalf("decode config: %v", err)
	}
	tbl, err := New(&cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return tbl
}

func clusterOf(r *Route) string {
	if r == nil {
		return "<nil>"
	}
	if r.Direct != nil {
		return "direct"
	}
	return r.PickCluster(0)
}

func TestDomainPrecedence(t *testing.T) {
	tbl := mustTable(t, `{
	  "router_config_name": "domains",
	  "virtual_hosts": [
	    {"name": "any", "domains": ["*"], "routers": [{"match": {"prefix": "/"}, "route": {"cluster_name": "any"}}]},
	    {"name": "exact", "domains": ["www.Example.com", "port.example.com:8080"], "routers": [{"match": {"prefix": "/"}, "route": {"cluster_name": "exact"}}]},
	    {"name": "sfx", "domains": ["*.example.com"], "routers": [{"match": {"prefix": "/"}, "route": {"cluster_name": "sfx"}}]},
	    {"name": "longsfx", "domains": ["*.api.example.com"], "routers": [{"match": {"prefix": "/"}, "route": {"cluster_name": "longsfx"}}]},
	    {"name": "dash", "domains": ["*-bar.org"], "routers": [{"match": {"prefix": "/"}, "route": {"cluster_name": "dash"}}]},
	    {"name": "pfx", "domains": ["api.*"], "routers": [{"match": {"prefix": "/"}, "route": {"cluster_name": "pfx"}}]},
	    {"name": "v6", "domains": ["[::1]"], "routers": [{"match": {"prefix": "/"}, "route": {"cluster_name": "v6"}}]}
	  ]}`)
	if tbl.Name() != "domains" {
		t.Errorf("Name() = %q", tbl.Name())
	}
	tests := []struct{ host, want string }{
		{"www.example.com", "exact"},
		{"WWW.EXAMPLE.COM", "exact"},
		{"www.example.com:80", "exact"},
		{"port.example.com:8080", "exact"}, // exact domain with a port
		{"port.example.com:9090", "sfx"},   // other port: falls to the suffix wildcard
		{"a.example.com", "sfx"},
		{"a.b.example.com", "sfx"},
		{"example.com", "any"}, // "*.example.com" needs at least one label
		{"x.api.example.com", "longsfx"},
		{"api.example.com", "sfx"}, // "*.api.example.com" needs a character before ".api"
		{"foo-bar.org", "dash"},
		{"-bar.org", "any"},
		{"api.internal", "pfx"},
		{"api.example.com.", "pfx"}, // no suffix match: trailing dot
		{"[::1]:443", "v6"},
		{"[::1]", "v6"},
		{"::1", "any"},
		{"", "any"},
		{strings.Repeat("a", maxHostLen+1) + ".example.com", "any"},
	}
	for _, tt := range tests {
		if got := clusterOf(tbl.Match(req(tt.host, "/"))); got != tt.want {
			t.Errorf("host %q: got %s, want %s", tt.host, got, tt.want)
		}
	}
}

func TestNoFallbackVirtualHost(t *testing.T) {
	tbl := mustTable(t, `{"router_config_name": "r", "virtual_hosts": [
	  {"domains": ["a.com"], "routers": [{"match": {"prefix": "/"}, "route": {"cluster_name": "a"}}]}]}`)
	if r := tbl.Match(req("b.com", "/")); r != nil {
		t.Errorf("unknown host matched %+v", r)
	}
	if got := clusterOf(tbl.Match(req("A.com:1", "/x"))); got != "a" {
		t.Errorf("got %s", got)
	}
	// A virtual host without domains loads (as in MOSN) but never matches.
	nodomains := mustTable(t, `{"router_config_name": "r", "virtual_hosts": [
	  {"name": "unreachable", "routers": [{"match": {"prefix": "/"}, "route": {"cluster_name": "a"}}]}]}`)
	if r := nodomains.Match(req("a.com", "/")); r != nil {
		t.Errorf("virtual host without domains matched %+v", r)
	}
	empty := mustTable(t, `{"router_config_name": "empty"}`)
	if r := empty.Match(req("a.com", "/")); r != nil {
		t.Errorf("empty table matched %+v", r)
	}
}

const routesConfig = `{
  "router_config_name": "routes",
  "virtual_hosts": [{
    "name": "vh",
    "domains": ["*"],
    "routers": [
      {"match": {"path": "/exact"}, "route": {"cluster_name": "exact"}},
      {"match": {"path": "/Fold", "case_sensitive": false}, "route": {"cluster_name": "fold-path"}},
      {"match": {"prefix": "/API/", "case_sensitive": false}, "route": {"cluster_name": "fold-prefix"}},
      {"match": {"regex": "/users/[0-9]+"}, "route": {"cluster_name": "regex"}},
      {"match": {"regex": "/ci/[a-z]+", "case_sensitive": false}, "route": {"cluster_name": "regex-fold"}},
      {"match": {"prefix": "/h/", "headers": [{"name": "x-env", "value": "canary"}, {"name": "x-ver", "value": "v[0-9]+", "regex": true}]}, "route": {"cluster_name": "headers"}},
      {"match": {"prefix": "/h/", "headers": [{"name": "x-lit", "value": ".*"}]}, "route": {"cluster_name": "literal"}},
      {"match": {"prefix": "/static/"}, "route": {"cluster_name": "static"}},
      {"match": {"prefix": "/direct"}, "direct_response": {"status": 503, "body": "down"}},
      {"match": {"prefix": "/"}, "route": {"cluster_name": "default"}}
    ]
  }]
}`

func TestRouteMatching(t *testing.T) {
	tbl := mustTable(t, routesConfig)
	tests := []struct {
		name string
		req  Request
		want string
	}{
		{"exact path", req("h", "/exact"), "exact"},
		{"exact path is not a prefix", req("h", "/exact/more"), "default"},
		{"exact path case sensitive", req("h", "/EXACT"), "default"},
		{"exact path folded", req("h", "/fOLD"), "fold-path"},
		{"prefix folded", req("h", "/api/v1"), "fold-prefix"},
		{"prefix folded upper", req("h", "/API/v1"), "fold-prefix"},
		{"regex whole path", req("h", "/users/42"), "regex"},
		{"regex is anchored at the end", req("h", "/users/42/x"), "default"},
		{"regex is anchored at the start", req("h", "/x/users/42"), "default"},
		{"regex case sensitive", req("h", "/CI/abc"), "regex-fold"},
		{"regex folded", req("h", "/ci/ABC"), "regex-fold"},
		{"headers all match", req("h", "/h/1", "X-Env", "canary", "x-ver", "v12"), "headers"},
		{"header regex is anchored", req("h", "/h/1", "x-env", "canary", "x-ver", "v12beta"), "default"},
		{"header exact is case sensitive", req("h", "/h/1", "x-env", "Canary", "x-ver", "v1"), "default"},
		{"header missing", req("h", "/h/1", "x-env", "canary"), "default"},
		{"value .* without regex is literal", req("h", "/h/1", "x-lit", "anything"), "default"},
		{"value .* literal matches itself", req("h", "/h/1", "x-lit", ".*"), "literal"},
		{"prefix", req("h", "/static/a.css"), "static"},
		{"prefix case sensitive", req("h", "/STATIC/a.css"), "default"},
		{"direct response", req("h", "/direct/x"), "direct"},
		{"fallback route", req("h", "/anything"), "default"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := clusterOf(tbl.Match(tt.req)); got != tt.want {
				t.Errorf("got %s, want %s", got, tt.want)
			}
		})
	}
	d := tbl.Match(req("h", "/direct"))
	if d == nil || d.Direct == nil || d.Direct.Status != 503 || string(d.Direct.Body) != "down" {
		t.Errorf("direct response = %+v", d)
	}
	if d.VirtualHost != "vh" {
		t.Errorf("VirtualHost = %q", d.VirtualHost)
	}
}

func TestNoRouteMatches(t *testing.T) {
	tbl := mustTable(t, `{"router_config_name": "r", "virtual_hosts": [{"domains": ["*"], "routers": [
	  {"match": {"prefix": "/a"}, "route": {"cluster_name": "a"}}]}]}`)
	if r := tbl.Match(req("h", "/b")); r != nil {
		t.Errorf("got %+v, want nil", r)
	}
}

// The sofarpc samples route Bolt requests by the "service" header; see the
// comment on headerKind for MOSN's rules this mirrors.
func TestBoltRouting(t *testing.T) {
	tbl := mustTable(t, `{"router_config_name": "bolt", "virtual_hosts": [{"domains": ["*"], "routers": [
	  {"match": {"headers": [{"name": "service", "value": "com.example.Pinned"}]}, "route": {"cluster_name": "pinned"}},
	  {"match": {"headers": [{"name": "service", "value": "com\\.example\\..*Facade", "regex": true}]}, "route": {"cluster_name": "facades"}},
	  {"match": {"headers": [{"name": "service", "value": "x"}, {"name": "version", "value": ".*"}]}, "route": {"cluster_name": "literal-version"}},
	  {"match": {"headers": [{"name": "service", "value": ".*"}]}, "route": {"cluster_name": "any-service"}},
	  {"match": {"prefix": "/"}, "route": {"cluster_name": "root"}}
	]}]}`)
	tests := []struct {
		name string
		req  Request
		want string
	}{
		{"exact service", bolt("service", "com.example.Pinned"), "pinned"},
		{"regex service", bolt("service", "com.example.UserFacade"), "facades"},
		{"two matchers: .* is literal", bolt("service", "x", "version", "1.0"), "any-service"},
		{"two matchers: literal .*", bolt("service", "x", "version", ".*"), "literal-version"},
		{"sofa .* matches any service", bolt("service", "com.other.Svc"), "any-service"},
		{"sofa .* needs a non-empty service", bolt("service", ""), "root"},
		{"Bolt keys are case sensitive", bolt("Service", "com.other.Svc"), "root"},
		{"no service: prefix / still matches", bolt(), "root"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := clusterOf(tbl.Match(tt.req)); got != tt.want {
				t.Errorf("got %s, want %s", got, tt.want)
			}
		})
	}
	// An empty path is matched as "/", but not by deeper rules.
	deep := mustTable(t, `{"router_config_name": "deep", "virtual_hosts": [{"domains": ["*"], "routers": [
	  {"match": {"prefix": "/api"}, "route": {"cluster_name": "api"}},
	  {"match": {"path": "/x"}, "route": {"cluster_name": "x"}}]}]}`)
	if r := deep.Match(bolt("service", "a")); r != nil {
		t.Errorf("Bolt request matched a deep path rule: %+v", r)
	}
}

// The ".*" and ".+" regexes skip the regexp engine; they must still agree
// with it.
func TestDotRegexShortcuts(t *testing.T) {
	tbl := mustTable(t, `{"router_config_name": "dots", "virtual_hosts": [{"domains": ["*"], "routers": [
	  {"match": {"headers": [{"name": "a", "value": ".+", "regex": true}]}, "route": {"cluster_name": "plus"}},
	  {"match": {"headers": [{"name": "b", "value": ".*", "regex": true}]}, "route": {"cluster_name": "star"}}]}]}`)
	slow := mustTable(t, `{"router_config_name": "dots", "virtual_hosts": [{"domains": ["*"], "routers": [
	  {"match": {"headers": [{"name": "a", "value": "(?:.+)", "regex": true}]}, "route": {"cluster_name": "plus"}},
	  {"match": {"headers": [{"name": "b", "value": "(?:.*)", "regex": true}]}, "route": {"cluster_name": "star"}}]}]}`)
	for _, v := range []string{"", "x", "x\ny", "\n", "héllo"} {
		for _, name := range []string{"a", "b"} {
			r := req("h", "/", name, v)
			if got, want := clusterOf(tbl.Match(r)), clusterOf(slow.Match(r)); got != want {
				t.Errorf("header %s=%q: shortcut %s, regexp %s", name, v, got, want)
			}
		}
	}
}

func TestWeightedPick(t *testing.T) {
	tbl := mustTable(t, `{"router_config_name": "w", "virtual_hosts": [{"domains": ["*"], "routers": [
	  {"match": {"prefix": "/"}, "route": {"weighted_clusters": [
	    {"cluster": {"name": "a", "weight": 70}},
	    {"cluster": {"name": "none", "weight": 0}},
	    {"cluster": {"name": "b", "weight": 20}},
	    {"cluster": {"name": "c", "weight": 10}}]}}]}]}`)
	r := tbl.Match(req("h", "/"))
	if r == nil || r.ClusterName != "" || len(r.Weighted) != 4 {
		t.Fatalf("route = %+v", r)
	}
	// rnd values spread evenly over the uint32 range (the midpoints of n
	// equal slices) give exact shares.
	const n = 10000
	counts := map[string]int{}
	for i := uint64(0); i < n; i++ {
		counts[r.PickCluster(uint32(((2*i+1)<<32)/(2*n)))]++
	}
	want := map[string]int{"a": 7000, "b": 2000, "c": 1000}
	for k, v := range want {
		if counts[k] != v {
			t.Errorf("cluster %s picked %d times, want %d (all: %v)", k, counts[k], v, counts)
		}
	}
	if counts["none"] != 0 {
		t.Errorf("weight-0 cluster picked %d times", counts["none"])
	}
	if got := r.PickCluster(0); got != "a" {
		t.Errorf("PickCluster(0) = %s", got)
	}
	if got := r.PickCluster(^uint32(0)); got != "c" {
		t.Errorf("PickCluster(max) = %s", got)
	}
	single := &Route{ClusterName: "only"}
	if got := single.PickCluster(12345); got != "only" {
		t.Errorf("PickCluster on a plain route = %s", got)
	}
}

func TestRouteAction(t *testing.T) {
	tbl := mustTable(t, `{
	  "router_config_name": "act",
	  "request_headers_to_add": [{"header": {"key": "x-table", "value": "t"}}, {"header": {"key": "X-Level", "value": "table"}}],
	  "response_headers_to_add": [{"header": {"key": "x-resp", "value": "table"}, "append": false}],
	  "request_headers_to_remove": ["x-drop-table", "X-Common"],
	  "virtual_hosts": [{
	    "name": "vh", "domains": ["*"],
	    "request_headers_to_add": [{"header": {"key": "x-level", "value": "vhost"}}, {"header": {"key": "x-vh", "value": "v"}}],
	    "request_headers_to_remove": ["x-common"],
	    "routers": [
	      {"match": {"prefix": "/api/"}, "route": {
	        "cluster_name": "api", "timeout": "2s", "prefix_rewrite": "/v2/", "host_rewrite": "backend",
	        "retry_policy": {"retry_on": true, "retry_timeout": "500ms", "num_retries": 3},
	        "request_headers_to_add": [{"header": {"key": "X-LEVEL", "value": "route"}, "append": false}],
	        "request_headers_to_remove": ["x-drop-route"]}},
	      {"match": {"path": "/old"}, "route": {"cluster_name": "p", "prefix_rewrite": "/new", "retry_policy": {"retry_on": false, "num_retries": 3}}}
	    ]}]}`)
	r := tbl.Match(req("h", "/api/x"))
	if r == nil {
		t.Fatal("no route")
	}
	if r.Timeout != 2*time.Second || !reflect.DeepEqual(r.Retry, RetryPolicy{NumRetries: 3, PerTryTimeout: 500 * time.Millisecond,
		ConnectFailure: true, Reset: true, On5xx: true}) {
		t.Errorf("timeout %v retry %+v", r.Timeout, r.Retry)
	}
	if r.PrefixRewrite != "/v2/" || string(r.MatchedPrefix) != "/api/" || r.HostRewrite != "backend" {
		t.Errorf("rewrite %q matched %q host %q", r.PrefixRewrite, r.MatchedPrefix, r.HostRewrite)
	}
	got := headerList(r.RequestHeadersToAdd)
	want := "X-LEVEL=route(set) x-vh=v(append) x-table=t(append)"
	if got != want {
		t.Errorf("request headers to add:\n got %s\nwant %s", got, want)
	}
	if got := headerList(r.ResponseHeadersToAdd); got != "x-resp=table(set)" {
		t.Errorf("response headers to add: %s", got)
	}
	if got := string(bytes.Join(r.RequestHeadersToRemove, []byte(" "))); got != "x-drop-route x-common x-drop-table" {
		t.Errorf("request headers to remove: %s", got)
	}
	if r.MetadataMatch != nil {
		t.Errorf("metadata match %v on a route without one", r.MetadataMatch)
	}
	mm := mustTable(t, `{"router_config_name": "mm", "virtual_hosts": [{"domains": ["*"], "routers": [{"match": {"prefix": "/"},
	  "route": {"cluster_name": "c", "metadata_match": {"filter_metadata": {"mosn.lb": {"zone": "a", "version": "v2"}}}}}]}]}`).Match(req("h", "/"))
	if want := []config.Label{{Key: "version", Value: "v2"}, {Key: "zone", Value: "a"}}; mm == nil || !reflect.DeepEqual(mm.MetadataMatch, want) {
		t.Errorf("metadata match = %+v, want %v sorted by key", mm, want)
	}
	p := tbl.Match(req("h", "/old"))
	if p == nil || string(p.MatchedPrefix) != "/old" || p.PrefixRewrite != "/new" || !reflect.DeepEqual(p.Retry, RetryPolicy{}) || p.Timeout != 0 {
		t.Errorf("path route = %+v", p)
	}
}

func headerList(hs []Header) string {
	var parts []string
	for _, h := range hs {
		mode := "set"
		if h.Append {
			mode = "append"
		}
		parts = append(parts, string(h.Name)+"="+string(h.Value)+"("+mode+")")
	}
	return strings.Join(parts, " ")
}

func TestNewErrors(t *testing.T) {
	route := func(match, action string) string {
		return `{"router_config_name": "bad", "virtual_hosts": [{"domains": ["*"], "routers": [{"match": ` + match + `, ` + action + `}]}]}`
	}
	ok := `"route": {"cluster_name": "c"}`
	tests := []struct{ name, cfg, want string }{
		{"bad path regex", route(`{"regex": "("}`, ok), "virtual_hosts[0].routers[0].match.regex: invalid regex"},
		{"two path rules", route(`{"prefix": "/", "path": "/a"}`, ok), "virtual_hosts[0].routers[0].match: prefix, path and regex are exclusive"},
		{"bad header regex", route(`{"headers": [{"name": "a", "value": "[", "regex": true}]}`, ok), "virtual_hosts[0].routers[0].match.headers[0].value: invalid regex"},
		{"empty header name", route(`{"headers": [{"name": "", "value": "x"}]}`, ok), "virtual_hosts[0].routers[0].match.headers[0].name: empty"},
		{"no action", route(`{"prefix": "/"}`, `"metadata": {}`), "virtual_hosts[0].routers[0]: needs a route or a direct_response"},
		{"redirect", route(`{"prefix": "/"}`, `"redirect": {"path_redirect": "/x"}`), "redirect is not supported"},
		{"route and direct", route(`{"prefix": "/"}`, ok+`, "direct_response": {"status": 200}`), "route and direct_response are exclusive"},
		{"bad status", route(`{"prefix": "/"}`, `"direct_response": {"status": 0}`), "virtual_hosts[0].routers[0].direct_response.status: 0 is not an HTTP status"},
		{"no cluster", route(`{"prefix": "/"}`, `"route": {"timeout": "1s"}`), "virtual_hosts[0].routers[0].route: needs cluster_name or weighted_clusters"},
		{"both clusters", route(`{"prefix": "/"}`, `"route": {"cluster_name": "a", "weighted_clusters": [{"cluster": {"name": "b", "weight": 1}}]}`), "cluster_name and weighted_clusters are exclusive"},
		{"zero weights", route(`{"prefix": "/"}`, `"route": {"weighted_clusters": [{"cluster": {"name": "b", "weight": 0}}]}`), "virtual_hosts[0].routers[0].route.weighted_clusters: the weights add up to 0"},
		{"unnamed weighted", route(`{"prefix": "/"}`, `"route": {"weighted_clusters": [{"cluster": {"name": "", "weight": 1}}]}`), "weighted_clusters[0].cluster.name: empty"},
		{"rewrite on regex", route(`{"regex": "/a"}`, `"route": {"cluster_name": "a", "prefix_rewrite": "/b"}`), "route.prefix_rewrite: needs a prefix or path match"},
		{"route header key", route(`{"prefix": "/"}`, `"route": {"cluster_name": "a", "request_headers_to_add": [{"header": {"key": "", "value": "v"}}]}`), "virtual_hosts[0].routers[0].route.request_headers_to_add[0].header.key: empty"},
		{"table header key", `{"router_config_name": "b", "response_headers_to_add": [{"header": {"key": ""}}]}`, "response_headers_to_add[0].header.key: empty"},
		{"vhost header key", `{"router_config_name": "b", "virtual_hosts": [{"domains": ["*"], "request_headers_to_add": [{"header": {"key": ""}}]}]}`, "virtual_hosts[0].request_headers_to_add[0].header.key: empty"},
		{"framing header added", route(`{"prefix": "/"}`, `"route": {"cluster_name": "a", "response_headers_to_add": [{"header": {"key": "Content-Length", "value": "1"}}]}`), "route.response_headers_to_add[0].header.key: Content-Length frames the message"},
		{"framing header removed", `{"router_config_name": "b", "virtual_hosts": [{"domains": ["*"], "response_headers_to_remove": ["x", "transfer-encoding"]}]}`, "virtual_hosts[0].response_headers_to_remove[1]: transfer-encoding frames the message"},
		{"empty header removed", `{"router_config_name": "b", "request_headers_to_remove": [""]}`, "request_headers_to_remove[0]: empty header name"},
		{"empty domain", `{"router_config_name": "b", "virtual_hosts": [{"domains": [""]}]}`, "virtual_hosts[0].domains[0]: empty domain"},
		{"mid wildcard", `{"router_config_name": "b", "virtual_hosts": [{"domains": ["a.*.com"]}]}`, "virtual_hosts[0].domains[0]: \"a.*.com\": a wildcard is allowed only"},
		{"duplicate domain", `{"router_config_name": "b", "virtual_hosts": [{"domains": ["*"]}, {"domains": ["a", "*"]}]}`, "virtual_hosts[1].domains[1]: domain \"*\" is already used by virtual_hosts[0].domains[0]"},
		{"duplicate domain case", `{"router_config_name": "b", "virtual_hosts": [{"domains": ["A.com", "a.COM"]}]}`, "already used"},
		{"metadata namespace", route(`{"prefix": "/"}`, `"route": {"cluster_name": "a", "metadata_match": {"filter_metadata": {"envoy.lb": {"v": "1"}}}}`),
			`virtual_hosts[0].routers[0].route.metadata_match.filter_metadata.envoy.lb: unknown metadata namespace (want "mosn.lb")`},
		{"metadata empty", route(`{"prefix": "/"}`, `"route": {"cluster_name": "a", "metadata_match": {}}`),
			`virtual_hosts[0].routers[0].route.metadata_match.filter_metadata: no "mosn.lb" labels to match`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var cfg config.RouterConfiguration
			if err := json.Unmarshal([]byte(tt.cfg), &cfg); err != nil {
				t.Fatalf("decode: %v", err)
			}
			_, err := New(&cfg)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want it to contain %q", err, tt.want)
			}
		})
	}
	if _, err := New(nil); err == nil {
		t.Error("New(nil) succeeded")
	}
}

func TestConcurrentMatch(t *testing.T) {
	tbl := mustTable(t, routesConfig)
	done := make(chan struct{})
	for g := 0; g < 4; g++ {
		go func() {
			defer func() { done <- struct{}{} }()
			r := req("h", "/h/1", "x-env", "canary", "x-ver", "v1")
			for i := 0; i < 2000; i++ {
				if got := clusterOf(tbl.Match(r)); got != "headers" {
					t.Errorf("got %s", got)
					return
				}
			}
		}()
	}
	for g := 0; g < 4; g++ {
		<-done
	}
}

// retry_policy in MOSN's form and Envoy's compile to the same conditions;
// bad conditions and status codes are refused with their path.
func TestRetryPolicyForms(t *testing.T) {
	route := func(policy string) (*Route, error) {
		var cfg config.RouterConfiguration
		if err := json.Unmarshal([]byte(`{"router_config_name": "r", "virtual_hosts": [{"domains": ["*"], "routers": [
		  {"match": {"prefix": "/"}, "route": {"cluster_name": "c", "retry_policy": `+policy+`}}]}]}`), &cfg); err != nil {
			return nil, err
		}
		tbl, err := New(&cfg)
		if err != nil {
			return nil, err
		}
		return tbl.Match(req("h", "/")), nil
	}
	for policy, want := range map[string]RetryPolicy{
		`{"retry_on": true, "num_retries": 2}`:                                                      {NumRetries: 2, ConnectFailure: true, Reset: true, On5xx: true},
		`{"retry_on": true, "num_retries": 2, "status_codes": [503]}`:                               {NumRetries: 2, ConnectFailure: true, Reset: true, StatusCodes: []int{503}},
		`{"retry_on": "5xx,connect-failure", "num_retries": 1}`:                                     {NumRetries: 1, ConnectFailure: true, On5xx: true},
		`{"retry_on": "gateway-error,reset", "num_retries": 1}`:                                     {NumRetries: 1, Reset: true, GatewayError: true},
		`{"retry_on": "retriable-status-codes", "num_retries": 1, "retriable_status_codes": [409]}`: {NumRetries: 1, StatusCodes: []int{409}},
		`{"retry_on": "", "num_retries": 3}`:                                                        {},
	} {
		r, err := route(policy)
		if err != nil || !reflect.DeepEqual(r.Retry, want) {
			t.Errorf("%s: %+v %v, want %+v", policy, r.Retry, err, want)
		}
	}
	for policy, want := range map[string]string{
		`{"retry_on": "5xx,bogus"}`:                            `retry condition "bogus" is not supported`,
		`{"retry_on": "5xx", "retriable_status_codes": [503]}`: `retry_policy.retriable_status_codes: retry_on does not include retriable-status-codes`,
		`{"retry_on": true, "status_codes": [5000]}`:           `retry_policy.status_codes[0]: 5000 is not an HTTP status`,
	} {
		if _, err := route(policy); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", policy, err, want)
		}
	}
}
