package top

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/h2c"

	"github.com/mosnctl/mosnctl/internal/config"
	"github.com/mosnctl/mosnctl/internal/server"
	"github.com/mosnctl/mosnctl/internal/top"
)

// TestTopShowsHTTP2Streams: HTTP/2 streams held at their origins (three
// on one h2c connection to an h2c origin, two converted to an HTTP/1
// origin) are rows of protocol HTTP/2 in top's Streams tab, driven through
// the model with real polls of a running proxy's admin API, and in
// `top --once -o json` with their listener, route, cluster and host.
func TestTopShowsHTTP2Streams(t *testing.T) {
	arrived := make(chan struct{}, 8)
	release := make(chan struct{})
	hold := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		arrived <- struct{}{}
		<-release
		io.WriteString(w, "ok\n")
	})
	h2Origin := serveHTTP(t, h2c.NewHandler(hold, &http2.Server{}))
	h1Origin := serveHTTP(t, hold)
	cfg, _, err := config.Parse([]byte(fmt.Sprintf(`{
  "servers": [{
    "routers": [{"router_config_name": "r", "virtual_hosts": [{"name": "grpc", "domains": ["*"], "routers": [
      {"match": {"prefix": "/h1"}, "route": {"cluster_name": "h1origin"}},
      {"match": {"prefix": "/"}, "route": {"cluster_name": "h2origin"}}]}]}],
    "listeners": [
      {"name": "h2", "address": "127.0.0.1:0",
        "filter_chains": [{"filters": [{"type": "proxy", "config": {"downstream_protocol": "Http2", "upstream_protocol": "Http2", "router_config_name": "r"}}]}]},
      {"name": "h2h1", "address": "127.0.0.1:0",
        "filter_chains": [{"filters": [{"type": "proxy", "config": {"downstream_protocol": "Http2", "upstream_protocol": "Http1", "router_config_name": "r"}}]}]}
    ]
  }],
  "cluster_manager": {"clusters": [
    {"name": "h2origin", "type": "SIMPLE", "hosts": [{"address": %q}]},
    {"name": "h1origin", "type": "SIMPLE", "hosts": [{"address": %q}]}
  ]}
}`, h2Origin, h1Origin)), "json")
	if err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(cfg, server.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), AdminAddr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	srv.Start(context.Background())
	var clients sync.WaitGroup
	t.Cleanup(func() {
		close(release)
		clients.Wait()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	})

	c := &http.Client{Timeout: 20 * time.Second, Transport: &http2.Transport{AllowHTTP: true,
		DialTLSContext: func(ctx context.Context, network, addr string, _ *tls.Config) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, addr)
		}}}
	for i, path := range []string{"h2 /a", "h2 /b", "h2 /c", "h2h1 /h1/a", "h2h1 /h1/b"} {
		listener, p, _ := strings.Cut(path, " ")
		clients.Add(1)
		go func() {
			defer clients.Done()
			url := "http://" + srv.ListenerAddr(listener).String() + p
			if resp, err := c.Post(url, "text/plain", bytes.NewReader(make([]byte, 100*(i+1)))); err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		}()
	}
	for range 5 {
		select {
		case <-arrived:
		case <-time.After(10 * time.Second):
			t.Fatal("the origins did not get the 5 requests")
		}
	}
	adminAddr := srv.AdminAddr().String()
	waitStreams(t, adminAddr, 5)

	// The interactive model, fed by real polls.
	client, err := top.NewClient(adminAddr, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	var m tea.Model = top.New(top.Config{Admin: adminAddr, Fetch: client.Fetch, Renderer: top.ASCIIRenderer()})
	m, _ = m.Update(tea.WindowSizeMsg{Width: 160, Height: 30})
	m, _ = m.Update(m.Init()()) // one poll
	m, _ = m.Update(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune("4")})
	view := m.View()
	var rows []string
	for _, line := range strings.Split(view, "\n") {
		if strings.Contains(line, "HTTP/2") {
			rows = append(rows, line)
		}
	}
	perListener := map[string]int{}
	for _, r := range rows {
		switch {
		case strings.Contains(r, " h2h1 ") && strings.Contains(r, "grpc /h1") && strings.Contains(r, "h1origin") && strings.Contains(r, h1Origin):
			perListener["h2h1"]++
		case strings.Contains(r, " h2 ") && strings.Contains(r, "grpc /") && strings.Contains(r, "h2origin") && strings.Contains(r, h2Origin):
			perListener["h2"]++
		case strings.HasPrefix(strings.TrimSpace(r), "#"):
			// the selected stream's detail line
		default:
			t.Errorf("HTTP/2 row without its listener, route, cluster and host: %q", r)
		}
	}
	if perListener["h2"] != 3 || perListener["h2h1"] != 2 {
		t.Errorf("HTTP/2 rows per listener %v, want 3 on h2 and 2 on h2h1; Streams tab:\n%s", perListener, view)
	}

	// --once -o json lists them the same way.
	var out bytes.Buffer
	if err := Run(context.Background(), Options{Admin: adminAddr, Interval: time.Second, Once: true, Output: "json", StreamLimit: 100}, &out); err != nil {
		t.Fatal(err)
	}
	var snap top.Snapshot
	if err := json.Unmarshal(out.Bytes(), &snap); err != nil {
		t.Fatal(err)
	}
	downstreams := map[string]bool{}
	bytesIn := map[int64]bool{}
	for _, s := range snap.Streams.Streams {
		wantHost := h2Origin
		if s.Listener == "h2h1" {
			wantHost = h1Origin
		}
		if s.Protocol != "HTTP/2" || s.State != "waiting" || s.Host != wantHost || s.Downstream == "" {
			t.Errorf("stream %+v, want HTTP/2 waiting on %s", s, wantHost)
		}
		if s.Listener == "h2" {
			downstreams[s.Downstream] = true
		}
		bytesIn[int64(s.BytesIn)] = true
	}
	for i := range 5 {
		if !bytesIn[int64(100*(i+1))] {
			t.Errorf("no stream counts %d bytes in (request bodies of 100 to 500 bytes): %v", 100*(i+1), bytesIn)
		}
	}
	if len(snap.Streams.Streams) != 5 || len(downstreams) != 1 {
		t.Errorf("%d streams, h2 ones from %v: want 5, the three h2 ones on one connection", len(snap.Streams.Streams), downstreams)
	}
}

func serveHTTP(t *testing.T, h http.Handler) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &http.Server{Handler: h}
	go s.Serve(ln)
	t.Cleanup(func() { s.Close() })
	return ln.Addr().String()
}
