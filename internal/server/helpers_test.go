package server

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mosnctl/mosnctl/internal/config"
	"github.com/mosnctl/mosnctl/internal/network"
)

// testIOModel, from MOSNCTL_TEST_IO_MODEL, makes every proxy in these tests
// serve its listeners in that IO model (checked as each proxy starts);
// TestGoroutineIOModel runs the whole package again with it set to
// goroutine, the model that is not the default.
var testIOModel = os.Getenv("MOSNCTL_TEST_IO_MODEL")

// defaultIOModel is the IO model of a listener whose config names none.
func defaultIOModel() string {
	if network.LoopSupported {
		return "netpoll"
	}
	return "goroutine"
}

// explicitModel reports a config that picks its servers' IO model itself:
// a test of that choice, which the IO model of the run leaves alone.
func explicitModel(cfg *config.Config) bool {
	for i := range cfg.Servers {
		if cfg.Servers[i].UseNetpollMode != nil {
			return true
		}
	}
	return false
}

// setTestIOModel makes testIOModel the default IO model of servers that
// pick none.
func setTestIOModel(cfg *config.Config) {
	if testIOModel == "" || explicitModel(cfg) {
		return
	}
	netpoll := testIOModel == "netpoll"
	for i := range cfg.Servers {
		cfg.Servers[i].UseNetpollMode = &netpoll
	}
}

// syncLog collects log output for assertions.
type syncLog struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *syncLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *syncLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// proxyUnderTest is a running Server built from a JSON config.
type proxyUnderTest struct {
	*Server
	log *syncLog
}

// startProxy parses cfgJSON (listeners on 127.0.0.1:0), starts the server
// and shuts it down at the end of the test.
func startProxy(t testing.TB, cfgJSON string) *proxyUnderTest {
	t.Helper()
	cfg, _, err := config.Parse([]byte(cfgJSON), "json")
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	return startProxyConfig(t, cfg)
}

// startProxyConfig starts a server on an already loaded config.
func startProxyConfig(t testing.TB, cfg *config.Config) *proxyUnderTest {
	t.Helper()
	explicit := explicitModel(cfg)
	setTestIOModel(cfg)
	logs := &syncLog{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	s, err := New(cfg, Options{Logger: log, AdminAddr: "127.0.0.1:0"})
	if err != nil {
		t.Fatalf("server.New: %v", err)
	}
	want := testIOModel
	if want == "" {
		want = defaultIOModel()
	}
	if !explicit {
		for _, rl := range s.lns {
			if rl.cfg.IOModel == "" && rl.ioModel != want {
				t.Fatalf("listener %s runs in the %s IO model, want %s", rl.cfg.Name, rl.ioModel, want)
			}
		}
	}
	s.Start(context.Background())
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s.Shutdown(ctx)
		if t.Failed() {
			t.Logf("proxy log:\n%s", logs.String())
		}
	})
	return &proxyUnderTest{Server: s, log: logs}
}

func (p *proxyUnderTest) url(listener, path string) string {
	return "http://" + p.ListenerAddr(listener).String() + path
}

func (p *proxyUnderTest) addr(listener string) string { return p.ListenerAddr(listener).String() }

// httpProxyConfig is one HTTP/1 proxy listener "in" routing every path to
// cluster "origin" with the given hosts, lb type and route extras.
func httpProxyConfig(lbType, routeExtra string, hosts ...string) string {
	var hs []string
	for _, h := range hosts {
		hs = append(hs, fmt.Sprintf(`{"address": %q}`, h))
	}
	return fmt.Sprintf(`{
  "servers": [{
    "routers": [{"router_config_name": "r", "virtual_hosts": [{"name": "v", "domains": ["*"], "routers": [
      {"match": {"prefix": "/direct"}, "direct_response": {"status": 200, "body": "direct\n"}},
      {"match": {"prefix": "/"}, "route": {"cluster_name": "origin"%s}}
    ]}]}],
    "listeners": [{"name": "in", "address": "127.0.0.1:0",
      "filter_chains": [{"filters": [{"type": "proxy", "config": {"downstream_protocol": "Http1", "router_config_name": "r"}}]}]}]
  }],
  "cluster_manager": {"clusters": [{"name": "origin", "type": "SIMPLE", "lb_type": %q, "connect_timeout": "1s", "hosts": [%s]}]}
}`, routeExtra, lbType, strings.Join(hs, ","))
}

// startOrigin runs a net/http origin on loopback.
func startOrigin(t *testing.T, h http.Handler) (addr string, conns *connCounter) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	conns = &connCounter{}
	srv := &http.Server{Handler: h, ConnState: conns.track}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String(), conns
}

// connCounter counts the connections an origin accepted.
type connCounter struct {
	mu  sync.Mutex
	new int
}

func (c *connCounter) track(_ net.Conn, s http.ConnState) {
	if s == http.StateNew {
		c.mu.Lock()
		c.new++
		c.mu.Unlock()
	}
}

func (c *connCounter) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.new
}

// serveTCP runs handle on its own goroutine for every connection accepted
// on a loopback port, until the test ends; it returns the address.
func serveTCP(t testing.TB, handle func(net.Conn)) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go handle(c)
		}
	}()
	return ln.Addr().String()
}

// dialStuck connects a client with a small receive window that the test
// then never reads from: whatever is sent to it soon waits.
func dialStuck(t *testing.T, addr string) net.Conn {
	d := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		return rc.Control(func(fd uintptr) { syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 16<<10) })
	}}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// closedAddr returns a loopback address nothing listens on.
func closedAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func newClient() *http.Client {
	return &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 200, DisableCompression: true}, Timeout: 20 * time.Second}
}

func get(t *testing.T, c *http.Client, url string) (int, string) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: body: %v", url, err)
	}
	return resp.StatusCode, string(b)
}

// rawExchange writes req on a fresh connection and returns everything the
// proxy sends until it closes the connection (or 3s pass).
func rawExchange(t *testing.T, addr, req string) string {
	t.Helper()
	c := dialRaw(t, addr)
	if _, err := io.WriteString(c, req); err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(c)
	return string(b)
}

// waitGoroutines polls until the goroutine count is back to at most want.
func waitGoroutines(t *testing.T, want int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		n := runtime.NumGoroutine()
		if n <= want {
			return
		}
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			buf = buf[:runtime.Stack(buf, true)]
			t.Fatalf("goroutines: %d, want <= %d\n%s", n, want, buf)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitFor polls cond for up to 5s: for state the proxy updates just after
// the client already has its answer.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// dialRaw opens a raw connection to addr, closed at the end of the test,
// with a deadline so a stuck proxy fails the test instead of hanging it.
func dialRaw(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(5 * time.Second))
	return c
}

// expectBodies reads one response per want from br, in order, and checks
// each body.
func expectBodies(t *testing.T, br *bufio.Reader, wants ...string) {
	t.Helper()
	for _, want := range wants {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("reading the response for %q: %v", want, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(b) != want {
			t.Fatalf("got %q, want %q", b, want)
		}
	}
}
