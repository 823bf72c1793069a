package serve

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mosnctl/mosnctl/internal/server"
)

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestDrainOnShutdown runs serve as the command does, cancels its context
// (what SIGTERM does) while a slow request is in flight, and checks that the
// request completes, new connections are refused and Run returns nil.
func TestDrainOnShutdown(t *testing.T) {
	origin, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go http.Serve(origin, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(500 * time.Millisecond)
		io.WriteString(w, "finished")
	}))
	defer origin.Close()
	dir := t.TempDir()
	accessLog := filepath.Join(dir, "access.log")
	cfg := fmt.Sprintf(`{
  "servers": [{
    "routers": [{"router_config_name": "r", "virtual_hosts": [{"name": "v", "domains": ["*"], "routers": [{"match": {"prefix": "/"}, "route": {"cluster_name": "o"}}]}]}],
    "listeners": [{"name": "in", "address": "127.0.0.1:0", "access_log": %q,
      "filter_chains": [{"filters": [{"type": "proxy", "config": {"downstream_protocol": "Http1", "router_config_name": "r"}}]}]}]
  }],
  "cluster_manager": {"clusters": [{"name": "o", "type": "SIMPLE", "hosts": [{"address": %q}]}]},
  "admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": 0}}}
}`, accessLog, origin.Addr().String())
	path := filepath.Join(dir, "cfg.json")
	os.WriteFile(path, []byte(cfg), 0o644)

	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan *server.Server, 1)
	done := make(chan error, 1)
	var logs lockedBuffer
	go func() {
		done <- Run(ctx, Options{ConfigPath: path, LogLevel: "info", DrainTimeout: 5 * time.Second,
			Ready: func(s *server.Server) { ready <- s }}, io.Discard, &logs)
	}()
	var srv *server.Server
	select {
	case srv = <-ready:
	case err := <-done:
		t.Fatalf("serve exited early: %v\n%s", err, logs.String())
	}
	addr := srv.ListenerAddr("in").String()
	adminAddr := srv.AdminAddr().String()

	// The admin API answers while serving.
	for _, p := range []string{"/ready", "/api/v1/config_dump", "/api/v1/listeners", "/api/v1/clusters", "/api/v1/stats", "/api/v1/version", "/metrics"} {
		resp, err := http.Get("http://" + adminAddr + p)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("admin %s: %v %v", p, err, resp)
		}
		resp.Body.Close()
	}

	result := make(chan string, 1)
	go func() {
		resp, err := http.Get("http://" + addr + "/slow")
		if err != nil {
			result <- "error: " + err.Error()
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		result <- string(b)
	}()
	time.Sleep(150 * time.Millisecond) // the request is now at the origin
	cancel()
	if got := <-result; got != "finished" {
		t.Fatalf("in-flight request during drain: %q", got)
	}
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	if c, err := net.Dial("tcp", addr); err == nil {
		c.Close()
		t.Fatal("listener still accepts after shutdown")
	}
	// The access log has the request as one JSON line.
	b, err := os.ReadFile(accessLog)
	if err != nil {
		t.Fatal(err)
	}
	var entry map[string]any
	if err := json.Unmarshal(bytes.TrimSpace(b), &entry); err != nil {
		t.Fatalf("access log line %q: %v", b, err)
	}
	if entry["path"] != "/slow" || entry["status"] != float64(200) || entry["cluster"] != "o" {
		t.Errorf("access log entry %v", entry)
	}
	if !strings.Contains(logs.String(), "draining") {
		t.Errorf("no drain log line:\n%s", logs.String())
	}
}

func TestMetricsExposeRequests(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan *server.Server, 1)
	done := make(chan error, 1)
	go func() {
		// The embedded default with an ephemeral admin port; its listeners
		// use fixed ports 2045/2046, so skip when they are taken.
		done <- Run(ctx, Options{LogLevel: "warn", AdminAddress: "127.0.0.1:0", Ready: func(s *server.Server) { ready <- s }}, io.Discard, io.Discard)
	}()
	var srv *server.Server
	select {
	case srv = <-ready:
	case err := <-done:
		t.Skipf("embedded default could not start (ports 2045/2046 busy?): %v", err)
	}
	defer func() { cancel(); <-done }()
	resp, err := http.Get("http://" + srv.ListenerAddr("proxy").String() + "/")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(b), "proxy hop") {
		t.Fatalf("default config: %d %q", resp.StatusCode, b)
	}
	wants := []string{
		`mosn_downstream_requests_total{listener="proxy",protocol="Http1",response_class="2xx"} 1`,
		`mosn_upstream_requests_total{cluster="local_service",host="127.0.0.1:2046"} 1`,
		`mosn_downstream_request_duration_seconds_count{listener="proxy",protocol="Http1"} 1`,
		`mosn_downstream_connections_total{listener="proxy"} 1`,
	}
	// The proxy counts a request just after the client has its answer:
	// poll briefly instead of racing it.
	var m []byte
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		resp, err = http.Get("http://" + srv.AdminAddr().String() + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		m, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
		missing := 0
		for _, want := range wants {
			if !strings.Contains(string(m), want) {
				missing++
			}
		}
		if missing == 0 || time.Now().After(deadline) {
			break
		}
	}
	for _, want := range wants {
		if !strings.Contains(string(m), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

// SIGHUP re-reads the config file: a changed route answers, and a file that
// no longer validates is refused with the bad field's path while the
// running config keeps serving.
func TestSIGHUPReloadsConfig(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "cfg.json")
	write := func(body, field string) {
		cfg := fmt.Sprintf(`{
  "servers": [{
    "routers": [{"router_config_name": "r", "virtual_hosts": [{"name": "v", "domains": ["*"], "routers": [{"match": {"prefix": "/"}, "direct_response": {"status": 200, "body": %q}}]}]}],
    "listeners": [{"name": "in", %q: "127.0.0.1:0",
      "filter_chains": [{"filters": [{"type": "proxy", "config": {"downstream_protocol": "Http1", "router_config_name": "r"}}]}]}]
  }],
  "admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": 0}}}
}`, body, field)
		if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("one", "address")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ready := make(chan *server.Server, 1)
	done := make(chan error, 1)
	var logs lockedBuffer
	go func() {
		done <- Run(ctx, Options{ConfigPath: path, LogLevel: "info", Ready: func(s *server.Server) { ready <- s }}, io.Discard, &logs)
	}()
	var srv *server.Server
	select {
	case srv = <-ready:
	case err := <-done:
		t.Fatalf("serve exited early: %v\n%s", err, logs.String())
	}
	url := "http://" + srv.ListenerAddr("in").String() + "/"
	body := func() string {
		resp, err := http.Get(url)
		if err != nil {
			return err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	waitReload := func(n uint64) {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); ; {
			ok, failed := srv.ReloadStats()
			if ok+failed >= n {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("no reload after SIGHUP:\n%s", logs.String())
			}
			time.Sleep(10 * time.Millisecond)
		}
	}

	write("two", "address")
	syscall.Kill(os.Getpid(), syscall.SIGHUP)
	waitReload(1)
	if got := body(); got != "two" {
		t.Fatalf("after SIGHUP with a new route: %q, want %q", got, "two")
	}
	write("three", "adress")
	syscall.Kill(os.Getpid(), syscall.SIGHUP)
	waitReload(2)
	if got := body(); got != "two" {
		t.Fatalf("after SIGHUP with a bad file: %q, want the old config's %q", got, "two")
	}
	if !strings.Contains(logs.String(), "servers[0].listeners[0].adress: unknown field") {
		t.Errorf("the refused reload's log line lacks the field path:\n%s", logs.String())
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
}
