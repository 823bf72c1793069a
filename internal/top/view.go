package top

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/x/ansi"

	"github.com/mosnctl/mosnctl/internal/admin"
)

// styles are built on one renderer so that a test's ASCII renderer strips
// every colour, and a terminal gets its own profile.
type styles struct {
	plain, dim, bold, key, title, tab, activeTab, selected, bad, warn, good lipgloss.Style
}

func newStyles(r *lipgloss.Renderer) styles {
	s := r.NewStyle
	return styles{
		plain:     s(),
		dim:       s().Foreground(lipgloss.AdaptiveColor{Light: "#8a8a8a", Dark: "#767676"}),
		bold:      s().Bold(true),
		key:       s().Foreground(lipgloss.AdaptiveColor{Light: "#5f5fd7", Dark: "#afafff"}),
		title:     s().Bold(true).Foreground(lipgloss.AdaptiveColor{Light: "#005f87", Dark: "#5fd7ff"}),
		tab:       s().Foreground(lipgloss.AdaptiveColor{Light: "#6c6c6c", Dark: "#9e9e9e"}),
		activeTab: s().Bold(true).Underline(true),
		selected:  s().Reverse(true),
		bad:       s().Foreground(lipgloss.Color("9")).Bold(true),
		warn:      s().Foreground(lipgloss.Color("11")),
		good:      s().Foreground(lipgloss.Color("10")),
	}
}

// rowStyle tells how a table row is drawn.
type rowStyle int

const (
	rowNormal rowStyle = iota
	rowGroup           // a cluster above its hosts
	rowWarn            // a slow stream, a host with errors
	rowBad             // an unhealthy host, a stuck stream
)

type row struct {
	cells  []string
	style  rowStyle
	stream *admin.StreamInfo // Streams rows: for the detail line
}

// Streams older than these stand out.
const (
	streamWarnAge = 2 * time.Second
	streamBadAge  = 10 * time.Second
)

// chrome is the lines around the body: title, tabs, info, help.
const chrome = 4

func (m *Model) bodyHeight() int {
	h := m.height - chrome
	if m.err != nil && m.snap != nil {
		h-- // the error banner
	}
	return max(h, 0)
}

// tableHeight is how many rows a table shows under its header (and, on
// Streams, above the selected stream's detail line).
func (m *Model) tableHeight() int {
	h := m.bodyHeight() - 1
	if m.tab == TabStreams && !m.noCursor {
		h--
	}
	return max(h, 0)
}

// View draws the screen: exactly height lines of at most width cells.
func (m Model) View() string {
	w := max(m.width, 20)
	lines := []string{m.titleLine(w), m.tabsLine(w)}
	if m.err != nil && m.snap != nil {
		lines = append(lines, m.styles.bad.Render(fit(m.errorBanner(), w, false)))
	}
	lines = append(lines, m.infoLine(w))
	body := m.body(w)
	bh := m.bodyHeight()
	if len(body) > bh {
		body = body[:bh]
	}
	lines = append(lines, body...)
	for len(lines) < m.height-1 {
		lines = append(lines, "")
	}
	lines = append(lines, m.help.ShortHelpView(m.keys.ShortHelp()))
	if len(lines) > m.height && m.height > 0 {
		lines = lines[:m.height]
	}
	return strings.Join(lines, "\n")
}

func (m *Model) titleLine(w int) string {
	left := " mosnctl top  " + m.cfg.Admin
	if m.snap != nil {
		left += "  " + m.snap.Stats.Version + "  up " + formatUptime(m.snap.Stats.UptimeSeconds)
	}
	var right string
	switch {
	case m.paused:
		right = "PAUSED"
	case m.err != nil:
		right = "UNREACHABLE"
	case m.snap != nil:
		right = m.snap.Stats.Time.Format("15:04:05") + " every " + m.cfg.Interval.String()
	default:
		right = "connecting"
	}
	right += " "
	left = fit(left, max(w-ansi.StringWidth(right)-1, 0), false)
	rs := m.styles.dim
	if m.paused || m.err != nil {
		rs = m.styles.bad
	}
	return m.styles.title.Render(left) + " " + rs.Render(right)
}

