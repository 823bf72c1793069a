package xds

import (
	"testing"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	"google.golang.org/protobuf/proto"

	"github.com/mosnctl/mosnctl/internal/config"
	"github.com/mosnctl/mosnctl/internal/xds/xdstest"
)

// FuzzTranslate feeds random Listener, RouteConfiguration, Cluster and
// ClusterLoadAssignment protos through translation and Build: each must
// give either a config that validates or an error, never a panic.
func FuzzTranslate(f *testing.F) {
	seeds := []proto.Message{
		xdstest.HTTPListener(f, "http", "127.0.0.1", 15001, "web"),
		xdstest.TCPListener(f, "tcp", "127.0.0.1", 15002, "backend"),
		xdstest.RouteConfig("web", xdstest.PrefixRoute("/", "backend")),
		xdstest.EDSCluster("backend"),
		xdstest.Assignment("backend", xdstest.LbEndpoint("127.0.0.1", 80), xdstest.Weighted(xdstest.LbEndpoint("127.0.0.2", 80), 3)),
	}
	kinds := []byte{0, 0, 1, 2, 3}
	for i, m := range seeds {
		b, err := proto.Marshal(m)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(kinds[i], b)
	}
	f.Fuzz(func(t *testing.T, kind byte, data []byte) {
		r := &Resources{Listeners: map[string]*Listener{}, Routes: map[string]*config.RouterConfiguration{},
			Clusters: map[string]*Cluster{}, Endpoints: map[string][]config.Host{}}
		switch kind % 4 {
		case 0:
			m := &listenerv3.Listener{}
			if proto.Unmarshal(data, m) != nil {
				return
			}
			l, err := TranslateListener(m)
			if err != nil {
				return
			}
			r.Listeners[m.GetName()] = l
		case 1:
			m := &routev3.RouteConfiguration{}
			if proto.Unmarshal(data, m) != nil {
				return
			}
			rc, err := TranslateRoute(m)
			if err != nil {
				return
			}
			r.Routes[m.GetName()] = rc
			// A listener reading it, so that Build validates the routes.
			if l, err := TranslateListener(xdstest.HTTPListener(t, "l", "127.0.0.1", 0, m.GetName())); err == nil {
				r.Listeners["l"] = l
			}
			r.Clusters["backend"], _ = TranslateCluster(xdstest.EDSCluster("backend"))
		case 2:
			m := &clusterv3.Cluster{}
			if proto.Unmarshal(data, m) != nil {
				return
			}
			c, err := TranslateCluster(m)
			if err != nil {
				return
			}
			r.Clusters[m.GetName()] = c
		case 3:
			m := &endpointv3.ClusterLoadAssignment{}
			if proto.Unmarshal(data, m) != nil {
				return
			}
			hs, err := TranslateEndpoints(m)
			if err != nil {
				return
			}
			r.Endpoints["backend"] = hs
			r.Clusters["backend"], _ = TranslateCluster(xdstest.EDSCluster("backend"))
		}
		cfg, _, err := Build(testBase(), r)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error")
			}
			return
		}
		if err := cfg.Validate(); err != nil {
			t.Fatalf("built config does not validate again: %v", err)
		}
	})
}
