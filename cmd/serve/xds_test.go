package serve

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	"golang.org/x/net/http2"

	"github.com/mosnctl/mosnctl/internal/cli"
	"github.com/mosnctl/mosnctl/internal/server"
	"github.com/mosnctl/mosnctl/internal/xds/xdstest"
)

// bootstrapFile is a YAML config with the Envoy bootstrap blocks: the
// control plane at cpAddr, node "file-node".
func bootstrapFile(t *testing.T, cpAddr string) string {
	_, port, _ := net.SplitHostPort(cpAddr)
	yaml := fmt.Sprintf(`node:
  id: file-node
  cluster: file-cluster
dynamic_resources:
  ads_config:
    api_type: GRPC
    transport_api_version: V3
    grpc_services:
    - envoy_grpc: {cluster_name: xds-grpc}
  lds_config: {ads: {}, resource_api_version: V3}
  cds_config: {ads: {}, resource_api_version: V3}
static_resources:
  clusters:
  - name: xds-grpc
    type: STATIC
    connect_timeout: 1s
    load_assignment:
      cluster_name: xds-grpc
      endpoints:
      - lb_endpoints:
        - endpoint: {address: {socket_address: {address: 127.0.0.1, port_value: %s}}}
admin:
  address: {socket_address: {address: 127.0.0.1, port_value: 0}}
`, port)
	path := filepath.Join(t.TempDir(), "bootstrap.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestServeTakesConfigFromXDS runs serve on a bootstrap file; the snapshot
// is set for the --service-node id only, so serving it proves the flag
// overrides the file's node.
func TestServeTakesConfigFromXDS(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "origin") }))
	defer up.Close()
	host, port, _ := net.SplitHostPort(up.Listener.Addr().String())
	p, _ := strconv.Atoi(port)
	cp := xdstest.StartControlPlane(t)
	const nodeID = "sidecar~127.0.0.1~app.default~default.svc.cluster.local"
	cp.Push(nodeID, "1",
		[]types.Resource{xdstest.HTTPListener(t, "in", "127.0.0.1", 0, "web"), xdstest.H2Listener(t, "h2", "127.0.0.1", 0, "web")},
		[]types.Resource{xdstest.RouteConfig("web", xdstest.PrefixRoute("/", "app"))},
		[]types.Resource{xdstest.EDSCluster("app")},
		[]types.Resource{xdstest.Assignment("app", xdstest.LbEndpoint(host, uint32(p)))})

	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan *server.Server, 1)
	done := make(chan error, 1)
	var logs lockedBuffer
	go func() {
		done <- Run(ctx, Options{ConfigPath: bootstrapFile(t, cp.Addr), LogLevel: "info", DrainTimeout: time.Second,
			ServiceNode: nodeID, ServiceCluster: "app",
			Ready: func(s *server.Server) { ready <- s }}, io.Discard, &logs)
	}()
	var srv *server.Server
	select {
	case srv = <-ready:
	case err := <-done:
		t.Fatalf("serve exited early: %v\n%s", err, logs.String())
	}
	deadline := time.Now().Add(10 * time.Second)
	for srv.ListenerAddr("in") == nil {
		if time.Now().After(deadline) {
			t.Fatalf("the pushed listener never started:\n%s", logs.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	resp, err := http.Get("http://" + srv.ListenerAddr("in").String() + "/")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "origin" {
		t.Fatalf("got %q", b)
	}
	// A listener with the HTTP2 codec takes h2c and converts to the
	// HTTP/1.1 cluster.
	for srv.ListenerAddr("h2") == nil {
		if time.Now().After(deadline) {
			t.Fatalf("the pushed HTTP/2 listener never started:\n%s", logs.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	h2c := &http.Client{Transport: &http2.Transport{AllowHTTP: true,
		DialTLSContext: func(ctx context.Context, network, addr string, _ *tls.Config) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, addr)
		}}}
	resp, err = h2c.Get("http://" + srv.ListenerAddr("h2").String() + "/")
	if err != nil {
		t.Fatal(err)
	}
	b, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "origin" || resp.Proto != "HTTP/2.0" {
		t.Fatalf("h2c through the HTTP2 codec listener: %q over %s", b, resp.Proto)
	}
	if reqs := cp.Requests(); reqs[0].GetNode().GetCluster() != "app" {
		t.Errorf("node cluster %q, want the flag's", reqs[0].GetNode().GetCluster())
	}
	// A file reload would drop the pushed resources: refused, serving on.
	if err := srv.ReloadConfig(); err == nil || !strings.Contains(err.Error(), "dynamic_resources") {
		t.Errorf("reload: %v", err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestServeXDSBootstrapErrors(t *testing.T) {
	path := bootstrapFile(t, "127.0.0.1:1")
	data, _ := os.ReadFile(path)
	bad := strings.Replace(string(data), "cluster_name: xds-grpc}", "cluster_name: nowhere}", 1)
	os.WriteFile(path, []byte(bad), 0o644)
	err := Run(context.Background(), Options{ConfigPath: path, Check: true}, io.Discard, io.Discard)
	var ee *cli.ExitError
	if !errors.As(err, &ee) || ee.Code != cli.ExitUsage || !strings.Contains(err.Error(), `envoy_grpc.cluster_name: no static_resources cluster named "nowhere"`) {
		t.Fatalf("got %v", err)
	}
}

// The README's xDS bootstrap example passes --check and names only loopback.
func TestREADMEXDSBootstrap(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, _ := strings.Cut(string(readme), "\n### xDS (control plane)\n")
	_, block, ok := strings.Cut(section, "\n```yaml\n")
	block, _, ok2 := strings.Cut(block, "\n```\n")
	if !ok || !ok2 {
		t.Fatal("no ```yaml block in the README's xDS section")
	}
	path := filepath.Join(t.TempDir(), "bootstrap.yaml")
	os.WriteFile(path, []byte(block), 0o600)
	if err := Run(context.Background(), Options{ConfigPath: path, Check: true}, io.Discard, io.Discard); err != nil {
		t.Fatalf("serve --check of the README bootstrap: %v", err)
	}
	for _, line := range strings.Split(block, "\n") {
		if strings.Contains(line, "address:") && strings.Contains(line, "port_value") && !strings.Contains(line, "address: 127.0.0.1") {
			t.Errorf("non-loopback address in the README bootstrap: %s", line)
		}
	}
}

func TestServiceNodeNeedsDynamicResources(t *testing.T) {
	err := Run(context.Background(), Options{Check: true, ServiceNode: "n"}, io.Discard, io.Discard)
	var ee *cli.ExitError
	if !errors.As(err, &ee) || ee.Code != cli.ExitUsage || !strings.Contains(err.Error(), "need a config with dynamic_resources") {
		t.Fatalf("got %v", err)
	}
}
