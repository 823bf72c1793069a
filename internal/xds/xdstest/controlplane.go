package xdstest

import (
	"context"
	"net"
	"sync"
	"testing"

	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	serverv3 "github.com/envoyproxy/go-control-plane/pkg/server/v3"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
)

// ControlPlane is go-control-plane's ADS server with a snapshot cache,
// serving on a loopback port that survives Stop and Start.
type ControlPlane struct {
	t     testing.TB
	Addr  string
	Cache cachev3.SnapshotCache
	xds   serverv3.Server

	mu       sync.Mutex
	grpc     *grpc.Server
	requests []*discoveryv3.DiscoveryRequest
	streams  int
}

// StartControlPlane starts a control plane on 127.0.0.1 (a free port); it
// stops with the test.
func StartControlPlane(t testing.TB) *ControlPlane {
	cp := &ControlPlane{t: t, Cache: cachev3.NewSnapshotCache(true, cachev3.IDHash{}, nil)}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	cp.xds = serverv3.NewServer(ctx, cp.Cache, serverv3.CallbackFuncs{
		StreamOpenFunc: func(context.Context, int64, string) error {
			cp.mu.Lock()
			cp.streams++
			cp.mu.Unlock()
			return nil
		},
		StreamRequestFunc: func(_ int64, r *discoveryv3.DiscoveryRequest) error {
			cp.mu.Lock()
			cp.requests = append(cp.requests, proto.Clone(r).(*discoveryv3.DiscoveryRequest))
			cp.mu.Unlock()
			return nil
		},
	})
	cp.serve("127.0.0.1:0")
	t.Cleanup(cp.Stop)
	return cp
}

func (cp *ControlPlane) serve(addr string) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		cp.t.Fatal(err)
	}
	gs := grpc.NewServer()
	discoveryv3.RegisterAggregatedDiscoveryServiceServer(gs, cp.xds)
	cp.mu.Lock()
	cp.grpc, cp.Addr = gs, ln.Addr().String()
	cp.mu.Unlock()
	go gs.Serve(ln)
}

// Stop stops serving, cutting open streams.
func (cp *ControlPlane) Stop() {
	cp.mu.Lock()
	gs := cp.grpc
	cp.grpc = nil
	cp.mu.Unlock()
	if gs != nil {
		gs.Stop()
	}
}

// Start serves again on the same address.
func (cp *ControlPlane) Start() { cp.serve(cp.Addr) }

// Push sets node's snapshot: listeners, routes, clusters, endpoints.
func (cp *ControlPlane) Push(node, version string, listeners, routes, clusters, endpoints []types.Resource) {
	cp.t.Helper()
	snap, err := cachev3.NewSnapshot(version, map[resource.Type][]types.Resource{
		resource.ListenerType: listeners, resource.RouteType: routes,
		resource.ClusterType: clusters, resource.EndpointType: endpoints,
	})
	if err != nil {
		cp.t.Fatal(err)
	}
	if err := cp.Cache.SetSnapshot(context.Background(), node, snap); err != nil {
		cp.t.Fatal(err)
	}
}

// Requests are the discovery requests received so far.
func (cp *ControlPlane) Requests() []*discoveryv3.DiscoveryRequest {
	cp.mu.Lock()
	defer cp.mu.Unlock()
	return append([]*discoveryv3.DiscoveryRequest(nil), cp.requests...)
}

// Streams counts the ADS streams opened so far.
func (cp *ControlPlane) Streams() int {
	cp.mu.Lock()
	defer cp.mu.Unlock()
	return cp.streams
}
