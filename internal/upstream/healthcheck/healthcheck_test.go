package healthcheck

import (
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mosnctl/mosnctl/internal/config"
	"github.com/mosnctl/mosnctl/internal/upstream"
)

func manager(t *testing.T, js string) *upstream.Manager {
	t.Helper()
	var cs []config.Cluster
	if err := json.Unmarshal([]byte(js), &cs); err != nil {
		t.Fatal(err)
	}
	m, err := upstream.NewManager(cs)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func waitHealthy(t *testing.T, h *upstream.Host, want bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for h.Healthy() != want {
		if time.Now().After(deadline) {
			t.Fatalf("host %s: healthy never became %v", h.Address, want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func closedAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// Each probe protocol tells a working host from a broken one: a closed
// port for tcp; a non-2xx answer for Http1; a server that does not speak
// Bolt for bolt.
func TestProbes(t *testing.T) {
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(300 * time.Millisecond):
		case <-r.Context().Done():
		}
	}))
	defer slow.Close()
	var status atomic.Int32
	status.Store(200)
	var got atomic.Value
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got.Store(r.Host + r.URL.Path)
		w.WriteHeader(int(status.Load()))
	}))
	defer origin.Close()
	up := strings.TrimPrefix(origin.URL, "http://")
	dead := closedAddr(t)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))

	m := manager(t, `[
	  {"name": "tcp", "hosts": [{"address": "`+up+`"}, {"address": "`+dead+`"}],
	   "health_check": {"protocol": "tcp", "interval": "20ms", "unhealthy_threshold": 1, "healthy_threshold": 1}},
	  {"name": "http", "hosts": [{"address": "`+up+`", "hostname": "svc.local"}],
	   "health_check": {"protocol": "Http1", "interval": "20ms", "unhealthy_threshold": 2, "healthy_threshold": 2, "check_config": {"path": "/ready"}}},
	  {"name": "slow", "hosts": [{"address": "`+strings.TrimPrefix(slow.URL, "http://")+`"}],
	   "health_check": {"protocol": "Http1", "interval": "20ms", "timeout": "100ms", "unhealthy_threshold": 1}},
	  {"name": "bolt", "hosts": [{"address": "`+up+`"}],
	   "health_check": {"protocol": "bolt", "interval": "20ms", "timeout": "1s", "unhealthy_threshold": 1}}
	]`)
	cs := New(log)
	cs.Sync(m)
	defer cs.Stop()

	waitHealthy(t, m.Get("tcp").Hosts[1], false)
	if !m.Get("tcp").Hosts[0].Healthy() {
		t.Error("tcp: a listening host failed")
	}
	waitHealthy(t, m.Get("bolt").Hosts[0], false) // an HTTP server answers no heartbeat
	// 300 ms to answer is over a 100 ms timeout (and within the 1 s default).
	waitHealthy(t, m.Get("slow").Hosts[0], false)
	if h, req := m.Get("http").Hosts[0], got.Load(); !h.Healthy() || req != "svc.local/ready" {
		t.Errorf("http: healthy %v, request %v, want svc.local/ready", h.Healthy(), req)
	}
	status.Store(503)
	waitHealthy(t, m.Get("http").Hosts[0], false)
	status.Store(204)
	waitHealthy(t, m.Get("http").Hosts[0], true)
}

// Sync stops the checkers of clusters that went away and Stop waits for
// every one: no goroutine is left.
func TestSyncStopsCheckers(t *testing.T) {
	before := runtime.NumGoroutine()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	dead := closedAddr(t)
	m := manager(t, `[{"name": "a", "hosts": [{"address": "`+dead+`"}], "health_check": {"protocol": "tcp", "interval": "10ms", "unhealthy_threshold": 1}}]`)
	cs := New(log)
	cs.Sync(m)
	h := m.Get("a").Hosts[0]
	waitHealthy(t, h, false)
	// The same cluster again: same checker. Without its health check: the
	// host comes back and the checker stops.
	cs.Sync(m)
	m2, err := m.Rebuild([]config.Cluster{{Name: "a", Hosts: []config.Host{{Address: dead}}}})
	if err != nil {
		t.Fatal(err)
	}
	cs.Sync(m2)
	if !h.Healthy() {
		t.Error("the host of a cluster without health check stays out")
	}
	cs.Stop()
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			t.Fatalf("goroutines %d, want %d", runtime.NumGoroutine(), before)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if len(cs.running) != 0 {
		t.Errorf("%d checkers still registered", len(cs.running))
	}
}

func TestNextWaitJitter(t *testing.T) {
	m := manager(t, `[{"name": "a", "health_check": {"protocol": "tcp", "interval": "1s", "interval_jitter": "100ms"}},
	  {"name": "b", "health_check": {"protocol": "tcp", "interval": "2s"}}]`)
	k := newChecker(m.Get("a"), slog.New(slog.NewTextHandler(io.Discard, nil)))
	seen := map[time.Duration]bool{}
	for i := 0; i < 100; i++ {
		w := k.nextWait()
		if w < time.Second || w >= 1100*time.Millisecond {
			t.Fatalf("wait %v outside [1s, 1.1s)", w)
		}
		seen[w] = true
	}
	if len(seen) < 50 {
		t.Errorf("%d distinct waits in 100: the jitter is not random", len(seen))
	}
	if w := newChecker(m.Get("b"), nil).nextWait(); w != 2*time.Second {
		t.Errorf("no jitter: wait %v, want 2s", w)
	}
}
