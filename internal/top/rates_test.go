package top

import (
	"math"
	"testing"

	"github.com/mosnctl/mosnctl/internal/admin"
)

func TestIntervalQuantile(t *testing.T) {
	bounds := []float64{1, 10, 100}
	stats := func(counts ...uint64) *admin.Stats {
		return &admin.Stats{LatencyBucketsMs: bounds, LatencyCounts: counts}
	}
	old := stats(100, 200, 300, 300)
	tests := []struct {
		name   string
		cur    *admin.Stats
		q      float64
		want   float64
		wantOK bool
	}{
		{"all in the first bucket", stats(200, 300, 400, 400), 0.5, 0.5, true},
		{"interpolated in the second", stats(100, 300, 400, 400), 0.5, 5.5, true},
		{"beyond the last bound", stats(100, 200, 300, 310), 0.99, 100, true},
		{"nothing finished", stats(100, 200, 300, 300), 0.5, 0, false},
		{"histograms do not line up", &admin.Stats{LatencyBucketsMs: bounds[:1], LatencyCounts: []uint64{1, 2}}, 0.5, 0, false},
		{"an old proxy sends none", &admin.Stats{}, 0.5, 0, false},
	}
	for _, tt := range tests {
		got, ok := intervalQuantile(tt.cur, old, tt.q)
		if ok != tt.wantOK || math.Abs(got-tt.want) > 1e-9 {
			t.Errorf("%s: %v, %v; want %v, %v", tt.name, got, ok, tt.want, tt.wantOK)
		}
	}
}