func (m *Model) tabsLine(w int) string {
	var b strings.Builder
	b.WriteString(" ")
	for t := Tab(0); t < numTabs; t++ {
		label := fmt.Sprintf("%d %s", t+1, t)
		if t == m.tab {
			b.WriteString(m.styles.activeTab.Render("[" + label + "]"))
		} else {
			b.WriteString(m.styles.tab.Render(" " + label + " "))
		}
		b.WriteString(" ")
	}
	return ansi.Truncate(b.String(), w, "")
}

func (m *Model) errorBanner() string {
	since := m.now.Sub(m.errSince).Round(time.Second)
	shown := "no data yet"
	if m.snap != nil {
		shown = "showing " + m.snap.Stats.Time.Format("15:04:05")
	}
	return fmt.Sprintf(" ! admin unreachable for %s (%d failed polls), %s, retrying: %v", since, m.failures, shown, m.err)
}

func (m *Model) infoLine(w int) string {
	t := m.tab
	var parts []string
	if m.filtering {
		return fit(" filter: "+string(m.input)+"_   (enter applies, esc cancels)", w, false)
	}
	if !m.restartedAt.IsZero() && m.snap != nil && m.snap.Stats.Time.Sub(m.restartedAt) < historyWindow {
		parts = append(parts, "proxy restarted "+m.restartedAt.Format("15:04:05")+": history starts over")
	}
	if keys := sortKeys[t]; len(keys) > 0 {
		parts = append(parts, "sort: "+keys[m.sortBy[t]])
	}
	if m.snap != nil && t != TabOverview {
		n := len(m.rows(t))
		what := map[Tab]string{TabListeners: "listeners", TabClusters: "rows", TabStreams: "streams"}[t]
		if f := m.filter[t]; f != "" {
			parts = append(parts, fmt.Sprintf("filter %q: %d %s", f, n, what))
		} else {
			parts = append(parts, fmt.Sprintf("%d %s", n, what))
		}
		if t == TabStreams && m.snap.Streams.Total > len(m.snap.Streams.Streams) {
			parts = append(parts, fmt.Sprintf("the %d %s of %d in flight", len(m.snap.Streams.Streams),
				map[string]string{"age": "oldest", "bytes": "biggest"}[m.snap.Streams.Sort], m.snap.Streams.Total))
		}
	}
	if m.snap != nil && t == TabOverview && m.prev == nil {
		parts = append(parts, "rates after the next poll")
	}
	return m.styles.dim.Render(fit(" "+strings.Join(parts, " · "), w, false))
}

func (m *Model) body(w int) []string {
	if m.showHelp {
		return m.helpBody(w)
	}
	if m.snap == nil {
		return m.noDataBody(w)
	}
	if m.tab == TabOverview {
		return m.overviewBody(w)
	}
	return m.tableBody(w)
}

func (m *Model) noDataBody(w int) []string {
	if m.err == nil {
		return []string{"", fit("  connecting to the admin API at "+m.cfg.Admin+" ...", w, false)}
	}
	return []string{
		"",
		m.styles.bad.Render(fit("  cannot reach the admin API at "+m.cfg.Admin, w, false)),
		fit("  "+m.err.Error(), w, false),
		"",
		fit(fmt.Sprintf("  retrying every %s (%d failed polls)", m.cfg.Interval, m.failures), w, false),
		m.styles.dim.Render(fit("  is `mosnctl serve` running? --admin must name its admin address", w, false)),
	}
}

func (m *Model) helpBody(w int) []string {
	lines := []string{"", m.styles.bold.Render(" keys"), ""}
	h := m.help
	h.Width = w
	for _, l := range strings.Split(h.FullHelpView(m.keys.FullHelp()), "\n") {
		lines = append(lines, "  "+l)
	}
	lines = append(lines, "",
		fit("  Rates and latency are of the last poll interval (by the proxy's clock);", w, false),
		fit("  before a second poll, latency is since the proxy started.", w, false),
		fit("  Streams lists requests in flight, the oldest first: stuck ones stand out.", w, false),
		fit("  Press ? or esc to go back.", w, false))
	return lines
}

