package top

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/mosnctl/mosnctl/internal/admin"
	"github.com/mosnctl/mosnctl/internal/boltrpc"
	"github.com/mosnctl/mosnctl/internal/cli"
	"github.com/mosnctl/mosnctl/internal/config"
	"github.com/mosnctl/mosnctl/internal/protocol/bolt"
	"github.com/mosnctl/mosnctl/internal/server"
	"github.com/mosnctl/mosnctl/internal/top"
)

// slowProxy is a running proxy whose origins hold requests until released:
// an HTTP/1 listener "web" (/slow goes to cluster "slow", the rest to
// "fast") and a Bolt listener "rpc" (to cluster "rpc").
type slowProxy struct {
	srv          *server.Server
	httpOrigin   string
	boltOrigin   string
	arrived      chan string // one per request the origins hold
	release      chan struct{}
	releaseOnce  func()
	clientsDone  chan struct{}
	clientsTotal int
}

func startSlowProxy(t *testing.T) *slowProxy {
	t.Helper()
	p := &slowProxy{arrived: make(chan string, 16), release: make(chan struct{}), clientsDone: make(chan struct{}, 16)}
	released := false
	p.releaseOnce = func() {
		if !released {
			released = true
			close(p.release)
		}
	}

	hln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/slow") {
			p.arrived <- "http"
			<-p.release
		}
		io.WriteString(w, "ok\n")
	})}
	go hs.Serve(hln)
	t.Cleanup(func() { hs.Close() })
	p.httpOrigin = hln.Addr().String()

	bln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	bs := &boltrpc.Server{Handler: func(req *bolt.Frame) (uint16, map[string]string, []byte) {
		p.arrived <- "bolt"
		<-p.release
		return boltrpc.EchoHandler(req)
	}}
	go bs.Serve(bln)
	t.Cleanup(func() { bs.Close() })
	p.boltOrigin = bln.Addr().String()

	cfgJSON := fmt.Sprintf(`{
  "servers": [{
    "routers": [
      {"router_config_name": "web", "virtual_hosts": [{"name": "site", "domains": ["*"], "routers": [
        {"match": {"prefix": "/slow"}, "route": {"cluster_name": "slow"}},
        {"match": {"prefix": "/"}, "route": {"cluster_name": "fast"}}]}]},
      {"router_config_name": "rpc", "virtual_hosts": [{"name": "services", "domains": ["*"], "routers": [
        {"match": {"headers": [{"name": "service", "value": "com.example.EchoService:1.0"}]}, "route": {"cluster_name": "rpc"}}]}]}
    ],
    "listeners": [
      {"name": "web", "address": "127.0.0.1:0",
        "filter_chains": [{"filters": [{"type": "proxy", "config": {"downstream_protocol": "Http1", "router_config_name": "web"}}]}]},
      {"name": "rpc", "address": "127.0.0.1:0",
        "filter_chains": [{"filters": [{"type": "proxy", "config": {"downstream_protocol": "bolt", "router_config_name": "rpc"}}]}]}
    ]
  }],
  "cluster_manager": {"clusters": [
    {"name": "slow", "type": "SIMPLE", "lb_type": "LB_ROUNDROBIN", "hosts": [{"address": %q}]},
    {"name": "fast", "type": "SIMPLE", "lb_type": "LB_ROUNDROBIN", "hosts": [{"address": %q}]},
    {"name": "rpc", "type": "SIMPLE", "lb_type": "LB_ROUNDROBIN", "hosts": [{"address": %q}]}
  ]}
}`, p.httpOrigin, p.httpOrigin, p.boltOrigin)
	cfg, _, err := config.Parse([]byte(cfgJSON), "json")
	if err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(cfg, server.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), AdminAddr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	srv.Start(context.Background())
	p.srv = srv
	t.Cleanup(func() {
		p.releaseOnce()
		for i := 0; i < p.clientsTotal; i++ {
			<-p.clientsDone
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	})
	return p
}

