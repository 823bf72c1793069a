package server

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/mosnctl/mosnctl/internal/admin"
	"github.com/mosnctl/mosnctl/internal/boltrpc"
	"github.com/mosnctl/mosnctl/internal/config"
	"github.com/mosnctl/mosnctl/internal/proxy"
)

// TestAdminStreamsHTTP1 holds requests at a slow origin and finds them in
// /api/v1/streams with their route, cluster and host; once answered they
// are gone.
func TestAdminStreamsHTTP1(t *testing.T) {
	release := make(chan struct{})
	arrived := make(chan struct{}, 4)
	origin, _ := startOrigin(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			arrived <- struct{}{}
			<-release
		}
		io.WriteString(w, "ok\n")
	}))
	p := startProxy(t, httpProxyConfig("LB_ROUNDROBIN", "", origin))
	c := newClient()
	done := make(chan struct{})
	for range 2 {
		go func() {
			defer func() { done <- struct{}{} }()
			resp, err := c.Get(p.url("in", "/slow"))
			if err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		}()
	}
	defer func() {
		close(release)
		<-done
		<-done
	}()
	<-arrived
	<-arrived
	get(t, c, p.url("in", "/fast")) // answered: not listed

	adminURL := "http://" + p.AdminAddr().String()
	var list admin.StreamList
	// The proxy marks /fast finished just after the client has its answer,
	// and a slow request "waiting" just after the origin already has it.
	waitFor(t, "the 2 slow requests alone listed, both waiting", func() bool {
		getJSON(t, adminURL+"/api/v1/streams", &list)
		if list.Total != 2 {
			return false
		}
		for _, s := range list.Streams {
			if s.State != "waiting" {
				return false
			}
		}
		return true
	})
	if len(list.Streams) != 2 {
		t.Fatalf("streams = %+v, want the 2 slow requests", list)
	}
	for _, s := range list.Streams {
		if s.Listener != "in" || s.Protocol != "HTTP/1.1" || s.Route != "v /" || s.Cluster != "origin" ||
			s.Host != origin || s.State != "waiting" || s.Downstream == "" || s.AgeMs < 0 {
			t.Errorf("stream = %+v", s)
		}
	}
	if !list.Streams[0].Start.Before(list.Streams[1].Start) && list.Streams[0].ID > list.Streams[1].ID {
		t.Errorf("not oldest first: %+v", list.Streams)
	}
	getJSON(t, adminURL+"/api/v1/streams?limit=1&cluster=origin&state=waiting", &list)
	if list.Total != 2 || len(list.Streams) != 1 {
		t.Errorf("limit=1: total %d, %d listed", list.Total, len(list.Streams))
	}
	getJSON(t, adminURL+"/api/v1/streams?listener=other", &list)
	if list.Total != 0 || list.Streams == nil {
		t.Errorf("listener=other: %+v", list)
	}
	getJSON(t, adminURL+"/api/v1/streams?min_age=1h", &list)
	if list.Total != 0 {
		t.Errorf("min_age=1h: %+v", list)
	}
	for _, bad := range []string{"limit=0", "limit=x", "min_age=soon", "sort=name", "state=stuck"} {
		resp, err := http.Get(adminURL + "/api/v1/streams?" + bad)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("%s: status %d, want 400", bad, resp.StatusCode)
		}
	}
}

// TestStreamStateNames keeps the admin API's list of states (which it
// validates ?state= against) equal to the proxy's names.
func TestStreamStateNames(t *testing.T) {
	var names []string
	for s := proxy.StreamRouting; s <= proxy.StreamResponding; s++ {
		names = append(names, s.String())
	}
	if !slices.Equal(names, admin.StreamStates) {
		t.Errorf("proxy states %v, admin.StreamStates %v", names, admin.StreamStates)
	}
	if _, ok := proxy.ParseStreamState(proxy.StreamState(proxy.StreamResponding + 1).String()); ok {
		t.Error("a state past responding has a name: add it to admin.StreamStates")
	}
}

func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("GET %s: %s: %s", url, resp.Status, b)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
}

// BenchmarkProxyHTTP1Tracking is BenchmarkProxyHTTP1RoundTrip with stream
// tracking on and off: the difference is what listing streams costs the
// request path.
func BenchmarkProxyHTTP1Tracking(b *testing.B) {
	for _, off := range []bool{false, true} {
		b.Run(fmt.Sprintf("tracking=%v", !off), func(b *testing.B) {
			origin := rawOrigin(b)
			cfg, _, err := config.Parse([]byte(httpProxyConfig("LB_ROUNDROBIN", "", origin)), "json")
			if err != nil {
				b.Fatal(err)
			}
			s, err := New(cfg, Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), AdminAddr: "off", NoStreamTracking: off})
			if err != nil {
				b.Fatal(err)
			}
			s.Start(context.Background())
			defer func() {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				s.Shutdown(ctx)
			}()
			benchKeepAliveGETs(b, s.ListenerAddr("in").String())
		})
	}
}

// BenchmarkProxyBoltTracking sends Bolt calls, 16 in flight on one
// downstream connection, through a real proxy to an echo server, with
// stream tracking on and off: tracking links and unlinks each call under
// a shard lock. allocs/op includes the Bolt client's and server's own.
func BenchmarkProxyBoltTracking(b *testing.B) {
	for _, off := range []bool{false, true} {
		b.Run(fmt.Sprintf("tracking=%v", !off), func(b *testing.B) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				b.Fatal(err)
			}
			echo := &boltrpc.Server{Handler: boltrpc.EchoHandler}
			go echo.Serve(ln)
			defer echo.Close()
			cfg, _, err := config.Parse([]byte(boltProxyConfig("bolt", "", ln.Addr().String())), "json")
			if err != nil {
				b.Fatal(err)
			}
			s, err := New(cfg, Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), AdminAddr: "off", NoStreamTracking: off})
			if err != nil {
				b.Fatal(err)
			}
			s.Start(context.Background())
			defer func() {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				s.Shutdown(ctx)
			}()
			c, err := boltrpc.Dial(context.Background(), s.ListenerAddr("in").String())
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			req := &boltrpc.Request{Service: "com.example.EchoService:1.0", Method: "echo", Content: make([]byte, 128), Timeout: 5 * time.Second}
			b.ReportAllocs()
			b.SetParallelism(8) // 16 callers on 2 cores
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := c.Call(context.Background(), req); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}
