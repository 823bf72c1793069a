package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
)

// edit sets (or with del, removes) the value at a path such as
// "servers[0].listeners[1].address" in a generic JSON tree.
type edit struct {
	path  string
	value any
}

// del as an edit value removes the key.
var del = &struct{ del bool }{true}

func loadBase(t testing.TB) map[string]any {
	t.Helper()
	b, err := os.ReadFile("testdata/base.json")
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		t.Fatal(err)
	}
	return m
}

func applyEdits(t testing.TB, tree map[string]any, edits []edit) []byte {
	t.Helper()
	for _, e := range edits {
		if err := setPath(tree, e.path, e.value); err != nil {
			t.Fatalf("edit %s: %v", e.path, err)
		}
	}
	b, err := json.Marshal(tree)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func setPath(tree any, path string, value any) error {
	segs := splitPath(path)
	cur := tree
	for i, s := range segs {
		last := i == len(segs)-1
		switch c := cur.(type) {
		case map[string]any:
			if last {
				if value == del {
					delete(c, s)
				} else {
					c[s] = value
				}
				return nil
			}
			next, ok := c[s]
			if !ok || next == nil {
				if strings.HasPrefix(segs[i+1], "#") {
					next = []any{}
				} else {
					next = map[string]any{}
				}
				c[s] = next
			}
			if arr, ok := next.([]any); ok && strings.HasPrefix(segs[i+1], "#") {
				// grow arrays so that edits can append elements
				n, _ := strconv.Atoi(segs[i+1][1:])
				for len(arr) <= n {
					arr = append(arr, map[string]any{})
				}
				c[s] = arr
				next = arr
			}
			cur = next
		case []any:
			n, err := strconv.Atoi(strings.TrimPrefix(s, "#"))
			if err != nil || n >= len(c) {
				return fmt.Errorf("bad index %q", s)
			}
			if last {
				c[n] = value
				return nil
			}
			cur = c[n]
		default:
			return fmt.Errorf("cannot descend into %T at %q", cur, s)
		}
	}
	return nil
}

// splitPath turns "a[0].b" into ["a", "#0", "b"].
func splitPath(p string) []string {
	var out []string
	for _, part := range strings.Split(p, ".") {
		name, rest, _ := strings.Cut(part, "[")
		if name != "" {
			out = append(out, name)
		}
		for rest != "" {
			idx, r, _ := strings.Cut(rest, "]")
			out = append(out, "#"+idx)
			rest = strings.TrimPrefix(r, "[")
		}
	}
	return out
}

const (
	l0  = "servers[0].listeners[0]"
	l1  = "servers[0].listeners[1]"
	pc  = l0 + ".filter_chains[0].filters[0].config"
	tc  = l1 + ".filter_chains[0].filters[0].config"
	rt0 = "servers[0].routers[0].virtual_hosts[0].routers[0]"
	c0  = "cluster_manager.clusters[0]"
)

func obj(kv ...any) map[string]any {
	m := map[string]any{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[0+i].(string)] = kv[i+1]
	}
	return m
}