func (p *slowProxy) admin() string { return p.srv.AdminAddr().String() }

// holdHTTP sends n requests to /slow and returns once the origin holds
// them all.
func (p *slowProxy) holdHTTP(t *testing.T, n int) {
	t.Helper()
	url := "http://" + p.srv.ListenerAddr("web").String() + "/slow/report"
	c := &http.Client{Transport: &http.Transport{}, Timeout: 20 * time.Second}
	for range n {
		p.clientsTotal++
		go func() {
			defer func() { p.clientsDone <- struct{}{} }()
			if resp, err := c.Get(url); err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		}()
	}
	for range n {
		<-p.arrived
	}
}

// holdBolt sends n calls on one Bolt connection and returns once the
// origin holds them all.
func (p *slowProxy) holdBolt(t *testing.T, n int) {
	t.Helper()
	c, err := boltrpc.Dial(context.Background(), p.srv.ListenerAddr("rpc").String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	for range n {
		p.clientsTotal++
		go func() {
			defer func() { p.clientsDone <- struct{}{} }()
			c.Call(context.Background(), &boltrpc.Request{Service: "com.example.EchoService:1.0", Method: "echo",
				Content: []byte("hello"), Timeout: 20 * time.Second})
		}()
	}
	for range n {
		<-p.arrived
	}
}

// TestOnceJSONFindsStreamsInFlight is the end-to-end check of the issue:
// requests held at slow origins show up in `top --once -o json` with their
// route, cluster and upstream host; a finished request does not.
func TestOnceJSONFindsStreamsInFlight(t *testing.T) {
	p := startSlowProxy(t)
	p.holdHTTP(t, 2)
	p.holdBolt(t, 3)
	resp, err := http.Get("http://" + p.srv.ListenerAddr("web").String() + "/fast")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	// The proxy marks /fast finished just after the client has its answer.
	waitStreams(t, p.admin(), 5)

	var out bytes.Buffer
	if err := Run(context.Background(), Options{Admin: p.admin(), Interval: time.Second, Once: true, Output: "json", StreamLimit: 100}, &out); err != nil {
		t.Fatalf("top --once -o json: %v", err)
	}
	var snap top.Snapshot
	if err := json.Unmarshal(out.Bytes(), &snap); err != nil {
		t.Fatalf("output is not a snapshot: %v\n%s", err, out.String())
	}
	if snap.Streams.Total != 5 || len(snap.Streams.Streams) != 5 {
		t.Fatalf("want the 5 held streams, got total %d: %+v", snap.Streams.Total, snap.Streams.Streams)
	}
	want := map[string]struct{ route, cluster, host, listener string }{
		"HTTP/1.1": {"site /slow", "slow", p.httpOrigin, "web"},
		"bolt":     {"services *", "rpc", p.boltOrigin, "rpc"},
	}
	count := map[string]int{}
	for i, s := range snap.Streams.Streams {
		w, ok := want[s.Protocol]
		if !ok {
			t.Errorf("stream with protocol %q: %+v", s.Protocol, s)
			continue
		}
		count[s.Protocol]++
		if s.Route != w.route || s.Cluster != w.cluster || s.Host != w.host || s.Listener != w.listener ||
			s.State != "waiting" || s.Downstream == "" || s.BytesIn == 0 && s.Protocol == "bolt" {
			t.Errorf("stream = %+v, want route %q cluster %q host %q listener %q waiting", s, w.route, w.cluster, w.host, w.listener)
		}
		if s.Protocol == "bolt" && (s.RequestID == 0 || s.Service != "com.example.EchoService:1.0") {
			t.Errorf("bolt stream without its request id or service: %+v", s)
		}
		if i > 0 && s.Start.Before(snap.Streams.Streams[i-1].Start) {
			t.Errorf("streams not oldest first: %v before %v", snap.Streams.Streams[i-1].Start, s.Start)
		}
	}
	if count["HTTP/1.1"] != 2 || count["bolt"] != 3 {
		t.Errorf("streams per protocol = %v, want 2 HTTP/1.1 and 3 bolt", count)
	}
	if snap.Stats.RequestsActive != 5 {
		t.Errorf("stats: %d requests active, want 5", snap.Stats.RequestsActive)
	}
	for _, c := range snap.Clusters {
		if c.Name == "slow" && (c.ActiveRequests != 2 || len(c.Hosts) != 1 || c.Hosts[0].ActiveRequests != 2) {
			t.Errorf("cluster slow = %+v, want 2 active on its host", c)
		}
	}

	// The table form names them too.
	out.Reset()
	if err := Run(context.Background(), Options{Admin: p.admin(), Interval: time.Second, Once: true, Output: "table", Width: 160, StreamLimit: 100}, &out); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"== Streams", "site /slow", "services *", p.httpOrigin, p.boltOrigin, "== Clusters"} {
		if !strings.Contains(out.String(), s) {
			t.Errorf("table output lacks %q:\n%s", s, out.String())
		}
	}

	// Once answered, they are gone.
	p.releaseOnce()
	waitStreams(t, p.admin(), 0)
}

