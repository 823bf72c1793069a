package top

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/x/ansi"

	"github.com/mosnctl/mosnctl/internal/admin"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// t0 is the fixtures' clock: views never read a wall clock.
var t0 = time.Date(2026, 11, 27, 14, 2, 3, 0, time.UTC)

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs from the golden file (go test -update rewrites it)\n--- got\n%s\n--- want\n%s", name, got, want)
	}
}

// newTestModel is a model with an ASCII renderer and a fetch that must not
// run: tests feed snapshots as messages.
func newTestModel(w, h int) Model {
	m := New(Config{Admin: "127.0.0.1:34901", Renderer: ASCIIRenderer(),
		Fetch: func(context.Context, StreamsQuery) (*Snapshot, error) { return nil, errors.New("no fetch in tests") },
		Now:   func() time.Time { return t0 }})
	return send(m, tea.WindowSizeMsg{Width: w, Height: h})
}

func send(m Model, msgs ...tea.Msg) Model {
	for _, msg := range msgs {
		next, _ := m.Update(msg)
		m = next.(Model)
	}
	return m
}

func keys(m Model, ks ...string) Model {
	for _, k := range ks {
		var msg tea.KeyMsg
		switch k {
		case "tab":
			msg = tea.KeyMsg{Type: tea.KeyTab}
		case "shift+tab":
			msg = tea.KeyMsg{Type: tea.KeyShiftTab}
		case "down":
			msg = tea.KeyMsg{Type: tea.KeyDown}
		case "up":
			msg = tea.KeyMsg{Type: tea.KeyUp}
		case "enter":
			msg = tea.KeyMsg{Type: tea.KeyEnter}
		case "esc":
			msg = tea.KeyMsg{Type: tea.KeyEsc}
		case "backspace":
			msg = tea.KeyMsg{Type: tea.KeyBackspace}
		case "pgdown":
			msg = tea.KeyMsg{Type: tea.KeyPgDown}
		default:
			msg = tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune(k)}
		}
		m = send(m, msg)
	}
	return m
}

func snapAt(s *Snapshot) snapshotMsg { return snapshotMsg{snap: s, at: s.Stats.Time} }

// emptySnapshot is a proxy with nothing configured and nothing done.
func emptySnapshot(at time.Time, uptime float64) *Snapshot {
	return &Snapshot{Admin: "http://127.0.0.1:34901",
		Stats:     admin.Stats{Time: at, UptimeSeconds: uptime, Version: "v0.3.0", RequestsByClass: map[string]uint64{}},
		Listeners: []admin.ListenerInfo{}, Clusters: []admin.ClusterInfo{},
		Streams: admin.StreamList{Time: at, Sort: "age", Streams: []admin.StreamInfo{}}}
}

