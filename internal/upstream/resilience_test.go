package upstream

import (
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mosnctl/mosnctl/internal/config"
)

func buildCluster(t testing.TB, js string) *Cluster {
	t.Helper()
	cs := decodeClusters(t.(*testing.T), "["+js+"]")
	m, err := NewManagerLog(cs, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	return m.Clusters()[0]
}

// try runs one try of a request to c through Tries, as a proxy would: the
// host it picked, with status as its answer (0: a failed connect).
func try(c *Cluster, status int) *Host {
	var tr Tries
	tr.Reset(c, 1, nil)
	if !tr.Next() {
		return nil
	}
	if status == 0 {
		tr.ConnectFailed()
		return tr.Host
	}
	tr.Started()
	tr.Answered(status)
	tr.Ended()
	return tr.Host
}

func TestOutlierConsecutive5xx(t *testing.T) {
	c := buildCluster(t, `{"name": "c", "hosts": [{"address": "a:1"}, {"address": "b:1"}],
	  "outlier_detection": {"consecutive_5xx": 3, "base_ejection_time": "1h", "max_ejection_percent": 100}}`)
	a := c.Hosts[0]
	// Feed a directly: 2 failures, a success, 2 failures: no streak of 3.
	var tr Tries
	feed := func(status int) {
		tr.Reset(c, 1, nil)
		tr.Host = a
		tr.Started()
		tr.Answered(status)
		tr.Ended()
	}
	for _, s := range []int{503, 500, 200, 502, 500} {
		feed(s)
	}
	if a.Ejected() {
		t.Fatal("ejected although a success broke the streak")
	}
	feed(504)
	if !a.Ejected() || a.Ejections.Load() != 1 {
		t.Fatalf("not ejected after 3 5xx in a row (ejected %v)", a.Ejected())
	}
	// Ejected hosts are skipped.
	for i := 0; i < 10; i++ {
		if h := c.Pick(nil, nil); h != c.Hosts[1] {
			t.Fatalf("picked %v while a is ejected", h.Address)
		}
	}
}

// A Bolt-style failure reported after its try ended (Ended, then Failed)
// counts the same, and a try that only ends is a success.
func TestOutlierFailureAfterEnded(t *testing.T) {
	c := buildCluster(t, `{"name": "c", "hosts": [{"address": "a:1"}],
	  "outlier_detection": {"consecutive_gateway_failure": 2, "consecutive_5xx": 0, "base_ejection_time": "1h"}}`)
	a := c.Hosts[0]
	var tr Tries
	run := func(fail bool) {
		tr.Reset(c, 1, nil)
		tr.Next()
		tr.Started()
		tr.Ended()
		if fail {
			tr.Failed(false)
		}
	}
	run(true)
	run(false)
	run(true)
	if a.Ejected() {
		t.Fatal("ejected although a success came between the failures")
	}
	run(true)
	if !a.Ejected() {
		t.Fatal("not ejected after 2 gateway failures in a row")
	}
}

func TestOutlierGatewayOnly(t *testing.T) {
	c := buildCluster(t, `{"name": "c", "hosts": [{"address": "a:1"}],
	  "outlier_detection": {"consecutive_5xx": 0, "consecutive_gateway_failure": 3, "base_ejection_time": "1h"}}`)
	a := c.Hosts[0]
	for i := 0; i < 10; i++ {
		try(c, 500) // a 5xx that is not a gateway failure
	}
	if a.Ejected() {
		t.Fatal("500s ejected a host with only consecutive_gateway_failure on")
	}
	try(c, 0) // connect failures are gateway failures
	try(c, 503)
	try(c, 0)
	if !a.Ejected() {
		t.Fatal("not ejected after 3 gateway failures")
	}
}

func TestOutlierMaxEjectionPercent(t *testing.T) {
	c := buildCluster(t, `{"name": "c", "hosts": [{"address": "a:1"}, {"address": "b:1"}, {"address": "c:1"}, {"address": "d:1"}],
	  "outlier_detection": {"consecutive_5xx": 1, "base_ejection_time": "1h", "max_ejection_percent": 30}}`)
	for i := 0; i < 40; i++ {
		try(c, 503)
	}
	out := 0
	for _, h := range c.Hosts {
		if h.Ejected() {
			out++
		}
	}
	// 0% < 30 ejects one (25%); 25% < 30 a second (50%); then no more.
	if out != 2 {
		t.Errorf("%d of 4 hosts ejected at max_ejection_percent 30, want 2", out)
	}
	// Always one, even at 0%.
	c = buildCluster(t, `{"name": "c", "hosts": [{"address": "a:1"}, {"address": "b:1"}],
	  "outlier_detection": {"consecutive_5xx": 1, "base_ejection_time": "1h", "max_ejection_percent": 0}}`)
	for i := 0; i < 10; i++ {
		try(c, 503)
	}
	if n := c.Hosts[0].Ejections.Load() + c.Hosts[1].Ejections.Load(); n != 1 {
		t.Errorf("%d ejections at max_ejection_percent 0, want exactly 1", n)
	}
}

// The ejection time grows with each ejection (base x times ejected), and
// the host comes back by itself when it is over.
func TestOutlierEjectionTimeGrows(t *testing.T) {
	c := buildCluster(t, `{"name": "c", "hosts": [{"address": "a:1"}, {"address": "b:1"}],
	  "outlier_detection": {"consecutive_5xx": 1, "base_ejection_time": "50ms", "interval": "1h", "max_ejection_percent": 50}}`)
	a := c.Hosts[0]
	fail := func() time.Duration {
		var tr Tries
		tr.Reset(c, 1, nil)
		tr.Host = a
		tr.Started()
		tr.Answered(503)
		start := time.Now()
		tr.Ended()
		if !a.Ejected() {
			t.Fatal("not ejected")
		}
		for a.Ejected() {
			if time.Since(start) > 10*time.Second {
				t.Fatal("never came back")
			}
			time.Sleep(time.Millisecond)
		}
		return time.Since(start)
	}
	first := fail()
	second := fail()
	third := fail()
	t.Logf("ejections lasted %v, %v, %v", first, second, third)
	// Lower bounds only: timers fire late on a loaded host, never early.
	if first < 50*time.Millisecond || second < 100*time.Millisecond || third < 150*time.Millisecond {
		t.Errorf("ejections lasted %v, %v, %v: want at least 50ms, 100ms, 150ms", first, second, third)
	}
	if a.outlier.timesEjected != 3 {
		t.Errorf("times ejected %d, want 3", a.outlier.timesEjected)
	}
}

// The ejection multiplier drops by one for each interval the host stayed in.
func TestOutlierMultiplierDecays(t *testing.T) {
	c := buildCluster(t, `{"name": "c", "hosts": [{"address": "a:1"}, {"address": "b:1"}],
	  "outlier_detection": {"consecutive_5xx": 1, "base_ejection_time": "1h", "interval": "10s", "max_ejection_percent": 50}}`)
	a := c.Hosts[0]
	a.outlier.timesEjected = 3
	a.outlier.backAt = time.Now().Add(-25 * time.Second) // two intervals ago
	var tr Tries
	tr.Reset(c, 1, nil)
	tr.Host = a
	tr.ConnectFailed()
	if !a.Ejected() || a.outlier.timesEjected != 2 {
		t.Errorf("times ejected %d after 2 intervals in and one more ejection, want 3-2+1 = 2", a.outlier.timesEjected)
	}
}

// A retry goes to a host not tried yet while there is one; then to a tried
// one rather than to none.
func TestPickSkipsTriedHosts(t *testing.T) {
	for _, typ := range []string{config.LBRoundRobin, config.LBRandom, config.LBWeightedRoundRobin, config.LBLeastRequest} {
		t.Run(typ, func(t *testing.T) {
			c := buildCluster(t, `{"name": "c", "lb_type": "`+typ+`", "hosts": [{"address": "a:1"}, {"address": "b:1", "weight": 5}, {"address": "c:1", "weight": 2}]}`)
			for i := 0; i < 200; i++ {
				var tr Tries
				tr.Reset(c, 4, nil)
				seen := map[*Host]bool{}
				for j := 0; j < 3; j++ {
					if !tr.Next() {
						t.Fatal("no host")
					}
					if seen[tr.Host] {
						t.Fatalf("try %d went to %s again while a host was left", j+1, tr.Host.Address)
					}
					seen[tr.Host] = true
				}
				if !tr.Next() || tr.Host == nil {
					t.Fatal("the fourth try found no host: tried hosts must be reused when none is left")
				}
			}
		})
	}
}

func TestPickPanicModeAndTried(t *testing.T) {
	c := buildCluster(t, `{"name": "c", "hosts": [{"address": "a:1"}, {"address": "b:1"}, {"address": "c:1"}]}`)
	a, b, cc := c.Hosts[0], c.Hosts[1], c.Hosts[2]
	b.SetHealthy(false)
	cc.SetHealthy(false)
	// a is the only available host: a retry after a goes back to a, not to
	// an unhealthy host.
	var tr Tries
	tr.Reset(c, 3, nil)
	for i := 0; i < 3; i++ {
		if !tr.Next() || tr.Host != a {
			t.Fatalf("try %d: %v, want a", i+1, tr.Host)
		}
	}
	// Every host out: all are used, untried first.
	a.SetHealthy(false)
	tr.Reset(c, 3, nil)
	seen := map[*Host]bool{}
	for i := 0; i < 3; i++ {
		if !tr.Next() || seen[tr.Host] {
			t.Fatalf("panic mode try %d: %v (seen %v)", i+1, tr.Host, seen)
		}
		seen[tr.Host] = true
	}
}

func TestSubsets(t *testing.T) {
	c := buildCluster(t, `{"name": "c", "hosts": [
	    {"address": "a:1", "metadata": {"filter_metadata": {"mosn.lb": {"version": "v1", "zone": "x"}}}},
	    {"address": "b:1", "metadata": {"filter_metadata": {"mosn.lb": {"version": "v1", "zone": "y"}}}},
	    {"address": "c:1", "metadata": {"filter_metadata": {"mosn.lb": {"version": "v2", "zone": "x"}}}},
	    {"address": "d:1"}],
	  "lb_subset_config": {"fall_back_policy": 2, "default_subset": {"zone": "x"}, "subset_selectors": [["version"], ["zone", "version"]]}}`)
	pick := func(match []config.Label) map[string]int {
		got := map[string]int{}
		for i := 0; i < 40; i++ {
			got[name(c.Pick(match, nil))]++
		}
		return got
	}
	l := func(kv ...string) []config.Label {
		var ls []config.Label
		for i := 0; i < len(kv); i += 2 {
			ls = append(ls, config.Label{Key: kv[i], Value: kv[i+1]})
		}
		return ls
	}
	tests := []struct {
		match []config.Label
		want  map[string]int
	}{
		{l("version", "v1"), map[string]int{"a": 20, "b": 20}},
		{l("version", "v2"), map[string]int{"c": 40}},
		{l("version", "v1", "zone", "y"), map[string]int{"b": 40}},
		{l("version", "v3"), map[string]int{"a": 20, "c": 20}}, // no such subset: default (zone x)
		{l("zone", "x"), map[string]int{"a": 20, "c": 20}},     // no selector has just zone: default
		{nil, map[string]int{"a": 20, "c": 20}},                // no match: fallback, as in Envoy
	}
	for _, tt := range tests {
		if got := pick(tt.match); !equalCounts(got, tt.want) {
			t.Errorf("match %v: %v, want %v", tt.match, got, tt.want)
		}
	}
	// The subset's health: v1's a out, b takes it all; both out, panic
	// within the subset, never outside it.
	c.Hosts[0].SetHealthy(false)
	if got := pick(l("version", "v1")); !equalCounts(got, map[string]int{"b": 40}) {
		t.Errorf("v1 with a out: %v", got)
	}
	c.Hosts[1].SetHealthy(false)
	if got := pick(l("version", "v1")); !equalCounts(got, map[string]int{"a": 20, "b": 20}) {
		t.Errorf("v1 all out: %v, want panic within the subset", got)
	}

	none := buildCluster(t, `{"name": "c", "hosts": [{"address": "a:1", "metadata": {"filter_metadata": {"mosn.lb": {"version": "v1"}}}}],
	  "lb_subset_config": {"subset_selectors": [["version"]]}}`)
	if h := none.Pick(l("version", "v2"), nil); h != nil {
		t.Errorf("fall_back_policy 0 picked %s", h.Address)
	}
	var tr Tries
	tr.Reset(none, 2, l("version", "v2"))
	if tr.Next() || tr.Host != nil {
		t.Error("Tries found a host with no subset and no fallback")
	}
	any := buildCluster(t, `{"name": "c", "hosts": [{"address": "a:1", "metadata": {"filter_metadata": {"mosn.lb": {"version": "v1"}}}}, {"address": "b:1"}],
	  "lb_subset_config": {"fall_back_policy": 1, "subset_selectors": [["version"]]}}`)
	if got := countPick(any, l("version", "v9"), 40); !equalCounts(got, map[string]int{"a": 20, "b": 20}) {
		t.Errorf("fall_back_policy 1: %v, want every host", got)
	}
}

func countPick(c *Cluster, match []config.Label, n int) map[string]int {
	got := map[string]int{}
	for i := 0; i < n; i++ {
		got[name(c.Pick(match, nil))]++
	}
	return got
}

func equalCounts(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func TestResilienceConfigErrors(t *testing.T) {
	tests := []struct{ cfg, want string }{
		{`{"name": "a", "health_check": {"protocol": "udp"}}`, `clusters[0].health_check.protocol: unknown health check protocol "udp"`},
		{`{"name": "a", "health_check": {"protocol": "tcp", "check_config": {"path": "/x"}}}`, "health_check.check_config.path: only an Http1 health check"},
		{`{"name": "a", "outlier_detection": {"max_ejection_percent": 101}}`, "outlier_detection.max_ejection_percent: 101 is over 100"},
		{`{"name": "a", "lb_subset_config": {"fall_back_policy": 3, "subset_selectors": [["v"]]}}`, "lb_subset_config.fall_back_policy: 3 is not a policy"},
		{`{"name": "a", "lb_subset_config": {"fall_back_policy": 2, "subset_selectors": [["v"]]}}`, "lb_subset_config.default_subset: required"},
		{`{"name": "a", "hosts": [{"address": "h:1", "metadata": {"filter_metadata": {"mosn.lb": {"v": 1}}}}]}`, `hosts[0].metadata.filter_metadata.mosn.lb.v: want a string label value, got 1`},
		{`{"name": "a", "circuit_breakers": {"thresholds": [{"priority": "HIGH"}]}}`, `circuit_breakers.thresholds[0].priority: priority "HIGH" is not supported`},
	}
	for _, tt := range tests {
		_, err := NewManager(decodeClusters(t, "["+tt.cfg+"]"))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err = %v, want it to contain %q", tt.cfg, err, tt.want)
		}
	}
}

func TestResources(t *testing.T) {
	c := buildCluster(t, `{"name": "c", "circuit_breakers": {"thresholds": [{"max_requests": 2, "max_retries": 1}]}}`)
	r := c.Resources
	if r.Max(LimitRequests) != 2 || r.Max(LimitRetries) != 1 || r.Max(LimitConnections) != config.DefaultCircuitBreakerLimit {
		t.Fatalf("limits %d %d %d", r.Max(LimitRequests), r.Max(LimitRetries), r.Max(LimitConnections))
	}
	if !r.TryAcquire(LimitRequests) || !r.TryAcquire(LimitRequests) {
		t.Fatal("the first two requests were refused")
	}
	if r.TryAcquire(LimitRequests) || r.TryAcquire(LimitRequests) {
		t.Fatal("a third request in flight was let through")
	}
	if r.Open(LimitRequests) != 2 || r.Overflows(LimitRequests) != 2 {
		t.Errorf("open %d overflows %d, want 2 and 2", r.Open(LimitRequests), r.Overflows(LimitRequests))
	}
	r.Release(LimitRequests)
	if !r.TryAcquire(LimitRequests) {
		t.Error("a request after a release was refused")
	}
	if !r.TryAcquire(LimitRetries) || r.TryAcquire(LimitRetries) || r.Overflows(LimitRetries) != 1 {
		t.Error("max_retries 1 not applied")
	}
	if r.Overflows(LimitConnections) != 0 || r.Overflows(LimitPendingRequests) != 0 {
		t.Error("limits overflowed that were never taken")
	}

	// Concurrent takers never get more than the limit at once.
	c = buildCluster(t, `{"name": "c", "circuit_breakers": {"thresholds": [{"max_connections": 5}]}}`)
	r = c.Resources
	var wg sync.WaitGroup
	var mu sync.Mutex
	var holders atomic.Int64 // takers holding a unit now
	peak := int64(0)
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 2000; i++ {
				if r.TryAcquire(LimitConnections) {
					n := holders.Add(1)
					mu.Lock()
					peak = max(peak, n)
					mu.Unlock()
					holders.Add(-1)
					r.Release(LimitConnections)
				}
			}
		}()
	}
	wg.Wait()
	if peak > 5 || r.Open(LimitConnections) != 0 {
		t.Errorf("peak %d open %d with max_connections 5", peak, r.Open(LimitConnections))
	}

	// Overflow counts survive a reload that changes the cluster.
	m, _ := NewManager(decodeClusters(t, `[{"name": "c", "circuit_breakers": {"thresholds": [{"max_requests": 1}]}}]`))
	m.Get("c").Resources.TryAcquire(LimitRequests)
	m.Get("c").Resources.TryAcquire(LimitRequests)
	m2, err := m.Rebuild(decodeClusters(t, `[{"name": "c", "circuit_breakers": {"thresholds": [{"max_requests": 2}]}}]`))
	if err != nil {
		t.Fatal(err)
	}
	if n := m2.Get("c").Resources.Overflows(LimitRequests); n != 1 {
		t.Errorf("overflows after a reload: %d, want 1", n)
	}
}