func (m *Model) overviewBody(w int) []string {
	p, _ := m.hist.last()
	known := p.rateKnown
	sparkW := max(min(w-30, 60), 0)
	metric := func(label, value string, f func(*point) float64) string {
		line := fmt.Sprintf("  %-14s %10s  ", label, value)
		if f != nil && sparkW > 0 {
			line += m.styles.good.Render(sparkline(m.hist.series(f), sparkW))
		}
		return line
	}
	s := &m.snap.Stats
	lines := []string{
		"",
		metric("requests/s", formatRate(p.rps, known), func(p *point) float64 { return p.rps }),
		metric("errors/s (5xx)", formatRate(p.eps, known), func(p *point) float64 { return p.eps }),
		metric("connections", fmt.Sprint(s.ConnectionsActive), func(p *point) float64 { return p.conns }),
		metric("streams", fmt.Sprint(s.RequestsActive), func(p *point) float64 { return p.streams }),
		metric("latency p50", formatMs(p.p50), func(p *point) float64 { return p.p50 }),
		metric("latency p99", formatMs(p.p99), func(p *point) float64 { return p.p99 }),
		metric("bytes in/s", bytesRate(p.bytesIn, known), nil),
		metric("bytes out/s", bytesRate(p.bytesOut, known), nil),
		"",
	}
	classes := []string{"2xx", "3xx", "4xx", "5xx", "none"}
	var cs []string
	for _, c := range classes {
		if v := s.RequestsByClass[c]; v > 0 {
			cs = append(cs, fmt.Sprintf("%s %s", c, formatCount(v)))
		}
	}
	total := fmt.Sprintf("  requests %s", formatCount(s.RequestsTotal))
	if len(cs) > 0 {
		total += " (" + strings.Join(cs, ", ") + ")"
	}
	lines = append(lines, fit(total, w, false))
	healthy, hosts := 0, 0
	for _, c := range m.snap.Clusters {
		for _, h := range c.Hosts {
			hosts++
			if h.Healthy && !h.Ejected {
				healthy++
			}
		}
	}
	lines = append(lines,
		fit(fmt.Sprintf("  upstream requests %s, errors %s (%s/s)", formatCount(s.UpstreamRequests),
			formatCount(s.UpstreamErrors), formatRate(p.upstreamErrsPerSec, known)), w, false),
		fit(fmt.Sprintf("  %d listeners, %d clusters, %d of %d hosts healthy", len(m.snap.Listeners),
			len(m.snap.Clusters), healthy, hosts), w, false))
	for i := range lines {
		lines[i] = ansi.Truncate(lines[i], w, "")
	}
	return lines
}

func bytesRate(v float64, known bool) string {
	if !known {
		return "-"
	}
	return formatBytes(v)
}

func (m *Model) tableBody(w int) []string {
	t := m.tab
	rows := m.rows(t)
	cells := make([][]string, len(rows))
	for i := range rows {
		cells[i] = rows[i].cells
	}
	tv := renderTable(m.columns(t), cells, w)
	lines := []string{m.styles.bold.Render("  " + tv.header)}
	if len(rows) == 0 {
		empty := map[Tab]string{TabListeners: "no listeners", TabClusters: "no clusters", TabStreams: "no streams in flight"}[t]
		if m.activeFilter(t) != "" {
			empty = "nothing matches the filter (esc clears it)"
		}
		return append(lines, m.styles.dim.Render("  "+empty))
	}
	h := m.tableHeight()
	end := min(m.offset[t]+h, len(rows))
	for i := m.offset[t]; i < end; i++ {
		text := tv.rows[i]
		st := m.styles.plain
		switch rows[i].style {
		case rowGroup:
			st = m.styles.bold
		case rowWarn:
			st = m.styles.warn
		case rowBad:
			st = m.styles.bad
		}
		if i == m.cursor[t] && !m.noCursor {
			lines = append(lines, "> "+m.styles.selected.Render(text))
		} else {
			lines = append(lines, "  "+st.Render(text))
		}
	}
	if t == TabStreams && !m.noCursor {
		// Narrow screens drop columns: the selected stream in full.
		for len(lines) < h+1 {
			lines = append(lines, "")
		}
		if c := m.cursor[t]; c < len(rows) && rows[c].stream != nil {
			lines = append(lines, m.styles.dim.Render(fit(streamDetail(rows[c].stream), w, false)))
		}
	}
	return lines
}

