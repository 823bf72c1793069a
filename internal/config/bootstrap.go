package config

import "encoding/json"

// The Envoy v3 bootstrap blocks that point mosnctl at an xDS control plane
// (what MOSN reads for Istio). Only aggregated (ADS) state-of-the-world
// gRPC is spoken, so every other source is refused by path. The static
// clusters stay raw Envoy JSON: internal/xds decodes and translates them,
// as it does the clusters a control plane pushes.

// Node identifies this proxy to the control plane.
type Node struct {
	ID       string         `json:"id"`
	Cluster  string         `json:"cluster,omitempty"`
	Metadata map[string]any `json:"metadata,omitempty"`
}

// DynamicResources says where listeners and clusters come from.
type DynamicResources struct {
	ADSConfig *APIConfigSource `json:"ads_config,omitempty"`
	LDSConfig *ConfigSource    `json:"lds_config,omitempty"`
	CDSConfig *ConfigSource    `json:"cds_config,omitempty"`
}

// APIConfigSource is the ADS server: one gRPC service naming a static cluster.
type APIConfigSource struct {
	APIType                   string        `json:"api_type,omitempty"`
	TransportAPIVersion       string        `json:"transport_api_version,omitempty"`
	GRPCServices              []GRPCService `json:"grpc_services,omitempty"`
	SetNodeOnFirstMessageOnly bool          `json:"set_node_on_first_message_only,omitempty"`
}

// GRPCService names the cluster the gRPC stream is opened to.
type GRPCService struct {
	EnvoyGRPC *EnvoyGRPC `json:"envoy_grpc,omitempty"`
}

// EnvoyGRPC is the cluster of a gRPC service.
type EnvoyGRPC struct {
	ClusterName string `json:"cluster_name"`
}

// ConfigSource of LDS or CDS: {"ads": {}} is the one mosnctl supports.
type ConfigSource struct {
	ADS                 *struct{}       `json:"ads,omitempty"`
	ResourceAPIVersion  string          `json:"resource_api_version,omitempty"`
	APIConfigSource     json.RawMessage `json:"api_config_source,omitempty"`
	Path                json.RawMessage `json:"path,omitempty"`
	PathConfigSource    json.RawMessage `json:"path_config_source,omitempty"`
	InitialFetchTimeout *Duration       `json:"initial_fetch_timeout,omitempty"`
}

// StaticResources holds Envoy v3 clusters (the xDS server's among them).
type StaticResources struct {
	Clusters []json.RawMessage `json:"clusters,omitempty"`
}

// XDS reports whether the config takes listeners and clusters from a
// control plane.
func (c *Config) XDS() bool { return c.DynamicResources != nil }

// ADSCluster is the name of the static cluster the ADS stream goes to.
func (c *Config) ADSCluster() string {
	d := c.DynamicResources
	if d == nil || d.ADSConfig == nil || len(d.ADSConfig.GRPCServices) == 0 || d.ADSConfig.GRPCServices[0].EnvoyGRPC == nil {
		return ""
	}
	return d.ADSConfig.GRPCServices[0].EnvoyGRPC.ClusterName
}

// bootstrap checks the xDS blocks; the static clusters' Envoy
// fields are checked when internal/xds translates them.
func (v *validator) bootstrap() {
	d := v.c.DynamicResources
	if d == nil {
		if v.c.Node != nil {
			v.errorf("node", "only used with dynamic_resources")
		}
		if v.c.StaticResources != nil {
			v.errorf("static_resources", "only used with dynamic_resources (static clusters go in cluster_manager.clusters)")
		}
		return
	}
	// node.id may come from --service-node: internal/xds checks it.
	const p = "dynamic_resources"
	a := d.ADSConfig
	if a == nil {
		v.errorf(p+".ads_config", "required: mosnctl speaks aggregated xDS (ADS) only")
	} else {
		switch a.APIType {
		case "", "GRPC", "AGGREGATED_GRPC":
		default:
			v.errorf(p+".ads_config.api_type", "api type %q is not supported (GRPC: state-of-the-world ADS)", a.APIType)
		}
		switch a.TransportAPIVersion {
		case "", "V3":
		default:
			v.errorf(p+".ads_config.transport_api_version", "only V3 is supported, got %q", a.TransportAPIVersion)
		}
		if len(a.GRPCServices) != 1 {
			v.errorf(p+".ads_config.grpc_services", "want exactly one gRPC service, got %d", len(a.GRPCServices))
		} else if g := a.GRPCServices[0].EnvoyGRPC; g == nil || g.ClusterName == "" {
			v.errorf(p+".ads_config.grpc_services[0].envoy_grpc.cluster_name", "required: the static cluster of the xDS server")
		}
	}
	v.configSource(d.LDSConfig, p+".lds_config")
	v.configSource(d.CDSConfig, p+".cds_config")
	if d.LDSConfig == nil && d.CDSConfig == nil {
		v.errorf(p, "set lds_config or cds_config to {\"ads\": {}}")
	}
	if s := v.c.StaticResources; s == nil || len(s.Clusters) == 0 {
		v.errorf("static_resources.clusters", "required: the cluster of the xDS server")
	}
}

func (v *validator) configSource(s *ConfigSource, p string) {
	if s == nil {
		return
	}
	switch {
	case len(s.APIConfigSource) > 0 || len(s.Path) > 0 || len(s.PathConfigSource) > 0:
		v.errorf(p, `only {"ads": {}} is supported: resources come over the ADS stream`)
	case s.ADS == nil:
		v.errorf(p+".ads", `required: {"ads": {}}`)
	}
	switch s.ResourceAPIVersion {
	case "", "V3":
	default:
		v.errorf(p+".resource_api_version", "only V3 is supported, got %q", s.ResourceAPIVersion)
	}
	if s.InitialFetchTimeout != nil {
		v.errorf(p+".initial_fetch_timeout", "not supported: listeners wait for their routes without a bound")
	}
}

// StaticClusterName reads the name of static_resources.clusters[i].
func (s *StaticResources) StaticClusterName(i int) string {
	var c struct {
		Name string `json:"name"`
	}
	json.Unmarshal(s.Clusters[i], &c)
	return c.Name
}