// busySnapshot is poll number i (one a second) of a loaded proxy: the
// counters grow by a fixed amount per poll, so rates are exact.
func busySnapshot(i int) *Snapshot {
	at := t0.Add(time.Duration(i) * time.Second)
	s := emptySnapshot(at, 3723+float64(i))
	n := uint64(i)
	s.Stats.ConnectionsActive = 140 + int64(i%3)*5
	s.Stats.ConnectionsTotal = 9000 + 10*n
	s.Stats.RequestsActive = 31
	s.Stats.RequestsTotal = 1_200_000 + 1500*n*n/4 + 1200*n
	s.Stats.RequestsByClass = map[string]uint64{"2xx": s.Stats.RequestsTotal - 2000 - 12*n, "4xx": 1500, "5xx": 500 + 12*n}
	s.Stats.BytesIn = 900_000_000 + 350_000*n
	s.Stats.BytesOut = 4_000_000_000 + 2_100_000*n
	s.Stats.UpstreamRequests = s.Stats.RequestsTotal - 1500
	s.Stats.UpstreamErrors = 480 + 12*n
	s.Stats.LatencyP50Ms = 0.42 + 0.01*float64(i)
	s.Stats.LatencyP99Ms = 8.7 + float64(i%4)
	// Each poll adds 1000 requests under 0.5ms, 400 under 1ms, 88 under
	// 25ms and a few (more every third poll) under 250ms.
	s.Stats.LatencyBucketsMs = []float64{0.5, 1, 25, 250}
	per := make([]uint64, 4)
	for j := 0; j <= i; j++ {
		for k, c := range []uint64{1000, 400, 88, 12 + uint64(j%3)*6} {
			per[k] += c
		}
	}
	var cum uint64
	for _, c := range per {
		cum += c
		s.Stats.LatencyCounts = append(s.Stats.LatencyCounts, cum)
	}
	s.Stats.LatencyCounts = append(s.Stats.LatencyCounts, cum)
	s.Listeners = []admin.ListenerInfo{
		{Name: "ingress", Address: "0.0.0.0:2045", Protocol: "Http1", Filter: "proxy", ConnectionsActive: 120,
			RequestsActive: 29, RequestsTotal: 1_000_000 + 1400*n, RequestsByClass: map[string]uint64{"2xx": 1_000_000 + 1388*n, "5xx": 400 + 12*n},
			BytesIn: 800_000_000 + 300_000*n, BytesOut: 3_900_000_000 + 2_000_000*n, LatencyP50Ms: 0.41, LatencyP99Ms: 9.8},
		{Name: "rpc", Address: "0.0.0.0:12200", Protocol: "bolt", Filter: "proxy", ConnectionsActive: 20,
			RequestsActive: 2, RequestsTotal: 200_000 + 100*n, RequestsByClass: map[string]uint64{"2xx": 200_000 + 100*n},
			BytesIn: 100_000_000 + 50_000*n, BytesOut: 100_000_000 + 100_000*n, LatencyP50Ms: 1.2, LatencyP99Ms: 4.1},
		{Name: "mysql", Address: "127.0.0.1:3307", Protocol: "tcp", Filter: "tcp_proxy", ConnectionsActive: 5},
	}
	host := func(addr string, w uint32, healthy bool, active int64, req, errs uint64) admin.HostInfo {
		return admin.HostInfo{Address: addr, Weight: w, Healthy: healthy, ActiveRequests: active, Requests: req, Errors: errs}
	}
	web := admin.ClusterInfo{Name: "web", LBType: "LB_ROUNDROBIN", ActiveRequests: 29, Requests: 1_000_000 + 1400*n,
		Errors: 400 + 12*n, ConnectFailures: 3, Timeouts: 7, Hosts: []admin.HostInfo{
			host("10.0.1.11:8080", 1, true, 10, 334_000+470*n, 100),
			host("10.0.1.12:8080", 1, true, 10, 333_000+470*n, 100),
			host("10.0.1.13:8080", 1, false, 9, 333_000+460*n, 200+12*n),
		}}
	rpc := admin.ClusterInfo{Name: "rpc-backend", LBType: "LB_LEAST_REQUEST", ActiveRequests: 2, Requests: 200_000 + 100*n,
		Hosts: []admin.HostInfo{host("10.0.2.21:12200", 100, true, 1, 100_000+50*n, 0), host("10.0.2.22:12200", 50, true, 1, 100_000+50*n, 0)}}
	s.Clusters = []admin.ClusterInfo{web, rpc}
	for k := 0; k < 31; k++ {
		st := admin.StreamInfo{ID: uint64(1000 + k*16), Protocol: "HTTP/1.1", Listener: "ingress",
			Downstream: fmt.Sprintf("192.168.7.%d:%d", 10+k, 40000+k), Route: "web /api", Cluster: "web",
			Host: web.Hosts[k%3].Address, State: "waiting", Start: at.Add(-time.Duration(k*k*37) * time.Millisecond),
			AgeMs: float64(k * k * 37), BytesIn: int64(k * 100), BytesOut: int64((31 - k) * 1000)}
		if k%4 == 1 {
			st.State = "responding"
		}
		if k == 27 { // over mTLS: the detail line and the filter show it
			st.TLSVersion, st.TLSCipher = "TLSv1.3", "TLS_AES_128_GCM_SHA256"
			st.PeerURI, st.PeerSubject = "spiffe://cluster.local/ns/default/sa/web", "CN=web"
		}
		if k >= 29 {
			st.Protocol, st.Listener, st.Route, st.Cluster, st.Host, st.RequestID = "bolt", "rpc", "rpc *", "rpc-backend", "10.0.2.21:12200", uint32(k)
			st.Service = "com.example.Echo:1.0"
		}
		s.Streams.Streams = append(s.Streams.Streams, st)
	}
	s.Streams.Total = 31
	return s
}

