package config

import (
	"strings"
	"testing"
)

func TestBootstrapValidation(t *testing.T) {
	const ok = `{"node": {"id": "n"},
	  "dynamic_resources": {"ads_config": {"api_type": "GRPC", "grpc_services": [{"envoy_grpc": {"cluster_name": "x"}}]},
	    "lds_config": {"ads": {}}, "cds_config": {"ads": {}}},
	  "static_resources": {"clusters": [{"name": "x"}]}}`
	cfg, _, err := Parse([]byte(ok), "json")
	if err != nil {
		t.Fatal(err)
	}
	if !cfg.XDS() || cfg.ADSCluster() != "x" || cfg.Node.ID != "n" || cfg.StaticResources.StaticClusterName(0) != "x" {
		t.Fatalf("parsed %+v", cfg)
	}
	tests := []struct{ from, to, want string }{
		{`"api_type": "GRPC"`, `"api_type": "DELTA_GRPC"`, `dynamic_resources.ads_config.api_type: api type "DELTA_GRPC" is not supported`},
		{`"lds_config": {"ads": {}}`, `"lds_config": {"api_config_source": {}}`, `dynamic_resources.lds_config: only {"ads": {}} is supported`},
		{`"lds_config": {"ads": {}}`, `"lds_config": {"resource_api_version": "V2", "ads": {}}`, `dynamic_resources.lds_config.resource_api_version: only V3`},
		{`{"envoy_grpc": {"cluster_name": "x"}}`, `{}`, `grpc_services[0].envoy_grpc.cluster_name: required`},
		{`"clusters": [{"name": "x"}]`, `"clusters": []`, `static_resources.clusters: required`},
		{`"ads_config"`, `"ads_confg"`, `dynamic_resources.ads_confg: unknown field (did you mean "ads_config"?)`},
	}
	for _, tt := range tests {
		_, _, err := Parse([]byte(strings.Replace(ok, tt.from, tt.to, 1)), "json")
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: got %v, want %q", tt.to, err, tt.want)
		}
	}
	// Without dynamic_resources the bootstrap blocks have no use.
	_, _, err = Parse([]byte(`{"node": {"id": "n"}, "servers": []}`), "json")
	if err == nil || !strings.Contains(err.Error(), "node: only used with dynamic_resources") {
		t.Errorf("node without xDS: %v", err)
	}
}
