package xds

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/mosnctl/mosnctl/internal/cli"
	"github.com/mosnctl/mosnctl/internal/config"
	"github.com/mosnctl/mosnctl/internal/server"
	ixds "github.com/mosnctl/mosnctl/internal/xds"
	"github.com/mosnctl/mosnctl/internal/xds/xdstest"
)

const node = "sidecar~127.0.0.1~app.default~default.svc.cluster.local"

func pushAll(t *testing.T, cp *xdstest.ControlPlane, version string, endpoints int) {
	lbs := xdstest.Assignment("backend")
	for i := range endpoints {
		lbs.Endpoints[0].LbEndpoints = append(lbs.Endpoints[0].LbEndpoints, xdstest.LbEndpoint("127.0.0.1", uint32(9000+i)))
	}
	cp.Push(node, version,
		[]types.Resource{xdstest.HTTPListener(t, "ingress", "127.0.0.1", 0, "web"), xdstest.TCPListener(t, "db", "127.0.0.1", 0, "backend")},
		[]types.Resource{xdstest.RouteConfig("web", xdstest.PrefixRoute("/", "backend"))},
		[]types.Resource{xdstest.EDSCluster("backend")},
		[]types.Resource{lbs})
}

func exitCode(err error) int {
	var ee *cli.ExitError
	if errors.As(err, &ee) {
		return ee.Code
	}
	if err != nil {
		return 1
	}
	return 0
}

func TestDumpPrintsAllTypes(t *testing.T) {
	cp := xdstest.StartControlPlane(t)
	pushAll(t, cp, "7", 2)
	var out bytes.Buffer
	err := Run(context.Background(), Options{Server: cp.Addr, Node: node, Output: "table", Timeout: 10 * time.Second}, &out)
	if err != nil {
		t.Fatal(err)
	}
	for _, row := range [][]string{
		{"ingress", "listeners", "7", "127.0.0.1:0 http rds=web"},
		{"db", "listeners", "7", "127.0.0.1:0 tcp_proxy cluster=backend"},
		{"web", "routes", "7", "1 virtual hosts, 1 routes, domains *"},
		{"backend", "clusters", "7", "EDS ROUND_ROBIN connect_timeout=1s"},
		{"backend", "endpoints", "7", "2 endpoints 127.0.0.1:9000,127.0.0.1:9001"},
	} {
		if !hasRow(out.String(), row) {
			t.Errorf("table lacks %q:\n%s", row, out.String())
		}
	}

	out.Reset()
	if err := Run(context.Background(), Options{Server: cp.Addr, Node: node, Output: "json", Timeout: 10 * time.Second}, &out); err != nil {
		t.Fatal(err)
	}
	var d ixds.Dump
	if err := json.Unmarshal(out.Bytes(), &d); err != nil {
		t.Fatalf("-o json is not JSON: %v\n%s", err, out.String())
	}
	got := map[string]int{}
	for _, td := range d.Types {
		got[td.Type] = len(td.Resources)
		if td.Version != "7" {
			t.Errorf("%s version %q", td.Type, td.Version)
		}
	}
	if got["listeners"] != 2 || got["routes"] != 1 || got["clusters"] != 1 || got["endpoints"] != 1 {
		t.Errorf("resources by type %v", got)
	}
	if !strings.Contains(out.String(), `"routeConfigName": "web"`) && !strings.Contains(out.String(), `"routeConfigName":"web"`) {
		t.Errorf("json lacks the resources in full:\n%s", out.String())
	}

	out.Reset()
	if err := Run(context.Background(), Options{Server: cp.Addr, Node: node, Type: "endpoints", Output: "yaml", Timeout: 10 * time.Second}, &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "type: endpoints") || strings.Contains(out.String(), "type: listeners") {
		t.Errorf("--type endpoints -o yaml:\n%s", out.String())
	}
}

func TestDumpUnreachableExits1WithinTimeout(t *testing.T) {
	cp := xdstest.StartControlPlane(t)
	cp.Stop() // a port nothing listens on
	start := time.Now()
	err := Run(context.Background(), Options{Server: cp.Addr, Node: node, Output: "table", Timeout: time.Second}, io.Discard)
	if exitCode(err) != 1 || !strings.Contains(err.Error(), "no clusters, listeners") {
		t.Fatalf("got %v", err)
	}
	// Generous: the bound is the timeout, not the default backoff.
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("took %v with --timeout 1s", d)
	}
}