// busyModel has seen several polls of the busy proxy.
func busyModel(w, h int) Model {
	m := newTestModel(w, h)
	for i := 0; i < 12; i++ {
		m = send(m, snapAt(busySnapshot(i)))
	}
	return m
}

func checkFits(t *testing.T, view string, w, h int) {
	t.Helper()
	lines := strings.Split(view, "\n")
	if len(lines) != h {
		t.Errorf("view has %d lines, want %d", len(lines), h)
	}
	for i, l := range lines {
		if n := ansi.StringWidth(l); n > w {
			t.Errorf("line %d is %d cells wide, want <= %d: %q", i+1, n, w, l)
		}
	}
}

func TestViewGolden(t *testing.T) {
	refused := errors.New("admin /api/v1/stats: dial tcp 127.0.0.1:34901: connect: connection refused")
	tests := []struct {
		name string
		w, h int
		m    func(w, h int) Model
	}{
		{"busy-overview", 80, 24, busyModel},
		{"busy-listeners", 80, 24, func(w, h int) Model { return keys(busyModel(w, h), "tab") }},
		{"busy-clusters", 80, 24, func(w, h int) Model { return keys(busyModel(w, h), "3") }},
		{"busy-streams", 80, 24, func(w, h int) Model { return keys(busyModel(w, h), "4") }},
		{"busy-streams-scrolled", 80, 24, func(w, h int) Model {
			return keys(busyModel(w, h), "shift+tab", "down", "down", "pgdown", "pgdown")
		}},
		{"busy-streams-by-bytes", 80, 24, func(w, h int) Model { return keys(busyModel(w, h), "4", "s") }},
		{"busy-streams-filtered", 80, 24, func(w, h int) Model { return keys(busyModel(w, h), "4", "/", "b", "o", "l", "t", "enter") }},
		{"busy-streams-tls", 120, 24, func(w, h int) Model {
			return keys(busyModel(w, h), "4", "/", "s", "p", "i", "f", "f", "e", "enter")
		}},
		{"busy-streams-typing-filter", 80, 24, func(w, h int) Model { return keys(busyModel(w, h), "4", "/", "1", "3", "x", "backspace") }},
		{"busy-clusters-by-errors", 80, 24, func(w, h int) Model { return keys(busyModel(w, h), "3", "s", "s") }},
		{"busy-help", 80, 24, func(w, h int) Model { return keys(busyModel(w, h), "?") }},
		{"busy-paused", 80, 24, func(w, h int) Model { return keys(busyModel(w, h), "p") }},
		{"busy-streams-wide", 120, 30, func(w, h int) Model { return keys(busyModel(w, h), "4") }},
		{"busy-clusters-wide", 120, 30, func(w, h int) Model { return keys(busyModel(w, h), "3") }},
		{"busy-overview-narrow", 60, 16, busyModel},
		{"busy-resized", 100, 20, func(w, h int) Model {
			// Start at 80x24, scroll, then shrink: the cursor stays in view.
			m := keys(busyModel(80, 24), "4", "G")
			return send(m, tea.WindowSizeMsg{Width: w, Height: h})
		}},
		{"empty-overview", 80, 24, func(w, h int) Model {
			m := newTestModel(w, h)
			return send(m, snapAt(emptySnapshot(t0, 5)), snapAt(emptySnapshot(t0.Add(time.Second), 6)))
		}},
		{"empty-first-poll", 80, 24, func(w, h int) Model { return send(newTestModel(w, h), snapAt(emptySnapshot(t0, 5))) }},
		{"empty-listeners", 80, 24, func(w, h int) Model {
			return keys(send(newTestModel(w, h), snapAt(emptySnapshot(t0, 5))), "2")
		}},
		{"empty-clusters", 80, 24, func(w, h int) Model {
			return keys(send(newTestModel(w, h), snapAt(emptySnapshot(t0, 5))), "3")
		}},
		{"empty-streams", 80, 24, func(w, h int) Model {
			return keys(send(newTestModel(w, h), snapAt(emptySnapshot(t0, 5))), "4")
		}},
		{"connecting", 80, 24, func(w, h int) Model { return newTestModel(w, h) }},
		{"unreachable", 80, 24, func(w, h int) Model {
			m := newTestModel(w, h)
			return send(m, snapshotMsg{err: refused, at: t0}, snapshotMsg{err: refused, at: t0.Add(time.Second)})
		}},
		{"unreachable-after-data", 80, 24, func(w, h int) Model {
			m := busyModel(w, h)
			last := busySnapshot(11).Stats.Time
			return send(m, snapshotMsg{err: refused, at: last.Add(time.Second)}, snapshotMsg{err: refused, at: last.Add(5 * time.Second)})
		}},
		{"restarted", 80, 24, func(w, h int) Model {
			return send(busyModel(w, h), snapAt(emptySnapshot(busySnapshot(11).Stats.Time.Add(time.Second), 1)))
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			view := tt.m(tt.w, tt.h).View()
			checkFits(t, view, tt.w, tt.h)
			golden(t, tt.name, view)
		})
	}
}

