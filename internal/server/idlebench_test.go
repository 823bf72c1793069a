package server

import (
	"bufio"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// The idle-connection footprint measurement (make idle-bench): a child
// `mosnctl serve` process per IO model and protocol, N idle keep-alive
// connections opened to it after one request each, and its RSS growth per
// connection. The child is the real binary, so the figure holds nothing of
// the test's own.
var (
	idleConns = flag.Int("idle-conns", 0, "TestIdleFootprint: idle connections per run (0 skips it)")
	idleBin   = flag.String("idle-bin", "", "TestIdleFootprint: the mosnctl binary to measure (default: built from this tree)")
	idleModel = flag.String("idle-models", "netpoll,goroutine", "TestIdleFootprint: IO models to measure")
	idleProto = flag.String("idle-protocols", "http1,bolt,http2", "TestIdleFootprint: protocols to measure: http1, bolt, http2 (h2c, forwarded to HTTP/1), tcp (a tcp_proxy pair carrying one HTTP/1 exchange; its origin side needs N more descriptors here)")
)

func TestIdleFootprint(t *testing.T) {
	if *idleConns <= 0 {
		t.Skip("run with -idle-conns=N (make idle-bench)")
	}
	if testIOModel != "" {
		t.Skip("measures both IO models itself")
	}
	bin := *idleBin
	if bin == "" {
		bin = filepath.Join(t.TempDir(), "mosnctl")
		out, err := exec.Command("go", "build", "-o", bin, "../..").CombinedOutput()
		if err != nil {
			t.Fatalf("go build: %v\n%s", err, out)
		}
	}
	var lim syscall.Rlimit
	syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim)
	need := uint64(*idleConns) + 512
	if strings.Contains(*idleProto, "tcp") {
		need += uint64(*idleConns) // the origin's side of each pair is here too
	}
	if lim.Cur < need {
		t.Fatalf("RLIMIT_NOFILE %d: %d connections need %d descriptors in this process and in the proxy", lim.Cur, *idleConns, need)
	}
	origin := rawOrigin(t)
	boltUp := startBoltServer(t, slowAwareEcho)
	var rows []string
	for _, model := range strings.Split(*idleModel, ",") {
		for _, proto := range strings.Split(*idleProto, ",") {
			r := measureIdle(t, bin, model, proto, origin, boltUp, *idleConns)
			rows = append(rows, r.String())
			t.Log(r.String())
		}
	}
	t.Logf("RSS growth per idle connection, %d connections each after one request (GOMAXPROCS %d); live heap and stack after a forced collection:\n%-10s %-6s %12s %12s %14s %10s %12s %12s\n%s",
		*idleConns, runtime.GOMAXPROCS(0), "io_model", "proto", "rss before", "rss after", "rss/conn", "open (s)", "heap/conn", "stack/conn", strings.Join(rows, "\n"))
}

type idleResult struct {
	model, proto     string
	before, after    int64 // VmRSS, bytes
	n                int
	open             time.Duration
	anonBefore, anon int64
	heapBefore, heap memStats // after a collection
}

func (r idleResult) String() string {
	per := func(a, b int64) float64 { return float64(b-a) / float64(r.n) }
	return fmt.Sprintf("%-10s %-6s %12d %12d %14.0f %10.1f %12.0f %12.0f", r.model, r.proto, r.before, r.after,
		per(r.before, r.after), r.open.Seconds(), per(r.heapBefore.heapAlloc, r.heap.heapAlloc), per(r.heapBefore.stackInuse, r.heap.stackInuse))
}

// memStats are the Go runtime's figures the heap profile reports.
type memStats struct{ heapAlloc, stackInuse int64 }

// liveHeap forces a collection in the proxy (its admin API's heap
// profile) and returns its live heap and stack bytes.
func liveHeap(t *testing.T, admin string) memStats {
	resp, err := http.Get("http://" + admin + "/debug/pprof/heap?gc=1&debug=1")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m memStats
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) >= 4 && f[0] == "#" && f[2] == "=" {
			v, _ := strconv.ParseInt(f[3], 10, 64)
			switch f[1] {
			case "HeapAlloc":
				m.heapAlloc = v
			case "Stack": // "# Stack = inuse / sys"
				m.stackInuse = v
			}
		}
	}
	return m
}

var listeningRE = regexp.MustCompile(`msg=listening listener=(\w+) address=(\S+)`)

