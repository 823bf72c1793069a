package top

import (
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/charmbracelet/x/ansi"
)

// formatAge prints a duration the way an operator scans a column: short,
// with the unit that matters.
func formatAge(d time.Duration) string {
	switch {
	case d < 0:
		return "0ms"
	case d < time.Second:
		return fmt.Sprintf("%dms", d.Milliseconds())
	case d < 10*time.Second:
		return fmt.Sprintf("%.1fs", d.Seconds())
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
	}
	return fmt.Sprintf("%dd%02dh", int(d.Hours())/24, int(d.Hours())%24)
}

// formatBytes prints a byte count with a binary unit.
func formatBytes(n float64) string {
	const units = "KMGTPE"
	if n < 1024 {
		return fmt.Sprintf("%.0f", n)
	}
	i := -1
	for n >= 1024 && i < len(units)-1 {
		n /= 1024
		i++
	}
	if n >= 100 {
		return fmt.Sprintf("%.0f%c", n, units[i])
	}
	return fmt.Sprintf("%.1f%c", n, units[i])
}

// formatRate prints a per-second rate; "-" when unknown.
func formatRate(r float64, known bool) string {
	switch {
	case !known:
		return "-"
	case r == 0:
		return "0"
	case r < 10:
		return fmt.Sprintf("%.2f", r)
	case r < 1000:
		return fmt.Sprintf("%.1f", r)
	case r < 1e6:
		return fmt.Sprintf("%.0f", r)
	}
	return fmt.Sprintf("%.2fM", r/1e6)
}

// formatCount prints a counter compactly.
func formatCount(n uint64) string {
	switch {
	case n < 100000:
		return fmt.Sprintf("%d", n)
	case n < 1e6:
		return fmt.Sprintf("%.1fk", float64(n)/1e3)
	case n < 1e9:
		return fmt.Sprintf("%.2fM", float64(n)/1e6)
	}
	return fmt.Sprintf("%.2fG", float64(n)/1e9)
}

// formatMs prints a latency in milliseconds.
func formatMs(ms float64) string {
	switch {
	case ms == 0:
		return "-"
	case ms < 10:
		return fmt.Sprintf("%.2fms", ms)
	case ms < 1000:
		return fmt.Sprintf("%.1fms", ms)
	}
	return fmt.Sprintf("%.2fs", ms/1000)
}

func formatPercent(p float64) string {
	switch {
	case p == 0:
		return "0%"
	case p < 10:
		return fmt.Sprintf("%.1f%%", p)
	}
	return fmt.Sprintf("%.0f%%", p)
}

func formatUptime(sec float64) string {
	d := time.Duration(sec) * time.Second
	days := int(d.Hours()) / 24
	h, m, s := int(d.Hours())%24, int(d.Minutes())%60, int(d.Seconds())%60
	if days > 0 {
		return fmt.Sprintf("%dd%02dh%02dm", days, h, m)
	}
	return fmt.Sprintf("%02d:%02d:%02d", h, m, s)
}

var sparkBlocks = []rune("▁▂▃▄▅▆▇█")

// sparkline draws the last width values, scaled to their maximum; an
// all-zero series is a flat baseline.
func sparkline(values []float64, width int) string {
	if width <= 0 {
		return ""
	}
	if len(values) > width {
		values = values[len(values)-width:]
	}
	hi := 0.0
	for _, v := range values {
		if v > hi && !math.IsInf(v, 0) {
			hi = v
		}
	}
	var b strings.Builder
	for _, v := range values {
		i := 0
		if hi > 0 && v > 0 {
			i = int(math.Ceil(v/hi*float64(len(sparkBlocks)))) - 1
			i = max(0, min(i, len(sparkBlocks)-1))
		}
		b.WriteRune(sparkBlocks[i])
	}
	return b.String()
}

// fit truncates s to width cells (with an ellipsis) and pads it.
func fit(s string, width int, right bool) string {
	if width <= 0 {
		return ""
	}
	if ansi.StringWidth(s) > width {
		s = ansi.Truncate(s, width, "…")
	}
	pad := width - ansi.StringWidth(s)
	if right {
		return strings.Repeat(" ", pad) + s
	}
	return s + strings.Repeat(" ", pad)
}

// column is one column of a table: it shows when the width allows its
// minimum after every column of a lower prio number, and grows up to max.
type column struct {
	title    string
	min, max int
	right    bool
	prio     int // 0 shows first
}

// layoutColumns picks the columns that fit width (one space between
// columns) and their widths, in the table's order; dropped ones get 0.
// A column grows only as far as its widest cell (need[i]), so spare room
// goes to the columns that would otherwise be cut.
func layoutColumns(cols []column, need []int, width int) []int {
	widths := make([]int, len(cols))
	order := make([]int, len(cols))
	for i := range order {
		order[i] = i
	}
	// Stable by prio: a simple insertion sort keeps ties in table order.
	for i := 1; i < len(order); i++ {
		for j := i; j > 0 && cols[order[j]].prio < cols[order[j-1]].prio; j-- {
			order[j], order[j-1] = order[j-1], order[j]
		}
	}
	used := -1 // n columns take n-1 gaps
	var shown []int
	for _, i := range order {
		if used+1+cols[i].min > width {
			break // what is left goes to growing the columns shown
		}
		used += 1 + cols[i].min
		widths[i] = cols[i].min
		shown = append(shown, i)
	}
	for _, i := range shown {
		if used >= width {
			break
		}
		grow := min(min(cols[i].max, need[i])-widths[i], width-used)
		if grow > 0 {
			widths[i] += grow
			used += grow
		}
	}
	return widths
}

// tableView is a rendered table: a header and the visible rows.
type tableView struct {
	header string
	rows   []string
}

// renderTable lays out cells (rows of len(cols)) in width cells, with a
// two-cell gutter for the cursor mark.
func renderTable(cols []column, cells [][]string, width int) tableView {
	need := make([]int, len(cols))
	for i, c := range cols {
		need[i] = ansi.StringWidth(c.title)
	}
	for _, r := range cells {
		for i, v := range r {
			need[i] = max(need[i], ansi.StringWidth(v))
		}
	}
	widths := layoutColumns(cols, need, width-2)
	line := func(vals []string) string {
		var b strings.Builder
		first := true
		for i, c := range cols {
			if widths[i] == 0 {
				continue
			}
			if !first {
				b.WriteByte(' ')
			}
			first = false
			b.WriteString(fit(vals[i], widths[i], c.right))
		}
		return b.String()
	}
	titles := make([]string, len(cols))
	for i, c := range cols {
		titles[i] = c.title
	}
	tv := tableView{header: line(titles)}
	for _, r := range cells {
		tv.rows = append(tv.rows, line(r))
	}
	return tv
}