// A reload keeps a host that stays, with its health and ejection.
func TestRebuildKeepsHostState(t *testing.T) {
	m, _ := NewManager(decodeClusters(t, `[{"name": "c", "hosts": [{"address": "a:1"}, {"address": "b:1"}]}]`))
	a := m.Get("c").Hosts[0]
	a.SetHealthy(false)
	a.setOut(outEjected, true)
	m2, err := m.Rebuild(decodeClusters(t, `[{"name": "c", "hosts": [{"address": "a:1"}, {"address": "b:1"}, {"address": "c:1"}],
	  "health_check": {"protocol": "tcp"}}]`))
	if err != nil {
		t.Fatal(err)
	}
	if h := m2.Get("c").Hosts[0]; h != a || h.Healthy() || !h.Ejected() {
		t.Errorf("host a lost its state across the rebuild")
	}
	// A new weight makes a new Host at the same address: its health (not
	// its ejection, whose timer belongs to the old one) carries over.
	m3, err := m2.Rebuild(decodeClusters(t, `[{"name": "c", "hosts": [{"address": "a:1", "weight": 7}, {"address": "b:1"}]}]`))
	if err != nil {
		t.Fatal(err)
	}
	if h := m3.Get("c").Hosts[0]; h == a || h.Weight != 7 || h.Healthy() || h.Ejected() {
		t.Errorf("reweighted host: new %v weight %d healthy %v ejected %v", h != a, h.Weight, h.Healthy(), h.Ejected())
	}
}

func TestHealthThresholds(t *testing.T) {
	h := &Host{}
	if h.CheckFailed(3) || h.CheckFailed(3) {
		t.Fatal("out before 3 failures")
	}
	if h.CheckPassed(2) || !h.Healthy() {
		t.Fatal("a pass while healthy is no transition")
	}
	h.CheckFailed(3)
	h.CheckFailed(3)
	if !h.CheckFailed(3) || h.Healthy() || h.Available() {
		t.Fatal("not out after 3 failures in a row")
	}
	if h.CheckFailed(3) {
		t.Fatal("a second transition out")
	}
	if h.CheckPassed(2) {
		t.Fatal("back after 1 pass, want 2")
	}
	h.CheckFailed(3)
	if h.CheckPassed(2) || !h.CheckPassed(2) || !h.Healthy() {
		t.Fatal("not back after 2 passes in a row")
	}
	h.setOut(outEjected, true)
	if !h.Healthy() || h.Available() {
		t.Error("an ejected host must be healthy but not available")
	}
}
