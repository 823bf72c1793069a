package top

import (
	"testing"
	"time"
)

func TestFormatters(t *testing.T) {
	tests := []struct{ got, want string }{
		{formatAge(-time.Second), "0ms"},
		{formatAge(350 * time.Millisecond), "350ms"},
		{formatAge(1250 * time.Millisecond), "1.2s"},
		{formatAge(42 * time.Second), "42s"},
		{formatAge(2*time.Minute + 3*time.Second), "2m03s"},
		{formatAge(3*time.Hour + 4*time.Minute), "3h04m"},
		{formatAge(50 * time.Hour), "2d02h"},
		{formatBytes(0), "0"},
		{formatBytes(1023), "1023"},
		{formatBytes(1536), "1.5K"},
		{formatBytes(200 << 20), "200M"},
		{formatBytes(3 << 30), "3.0G"},
		{formatRate(0, false), "-"},
		{formatRate(0, true), "0"},
		{formatRate(1.234, true), "1.23"},
		{formatRate(123.45, true), "123.5"},
		{formatRate(12345, true), "12345"},
		{formatRate(2.5e6, true), "2.50M"},
		{formatCount(99999), "99999"},
		{formatCount(123456), "123.5k"},
		{formatCount(12_345_678), "12.35M"},
		{formatCount(3_000_000_000), "3.00G"},
		{formatMs(0), "-"},
		{formatMs(0.425), "0.42ms"},
		{formatMs(12.34), "12.3ms"},
		{formatMs(2500), "2.50s"},
		{formatPercent(0), "0%"},
		{formatPercent(2.345), "2.3%"},
		{formatPercent(45), "45%"},
		{formatUptime(3723), "01:02:03"},
		{formatUptime(90000), "1d01h00m"},
		{sparkline(nil, 5), ""},
		{sparkline([]float64{0, 0, 0}, 5), "▁▁▁"},
		{sparkline([]float64{1, 2, 4, 8}, 10), "▁▂▄█"},
		{sparkline([]float64{1, 2, 4, 8}, 2), "▄█"},
		{sparkline([]float64{1, 2}, 0), ""},
		{fit("abcdef", 4, false), "abc…"},
		{fit("ab", 4, false), "ab  "},
		{fit("ab", 4, true), "  ab"},
		{fit("ab", 0, true), ""},
	}
	for i, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("case %d: got %q, want %q", i, tt.got, tt.want)
		}
	}
}

func TestLayoutColumns(t *testing.T) {
	cols := []column{
		{title: "A", min: 4, max: 10, prio: 0},
		{title: "B", min: 6, max: 6, prio: 2},
		{title: "C", min: 3, max: 8, prio: 1},
	}
	need := []int{10, 6, 5}
	tests := []struct {
		width int
		want  []int
	}{
		{3, []int{0, 0, 0}},    // not even the first fits
		{4, []int{4, 0, 0}},    // A only
		{8, []int{4, 0, 3}},    // A and C, no room to grow
		{12, []int{8, 0, 3}},   // B does not fit: A grows instead
		{15, []int{4, 6, 3}},   // all at their minimum
		{40, []int{10, 6, 5}},  // everything grows to what its cells need
		{100, []int{10, 6, 5}}, // and no further
	}
	for _, tt := range tests {
		got := layoutColumns(cols, need, tt.width)
		for i := range got {
			if got[i] != tt.want[i] {
				t.Errorf("width %d: %v, want %v", tt.width, got, tt.want)
				break
			}
		}
	}
}
