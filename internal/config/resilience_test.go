package config

import (
	"testing"
)

// Resilience blocks: bad values are refused with their full path; good
// ones load. The strict decoder refuses unknown fields and wrong types in
// them like anywhere else.
func TestValidateResilience(t *testing.T) {
	hc := func(kv ...any) edit { return edit{c0 + ".health_check", obj(kv...)} }
	rmm := rt0 + ".route.metadata_match"
	tests := []struct {
		name  string
		edits []edit
		want  string
	}{
		{"health check ok", []edit{hc("protocol", "Http1", "interval", "1s", "timeout", "200ms", "interval_jitter", "100ms",
			"healthy_threshold", 2, "unhealthy_threshold", 3, "check_config", obj("path", "/health"))}, ""},
		{"bolt and tcp ok", []edit{hc("protocol", "bolt")}, ""},
		{"protocol missing", []edit{hc("interval", "1s")}, c0 + ".health_check.protocol: required (Http1, bolt or tcp)"},
		{"protocol unknown", []edit{hc("protocol", "grpc")}, c0 + `.health_check.protocol: unknown health check protocol "grpc" (want Http1, bolt or tcp)`},
		{"interval bad", []edit{hc("protocol", "tcp", "interval", "soon")}, c0 + `.health_check.interval: invalid duration "soon" (want e.g. "1s", "250ms")`},
		{"interval tiny", []edit{hc("protocol", "tcp", "interval", "1us")}, c0 + ".health_check.interval: 1µs is below 1ms"},
		{"threshold negative", []edit{hc("protocol", "tcp", "unhealthy_threshold", -1)},
			c0 + ".health_check.unhealthy_threshold: want a non-negative integer that fits 32 bits, got -1"},
		{"path for tcp", []edit{hc("protocol", "tcp", "check_config", obj("path", "/x"))},
			c0 + ".health_check.check_config.path: only an Http1 health check requests a path"},
		{"path bad", []edit{hc("protocol", "Http1", "check_config", obj("path", "health"))},
			c0 + `.health_check.check_config.path: invalid path "health" (want /path with no spaces)`},
		{"typo", []edit{hc("protocol", "tcp", "intreval", "1s")}, c0 + `.health_check.intreval: unknown field (did you mean "interval"?)`},
		{"outlier ok", []edit{{c0 + ".outlier_detection", obj("consecutive_5xx", 5, "consecutive_gateway_failure", 3,
			"interval", "10s", "base_ejection_time", "30s", "max_ejection_percent", 50)}}, ""},
		{"outlier percent", []edit{{c0 + ".outlier_detection", obj("max_ejection_percent", 150)}},
			c0 + ".outlier_detection.max_ejection_percent: 150 is over 100"},
		{"outlier off", []edit{{c0 + ".outlier_detection", obj("consecutive_5xx", 0)}},
			c0 + ".outlier_detection: consecutive_5xx is 0 and consecutive_gateway_failure unset: nothing would eject a host"},
		{"circuit breakers ok", []edit{{c0 + ".circuit_breakers", obj("thresholds", []any{obj("max_connections", 10, "max_requests", 5)})}}, ""},
		{"circuit breakers priority", []edit{{c0 + ".circuit_breakers", obj("thresholds", []any{obj("priority", "HIGH")})}},
			c0 + `.circuit_breakers.thresholds[0].priority: priority "HIGH" is not supported (only DEFAULT)`},
		{"subsets ok", []edit{{c0 + ".lb_subset_config", obj("fall_back_policy", 2, "default_subset", obj("v", "1"),
			"subset_selectors", []any{[]any{"v"}, []any{"v", "zone"}})},
			{c0 + ".hosts[0].metadata", obj("filter_metadata", obj("mosn.lb", obj("v", "1")))},
			{rmm, obj("filter_metadata", obj("mosn.lb", obj("v", "1")))}}, ""},
		{"subsets fallback", []edit{{c0 + ".lb_subset_config", obj("fall_back_policy", 5, "subset_selectors", []any{[]any{"v"}})}},
			c0 + ".lb_subset_config.fall_back_policy: 5 is not a policy (0 no fallback, 1 any host, 2 default_subset)"},
		{"subsets no selectors", []edit{{c0 + ".lb_subset_config", obj("fall_back_policy", 1)}},
			c0 + ".lb_subset_config.subset_selectors: required: at least one list of label keys"},
		{"subsets repeated key", []edit{{c0 + ".lb_subset_config", obj("subset_selectors", []any{[]any{"v", "v"}})}},
			c0 + `.lb_subset_config.subset_selectors[0][1]: empty or repeated key "v"`},
		{"host label not a string", []edit{{c0 + ".hosts[0].metadata", obj("filter_metadata", obj("mosn.lb", obj("v", 1)))}},
			c0 + `.hosts[0].metadata.filter_metadata.mosn.lb.v: want a string label value, got 1`},
		{"route match other namespace", []edit{{rmm, obj("filter_metadata", obj("envoy.lb", obj("v", "1")))}},
			rmm + `.filter_metadata.envoy.lb: unknown metadata namespace (want "mosn.lb")`},
		{"route match empty", []edit{{rmm, obj("filter_metadata", obj())}},
			rmm + `.filter_metadata: no "mosn.lb" labels to match`},
		{"route match not a string", []edit{{rmm, obj("filter_metadata", obj("mosn.lb", obj("v", true)))}},
			rmm + `.filter_metadata.mosn.lb.v: want string, got true (boolean)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := Parse(applyEdits(t, loadBase(t), tt.edits), "json")
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != tt.want {
				t.Errorf("got error\n  %s\nwant\n  %s", got, tt.want)
			}
		})
	}
}