// streamDetail is one line with what narrow columns drop first: id,
// protocol, downstream, Bolt request id, exact start and bytes; and what no
// column shows: a TLS connection's version, cipher and verified peer.
func streamDetail(s *admin.StreamInfo) string {
	d := fmt.Sprintf(" #%d %s %s", s.ID, s.Protocol, s.Downstream)
	if s.RequestID != 0 {
		d += fmt.Sprintf(" req %d", s.RequestID)
	}
	if s.Service != "" {
		d += " " + s.Service
	}
	if s.TLSVersion != "" {
		d += " " + s.TLSVersion + " " + s.TLSCipher
		if p := streamPeer(s); p != "" {
			d += " peer " + p
		}
	}
	d += fmt.Sprintf(" · since %s · in %d out %d", s.Start.Format("15:04:05.000"), s.BytesIn, s.BytesOut)
	if s.Route != "" {
		d += fmt.Sprintf(" · %s -> %s %s", s.Route, s.Cluster, s.Host)
	}
	return d
}

// streamTLS is the TLS column: the version ("1.3"), with "mTLS" when the
// client's certificate verified; empty for plaintext.
func streamTLS(s *admin.StreamInfo) string {
	v, _ := strings.CutPrefix(s.TLSVersion, "TLSv")
	if v != "" && streamPeer(s) != "" {
		v += " mTLS"
	}
	return v
}

// streamPeer names a stream's verified client: its URI SAN (a SPIFFE id),
// else its DNS SAN, else its subject.
func streamPeer(s *admin.StreamInfo) string {
	switch {
	case s.PeerURI != "":
		return s.PeerURI
	case s.PeerDNS != "":
		return s.PeerDNS
	}
	return s.PeerSubject
}

func (m *Model) columns(t Tab) []column {
	switch t {
	case TabListeners:
		return []column{
			{title: "LISTENER", min: 8, max: 20, prio: 0},
			{title: "ADDRESS", min: 15, max: 21, prio: 1},
			{title: "PROTO", min: 5, max: 7, prio: 7},
			{title: "CONNS", min: 5, max: 6, right: true, prio: 2},
			{title: "REQ/S", min: 7, max: 8, right: true, prio: 3},
			{title: "ACTIVE", min: 6, max: 6, right: true, prio: 4},
			{title: "5XX/S", min: 6, max: 7, right: true, prio: 5},
			{title: "P50", min: 7, max: 8, right: true, prio: 6},
			{title: "P99", min: 7, max: 8, right: true, prio: 6},
			{title: "IN", min: 6, max: 7, right: true, prio: 8},
			{title: "OUT", min: 6, max: 7, right: true, prio: 8},
			{title: "FILTER", min: 9, max: 9, prio: 9},
		}
	case TabClusters:
		return []column{
			{title: "CLUSTER / HOST", min: 16, max: 30, prio: 0},
			{title: "HEALTH", min: 6, max: 7, prio: 1},
			{title: "WEIGHT", min: 6, max: 6, right: true, prio: 6},
			{title: "ACTIVE", min: 6, max: 6, right: true, prio: 2},
			{title: "RPS", min: 7, max: 8, right: true, prio: 3},
			{title: "ERR/S", min: 6, max: 7, right: true, prio: 5},
			{title: "ERR%", min: 5, max: 6, right: true, prio: 4},
			{title: "REQUESTS", min: 8, max: 9, right: true, prio: 7},
			{title: "CONNFAIL", min: 8, max: 8, right: true, prio: 8},
			{title: "TIMEOUTS", min: 8, max: 8, right: true, prio: 9},
			{title: "LB", min: 10, max: 22, prio: 10},
		}
	case TabStreams:
		return []column{
			{title: "ID", min: 5, max: 8, right: true, prio: 9},
			{title: "AGE", min: 6, max: 7, right: true, prio: 0},
			{title: "STATE", min: 10, max: 10, prio: 1},
			{title: "PROTO", min: 5, max: 8, prio: 10},
			{title: "TLS", min: 3, max: 8, prio: 11},
			{title: "LISTENER", min: 8, max: 14, prio: 7},
			{title: "ROUTE", min: 8, max: 20, prio: 2},
			{title: "CLUSTER", min: 8, max: 16, prio: 4},
			{title: "HOST", min: 15, max: 21, prio: 3},
			{title: "DOWNSTREAM", min: 15, max: 21, prio: 8},
			{title: "IN", min: 5, max: 6, right: true, prio: 6},
			{title: "OUT", min: 5, max: 6, right: true, prio: 5},
		}
	}
	return nil
}

