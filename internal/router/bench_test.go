package router

import (
	"testing"
)

const benchConfig = `{
  "router_config_name": "bench",
  "virtual_hosts": [{
    "name": "all", "domains": ["*"],
    "routers": [
      {"match": {"prefix": "/admin/"}, "route": {"cluster_name": "admin"}},
      {"match": {"path": "/healthz"}, "direct_response": {"status": 200, "body": "ok"}},
      {"match": {"prefix": "/api/"}, "route": {"cluster_name": "api"}},
      {"match": {"prefix": "/static/"}, "route": {"cluster_name": "static"}},
      {"match": {"prefix": "/"}, "route": {"cluster_name": "default"}}
    ]
  }]
}`

const benchHeaderConfig = `{
  "router_config_name": "bench-headers",
  "virtual_hosts": [{
    "name": "all", "domains": ["*"],
    "routers": [
      {"match": {"prefix": "/admin/"}, "route": {"cluster_name": "admin"}},
      {"match": {"path": "/healthz"}, "direct_response": {"status": 200, "body": "ok"}},
      {"match": {"prefix": "/api/", "headers": [{"name": "x-canary", "value": "true"}, {"name": "x-version", "value": "v[0-9]+", "regex": true}]}, "route": {"cluster_name": "canary"}},
      {"match": {"prefix": "/api/"}, "route": {"cluster_name": "api"}},
      {"match": {"prefix": "/"}, "route": {"cluster_name": "default"}}
    ]
  }]
}`

const benchDomainsConfig = `{
  "router_config_name": "bench-domains",
  "virtual_hosts": [
    {"domains": ["www.example.com", "example.com"], "routers": [{"match": {"prefix": "/"}, "route": {"cluster_name": "www"}}]},
    {"domains": ["*.example.com"], "routers": [{"match": {"prefix": "/"}, "route": {"cluster_name": "sub"}}]},
    {"domains": ["*"], "routers": [{"match": {"prefix": "/"}, "route": {"cluster_name": "any"}}]}
  ]
}`

func benchMatch(b *testing.B, tbl *Table, r Request, want string) {
	b.Helper()
	if got := clusterOf(tbl.Match(r)); got != want {
		b.Fatalf("matched %s, want %s", got, want)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if tbl.Match(r) == nil {
			b.Fatal("no match")
		}
	}
}

// BenchmarkMatch: one "*" virtual host, five routes, the request matches the
// third by prefix.
func BenchmarkMatch(b *testing.B) {
	tbl := mustTable(b, benchConfig)
	r := req("www.example.com:8080", "/api/v1/users/42",
		"user-agent", "bench", "accept", "*/*", "x-canary", "true", "x-version", "v3")
	b.Run("prefix", func(b *testing.B) { benchMatch(b, tbl, r, "api") })
	htbl := mustTable(b, benchHeaderConfig)
	b.Run("headers", func(b *testing.B) { benchMatch(b, htbl, r, "canary") })
	dtbl := mustTable(b, benchDomainsConfig)
	b.Run("exact-domain", func(b *testing.B) { benchMatch(b, dtbl, req("WWW.Example.com:443", "/"), "www") })
	b.Run("suffix-domain", func(b *testing.B) { benchMatch(b, dtbl, req("a.b.example.com", "/"), "sub") })
	bt := mustTable(b, `{"router_config_name": "bolt", "virtual_hosts": [{"domains": ["*"], "routers": [
	  {"match": {"headers": [{"name": "service", "value": "com.example.A"}]}, "route": {"cluster_name": "a"}},
	  {"match": {"headers": [{"name": "service", "value": ".*"}]}, "route": {"cluster_name": "any"}}]}]}`)
	b.Run("bolt-service", func(b *testing.B) { benchMatch(b, bt, bolt("service", "com.example.B"), "any") })
	// The same route after config.ApplyDefaults rewrote ".*" into a regex.
	bd := mustTable(b, `{"router_config_name": "bolt", "virtual_hosts": [{"domains": ["*"], "routers": [
	  {"match": {"headers": [{"name": "service", "value": ".+", "regex": true}]}, "route": {"cluster_name": "any"}}]}]}`)
	b.Run("bolt-service-defaulted", func(b *testing.B) { benchMatch(b, bd, bolt("service", "com.example.B"), "any") })
}

func BenchmarkPickCluster(b *testing.B) {
	r := &Route{Weighted: []WeightedCluster{{"a", 70}, {"b", 20}, {"c", 10}}}
	b.ReportAllocs()
	var rnd uint32
	for b.Loop() {
		rnd += 0x9e3779b9
		if r.PickCluster(rnd) == "" {
			b.Fatal("empty pick")
		}
	}
}