func TestUpdateKeys(t *testing.T) {
	m := busyModel(80, 24)
	if m.tab != TabOverview {
		t.Fatalf("starts on %v", m.tab)
	}
	m = keys(m, "tab", "tab", "tab", "tab")
	if m.tab != TabOverview {
		t.Errorf("four tabs later: %v, want Overview", m.tab)
	}
	m = keys(m, "shift+tab")
	if m.tab != TabStreams {
		t.Errorf("shift+tab from Overview: %v", m.tab)
	}
	m = keys(m, "j", "j", "k")
	if m.cursor[TabStreams] != 1 {
		t.Errorf("cursor = %d, want 1", m.cursor[TabStreams])
	}
	m = keys(m, "up", "up", "up")
	if m.cursor[TabStreams] != 0 {
		t.Errorf("cursor went above the first row: %d", m.cursor[TabStreams])
	}
	m = keys(m, "G")
	if m.cursor[TabStreams] != 30 || m.offset[TabStreams] != 31-m.tableHeight() {
		t.Errorf("G: cursor %d offset %d", m.cursor[TabStreams], m.offset[TabStreams])
	}
	m = keys(m, "p")
	if !m.paused {
		t.Error("p did not pause")
	}
	// A tick while paused polls nothing, and a poll that was under way
	// does not change the screen.
	next, cmd := m.Update(tickMsg{at: t0, seq: m.tickSeq})
	if cmd != nil || next.(Model).inflight {
		t.Error("paused model polled")
	}
	frozen := m.View()
	next, cmd = m.Update(snapAt(busySnapshot(12)))
	if cmd != nil || next.(Model).View() != frozen {
		t.Error("a paused screen changed or scheduled a poll")
	}
	m = keys(m, "p")
	if m.paused || !m.inflight {
		t.Error("unpausing did not poll at once")
	}
	m = keys(m, "/", "r", "p", "c", "enter")
	if m.filter[TabStreams] != "rpc" || len(m.rows(TabStreams)) != 2 {
		t.Errorf("filter %q: %d rows", m.filter[TabStreams], len(m.rows(TabStreams)))
	}
	m = keys(m, "esc")
	if m.filter[TabStreams] != "" {
		t.Error("esc kept the filter")
	}
	if _, cmd := keys(m, "?").Update(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune("q")}); cmd == nil {
		t.Error("q returned no command")
	} else if _, ok := cmd().(tea.QuitMsg); !ok {
		t.Error("q does not quit")
	}
}