// waitStreams polls the admin API until it lists n streams.
func waitStreams(t *testing.T, adminAddr string, n int) {
	t.Helper()
	c, err := top.NewClient(adminAddr, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	deadline := time.Now().Add(5 * time.Second)
	for {
		s, err := c.Fetch(context.Background(), top.StreamsQuery{})
		if err != nil {
			t.Fatal(err)
		}
		if s.Streams.Total == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("want %d streams listed, have %d: %+v", n, s.Streams.Total, s.Streams.Streams)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestRunErrors(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()
	tests := []struct {
		name string
		opts Options
		code int
		msg  string
	}{
		{"bad output", Options{Admin: closed, Interval: time.Second, Once: true, Output: "yaml", StreamLimit: 10}, cli.ExitUsage, "output format"},
		{"short interval", Options{Admin: closed, Interval: time.Millisecond, Output: "table", StreamLimit: 10}, cli.ExitUsage, "--interval"},
		{"stream limit", Options{Admin: closed, Interval: time.Second, Output: "table", StreamLimit: 0}, cli.ExitUsage, "--streams"},
		{"bad address", Options{Admin: "http://", Interval: time.Second, Output: "table", StreamLimit: 10}, cli.ExitUsage, "admin address"},
		{"unreachable", Options{Admin: closed, Interval: time.Second, Once: true, Output: "json", StreamLimit: 10}, cli.ExitFailed, "connection refused"},
		{"not a terminal", Options{Admin: closed, Interval: time.Second, Output: "table", StreamLimit: 10}, cli.ExitUsage, "--once"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			err := Run(context.Background(), tt.opts, &out)
			var ee *cli.ExitError
			if !errors.As(err, &ee) || ee.Code != tt.code || !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("err = %v, want exit %d mentioning %q", err, tt.code, tt.msg)
			}
		})
	}
}

func TestCommandFlags(t *testing.T) {
	c := NewCommand()
	for _, f := range []string{"admin", "interval", "once", "output", "streams", "width"} {
		if c.Flags().Lookup(f) == nil {
			t.Errorf("no --%s flag", f)
		}
	}
	if got := c.Flags().Lookup("admin").DefValue; got != DefaultAdmin {
		t.Errorf("--admin defaults to %q", got)
	}
}

// The admin types are what --once -o json prints: keep the stream fields a
// script relies on.
func TestStreamJSONFields(t *testing.T) {
	b, err := json.Marshal(admin.StreamInfo{ID: 1, Route: "r", Host: "h"})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{`"id"`, `"protocol"`, `"listener"`, `"downstream"`, `"route"`, `"cluster"`, `"host"`, `"state"`, `"age_ms"`, `"bytes_in"`, `"bytes_out"`} {
		if !bytes.Contains(b, []byte(f)) {
			t.Errorf("stream JSON lacks %s: %s", f, b)
		}
	}
}
