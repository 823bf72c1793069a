package config

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"
)

// Health check protocols (MOSN's names).
const (
	HealthCheckHTTP1 = ProtocolHTTP1 // GET check_config.path, 2xx is healthy
	HealthCheckBolt  = ProtocolBolt  // a Bolt heartbeat answered with success
	HealthCheckTCP   = "tcp"         // a TCP connection opens
)

// Health check defaults for fields a health_check block leaves out.
const (
	DefaultHealthCheckTimeout   = time.Second
	DefaultHealthCheckInterval  = 10 * time.Second
	DefaultHealthyThreshold     = 2
	DefaultUnhealthyThreshold   = 3
	DefaultHealthCheckHTTP1Path = "/"
)

// HealthCheck is a cluster's active health check (MOSN's health_check): every
// interval (plus a random share of interval_jitter) each host is probed;
// unhealthy_threshold failures in a row take it out of rotation,
// healthy_threshold successes in a row bring it back.
type HealthCheck struct {
	Protocol           string            `json:"protocol"`
	Timeout            *Duration         `json:"timeout,omitempty"`
	Interval           *Duration         `json:"interval,omitempty"`
	IntervalJitter     *Duration         `json:"interval_jitter,omitempty"`
	HealthyThreshold   uint32            `json:"healthy_threshold,omitempty"`
	UnhealthyThreshold uint32            `json:"unhealthy_threshold,omitempty"`
	CheckConfig        *HealthCheckProbe `json:"check_config,omitempty"`

	ServiceName         json.RawMessage `json:"service_name,omitempty" mosn:"unimplemented"`
	InitialDelaySeconds json.RawMessage `json:"initial_delay_seconds,omitempty" mosn:"unimplemented"`
	EventLogPath        json.RawMessage `json:"event_log_path,omitempty" mosn:"unimplemented"`
	CommonCallbacks     json.RawMessage `json:"common_callbacks,omitempty" mosn:"unimplemented"`
}

// HealthCheckProbe is check_config: what an Http1 probe asks for.
type HealthCheckProbe struct {
	Path string `json:"path,omitempty"`
}

// Healthy returns healthy_threshold, or its default.
func (h *HealthCheck) Healthy() uint32 { return orDefault(h.HealthyThreshold, DefaultHealthyThreshold) }

// Unhealthy returns unhealthy_threshold, or its default.
func (h *HealthCheck) Unhealthy() uint32 {
	return orDefault(h.UnhealthyThreshold, DefaultUnhealthyThreshold)
}

// Path returns the Http1 probe's path, or its default.
func (h *HealthCheck) Path() string {
	if h.CheckConfig == nil || h.CheckConfig.Path == "" {
		return DefaultHealthCheckHTTP1Path
	}
	return h.CheckConfig.Path
}

// Outlier detection defaults (Envoy's).
const (
	DefaultConsecutive5xx     = 5
	DefaultOutlierInterval    = 10 * time.Second
	DefaultBaseEjectionTime   = 30 * time.Second
	DefaultMaxEjectionPercent = 10
)

// OutlierDetection is Envoy's passive outlier detection on a cluster: a host
// whose requests fail consecutive_5xx times in a row (5xx answers, connect
// failures, resets, timeouts), or consecutive_gateway_failure times with a
// 502/503/504 or a local failure, is ejected for base_ejection_time times
// the number of times it was ejected. The multiplier drops by one for each
// interval the host then stays in. At most max_ejection_percent of the
// cluster's hosts are out at once (but always one may go).
type OutlierDetection struct {
	// Consecutive5xx: absent is 5, 0 turns this detector off.
	Consecutive5xx *uint32 `json:"consecutive_5xx,omitempty"`
	// ConsecutiveGatewayFailure: absent or 0 is off (Envoy enforces it only
	// when asked to).
	ConsecutiveGatewayFailure uint32    `json:"consecutive_gateway_failure,omitempty"`
	Interval                  *Duration `json:"interval,omitempty"`
	BaseEjectionTime          *Duration `json:"base_ejection_time,omitempty"`
	MaxEjectionPercent        *uint32   `json:"max_ejection_percent,omitempty"`
}

// Consecutive5xxOrDefault returns consecutive_5xx (0: off).
func (o *OutlierDetection) Consecutive5xxOrDefault() uint32 {
	if o.Consecutive5xx == nil {
		return DefaultConsecutive5xx
	}
	return *o.Consecutive5xx
}

// MaxEjectionPercentOrDefault returns max_ejection_percent.
func (o *OutlierDetection) MaxEjectionPercentOrDefault() uint32 {
	if o.MaxEjectionPercent == nil {
		return DefaultMaxEjectionPercent
	}
	return *o.MaxEjectionPercent
}

