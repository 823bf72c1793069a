package router

import (
	"testing"
)

// FuzzMatch feeds arbitrary hosts, paths and header values to a table that
// uses every kind of matcher. Match must not panic, and because domains fold
// case, upper-casing the host must never change the route.
func FuzzMatch(f *testing.F) {
	tbl := mustTable(f, `{"router_config_name": "fuzz", "virtual_hosts": [
	  {"domains": ["www.example.com", "h.test:8080", "[::1]"], "routers": [{"match": {"prefix": "/"}, "route": {"cluster_name": "exact"}}]},
	  {"domains": ["*.example.com"], "routers": [{"match": {"prefix": "/"}, "route": {"cluster_name": "suffix"}}]},
	  {"domains": ["api.*"], "routers": [{"match": {"prefix": "/"}, "route": {"cluster_name": "prefix"}}]},
	  {"domains": ["*"], "routers": [
	    {"match": {"path": "/p", "case_sensitive": false}, "route": {"cluster_name": "path"}},
	    {"match": {"regex": "/r/[a-z]+"}, "route": {"cluster_name": "regex"}},
	    {"match": {"prefix": "/h", "headers": [{"name": "x-v", "value": "v[0-9]", "regex": true}]}, "route": {"cluster_name": "header"}},
	    {"match": {"headers": [{"name": "service", "value": ".*"}]}, "route": {"cluster_name": "service"}},
	    {"match": {"prefix": "/"}, "route": {"cluster_name": "root"}}]}]}`)
	f.Fuzz(func(t *testing.T, host, path, value []byte) {
		r := &httpReq{host: host, path: path, headers: [][2][]byte{{[]byte("x-v"), value}, {[]byte("service"), value}}}
		got := clusterOf(tbl.Match(r))
		upper := &httpReq{host: upperASCII(host), path: path, headers: r.headers}
		if got2 := clusterOf(tbl.Match(upper)); got2 != got {
			t.Fatalf("host %q routes to %s, upper-cased to %s", host, got, got2)
		}
		b := &boltReq{headers: r.headers}
		_ = tbl.Match(b)
	})
}

func upperASCII(b []byte) []byte {
	out := make([]byte, len(b))
	for i, c := range b {
		if 'a' <= c && c <= 'z' {
			c -= 'a' - 'A'
		}
		out[i] = c
	}
	return out
}
