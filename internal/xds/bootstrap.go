package xds

import (
	"fmt"
	"slices"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/mosnctl/mosnctl/internal/buildinfo"
	"github.com/mosnctl/mosnctl/internal/config"
)

// Bootstrap is what serve needs to run an xDS client for a config file
// with dynamic_resources.
type Bootstrap struct {
	// Base is the file's static config plus its static_resources clusters
	// (other than the xDS server's own), defaulted and validated.
	Base *config.Config
	// Server is host:port of the ADS server, from its static cluster.
	Server string
	Node   *corev3.Node
	// NodeOnFirstOnly is the bootstrap's set_node_on_first_message_only.
	NodeOnFirstOnly bool
}

// NewBootstrap reads the xDS part of cfg. serviceNode and serviceCluster
// (the --service-node and --service-cluster flags) override node.id and
// node.cluster. Errors name the field of the file.
func NewBootstrap(cfg *config.Config, serviceNode, serviceCluster string) (*Bootstrap, error) {
	if !cfg.XDS() {
		return nil, fmt.Errorf("dynamic_resources: not set")
	}
	b := &Bootstrap{Node: &corev3.Node{UserAgentName: "mosnctl",
		UserAgentVersionType: &corev3.Node_UserAgentVersion{UserAgentVersion: buildinfo.Get().Version}}}
	if n := cfg.Node; n != nil {
		b.Node.Id, b.Node.Cluster = n.ID, n.Cluster
		if len(n.Metadata) > 0 {
			md, err := structpb.NewStruct(n.Metadata)
			if err != nil {
				return nil, fmt.Errorf("node.metadata: %v", err)
			}
			b.Node.Metadata = md
		}
	}
	if serviceNode != "" {
		b.Node.Id = serviceNode
	}
	if serviceCluster != "" {
		b.Node.Cluster = serviceCluster
	}
	if b.Node.Id == "" {
		return nil, fmt.Errorf("node.id: required with dynamic_resources (or pass --service-node)")
	}
	b.NodeOnFirstOnly = cfg.DynamicResources.ADSConfig.SetNodeOnFirstMessageOnly

	base := *cfg
	base.ClusterManager.Clusters = slices.Clone(cfg.ClusterManager.Clusters)
	adsName := cfg.ADSCluster()
	for i, raw := range cfg.StaticResources.Clusters {
		path := fmt.Sprintf("static_resources.clusters[%d]", i)
		pc := &clusterv3.Cluster{}
		if err := protojson.Unmarshal(raw, pc); err != nil {
			return nil, fmt.Errorf("%s: %v", path, err)
		}
		isADS := pc.GetName() == adsName
		c, err := translateCluster(pc, isADS)
		if err != nil {
			if fe, ok := err.(*fieldErr); ok {
				return nil, fmt.Errorf("%s.%s: %s", path, fe.path, fe.msg)
			}
			return nil, fmt.Errorf("%s: %v", path, err)
		}
		if c.EDS {
			return nil, fmt.Errorf("%s.type: a static cluster cannot be EDS", path)
		}
		if !isADS {
			base.ClusterManager.Clusters = append(base.ClusterManager.Clusters, c.Config)
			continue
		}
		if len(c.Config.Hosts) == 0 {
			return nil, fmt.Errorf("%s.load_assignment: required: the address of the xDS server", path)
		}
		b.Server = c.Config.Hosts[0].Address
	}
	if b.Server == "" {
		return nil, fmt.Errorf("dynamic_resources.ads_config.grpc_services[0].envoy_grpc.cluster_name: no static_resources cluster named %q", adsName)
	}
	base.ApplyDefaults()
	if err := base.Validate(); err != nil {
		return nil, err
	}
	b.Base = &base
	return b, nil
}