// CircuitBreakers is MOSN's circuit_breakers: one threshold set (DEFAULT
// priority) of per-cluster limits.
type CircuitBreakers struct {
	Thresholds []Thresholds `json:"thresholds,omitempty"`
}

// The limits a cluster has when its thresholds leave them out: MOSN's
// defaults (ten times Envoy's, and Envoy's 3 concurrent retries).
const (
	DefaultCircuitBreakerLimit = 10240
	DefaultMaxRetries          = 3
)

// Thresholds are the limits of one priority. A limit left out (0) is
// DefaultCircuitBreakerLimit (DefaultMaxRetries for max_retries).
// Requests never wait for a connection (over a connection limit they fail
// at once), so max_pending_requests has nothing to bound yet: it is
// accepted with the startup warning.
type Thresholds struct {
	Priority           string `json:"priority,omitempty"` // "DEFAULT" (or empty)
	MaxConnections     uint32 `json:"max_connections,omitempty"`
	MaxPendingRequests uint32 `json:"max_pending_requests,omitempty" mosn:"unimplemented"`
	MaxRequests        uint32 `json:"max_requests,omitempty"`
	MaxRetries         uint32 `json:"max_retries,omitempty"`
}

// Subset fallback policies (MOSN's fall_back_policy numbers).
const (
	FallbackNone          = 0 // no host: the request fails
	FallbackAnyEndpoint   = 1 // every host of the cluster
	FallbackDefaultSubset = 2 // the hosts matching default_subset
)

// LBSubsetConfig is a cluster's lb_subset_config: hosts are grouped by the
// values of each selector's label keys (host
// metadata.filter_metadata["mosn.lb"]); a route's metadata_match picks one
// group. Requests that match no group, or carry no metadata_match, go to
// the fallback.
type LBSubsetConfig struct {
	FallBackPolicy  uint8             `json:"fall_back_policy,omitempty"`
	DefaultSubset   map[string]string `json:"default_subset,omitempty"`
	SubsetSelectors [][]string        `json:"subset_selectors,omitempty"`
}

// LBMetadataKey is the filter_metadata key holding load-balancing labels.
const LBMetadataKey = "mosn.lb"

// MetadataMatch is a route's metadata_match: the labels of the hosts it
// wants, under filter_metadata["mosn.lb"].
type MetadataMatch struct {
	FilterMetadata map[string]map[string]string `json:"filter_metadata,omitempty"`
}

// Label is one load-balancing label.
type Label struct{ Key, Value string }

// Labels returns the "mosn.lb" labels sorted by key, or an error (a
// *FieldError) naming the bad field relative to the metadata_match block.
func (m *MetadataMatch) Labels() ([]Label, error) {
	if m == nil {
		return nil, nil
	}
	for k := range m.FilterMetadata {
		if k != LBMetadataKey {
			return nil, &FieldError{Path: "filter_metadata." + k, Msg: fmt.Sprintf("unknown metadata namespace (want %q)", LBMetadataKey)}
		}
	}
	lb := m.FilterMetadata[LBMetadataKey]
	if len(lb) == 0 {
		return nil, &FieldError{Path: "filter_metadata", Msg: fmt.Sprintf("no %q labels to match", LBMetadataKey)}
	}
	return sortedLabels(lb), nil
}

func sortedLabels(m map[string]string) []Label {
	ls := make([]Label, 0, len(m))
	for k, v := range m {
		ls = append(ls, Label{k, v})
	}
	sort.Slice(ls, func(i, j int) bool { return ls[i].Key < ls[j].Key })
	return ls
}

// HostLabels returns the "mosn.lb" labels of a host's metadata
// (metadata.filter_metadata["mosn.lb"], string values), or an error naming
// the bad field (a *FieldError) relative to the metadata block. Other metadata is free-form
// and ignored here.
func HostLabels(md map[string]any) (map[string]string, error) {
	fm, ok := md["filter_metadata"]
	if !ok || fm == nil {
		return nil, nil
	}
	fmm, ok := fm.(map[string]any)
	if !ok {
		return nil, &FieldError{Path: "filter_metadata", Msg: "want an object"}
	}
	raw, ok := fmm[LBMetadataKey]
	if !ok || raw == nil {
		return nil, nil
	}
	obj, ok := raw.(map[string]any)
	if !ok {
		return nil, &FieldError{Path: "filter_metadata." + LBMetadataKey, Msg: "want an object of string labels"}
	}
	out := make(map[string]string, len(obj))
	for k, v := range obj {
		s, ok := v.(string)
		if !ok {
			return nil, &FieldError{Path: "filter_metadata." + LBMetadataKey + "." + k, Msg: fmt.Sprintf("want a string label value, got %v", v)}
		}
		out[k] = s
	}
	return out, nil
}

func orDefault(v, def uint32) uint32 {
	if v == 0 {
		return def
	}
	return v
}