func measureIdle(t *testing.T, bin, model, proto, origin, boltUp string, n int) idleResult {
	cfg := fmt.Sprintf(`{
  "servers": [{
    "routers": [
      {"router_config_name": "web", "virtual_hosts": [{"name": "v", "domains": ["*"], "routers": [{"match": {"prefix": "/"}, "route": {"cluster_name": "web"}}]}]},
      {"router_config_name": "rpc", "virtual_hosts": [{"name": "v", "domains": ["*"], "routers": [{"match": {"headers": [{"name": "service", "value": ".*", "regex": true}]}, "route": {"cluster_name": "rpc"}}]}]}
    ],
    "listeners": [
      {"name": "http1", "address": "127.0.0.1:0", "io_model": %[1]q, "max_connections": %[4]d,
       "filter_chains": [{"filters": [{"type": "proxy", "config": {"downstream_protocol": "Http1", "router_config_name": "web"}}]}]},
      {"name": "bolt", "address": "127.0.0.1:0", "io_model": %[1]q, "max_connections": %[4]d,
       "filter_chains": [{"filters": [{"type": "proxy", "config": {"downstream_protocol": "bolt", "router_config_name": "rpc"}}]}]},
      {"name": "tcp", "address": "127.0.0.1:0", "io_model": %[1]q, "max_connections": %[4]d,
       "filter_chains": [{"filters": [{"type": "tcp_proxy", "config": {"cluster": "web"}}]}]},
      {"name": "http2", "address": "127.0.0.1:0", "io_model": %[1]q, "max_connections": %[4]d,
       "filter_chains": [{"filters": [{"type": "proxy", "config": {"downstream_protocol": "Http2", "upstream_protocol": "Http1", "router_config_name": "web"}}]}]}
    ]
  }],
  "cluster_manager": {"clusters": [
    {"name": "web", "type": "SIMPLE", "hosts": [{"address": %[2]q}]},
    {"name": "rpc", "type": "SIMPLE", "hosts": [{"address": %[3]q}]}
  ]}
}`, model, origin, boltUp, n+1000)
	path := filepath.Join(t.TempDir(), "idle.json")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	admin := closedAddr(t) // for the heap figures, read after RSS
	cmd := exec.Command(bin, "serve", "-c", path, "--admin-address", admin, "--drain-timeout", "1s")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
	}()
	addrs := map[string]string{}
	sc := bufio.NewScanner(stderr)
	for len(addrs) < 4 && sc.Scan() {
		if m := listeningRE.FindStringSubmatch(sc.Text()); m != nil {
			addrs[m[1]] = m[2]
		}
	}
	if len(addrs) < 4 {
		t.Fatalf("%s: the proxy did not report its listeners", model)
	}
	go func() { // keep its log flowing; show warnings
		for sc.Scan() {
			if line := sc.Text(); strings.Contains(line, "level=WARN") || strings.Contains(line, "level=ERROR") {
				t.Logf("proxy %s: %s", model, line)
			}
		}
	}()
	addr := addrs[proto]
	buf := make([]byte, 16<<10)
	// An HTTP/2 connection keeps its client state (stream ids, HPACK).
	h2s := make([]*h2IdleConn, n)
	request := func(c net.Conn, h2 **h2IdleConn, buf []byte) error {
		if proto != "http2" {
			return idleRequest(c, proto, buf)
		}
		if *h2 == nil {
			var err error
			if *h2, err = newH2Idle(c); err != nil {
				return err
			}
		}
		return (*h2).request()
	}
	// Warm up: pools, worker tasks, buffers; then the baseline.
	var warm []net.Conn
	for range 64 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		var h2 *h2IdleConn
		if err := request(c, &h2, buf); err != nil {
			t.Fatalf("%s %s warm-up: %v", model, proto, err)
		}
		warm = append(warm, c)
	}
	for _, c := range warm {
		closeNow(c)
	}
	time.Sleep(2 * time.Second)
	r := idleResult{model: model, proto: proto, n: n}
	r.before, r.anonBefore = procRSS(t, cmd.Process.Pid)
	r.heapBefore = liveHeap(t, admin)

	conns := make([]net.Conn, n)
	var next atomic.Int64
	var failed atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	start := time.Now()
	for range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 16<<10)
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				c, err := net.Dial("tcp", addr)
				if err == nil {
					err = request(c, &h2s[i], buf)
				}
				if err != nil {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err)
					continue
				}
				conns[i] = c
			}
		}()
	}
	wg.Wait()
	r.open = time.Since(start)
	defer func() {
		for _, c := range conns {
			if c != nil {
				closeNow(c)
			}
		}
	}()
	if f := failed.Load(); f > 0 {
		t.Fatalf("%s %s: %d of %d connections failed: %v", model, proto, f, n, firstErr.Load())
	}
	// Let the proxy settle (its garbage collector, its scavenger), then
	// take the highest of a few samples.
	time.Sleep(3 * time.Second)
	for range 3 {
		rss, anon := procRSS(t, cmd.Process.Pid)
		r.after, r.anon = max(r.after, rss), max(r.anon, anon)
		time.Sleep(500 * time.Millisecond)
	}
	r.heap = liveHeap(t, admin)
	// Every connection still works.
	for i := 0; i < n; i += max(1, n/100) {
		if err := request(conns[i], &h2s[i], buf); err != nil {
			t.Fatalf("%s %s: idle connection %d: %v", model, proto, i, err)
		}
	}
	return r
}

// closeNow closes without TIME_WAIT: runs open tens of thousands of
// connections from one port range.
func closeNow(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetLinger(0)
	}
	c.Close()
}

// procRSS reads a process's VmRSS and RssAnon, in bytes.
func procRSS(t *testing.T, pid int) (rss, anon int64) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		kb, _ := strconv.ParseInt(f[1], 10, 64)
		switch f[0] {
		case "VmRSS:":
			rss = kb << 10
		case "RssAnon:":
			anon = kb << 10
		}
	}
	return rss, anon
}