func TestDumpUsage(t *testing.T) {
	for _, o := range []Options{
		{Output: "table", Timeout: time.Second},
		{Server: "127.0.0.1:1", Output: "table", Timeout: time.Second},
		{Server: "127.0.0.1:1", Node: "n", Output: "xml", Timeout: time.Second},
		{Server: "127.0.0.1:1", Node: "n", Type: "secrets", Output: "table", Timeout: time.Second},
		{Server: "nohostport", Node: "n", Output: "table", Timeout: time.Second},
		{Admin: "127.0.0.1:1", Watch: true, Output: "table", Timeout: time.Second},
	} {
		if err := Run(context.Background(), o, io.Discard); exitCode(err) != 2 {
			t.Errorf("%+v: got %v, want a usage error", o, err)
		}
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestDumpWatchPrintsEachPush(t *testing.T) {
	cp := xdstest.StartControlPlane(t)
	pushAll(t, cp, "1", 1)
	ctx, cancel := context.WithCancel(context.Background())
	var out syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Options{Server: cp.Addr, Node: node, Type: "endpoints", Watch: true, Output: "table", Timeout: 10 * time.Second}, &out)
	}()
	waitFor(t, func() bool { return strings.Contains(out.String(), "1 endpoints") })
	pushAll(t, cp, "2", 3)
	waitFor(t, func() bool { return strings.Contains(out.String(), "3 endpoints") })
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("interrupted watch: %v", err)
	}
	if strings.Contains(out.String(), "listeners") {
		t.Errorf("--type endpoints printed other types:\n%s", out.String())
	}
}

// hasRow reports whether the table has a line starting with the columns
// of row (the last one compared as the rest of the line).
func hasRow(table string, row []string) bool {
	for _, line := range strings.Split(table, "\n") {
		f := strings.Fields(line)
		if len(f) < len(row) {
			continue
		}
		n := len(row) - 1
		if slices.Equal(f[:n], row[:n]) && strings.Join(f[n:], " ") == row[n] || len(row) == 3 && slices.Equal(f[:3], row) {
			return true
		}
	}
	return false
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("timed out")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestDumpAdmin reads a running proxy's xDS state through its admin API.
func TestDumpAdmin(t *testing.T) {
	cp := xdstest.StartControlPlane(t)
	pushAll(t, cp, "3", 1)
	base := &config.Config{
		Node: &config.Node{ID: node},
		DynamicResources: &config.DynamicResources{
			ADSConfig: &config.APIConfigSource{GRPCServices: []config.GRPCService{{EnvoyGRPC: &config.EnvoyGRPC{ClusterName: "xds"}}}},
			LDSConfig: &config.ConfigSource{ADS: &struct{}{}}, CDSConfig: &config.ConfigSource{ADS: &struct{}{}}},
		StaticResources: &config.StaticResources{Clusters: []json.RawMessage{json.RawMessage(`{"name":"xds"}`)}},
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	var srv *server.Server
	client := ixds.NewClient(ixds.Options{Server: cp.Addr, Node: &corev3.Node{Id: node}, Base: base, Log: log,
		Apply: func(c *config.Config) error { return srv.Reload(c) }})
	srv, err := server.New(base, server.Options{Logger: log, AdminAddr: "127.0.0.1:0",
		DynamicDump: func() any { return client.Dump() }, Collectors: []prometheus.Collector{client.Collector()}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	srv.Start(ctx)
	runDone := make(chan struct{})
	go func() { client.Run(ctx); close(runDone) }()
	defer func() {
		cancel()
		<-runDone
		sctx, c2 := context.WithTimeout(context.Background(), 5*time.Second)
		defer c2()
		srv.Shutdown(sctx)
	}()
	waitFor(t, func() bool { return srv.ListenerAddr("ingress") != nil })
	var out bytes.Buffer
	if err := Run(context.Background(), Options{Admin: srv.AdminAddr().String(), Output: "table", Timeout: 5 * time.Second}, &out); err != nil {
		t.Fatal(err)
	}
	for _, row := range [][]string{{"ingress", "listeners", "3"}, {"backend", "clusters", "3"}, {"web", "routes", "3"}, {"backend", "endpoints", "3"}} {
		if !hasRow(out.String(), row) {
			t.Errorf("admin table lacks %q:\n%s", row, out.String())
		}
	}
}

func TestDumpWatchJSONLines(t *testing.T) {
	cp := xdstest.StartControlPlane(t)
	pushAll(t, cp, "1", 2)
	ctx, cancel := context.WithCancel(context.Background())
	var out syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Options{Server: cp.Addr, Node: node, Watch: true, Output: "json", Timeout: 10 * time.Second}, &out)
	}()
	waitFor(t, func() bool { return strings.Count(out.String(), "\n") >= 4 })
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		var push struct {
			Type      string            `json:"type"`
			Version   string            `json:"version"`
			Resources []json.RawMessage `json:"resources"`
		}
		if err := json.Unmarshal([]byte(line), &push); err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		if push.Version != "1" || len(push.Resources) == 0 {
			t.Errorf("push %+v", push)
		}
		seen[push.Type] = true
	}
	if len(seen) != 4 {
		t.Errorf("types pushed %v", seen)
	}
}