// checkResilience checks a cluster's health_check, outlier_detection,
// circuit_breakers, lb_subset_config and host labels. Paths are relative to
// the cluster (cp prefixes them).
func checkResilience(cl *Cluster, cp string) []*FieldError {
	var errs []*FieldError
	add := func(path, format string, args ...any) {
		errs = append(errs, &FieldError{Path: joinKey(cp, path), Msg: fmt.Sprintf(format, args...)})
	}
	if hc := cl.HealthCheck; hc != nil {
		switch hc.Protocol {
		case HealthCheckHTTP1, HealthCheckBolt, HealthCheckTCP:
		case "":
			add("health_check.protocol", "required (%s, %s or %s)", HealthCheckHTTP1, HealthCheckBolt, HealthCheckTCP)
		default:
			add("health_check.protocol", "unknown health check protocol %q (want %s, %s or %s)", hc.Protocol, HealthCheckHTTP1, HealthCheckBolt, HealthCheckTCP)
		}
		if hc.CheckConfig != nil && hc.CheckConfig.Path != "" {
			if hc.Protocol != HealthCheckHTTP1 {
				add("health_check.check_config.path", "only an %s health check requests a path", HealthCheckHTTP1)
			} else if !strings.HasPrefix(hc.CheckConfig.Path, "/") || strings.ContainsAny(hc.CheckConfig.Path, " \r\n") {
				add("health_check.check_config.path", "invalid path %q (want /path with no spaces)", hc.CheckConfig.Path)
			}
		}
		if hc.Interval != nil && hc.Interval.Duration > 0 && hc.Interval.Duration < time.Millisecond {
			add("health_check.interval", "%v is below 1ms", hc.Interval.Duration)
		}
	}
	if od := cl.OutlierDetection; od != nil {
		if od.MaxEjectionPercent != nil && *od.MaxEjectionPercent > 100 {
			add("outlier_detection.max_ejection_percent", "%d is over 100", *od.MaxEjectionPercent)
		}
		if od.Consecutive5xxOrDefault() == 0 && od.ConsecutiveGatewayFailure == 0 {
			add("outlier_detection", "consecutive_5xx is 0 and consecutive_gateway_failure unset: nothing would eject a host")
		}
		if od.Interval != nil && od.Interval.Duration > 0 && od.Interval.Duration < time.Millisecond {
			add("outlier_detection.interval", "%v is below 1ms", od.Interval.Duration)
		}
		if od.BaseEjectionTime != nil && od.BaseEjectionTime.Duration > 0 && od.BaseEjectionTime.Duration < time.Millisecond {
			add("outlier_detection.base_ejection_time", "%v is below 1ms", od.BaseEjectionTime.Duration)
		}
	}
	if cb := cl.CircuitBreakers; cb != nil {
		seen := false
		for i, t := range cb.Thresholds {
			switch t.Priority {
			case "", "DEFAULT", "default":
				if seen {
					add(fmt.Sprintf("circuit_breakers.thresholds[%d]", i), "a second DEFAULT threshold set")
				}
				seen = true
			default:
				add(fmt.Sprintf("circuit_breakers.thresholds[%d].priority", i), "priority %q is not supported (only DEFAULT)", t.Priority)
			}
		}
	}
	for i := range cl.Hosts {
		_, err := HostLabels(cl.Hosts[i].Metadata)
		if fe, ok := err.(*FieldError); ok {
			add(fmt.Sprintf("hosts[%d].metadata.%s", i, fe.Path), "%s", fe.Msg)
		}
	}
	if sc := cl.LBSubsetConfig; sc != nil {
		if sc.FallBackPolicy > FallbackDefaultSubset {
			add("lb_subset_config.fall_back_policy", "%d is not a policy (0 no fallback, 1 any host, 2 default_subset)", sc.FallBackPolicy)
		}
		if sc.FallBackPolicy == FallbackDefaultSubset && len(sc.DefaultSubset) == 0 {
			add("lb_subset_config.default_subset", "required by fall_back_policy 2")
		}
		if len(sc.SubsetSelectors) == 0 {
			add("lb_subset_config.subset_selectors", "required: at least one list of label keys")
		}
		for i, sel := range sc.SubsetSelectors {
			if len(sel) == 0 {
				add(fmt.Sprintf("lb_subset_config.subset_selectors[%d]", i), "empty selector")
			}
			keys := map[string]bool{}
			for j, k := range sel {
				if k == "" || keys[k] {
					add(fmt.Sprintf("lb_subset_config.subset_selectors[%d][%d]", i, j), "empty or repeated key %q", k)
				}
				keys[k] = true
			}
		}
	}
	return errs
}

// ValidateResilience checks a cluster's resilience blocks as Validate does,
// for clusters built without it (xDS, tests). Paths are relative to the
// cluster.
func ValidateResilience(cl *Cluster) error {
	return joinErrors(checkResilience(cl, ""))
}