// rows builds a tab's rows, sorted and filtered.
func (m *Model) rows(t Tab) []row {
	if m.snap == nil {
		return nil
	}
	var rows []row
	switch t {
	case TabListeners:
		rows = m.listenerRows()
	case TabClusters:
		rows = m.clusterRows()
	case TabStreams:
		rows = m.streamRows()
	}
	return rows
}

// activeFilter is the filter rows are shown with: the one being typed, or
// the one in force.
func (m *Model) activeFilter(t Tab) string {
	if m.filtering && t == m.tab {
		return string(m.input)
	}
	return m.filter[t]
}

func matches(filter string, cells ...string) bool {
	if filter == "" {
		return true
	}
	f := strings.ToLower(filter)
	for _, c := range cells {
		if strings.Contains(strings.ToLower(c), f) {
			return true
		}
	}
	return false
}

func (m *Model) listenerRows() []row {
	ls := append([]admin.ListenerInfo(nil), m.snap.Listeners...)
	type rated struct {
		l        *admin.ListenerInfo
		rps, eps float64
		known    bool
	}
	rs := make([]rated, len(ls))
	for i := range ls {
		rps, eps, known := m.listenerRates(&ls[i])
		rs[i] = rated{&ls[i], rps, eps, known}
	}
	key := sortKeys[TabListeners][m.sortBy[TabListeners]]
	sort.SliceStable(rs, func(i, j int) bool {
		a, b := rs[i], rs[j]
		switch key {
		case "req/s":
			if a.rps != b.rps {
				return a.rps > b.rps
			}
		case "conns":
			if a.l.ConnectionsActive != b.l.ConnectionsActive {
				return a.l.ConnectionsActive > b.l.ConnectionsActive
			}
		}
		return a.l.Name < b.l.Name
	})
	var rows []row
	for _, r := range rs {
		l := r.l
		cells := []string{l.Name, l.Address, l.Protocol, fmt.Sprint(l.ConnectionsActive), formatRate(r.rps, r.known),
			fmt.Sprint(l.RequestsActive), formatRate(r.eps, r.known), formatMs(l.LatencyP50Ms), formatMs(l.LatencyP99Ms),
			formatBytes(float64(l.BytesIn)), formatBytes(float64(l.BytesOut)), l.Filter}
		if !matches(m.activeFilter(TabListeners), l.Name, l.Address, l.Protocol, l.Filter) {
			continue
		}
		st := rowNormal
		if r.eps > 0 {
			st = rowWarn
		}
		rows = append(rows, row{cells: cells, style: st})
	}
	return rows
}

func errPercent(rps, eps float64, known bool, errs, reqs uint64) string {
	if known && rps > 0 {
		return formatPercent(100 * eps / rps)
	}
	if reqs > 0 {
		return formatPercent(100 * float64(errs) / float64(reqs))
	}
	return "-"
}

