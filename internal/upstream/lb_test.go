package upstream

import (
	"math"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"

	"github.com/mosnctl/mosnctl/internal/config"
)

func hosts(weights ...uint32) []*Host {
	hs := make([]*Host, len(weights))
	for i, w := range weights {
		hs[i] = &Host{Address: string(rune('a'+i)) + ":80", Weight: w, Cluster: "c"}
	}
	return hs
}

func name(h *Host) string {
	if h == nil {
		return "<nil>"
	}
	return h.Address[:1]
}

// seeded returns a deterministic random source for exact test counts.
func seeded() randSource {
	return rand.New(rand.NewPCG(1, 2)).Uint64
}

func newLB(t testing.TB, lbType string, hs []*Host) LoadBalancer {
	t.Helper()
	lb, err := newLoadBalancer(lbType, hs, seeded())
	if err != nil {
		t.Fatal(err)
	}
	return lb
}

func count(lb LoadBalancer, n int) map[string]int {
	c := map[string]int{}
	for i := 0; i < n; i++ {
		c[name(lb.Pick(PickContext{}))]++
	}
	return c
}

func TestRoundRobin(t *testing.T) {
	hs := hosts(1, 1, 1, 1)
	lb := newLB(t, config.LBRoundRobin, hs)
	var seq strings.Builder
	for i := 0; i < 6; i++ {
		seq.WriteString(name(lb.Pick(PickContext{})))
	}
	if seq.String() != "abcdab" {
		t.Errorf("sequence %s, want abcdab", seq.String())
	}
	lb = newLB(t, config.LBRoundRobin, hs)
	got := count(lb, 10000)
	for _, h := range []string{"a", "b", "c", "d"} {
		if got[h] != 2500 {
			t.Errorf("host %s picked %d times, want 2500 (%v)", h, got[h], got)
		}
	}
	hs[1].SetHealthy(false)
	got = count(lb, 10000)
	if got["b"] != 0 || got["a"]+got["c"]+got["d"] != 10000 {
		t.Errorf("unhealthy host picked: %v", got)
	}
}

func TestWeightedRoundRobinSequence(t *testing.T) {
	lb := newLB(t, config.LBWeightedRoundRobin, hosts(5, 1, 1))
	var seq strings.Builder
	for i := 0; i < 14; i++ {
		seq.WriteString(name(lb.Pick(PickContext{})))
	}
	if want := "aabacaaaabacaa"; seq.String() != want {
		t.Errorf("sequence %s, want %s", seq.String(), want)
	}
	lb = newLB(t, config.LBWeightedRoundRobin, hosts(50, 30, 20))
	got := count(lb, 10000)
	want := map[string]int{"a": 5000, "b": 3000, "c": 2000}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("host %s picked %d times, want %d", k, got[k], v)
		}
	}
}

func TestWeightedRoundRobinHealth(t *testing.T) {
	hs := hosts(5, 1, 1)
	lb := newLB(t, config.LBWeightedRoundRobin, hs)
	hs[0].SetHealthy(false)
	var seq strings.Builder
	for i := 0; i < 4; i++ {
		seq.WriteString(name(lb.Pick(PickContext{})))
	}
	if seq.String() != "bcbc" {
		t.Errorf("with a down: %s, want bcbc", seq.String())
	}
	// Weight 0 counts as MinHostWeight and overweights clamp to MaxHostWeight.
	lb = newLB(t, config.LBWeightedRoundRobin, hosts(0, 1000))
	got := count(lb, 129*10)
	if got["a"] != 10 || got["b"] != 1280 {
		t.Errorf("clamped weights: %v", got)
	}
}

func TestRandom(t *testing.T) {
	hs := hosts(1, 1, 1, 1)
	lb := newLB(t, config.LBRandom, hs)
	const n = 10000
	got := count(lb, n)
	// Expected 2500 each; the binomial standard deviation is about 43, so a
	// ±5σ band never fails by chance (the source is seeded anyway).
	for _, h := range []string{"a", "b", "c", "d"} {
		if math.Abs(float64(got[h])-2500) > 5*math.Sqrt(n*0.25*0.75) {
			t.Errorf("host %s picked %d times, want about 2500 (%v)", h, got[h], got)
		}
	}
	hs[0].SetHealthy(false)
	got = count(lb, n)
	if got["a"] != 0 {
		t.Errorf("unhealthy host picked %d times", got["a"])
	}
	// The healthy hosts share equally: the unhealthy one's share does not go
	// to its neighbour.
	for _, h := range []string{"b", "c", "d"} {
		if math.Abs(float64(got[h])-n/3.0) > 5*math.Sqrt(n*(1/3.0)*(2/3.0)) {
			t.Errorf("host %s picked %d times, want about %d (%v)", h, got[h], n/3, got)
		}
	}
}

