package upstream

import (
	"fmt"
	"testing"

	"github.com/mosnctl/mosnctl/internal/config"
)

// BenchmarkPick measures one pick per balancer over 8 hosts through the
// production constructor (math/rand/v2's global source). Every one must
// report 0 allocs/op.
func BenchmarkPick(b *testing.B) {
	cases := []struct {
		name    string
		lbType  string
		weights []uint32
	}{
		{"roundrobin", config.LBRoundRobin, []uint32{1, 1, 1, 1, 1, 1, 1, 1}},
		{"random", config.LBRandom, []uint32{1, 1, 1, 1, 1, 1, 1, 1}},
		{"weighted_roundrobin", config.LBWeightedRoundRobin, []uint32{5, 1, 1, 3, 2, 8, 1, 4}},
		{"least_request", config.LBLeastRequest, []uint32{1, 1, 1, 1, 1, 1, 1, 1}},
		{"least_request_weighted", config.LBLeastRequest, []uint32{5, 1, 1, 3, 2, 8, 1, 4}},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			lb, err := NewLoadBalancer(c.lbType, hosts(c.weights...))
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if lb.Pick(PickContext{}) == nil {
					b.Fatal("no host")
				}
			}
		})
	}
	b.Run("roundrobin_parallel", func(b *testing.B) {
		lb, _ := NewLoadBalancer(config.LBRoundRobin, hosts(1, 1, 1, 1, 1, 1, 1, 1))
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if lb.Pick(PickContext{}) == nil {
					b.Error("no host")
					return
				}
			}
		})
	})
	// A request's pick as the proxies make it: Tries with its PickContext,
	// some hosts out (failed checks, ejected), through a subset.
	for _, typ := range []string{config.LBRoundRobin, config.LBRandom, config.LBWeightedRoundRobin, config.LBLeastRequest} {
		b.Run("tries_health_subset_"+typ, func(b *testing.B) {
			var hs []config.Host
			for i := 0; i < 8; i++ {
				v := "v1"
				if i%2 == 1 {
					v = "v2"
				}
				hs = append(hs, config.Host{Address: fmt.Sprintf("10.0.0.%d:80", i+1), Weight: uint32(i + 1),
					Metadata: map[string]any{"filter_metadata": map[string]any{"mosn.lb": map[string]any{"version": v}}}})
			}
			c, err := NewCluster(&config.Cluster{Name: "c", LbType: typ, Hosts: hs,
				OutlierDetection: &config.OutlierDetection{},
				LBSubsetConfig:   &config.LBSubsetConfig{FallBackPolicy: 1, SubsetSelectors: [][]string{{"version"}}}})
			if err != nil {
				b.Fatal(err)
			}
			c.Hosts[0].SetHealthy(false)
			c.Hosts[2].setOut(outEjected, true)
			match := []config.Label{{Key: "version", Value: "v1"}}
			var tr Tries
			b.ReportAllocs()
			for b.Loop() {
				tr.Reset(c, 2, match)
				if !tr.Next() {
					b.Fatal("no host")
				}
				tr.Started()
				tr.Answered(200)
				tr.Ended()
				if !tr.Next() { // a retry: another host of the subset
					b.Fatal("no host for the retry")
				}
			}
		})
	}
	b.Run("all_out_panic", func(b *testing.B) {
		hs := hosts(1, 1, 1, 1, 1, 1, 1, 1)
		for _, h := range hs {
			h.SetHealthy(false)
		}
		lb, _ := NewLoadBalancer(config.LBRoundRobin, hs)
		var ctx PickContext
		b.ReportAllocs()
		for b.Loop() {
			if pickFrom(lb, &ctx) == nil {
				b.Fatal("no host")
			}
		}
	})
	b.Run("get_cluster", func(b *testing.B) {
		m, err := NewManager([]config.Cluster{{Name: "a"}, {Name: "backend_service"}, {Name: "z"}})
		if err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			if m.Get("backend_service") == nil {
				b.Fatal("no cluster")
			}
		}
	})
}