func (m *Model) clusterRows() []row {
	key := sortKeys[TabClusters][m.sortBy[TabClusters]]
	type rated struct {
		rps, eps float64
		known    bool
		errs     uint64
		name     string
	}
	less := func(a, b rated) bool {
		switch key {
		case "rps":
			if a.rps != b.rps {
				return a.rps > b.rps
			}
		case "errors":
			if a.eps != b.eps {
				return a.eps > b.eps
			}
			if a.errs != b.errs {
				return a.errs > b.errs
			}
		}
		return a.name < b.name
	}
	cs := make([]*admin.ClusterInfo, len(m.snap.Clusters))
	crates := map[string]rated{}
	for i := range m.snap.Clusters {
		c := &m.snap.Clusters[i]
		cs[i] = c
		rps, eps, known := m.clusterRates(c, nil)
		crates[c.Name] = rated{rps, eps, known, c.Errors, c.Name}
	}
	sort.SliceStable(cs, func(i, j int) bool { return less(crates[cs[i].Name], crates[cs[j].Name]) })
	f := m.activeFilter(TabClusters)
	var rows []row
	for _, c := range cs {
		cr := crates[c.Name]
		clusterMatch := matches(f, c.Name, c.LBType)
		type hostRow struct {
			h *admin.HostInfo
			r rated
		}
		var hs []hostRow
		healthy := 0
		for j := range c.Hosts {
			h := &c.Hosts[j]
			if h.Healthy && !h.Ejected {
				healthy++
			}
			if !clusterMatch && !matches(f, h.Address) {
				continue
			}
			rps, eps, known := m.clusterRates(c, h)
			hs = append(hs, hostRow{h, rated{rps, eps, known, h.Errors, h.Address}})
		}
		if !clusterMatch && len(hs) == 0 {
			continue
		}
		sort.SliceStable(hs, func(i, j int) bool { return less(hs[i].r, hs[j].r) })
		health := fmt.Sprintf("%d/%d", healthy, len(c.Hosts))
		rows = append(rows, row{style: rowGroup, cells: []string{c.Name, health, "", fmt.Sprint(c.ActiveRequests),
			formatRate(cr.rps, cr.known), formatRate(cr.eps, cr.known), errPercent(cr.rps, cr.eps, cr.known, c.Errors, c.Requests),
			formatCount(c.Requests), formatCount(c.ConnectFailures), formatCount(c.Timeouts), c.LBType}})
		for _, hr := range hs {
			h, r := hr.h, hr.r
			health, st := "ok", rowNormal
			if !h.Healthy {
				health, st = "DOWN", rowBad
			} else if h.Ejected {
				health, st = "EJECTED", rowBad
			} else if r.eps > 0 {
				st = rowWarn
			}
			rows = append(rows, row{style: st, cells: []string{"  " + h.Address, health, fmt.Sprint(h.Weight),
				fmt.Sprint(h.ActiveRequests), formatRate(r.rps, r.known), formatRate(r.eps, r.known),
				errPercent(r.rps, r.eps, r.known, h.Errors, h.Requests), formatCount(h.Requests),
				formatCount(h.ConnectFailures), formatCount(h.Timeouts), ""}})
		}
	}
	return rows
}

func (m *Model) streamRows() []row {
	ss := append([]admin.StreamInfo(nil), m.snap.Streams.Streams...)
	key := sortKeys[TabStreams][m.sortBy[TabStreams]]
	sort.SliceStable(ss, func(i, j int) bool {
		a, b := &ss[i], &ss[j]
		if key == "bytes" {
			if x, y := a.BytesIn+a.BytesOut, b.BytesIn+b.BytesOut; x != y {
				return x > y
			}
		} else if a.AgeMs != b.AgeMs {
			return a.AgeMs > b.AgeMs
		}
		return a.ID < b.ID
	})
	var rows []row
	for i := range ss {
		s := &ss[i]
		if !matches(m.activeFilter(TabStreams), s.Protocol, s.Listener, s.Downstream, s.Route, s.Cluster, s.Host, s.State, s.Service,
			s.TLSVersion, streamPeer(s)) {
			continue
		}
		age := time.Duration(s.AgeMs * float64(time.Millisecond))
		st := rowNormal
		switch {
		case age >= streamBadAge:
			st = rowBad
		case age >= streamWarnAge:
			st = rowWarn
		}
		rows = append(rows, row{style: st, stream: s, cells: []string{fmt.Sprint(s.ID), formatAge(age), s.State, s.Protocol, streamTLS(s),
			s.Listener, s.Route, s.Cluster, s.Host, s.Downstream, formatBytes(float64(s.BytesIn)), formatBytes(float64(s.BytesOut))}})
	}
	return rows
}
