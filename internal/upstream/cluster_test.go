package upstream

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/mosnctl/mosnctl/internal/config"
)

func decodeClusters(t *testing.T, js string) []config.Cluster {
	t.Helper()
	var cs []config.Cluster
	dec := json.NewDecoder(strings.NewReader(js))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&cs); err != nil {
		t.Fatalf("decode: %v", err)
	}
	return cs
}

func TestManager(t *testing.T) {
	m, err := NewManager(decodeClusters(t, `[
	  {"name": "web", "type": "SIMPLE", "lb_type": "LB_WEIGHTED_ROUNDROBIN", "connect_timeout": "1s", "idle_timeout": "90s",
	   "max_request_per_conn": 100, "max_connections": 8,
	   "hosts": [{"address": "127.0.0.1:8080", "weight": 3, "metadata": {"zone": "a"}}, {"address": "[::1]:8081", "hostname": "v6"}]},
	  {"name": "api", "hosts": [{"address": "localhost:9000"}]},
	  {"name": "empty"}
	]`))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, c := range m.Clusters() {
		names = append(names, c.Name)
	}
	if strings.Join(names, ",") != "api,empty,web" {
		t.Errorf("Clusters() = %v", names)
	}
	if m.Get("nope") != nil {
		t.Error("Get of an unknown cluster is not nil")
	}
	web := m.Get("web")
	if web == nil || web.LBType != config.LBWeightedRoundRobin || web.ConnectTimeout != time.Second ||
		web.IdleTimeout != 90*time.Second || web.MaxRequestPerConn != 100 || web.MaxConnections != 8 {
		t.Fatalf("web = %+v", web)
	}
	if len(web.Hosts) != 2 || web.Hosts[0].Weight != 3 || web.Hosts[1].Weight != MinHostWeight ||
		web.Hosts[0].Metadata["zone"] != "a" || web.Hosts[1].Hostname != "v6" || web.Hosts[0].Cluster != "web" {
		t.Errorf("web hosts = %+v %+v", web.Hosts[0], web.Hosts[1])
	}
	if !web.Hosts[0].Healthy() {
		t.Error("hosts must start healthy")
	}
	api := m.Get("api")
	if api.LBType != config.LBRoundRobin || api.ConnectTimeout != DefaultConnectTimeout {
		t.Errorf("api defaults: %s %v", api.LBType, api.ConnectTimeout)
	}
	if h := api.LB.Pick(PickContext{}); h == nil || h.Address != "localhost:9000" {
		t.Errorf("api pick = %v", h)
	}
	if h := m.Get("empty").LB.Pick(PickContext{}); h != nil {
		t.Errorf("empty cluster picked %v", h)
	}
}

func TestManagerErrors(t *testing.T) {
	tests := []struct{ cfg, want string }{
		{`[{"name": ""}]`, "clusters[0].name: empty cluster name"},
		{`[{"name": "a"}, {"name": "b"}, {"name": "a"}]`, `clusters[2].name: duplicate cluster name "a" (also clusters[0])`},
		{`[{"name": "a", "type": "STRICT_DNS"}]`, `clusters[0].type: cluster type "STRICT_DNS" is not supported`},
		{`[{"name": "a", "lb_type": "LB_MAGLEV"}]`, `clusters[0].lb_type: unknown lb_type "LB_MAGLEV"`},
		{`[{"name": "a", "hosts": [{"address": "1.2.3.4:80"}, {"address": "1.2.3.4"}]}]`, "clusters[0].hosts[1].address: invalid address \"1.2.3.4\" (want host:port)"},
		{`[{"name": "a", "hosts": [{"address": ""}]}]`, "clusters[0].hosts[0].address: empty address"},
		{`[{"name": "a", "hosts": [{"address": ":80"}]}]`, "no host"},
		{`[{"name": "a", "hosts": [{"address": "h:http"}]}]`, `port "http" is not a number`},
		{`[{"name": "a", "hosts": [{"address": "h:0"}]}]`, `port "0" is not a number`},
		{`[{"name": "a", "max_connections": -1}]`, "clusters[0].max_connections: -1 is negative"},
		{`[{"name": "a", "hosts": [{"address": "h:1", "weight": 129}]}]`, "clusters[0].hosts[0].weight: weight 129 out of range 1-128"},
	}
	for _, tt := range tests {
		_, err := NewManager(decodeClusters(t, tt.cfg))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err = %v, want it to contain %q", tt.cfg, err, tt.want)
		}
	}
	if _, err := NewCluster(nil); err == nil {
		t.Error("NewCluster(nil) succeeded")
	}
}
