package server

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/mosnctl/mosnctl/internal/boltrpc"
	"github.com/mosnctl/mosnctl/internal/protocol/bolt"
)

// TestGoroutineIOModel runs every test of this package again with the
// listeners served by a goroutine per connection (io_model goroutine, the
// model that is not the default), in a child process of this test binary,
// so both IO models pass the same end-to-end tests.
func TestGoroutineIOModel(t *testing.T) {
	if testIOModel != "" {
		t.Skip("already running under MOSNCTL_TEST_IO_MODEL")
	}
	if testing.Short() {
		t.Skip("short mode")
	}
	cmd := exec.Command(os.Args[0], "-test.run=^Test", "-test.skip=^TestGoroutineIOModel$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), "MOSNCTL_TEST_IO_MODEL=goroutine")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("tests in the goroutine IO model failed: %v\n%s", err, out)
	}
	if n := strings.Count(string(out), "--- PASS"); n < 20 {
		t.Fatalf("only %d tests passed in the goroutine IO model:\n%s", n, out)
	}
	t.Logf("%d tests passed in the goroutine IO model", strings.Count(string(out), "--- PASS"))
}

// The IO model is chosen per listener: io_model, else the server's
// use_netpoll_mode; listeners on loops and listeners with a goroutine per
// connection serve traffic side by side.
func TestIOModelPerListener(t *testing.T) {
	httpUp, _ := startOrigin(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	boltUp := startBoltServer(t, boltrpc.EchoHandler)
	p := startProxy(t, fmt.Sprintf(`{
  "servers": [{
    "use_netpoll_mode": true,
    "routers": [
      {"router_config_name": "web", "virtual_hosts": [{"name": "v", "domains": ["*"], "routers": [{"match": {"prefix": "/"}, "route": {"cluster_name": "web"}}]}]},
      {"router_config_name": "rpc", "virtual_hosts": [{"name": "v", "domains": ["*"], "routers": [{"match": {"headers": [{"name": "service", "value": ".*", "regex": true}]}, "route": {"cluster_name": "rpc"}}]}]}
    ],
    "listeners": [
      {"name": "web", "address": "127.0.0.1:0", "filter_chains": [{"filters": [{"type": "proxy", "config": {"downstream_protocol": "Http1", "router_config_name": "web"}}]}]},
      {"name": "plain", "address": "127.0.0.1:0", "io_model": "goroutine", "filter_chains": [{"filters": [{"type": "proxy", "config": {"downstream_protocol": "Http1", "router_config_name": "web"}}]}]},
      {"name": "rpc", "address": "127.0.0.1:0", "filter_chains": [{"filters": [{"type": "proxy", "config": {"downstream_protocol": "bolt", "router_config_name": "rpc"}}]}]},
      {"name": "tcp", "address": "127.0.0.1:0", "filter_chains": [{"filters": [{"type": "tcp_proxy", "config": {"cluster": "web"}}]}]}
    ]
  }],
  "cluster_manager": {"clusters": [
    {"name": "web", "type": "SIMPLE", "hosts": [{"address": %q}]},
    {"name": "rpc", "type": "SIMPLE", "hosts": [{"address": %q}]}
  ]}
}`, httpUp, boltUp))
	logs := p.log.String()
	for _, want := range []string{
		"listener=web address=" + p.addr("web") + " filter=proxy protocol=Http1 io_model=netpoll",
		"listener=plain address=" + p.addr("plain") + " filter=proxy protocol=Http1 io_model=goroutine",
		"listener=rpc address=" + p.addr("rpc") + " filter=proxy protocol=bolt io_model=netpoll",
		"listener=tcp address=" + p.addr("tcp") + " filter=tcp_proxy protocol=tcp io_model=netpoll",
	} {
		if !strings.Contains(logs, want) {
			t.Errorf("log lacks %q:\n%s", want, logs)
		}
	}
	models := map[string]string{}
	for _, li := range p.Listeners() {
		models[li.Name] = li.IOModel
	}
	if models["web"] != "netpoll" || models["plain"] != "goroutine" || models["rpc"] != "netpoll" || models["tcp"] != "netpoll" {
		t.Errorf("listeners API io_model: %v", models)
	}
	for _, l := range []string{"web", "plain", "tcp"} { // tcp: HTTP carried by tcp_proxy
		for range 20 {
			resp, err := http.Get(p.url(l, "/x"))
			if err != nil {
				t.Fatalf("%s: %v", l, err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 || string(body) != "ok" {
				t.Fatalf("%s: %d %q", l, resp.StatusCode, body)
			}
		}
	}
	// An idle keep-alive connection through tcp_proxy would hold shutdown
	// until its drain timeout, as any open L4 connection does.
	http.DefaultClient.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := boltrpc.Dial(ctx, p.addr("rpc"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	resp, err := c.Call(ctx, &boltrpc.Request{Service: "com.example.EchoService:1.0", Method: "echo", Content: []byte("hi")})
	if err != nil || resp.Status != bolt.StatusSuccess || string(resp.Content) != "hi" {
		t.Fatalf("bolt call: %+v %v", resp, err)
	}
}