func TestValidateErrors(t *testing.T) {
	tests := []struct {
		name  string
		edits []edit
		want  string // exact error text; "" means valid
	}{
		{"base is valid", nil, ""},
		{"missing port", []edit{{l0 + ".address", "x"}},
			`servers[0].listeners[0].address: invalid address "x": missing port`},
		{"port out of range", []edit{{l0 + ".address", "127.0.0.1:70000"}},
			`servers[0].listeners[0].address: invalid address "127.0.0.1:70000": invalid port "70000" (want 0-65535)`},
		{"bad host", []edit{{l0 + ".address", "bad host!:80"}},
			`servers[0].listeners[0].address: invalid address "bad host!:80": invalid host "bad host!": want an IP address or host name`},
		{"ipv6 without brackets", []edit{{l0 + ".address", "::1:80"}},
			`servers[0].listeners[0].address: invalid address "::1:80": want host:port (an IPv6 address in brackets)`},
		{"ipv6 and names ok", []edit{{l0 + ".address", "[::1]:80"}, {l1 + ".address", "localhost:81"}}, ""},
		{"empty host listens everywhere", []edit{{l0 + ".address", ":2045"}}, ""},
		{"duplicate address", []edit{{l1 + ".address", "127.0.0.1:2045"}},
			`servers[0].listeners[1].address: address "127.0.0.1:2045" is already used by servers[0].listeners[0]`},
		{"ipv6 duplicate after normalising", []edit{{l0 + ".address", "[::1]:80"}, {l1 + ".address", "[0:0::1]:80"}},
			`servers[0].listeners[1].address: address "[0:0::1]:80" is already used by servers[0].listeners[0]`},
		{"0.0.0.0 and a specific ip do not clash", []edit{{l0 + ".address", "0.0.0.0:80"}, {l1 + ".address", "127.0.0.1:80"}}, ""},
		{"port 0 never clashes, unnamed", []edit{{l0 + ".address", "127.0.0.1:0"}, {l1 + ".address", "127.0.0.1:0"},
			{l0 + ".name", del}, {l1 + ".name", del}}, ""},
		{"duplicate name", []edit{{l1 + ".name", "http"}},
			`servers[0].listeners[1].name: duplicate listener name "http" (also servers[0].listeners[0])`},
		{"udp", []edit{{l0 + ".network", "udp"}},
			`servers[0].listeners[0].network: network "udp" is not supported yet (supported: tcp, unix)`},
		{"unix path", []edit{{l0 + ".network", "UNIX"}, {l0 + ".address", "/tmp/x.sock"}}, ""},
		{"no filter chain", []edit{{l0 + ".filter_chains", del}},
			`servers[0].listeners[0].filter_chains: required: one filter chain with a proxy or tcp_proxy filter`},
		{"two filter chains", []edit{{l0 + ".filter_chains[1].filters", []any{}}},
			`servers[0].listeners[0].filter_chains: multiple filter chains are not supported yet (got 2)`},
		{"no filters", []edit{{l0 + ".filter_chains[0].filters", []any{}}},
			`servers[0].listeners[0].filter_chains[0].filters: required: a proxy or tcp_proxy filter`},
		{"fault_inject", []edit{{l0 + ".filter_chains[0].filters[0].type", "fault_inject"}},
			`servers[0].listeners[0].filter_chains[0].filters[0].type: network filter "fault_inject" is not supported yet (supported: proxy, tcp_proxy)`},
		{"unknown filter", []edit{{l0 + ".filter_chains[0].filters[0].type", "proxi"}},
			`servers[0].listeners[0].filter_chains[0].filters[0].type: unknown network filter "proxi" (did you mean "proxy"?)`},
		{"two terminal filters", []edit{{l0 + ".filter_chains[0].filters[1]", obj("type", "tcp_proxy", "config", obj("cluster", "c1"))}},
			`servers[0].listeners[0].filter_chains[0].filters[1].type: a filter chain takes one proxy or tcp_proxy filter (already has proxy)`},
		{"Http2", []edit{{pc + ".downstream_protocol", "Http2"}, {pc + ".upstream_protocol", "Http2"}}, ""},
		{"dubbo not yet", []edit{{pc + ".downstream_protocol", "dubbo"}},
			pc + `.downstream_protocol: protocol "dubbo" is not supported yet (supported: Http1, Http2, bolt, Auto)`},
		{"protocol case", []edit{{pc + ".downstream_protocol", "http1"}},
			pc + `.downstream_protocol: unknown protocol "http1" (did you mean "Http1"? names are case-sensitive)`},
		{"protocol unknown", []edit{{pc + ".downstream_protocol", "gopher"}},
			pc + `.downstream_protocol: unknown protocol "gopher" (supported: Http1, Http2, bolt, Auto)`},
		{"protocol missing", []edit{{pc + ".downstream_protocol", del}},
			pc + `.downstream_protocol: required (one of Http1, Http2, bolt, Auto)`},
		{"X with bolt", []edit{{pc + ".downstream_protocol", "X"}, {pc + ".extend_config", obj("sub_protocol", "bolt")}}, ""},
		{"X without sub protocol", []edit{{pc + ".downstream_protocol", "X"}},
			pc + `.downstream_protocol: protocol "X" needs extend_config.sub_protocol (e.g. "bolt")`},
		{"Auto", []edit{{pc + ".downstream_protocol", "Auto"}, {pc + ".upstream_protocol", "Auto"}}, ""},
		{"bolt", []edit{{pc + ".downstream_protocol", "bolt"}}, ""},
		{"Http1 to Http2", []edit{{pc + ".upstream_protocol", "Http2"}}, ""},
		{"Http2 to Http1", []edit{{pc + ".downstream_protocol", "Http2"}, {pc + ".upstream_protocol", "Http1"}}, ""},
		{"Http2 to bolt", []edit{{pc + ".downstream_protocol", "Http2"}, {pc + ".upstream_protocol", "bolt"}},
			pc + `.upstream_protocol: protocol conversion Http2 -> bolt is not supported yet`},
		{"conversion", []edit{{pc + ".upstream_protocol", "bolt"}},
			pc + `.upstream_protocol: protocol conversion Http1 -> bolt is not supported yet`},
		{"unknown router config", []edit{{pc + ".router_config_name", "nope"}},
			pc + `.router_config_name: no router config named "nope" in this server's routers[]`},
		{"router config missing", []edit{{pc + ".router_config_name", del}},
			pc + `.router_config_name: required: the name of one of this server's routers[]`},
		{"tcp_proxy unknown cluster", []edit{{tc + ".cluster", "nope"}},
			tc + `.cluster: no cluster named "nope" in cluster_manager.clusters`},
		{"tcp_proxy routes cluster", []edit{{tc + ".cluster", del}, {tc + ".routes", []any{obj("cluster", "c2")}}}, ""},
		{"tcp_proxy no cluster", []edit{{tc + ".cluster", del}},
			tc + `.cluster: required (or routes[].cluster)`},
		{"duplicate router config", []edit{{"servers[0].routers[1]", obj("router_config_name", "r1")}},
			`servers[0].routers[1].router_config_name: duplicate router config name "r1"`},
		{"duplicate domain", []edit{{"servers[0].routers[0].virtual_hosts[1]", obj("domains", []any{"*"})}},
			`servers[0].routers[0].virtual_hosts[1].domains[0]: domain "*" is already used by servers[0].routers[0].virtual_hosts[0]`},
		{"route unknown cluster", []edit{{rt0 + ".route.cluster_name", "nope"}},
			rt0 + `.route.cluster_name: no cluster named "nope" in cluster_manager.clusters`},
		{"route without action", []edit{{rt0 + ".route", del}},
			rt0 + `: no action: set route.cluster_name, route.weighted_clusters or direct_response`},
		{"route without cluster", []edit{{rt0 + ".route.cluster_name", del}},
			rt0 + `.route.cluster_name: required (or weighted_clusters)`},
		{"weighted clusters", []edit{{rt0 + ".route.cluster_name", del}, {rt0 + ".route.weighted_clusters", []any{
			obj("cluster", obj("name", "c1", "weight", 0)), obj("cluster", obj("name", "nope", "weight", 10)), obj("cluster", obj("name", "c2", "weight", 90))}}},
			rt0 + `.route.weighted_clusters[0].cluster.weight: must be greater than 0` + "\n" +
				rt0 + `.route.weighted_clusters[1].cluster.name: no cluster named "nope" in cluster_manager.clusters`},
		{"cluster_name and weighted", []edit{{rt0 + ".route.weighted_clusters", []any{obj("cluster", obj("name", "c1", "weight", 1))}}},
			rt0 + `.route: set cluster_name or weighted_clusters, not both`},
		{"direct response", []edit{{rt0 + ".route", del}, {rt0 + ".direct_response", obj("status", 204)}}, ""},
		{"direct response status", []edit{{rt0 + ".route", del}, {rt0 + ".direct_response", obj("status", 700)}},
			rt0 + `.direct_response.status: status 700 out of range 100-599`},
		{"route and direct response", []edit{{rt0 + ".direct_response", obj("status", 200)}},
			rt0 + `: set route or direct_response, not both`},
		{"redirect", []edit{{rt0 + ".route", del}, {rt0 + ".redirect", obj("path_redirect", "/x")}},
			rt0 + `.redirect: redirect routes are not supported yet`},
		{"bad regex", []edit{{rt0 + ".match", obj("regex", "(")}},
			rt0 + `.match.regex: invalid regex "(": missing closing ): (`},
		{"header regex", []edit{{rt0 + ".match.headers", []any{obj("name", "x", "value", "a[", "regex", true)}}},
			rt0 + `.match.headers[0].value: invalid regex "a[": missing closing ]: [`},
		{"header exact value is not a regex", []edit{{rt0 + ".match.headers", []any{obj("name", "x", "value", "a[")}}}, ""},
		{"header name", []edit{{rt0 + ".match.headers", []any{obj("value", "v")}}},
			rt0 + `.match.headers[0].name: required`},
		{"prefix and path", []edit{{rt0 + ".match.path", "/a"}},
			rt0 + `.match: set at most one of prefix, path and regex`},
		{"negative timeout", []edit{{rt0 + ".route.timeout", "-1s"}},
			rt0 + `.route.timeout: negative duration "-1s"`},
		{"seconds timeout", []edit{{rt0 + ".route.timeout", json.Number("2.5")}}, ""},
		{"huge timeout", []edit{{rt0 + ".route.timeout", json.Number("1e19")}},
			rt0 + `.route.timeout: duration 1e+19 seconds is too large`},
		{"bad timeout", []edit{{rt0 + ".route.timeout", "soon"}},
			rt0 + `.route.timeout: invalid duration "soon" (want e.g. "1s", "250ms")`},
		{"duplicate cluster", []edit{{"cluster_manager.clusters[1].name", "c1"}},
			`cluster_manager.clusters[1].name: duplicate cluster name "c1"`},
		{"cluster name missing", []edit{{c0 + ".name", del}, {tc + ".cluster", "c2"}, {rt0 + ".route.cluster_name", "c2"}},
			c0 + `.name: required`},
		{"EDS", []edit{{c0 + ".type", "EDS"}},
			c0 + `.type: cluster type "EDS" is not supported yet (supported: SIMPLE)`},
		{"unknown cluster type", []edit{{c0 + ".type", "FOO"}},
			c0 + `.type: unknown cluster type "FOO" (supported: SIMPLE)`},
		{"maglev", []edit{{c0 + ".lb_type", "LB_MAGLEV"}},
			c0 + `.lb_type: load balancer "LB_MAGLEV" is not supported yet (supported: LB_ROUNDROBIN, LB_RANDOM, LB_WEIGHTED_ROUNDROBIN, LB_LEAST_REQUEST)`},
		{"lb typo", []edit{{c0 + ".lb_type", "LB_RANDON"}},
			c0 + `.lb_type: unknown load balancer "LB_RANDON" (did you mean "LB_RANDOM"?) (supported: LB_ROUNDROBIN, LB_RANDOM, LB_WEIGHTED_ROUNDROBIN, LB_LEAST_REQUEST)`},
		{"host port missing", []edit{{c0 + ".hosts[0].address", "127.0.0.1"}},
			c0 + `.hosts[0].address: invalid address "127.0.0.1": missing port`},
		{"host port 0", []edit{{c0 + ".hosts[0].address", "127.0.0.1:0"}},
			c0 + `.hosts[0].address: invalid address "127.0.0.1:0": port 0 is not a valid upstream port`},
		{"host without host", []edit{{c0 + ".hosts[0].address", ":80"}},
			c0 + `.hosts[0].address: invalid address ":80": missing host`},
		{"host weight too high", []edit{{c0 + ".hosts[0].weight", 129}},
			c0 + `.hosts[0].weight: weight 129 out of range 1-128 (omit it for the default, 1)`},
		{"host weight highest", []edit{{c0 + ".hosts[0].weight", 128}}, ""},
		{"host weight 0 is the default", []edit{{c0 + ".hosts[0].weight", 0}}, ""},
		{"stream filter", []edit{{l0 + ".stream_filters", []any{obj("type", "wasm")}}},
			l0 + `.stream_filters[0].type: stream filter "wasm" is not supported yet (supported: fault, flowControlFilter)`},
		{"flow control grade", []edit{{l0 + ".stream_filters", []any{obj("type", "flowControlFilter", "config",
			obj("global_switch", true, "rules", []any{obj("resource", "/a", "grade", 0, "threshold", 5)}))}}},
			l0 + `.stream_filters[0].config.rules[0].grade: only 1 (QPS) is supported, got 0`},
		{"flow control key", []edit{{l0 + ".stream_filters", []any{obj("type", "flowControlFilter", "config",
			obj("limit_key_type", "HEADER"))}}},
			l0 + `.stream_filters[0].config.limit_key_header: required with limit_key_type HEADER: the header whose value is the resource`},
		{"listener filter", []edit{{l0 + ".listener_filters", []any{obj("type", "original_dst")}}},
			l0 + `.listener_filters[0].type: listener filter "original_dst" is not supported yet`},
		{"fault filter", []edit{{l0 + ".stream_filters", []any{obj("type", "fault", "config", obj(
			"delay", obj("fixed_delay", "1s", "percentage", 50), "abort", obj("status", 503, "percentage", 10)))}}}, ""},
		{"fault filter without a fault", []edit{{l0 + ".stream_filters", []any{obj("type", "fault", "config", obj())}}},
			l0 + `.stream_filters[0].config.delay: a fault filter needs a delay, an abort or both`},
		{"fault filter bad fields", []edit{{l0 + ".stream_filters", []any{obj("type", "fault", "config", obj(
			"delay", obj("percentage", 101), "abort", obj("status", 42, "percentage", 100)))}}},
			l0 + `.stream_filters[0].config.abort.status: 42 is not an HTTP status to answer with (200-599)
` + l0 + `.stream_filters[0].config.delay.fixed_delay: required: a positive duration such as "1s"
` + l0 + `.stream_filters[0].config.delay.percentage: 101 is over 100`},
		{"fault filter unknown cluster", []edit{{l0 + ".stream_filters", []any{obj("type", "fault", "config", obj(
			"abort", obj("status", 503, "percentage", 100), "upstream_cluster", "nope"))}}},
			l0 + `.stream_filters[0].config.upstream_cluster: unknown cluster "nope"`},
		{"fault filter typo", []edit{{l0 + ".stream_filters", []any{obj("type", "fault", "config", obj(
			"abort", obj("stauts", 503, "percentage", 100)))}}},
			l0 + `.stream_filters[0].config.abort.stauts: unknown field (did you mean "status"?)`},
		{"healthcheck stream filter is ignored", []edit{{l0 + ".stream_filters", []any{obj("type", "healthcheck", "config", obj())}}}, ""},
		{"tls on", []edit{{l0 + ".filter_chains[0].tls_context", obj("status", true)}},
			l0 + `.filter_chains[0].tls_context.cert_chain: required: a listener with TLS needs a certificate (file path or PEM)
` + l0 + `.filter_chains[0].tls_context.private_key: required: a listener with TLS needs the certificate's private key`},
		{"cluster tls on, used by tcp_proxy", []edit{{c0 + ".tls_context", obj("status", true)}}, ""},
		{"tls off", []edit{{l0 + ".filter_chains[0].tls_context", obj("status", false)}}, ""},
		{"no servers", []edit{{"servers", del}},
			`servers: no servers: a config needs at least one listener`},
		{"server without listeners", []edit{{"servers[0].listeners", del}},
			`servers[0].listeners: no listeners: a server needs at least one listener`},
		{"empty listeners", []edit{{"servers[0].listeners", []any{}}},
			`servers[0].listeners: no listeners: a server needs at least one listener`},
		{"log level", []edit{{"servers[0].default_log_level", "LOUD"}},
			`servers[0].default_log_level: unknown log level "LOUD" (one of TRACE, DEBUG, INFO, WARN, ERROR, FATAL)`},
		{"io model", []edit{{l0 + ".io_model", "threads"}},
			l0 + `.io_model: unknown io model "threads" (goroutine or netpoll)`},
		{"admin port", []edit{{"admin", obj("address", obj("socket_address", obj("address", "127.0.0.1", "port_value", 70000)))}},
			`admin.address.socket_address.port_value: port 70000 out of range 0-65535`},

		// strict decoding
		{"unknown field", []edit{{l0 + ".adress", "x"}},
			l0 + `.adress: unknown field (did you mean "address"?)`},
		{"unknown field far from all", []edit{{l0 + ".zzzzzzzz", "x"}},
			l0 + `.zzzzzzzz: unknown field`},
		{"underscore variant", []edit{{l0 + ".bindport", true}},
			l0 + `.bindport: unknown field (did you mean "bind_port"?)`},
		{"unknown field in filter config", []edit{{pc + ".downstream_protocl", "Http1"}},
			pc + `.downstream_protocl: unknown field (did you mean "downstream_protocol"?)`},
		{"path normalization off", []edit{{pc + ".normalize_path", false}, {pc + ".merge_slashes", false}}, ""},
		{"normalize_path not a boolean", []edit{{pc + ".normalize_path", "off"}},
			pc + `.normalize_path: want boolean (true or false), got "off" (string)`},
		{"merge_slashes misspelt", []edit{{pc + ".merge_slash", false}},
			pc + `.merge_slash: unknown field (did you mean "merge_slashes"?)`},
		{"case-insensitive key", []edit{{c0 + ".name", del}, {c0 + ".Name", "c1"}}, ""},
		{"key twice", []edit{{c0 + ".Name", "c1"}},
			c0 + `.name: field given twice (also as "Name")`},
		{"want string", []edit{{l0 + ".address", json.Number("2045")}},
			l0 + `.address: want string, got 2045 (number)`},
		{"want boolean", []edit{{l0 + ".bind_port", "yes"}},
			l0 + `.bind_port: want boolean (true or false), got "yes" (string)`},
		{"want array", []edit{{c0 + ".hosts", "127.0.0.1:80"}},
			c0 + `.hosts: want array, got "127.0.0.1:80" (string)`},
		{"want object", []edit{{"cluster_manager", []any{}}},
			`cluster_manager: want object, got array`},
		{"negative weight", []edit{{"cluster_manager.clusters[1].hosts[0].weight", json.Number("-1")}},
			`cluster_manager.clusters[1].hosts[0].weight: want a non-negative integer that fits 32 bits, got -1`},
		{"fraction", []edit{{l0 + ".max_connections", json.Number("1.5")}},
			l0 + `.max_connections: want an integer that fits 64 bits, got 1.5`},
		{"filter config not an object", []edit{{pc, "Http1"}},
			pc + `: want object, got "Http1" (string)`},
		{"null is fine", []edit{{l0 + ".stream_filters", nil}}, ""},
		{"several errors sorted", []edit{{c0 + ".type", "EDS"}, {l1 + ".address", "x"}, {l0 + ".address", "y"}},
			c0 + `.type: cluster type "EDS" is not supported yet (supported: SIMPLE)` + "\n" +
				l0 + `.address: invalid address "y": missing port` + "\n" +
				l1 + `.address: invalid address "x": missing port`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := applyEdits(t, loadBase(t), tt.edits)
			_, _, err := Parse(data, "json")
			got := ""
			if err != nil {
				got = err.Error()
				var fe *FieldError
				if !errors.As(err, &fe) {
					t.Errorf("error is not a *FieldError: %T", err)
				}
			}
			if got != tt.want {
				t.Errorf("got error\n  %s\nwant\n  %s", got, tt.want)
			}
		})
	}
}

func TestValidateErrorCap(t *testing.T) {
	tree := loadBase(t)
	clusters := tree["cluster_manager"].(map[string]any)["clusters"].([]any)
	for i := range 25 {
		clusters = append(clusters, obj("name", fmt.Sprintf("bad%02d", i), "type", "EDS"))
	}
	tree["cluster_manager"].(map[string]any)["clusters"] = clusters
	_, _, err := Parse(applyEdits(t, tree, nil), "json")
	if err == nil {
		t.Fatal("want errors")
	}
	lines := strings.Split(err.Error(), "\n")
	if len(lines) != maxErrors+1 {
		t.Fatalf("got %d lines, want %d", len(lines), maxErrors+1)
	}
	if lines[maxErrors] != "and 5 more errors" {
		t.Errorf("last line %q", lines[maxErrors])
	}
	// clusters[2] .. [11] must sort numerically, not as strings.
	if !strings.HasPrefix(lines[0], "cluster_manager.clusters[2].type") || !strings.HasPrefix(lines[8], "cluster_manager.clusters[10].type") {
		t.Errorf("not sorted by index: %q, %q", lines[0], lines[8])
	}
}