func TestPollingSchedule(t *testing.T) {
	m := newTestModel(80, 24)
	if m.Init() == nil {
		t.Fatal("Init polls nothing")
	}
	m = send(m, snapAt(emptySnapshot(t0, 5)))
	stale := m.tickSeq
	// A sort change polls early and reschedules: the old tick is void.
	m = keys(m, "4", "s")
	if !m.inflight {
		t.Fatal("sort change did not poll")
	}
	m = send(m, snapAt(emptySnapshot(t0.Add(time.Second), 6)))
	if _, cmd := m.Update(tickMsg{at: t0, seq: stale}); cmd != nil {
		t.Error("a stale tick started a second polling loop")
	}
	if _, cmd := m.Update(tickMsg{at: t0, seq: m.tickSeq}); cmd == nil {
		t.Error("the current tick did not poll")
	}
	if q := m.streamsQuery(); q.Sort != "bytes" || q.Limit != 500 {
		t.Errorf("streams query = %+v", q)
	}
}

func TestFetchCmdUsesConfig(t *testing.T) {
	want := emptySnapshot(t0, 1)
	m := New(Config{Admin: "x", Renderer: ASCIIRenderer(), Now: func() time.Time { return t0 },
		Fetch: func(_ context.Context, q StreamsQuery) (*Snapshot, error) {
			if q.Sort != "age" {
				t.Errorf("sort = %q", q.Sort)
			}
			return want, nil
		}})
	msg, ok := m.Init()().(snapshotMsg)
	if !ok || msg.snap != want || !msg.at.Equal(t0) || msg.err != nil {
		t.Errorf("Init's command returned %+v", msg)
	}
}

// TestViewAnySize resizes a busy model through small and odd sizes on
// every tab: nothing panics and, from 20 columns up, nothing overflows.
func TestViewAnySize(t *testing.T) {
	m := busyModel(80, 24)
	for tab := Tab(0); tab < numTabs; tab++ {
		m.tab = tab
		for _, w := range []int{0, 1, 7, 20, 33, 59, 81, 140} {
			for _, h := range []int{0, 1, 3, 5, 8, 24, 61} {
				mm := send(m, tea.WindowSizeMsg{Width: w, Height: h})
				mm = keys(mm, "G", "up")
				view := mm.View()
				if w >= 20 && h >= 1 {
					checkFits(t, view, w, h)
				}
			}
		}
	}
}

func TestRestartNoteLastsAMinute(t *testing.T) {
	m := busyModel(80, 24)
	restart := busySnapshot(11).Stats.Time.Add(time.Second)
	m = send(m, snapAt(emptySnapshot(restart, 1)), snapAt(emptySnapshot(restart.Add(time.Second), 2)))
	if !strings.Contains(m.View(), "proxy restarted 14:02:15") {
		t.Errorf("restart note gone after one poll:\n%s", m.View())
	}
	if m.prev == nil || len(m.hist.points) != 2 {
		t.Errorf("history after a restart: prev %v, %d points", m.prev != nil, len(m.hist.points))
	}
	m = send(m, snapAt(emptySnapshot(restart.Add(2*time.Minute), 122)))
	if strings.Contains(m.View(), "restarted") {
		t.Errorf("restart note still shown two minutes later:\n%s", m.View())
	}
}

// An ejected host shows as EJECTED and does not count as healthy.
func TestClustersShowEjectedHost(t *testing.T) {
	s := emptySnapshot(t0, 5)
	s.Clusters = []admin.ClusterInfo{{Name: "web", LBType: "LB_ROUNDROBIN", Hosts: []admin.HostInfo{
		{Address: "127.0.0.1:9001", Weight: 1, Healthy: true, Ejected: true, Ejections: 1},
		{Address: "127.0.0.1:9002", Weight: 1, Healthy: false},
		{Address: "127.0.0.1:9003", Weight: 1, Healthy: true},
	}}}
	view := keys(send(newTestModel(100, 24), snapAt(s)), "3").View()
	for _, want := range []string{"EJECTED", "DOWN", "1/3"} {
		if !strings.Contains(view, want) {
			t.Errorf("clusters view lacks %q:\n%s", want, view)
		}
	}
}
