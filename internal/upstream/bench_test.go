package upstream

import (
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
				if lb.Pick() == nil {
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
				if lb.Pick() == nil {
					b.Error("no host")
					return
				}
			}
		})
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