func TestLeastRequestTwoChoices(t *testing.T) {
	hs := hosts(1, 1, 1)
	hs[0].ActiveRequests.Store(10)
	hs[1].ActiveRequests.Store(0)
	hs[2].ActiveRequests.Store(5)
	lb := newLB(t, config.LBLeastRequest, hs)
	got := count(lb, 3000)
	// Two distinct hosts out of three: the least loaded is always among a
	// pair containing it, so "b" wins 2/3 of the draws and "a" never wins.
	if got["a"] != 0 {
		t.Errorf("the busiest host was picked %d times (%v)", got["a"], got)
	}
	if got["b"] < 1800 || got["b"] <= got["c"] {
		t.Errorf("the idle host was not preferred: %v", got)
	}
	// Equal load: every host is picked.
	for _, h := range hs {
		h.ActiveRequests.Store(0)
	}
	got = count(lb, 3000)
	for _, h := range []string{"a", "b", "c"} {
		if got[h] < 800 {
			t.Errorf("host %s picked %d times with equal load (%v)", h, got[h], got)
		}
	}
	hs[1].SetHealthy(false)
	hs[2].SetHealthy(false)
	got = count(lb, 100)
	if got["a"] != 100 {
		t.Errorf("only healthy host: %v", got)
	}
}

func TestLeastRequestWeighted(t *testing.T) {
	hs := hosts(3, 1)
	lb := newLB(t, config.LBLeastRequest, hs)
	const n = 10000
	got := count(lb, n)
	// Idle hosts share by weight: 3:1.
	if math.Abs(float64(got["a"])-7500) > 5*math.Sqrt(n*0.75*0.25) {
		t.Errorf("idle weighted shares %v, want about 7500/2500", got)
	}
	// a's backlog divides its effective weight: 3/(5+1) vs 1/(0+1) -> 1:2.
	hs[0].ActiveRequests.Store(5)
	got = count(lb, n)
	if math.Abs(float64(got["b"])-n*2/3.0) > 5*math.Sqrt(n*(2/3.0)*(1/3.0)) {
		t.Errorf("loaded weighted shares %v, want about 3333/6667", got)
	}
}

func TestNoHealthyHost(t *testing.T) {
	for _, typ := range []string{config.LBRoundRobin, config.LBRandom, config.LBWeightedRoundRobin, config.LBLeastRequest} {
		for _, hs := range [][]*Host{nil, hosts(1), hosts(1, 1, 1), hosts(1, 2, 3)} {
			for _, h := range hs {
				h.SetHealthy(false)
			}
			if h := newLB(t, typ, hs).Pick(PickContext{}); h != nil {
				t.Errorf("%s with %d unhealthy hosts picked %s", typ, len(hs), h.Address)
			}
			for _, h := range hs {
				h.SetHealthy(true)
			}
			if len(hs) > 0 {
				if h := newLB(t, typ, hs).Pick(PickContext{}); h == nil {
					t.Errorf("%s with %d healthy hosts picked nil", typ, len(hs))
				}
			}
		}
	}
}

func TestUnknownLBType(t *testing.T) {
	_, err := NewLoadBalancer("LB_MAGIC", hosts(1))
	if err == nil || !strings.Contains(err.Error(), `unknown lb_type "LB_MAGIC"`) {
		t.Errorf("err = %v", err)
	}
	lb, err := NewLoadBalancer("", hosts(1))
	if _, ok := lb.(*roundRobin); err != nil || !ok {
		t.Errorf("default lb = %T, %v", lb, err)
	}
}

// TestConcurrentPick runs every balancer from several goroutines while hosts
// flip health and load; run it under -race.
func TestConcurrentPick(t *testing.T) {
	for _, typ := range []string{config.LBRoundRobin, config.LBRandom, config.LBWeightedRoundRobin, config.LBLeastRequest} {
		t.Run(typ, func(t *testing.T) {
			hs := hosts(1, 2, 3, 4)
			lb, err := NewLoadBalancer(typ, hs)
			if err != nil {
				t.Fatal(err)
			}
			var wg sync.WaitGroup
			for g := 0; g < 4; g++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := 0; i < 2000; i++ {
						if h := lb.Pick(PickContext{}); h != nil {
							h.ActiveRequests.Add(1)
							h.Requests.Add(1)
							h.ActiveRequests.Add(-1)
						}
					}
				}()
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < 500; i++ {
					hs[i%4].SetHealthy(i%3 != 0)
				}
				for _, h := range hs {
					h.SetHealthy(true)
				}
			}()
			wg.Wait()
			var total uint64
			for _, h := range hs {
				total += h.Requests.Load()
				if h.ActiveRequests.Load() != 0 {
					t.Errorf("host %s active %d", h.Address, h.ActiveRequests.Load())
				}
			}
			if total == 0 {
				t.Error("no host picked")
			}
		})
	}
}
