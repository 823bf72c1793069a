package metrics

import (
	"math"
	"testing"
	"time"
)

func TestHistogramSnapshotAndQuantile(t *testing.T) {
	var h Histogram
	for i := 0; i < 90; i++ {
		h.Observe(300 * time.Microsecond) // bucket (0.00025, 0.0005]
	}
	for i := 0; i < 10; i++ {
		h.Observe(20 * time.Second) // beyond the last bucket
	}
	buckets, count, sum := h.Snapshot()
	if count != 100 {
		t.Fatalf("count = %d, want 100", count)
	}
	if buckets[0.00025] != 0 || buckets[0.0005] != 90 || buckets[10] != 90 {
		t.Fatalf("cumulative buckets wrong: %v", buckets)
	}
	if want := 90*0.0003 + 10*20.0; math.Abs(sum-want) > 1e-9 {
		t.Fatalf("sum = %v, want %v", sum, want)
	}
	if q := h.Quantile(0.5); q <= 0.00025 || q > 0.0005 {
		t.Errorf("p50 = %v, want inside (0.00025, 0.0005]", q)
	}
	if q := h.Quantile(0.99); q != 10 {
		t.Errorf("p99 = %v, want the last bound 10 for observations past it", q)
	}
	var merged Histogram
	merged.Merge(&h)
	merged.Merge(&h)
	if _, c, _ := merged.Snapshot(); c != 200 {
		t.Errorf("merged count = %d, want 200", c)
	}
}

func TestRequestStatsClasses(t *testing.T) {
	var s RequestStats
	for _, st := range []int{200, 204, 404, 503, 0} {
		s.Done(st, time.Millisecond)
	}
	if s.Total() != 5 || s.ByClass[2].Load() != 2 || s.ByClass[4].Load() != 1 || s.ByClass[5].Load() != 1 || s.ByClass[0].Load() != 1 {
		t.Fatalf("classes: total %d, %v", s.Total(), []uint64{s.ByClass[0].Load(), s.ByClass[2].Load(), s.ByClass[4].Load(), s.ByClass[5].Load()})
	}
	if ClassLabel(0) != "none" || ClassLabel(5) != "5xx" {
		t.Error("class labels")
	}
}
