package server

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"golang.org/x/net/http2"

	"github.com/mosnctl/mosnctl/internal/boltrpc"
	"github.com/mosnctl/mosnctl/internal/protocol/bolt"
)

// accessLogFormat names the fields the end-to-end tests check exactly; the
// duration and start time, which vary, come last and are checked by shape.
const accessLogFormat = "%listener_name% %protocol% %response_code% %bytes_received% %bytes_sent% %upstream_cluster% " +
	"%upstream_host% %response_flag% %downstream_remote_address% %downstream_local_address% " +
	"%Http1_request_method% %Http1_request_uri% %Http2_request_method% %Http2_request_uri%|%duration%|%start_time%"

// varying is the tail accessLogFormat ends with.
var varying = regexp.MustCompile(`\|(\d+(\.\d+)?(ns|µs|ms|s)|\d+m[\d.]+s)\|\d{4}/\d\d/\d\d \d\d:\d\d:\d\d\.\d{3}$`)

// accessLogConfig is three proxy listeners, Http1, Http2 and bolt, each
// with a MOSN access log; web has a second one in the default format and
// the JSON one beside them. Routes: /app (and the echo service) to a live
// host, /down to a closed port, anything else has no route.
func accessLogConfig(dir, httpUp, h2Up, boltUp, dead string) string {
	logs := func(name string) string {
		return fmt.Sprintf(`{"log_path": %q, "log_format": %q}`, filepath.Join(dir, name+".log"), accessLogFormat)
	}
	return fmt.Sprintf(`{
  "servers": [{
    "routers": [
      {"router_config_name": "web", "virtual_hosts": [{"name": "v", "domains": ["*"], "routers": [
        {"match": {"prefix": "/app"}, "route": {"cluster_name": "origin"}},
        {"match": {"prefix": "/down"}, "route": {"cluster_name": "dead"}}]}]},
      {"router_config_name": "h2", "virtual_hosts": [{"name": "v", "domains": ["*"], "routers": [
        {"match": {"prefix": "/app"}, "route": {"cluster_name": "h2origin"}}]}]},
      {"router_config_name": "rpc", "virtual_hosts": [{"name": "v", "domains": ["*"], "routers": [
        {"match": {"headers": [{"name": "service", "value": "com.example.EchoService:1.0"}]}, "route": {"cluster_name": "rpc"}}]}]}
    ],
    "listeners": [
      {"name": "web", "address": "127.0.0.1:0", "access_log": %q, "access_logs": [%s, {"log_path": %q}],
       "filter_chains": [{"filters": [{"type": "proxy", "config": {"downstream_protocol": "Http1", "router_config_name": "web"}}]}]},
      {"name": "h2", "address": "127.0.0.1:0", "access_logs": [%s],
       "filter_chains": [{"filters": [{"type": "proxy", "config": {"downstream_protocol": "Http2", "router_config_name": "h2"}}]}]},
      {"name": "rpc", "address": "127.0.0.1:0", "access_logs": [%s],
       "filter_chains": [{"filters": [{"type": "proxy", "config": {"downstream_protocol": "bolt", "router_config_name": "rpc"}}]}]}
    ]
  }],
  "cluster_manager": {"clusters": [
    {"name": "origin", "type": "SIMPLE", "hosts": [{"address": %q}]},
    {"name": "dead", "type": "SIMPLE", "connect_timeout": "1s", "hosts": [{"address": %q}]},
    {"name": "h2origin", "type": "SIMPLE", "hosts": [{"address": %q}]},
    {"name": "rpc", "type": "SIMPLE", "hosts": [{"address": %q}]}
  ]}
}`, filepath.Join(dir, "web.json"), logs("web"), filepath.Join(dir, "web-default.log"), logs("h2"), logs("rpc"),
		httpUp, dead, h2Up, boltUp)
}

// readLogLines waits until path has n lines and returns them, sorted (the
// proxy logs a request after its client has the answer: two requests in a
// row may be logged in either order).
func readLogLines(t *testing.T, path string, n int) []string {
	t.Helper()
	var lines []string
	waitFor(t, fmt.Sprintf("%d lines in %s", n, filepath.Base(path)), func() bool {
		b, _ := os.ReadFile(path)
		lines = strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
		return len(b) > 0 && len(lines) >= n
	})
	if len(lines) != n {
		t.Fatalf("%s has %d lines, want %d:\n%s", filepath.Base(path), len(lines), n, strings.Join(lines, "\n"))
	}
	slices.Sort(lines)
	return lines
}

// checkLines compares the lines without their varying tail, which must
// have its shape.
func checkLines(t *testing.T, what string, got, want []string) {
	t.Helper()
	slices.Sort(want)
	for i := range got {
		if !varying.MatchString(got[i]) {
			t.Errorf("%s line %q: no duration and start time at its end", what, got[i])
		}
		got[i] = varying.ReplaceAllString(got[i], "")
	}
	if !slices.Equal(got, want) {
		t.Errorf("%s lines\n got %q\nwant %q", what, got, want)
	}
}

// countingConn counts the bytes read from a connection.
type countingConn struct {
	net.Conn
	n int
}

func (c *countingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.n += n
	return n, err
}

// rawHTTP1 sends one request on a new connection and returns the status,
// the bytes the client read, and its address.
func rawHTTP1(t *testing.T, addr, req string) (status, read int, client string) {
	t.Helper()
	c := &countingConn{Conn: dialRaw(t, addr)}
	if _, err := io.WriteString(c, req); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, c.n, c.LocalAddr().String()
}

// boltRequest encodes a request for service.
func boltRequest(id uint32, service string, content []byte) []byte {
	var h []byte
	h = bolt.AppendHeader(h, bolt.HeaderService, service)
	h = bolt.AppendHeader(h, bolt.HeaderMethod, "echo")
	return bolt.AppendFrame(nil, &bolt.Frame{Type: bolt.TypeRequest, CmdCode: bolt.CmdRequest, Version: bolt.CommandVersion,
		RequestID: id, Codec: bolt.CodecHessian2, Class: []byte(bolt.ClassRequest), Header: h, Content: content})
}

// Requests of every protocol are logged in the configured MOSN format,
// one line each, with their fields: status, protocol, bytes both ways,
// cluster, upstream host, response flag, addresses, method and URI. A
// listener's JSON log and default-format log get the same requests.
func TestMOSNAccessLogs(t *testing.T) {
	dir := t.TempDir()
	httpUp, _ := startOrigin(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	h2Up := startH2cOrigin(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		io.WriteString(w, "ok")
	}))
	boltUp := startBoltServer(t, boltrpc.EchoHandler)
	dead := closedPort(t)
	p := startProxy(t, accessLogConfig(dir, httpUp, h2Up, boltUp, dead))

	// HTTP/1: a proxied request, one without a route, one to a closed port.
	web := p.addr("web")
	var want []string
	for _, r := range []struct{ uri, status, in, cluster, host, flag string }{
		{"/app/x?y=1", "200", "5", "origin", httpUp, "false"},
		{"/nowhere", "404", "0", "-", "-", "true"},
		{"/down", "503", "0", "dead", dead, "true"},
	} {
		req := "POST " + r.uri + " HTTP/1.1\r\nHost: a.example\r\nContent-Length: 5\r\n\r\nhello"
		status, read, client := rawHTTP1(t, web, req)
		if fmt.Sprint(status) != r.status {
			t.Fatalf("POST %s: status %d, want %s", r.uri, status, r.status)
		}
		// Received: the request body; sent: the response head and body.
		want = append(want, fmt.Sprintf("web Http1 %s %s %d %s %s %s %s %s POST %s - -",
			r.status, r.in, read, r.cluster, r.host, r.flag, client, web, r.uri))
	}
	checkLines(t, "HTTP/1", readLogLines(t, filepath.Join(dir, "web.log"), 3), want)
	// The same requests in MOSN's default format, and as JSON.
	for _, l := range readLogLines(t, filepath.Join(dir, "web-default.log"), 3) {
		// start_time (2 fields) bytes_sent bytes_received protocol response_code duration response_flag
		// response_code downstream_local_address downstream_remote_address upstream_host
		f := strings.Fields(l)
		if len(f) != 12 || f[4] != "Http1" || f[5] != f[8] || f[9] != web || !strings.HasPrefix(f[10], "127.0.0.1:") {
			t.Errorf("default format line %q", l)
		}
	}
	readLogLines(t, filepath.Join(dir, "web.json"), 3)

	// HTTP/2 (h2c): a POST with a body, and one without a route.
	var client string
	c := &http.Client{Transport: &http2.Transport{AllowHTTP: true,
		DialTLSContext: func(ctx context.Context, network, addr string, _ *tls.Config) (net.Conn, error) {
			conn, err := (&net.Dialer{}).DialContext(ctx, network, addr)
			if err == nil {
				client = conn.LocalAddr().String()
			}
			return conn, err
		}}}
	h2 := p.addr("h2")
	want = nil
	for _, r := range []struct{ uri, status, cluster, host, flag string }{
		{"/app/h2", "200", "h2origin", h2Up, "false"},
		{"/nowhere?q", "404", "-", "-", "true"},
	} {
		resp, err := c.Post("http://"+h2+r.uri, "text/plain", strings.NewReader("hello"))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if fmt.Sprint(resp.StatusCode) != r.status {
			t.Fatalf("POST %s: status %d", r.uri, resp.StatusCode)
		}
		in := "5" // the body read; an answer without a route reads none
		if r.status == "404" {
			in = "0"
		}
		want = append(want, fmt.Sprintf("h2 Http2 %s %s %d %s %s %s %s %s - - POST %s",
			r.status, in, len(body), r.cluster, r.host, r.flag, client, h2, r.uri))
	}
	got := readLogLines(t, filepath.Join(dir, "h2.log"), 2)
	if strings.Contains(got[1], " 404 5 ") { // the proxy may have read the body before answering
		want[1] = strings.Replace(want[1], " 404 0 ", " 404 5 ", 1)
	}
	checkLines(t, "HTTP/2", got, want)

	// Bolt: an echo call, and a service without a route.
	rpc := p.addr("rpc")
	conn := dialRaw(t, rpc)
	want = nil
	for i, r := range []struct{ service, status, cluster, host, flag string }{
		{"com.example.EchoService:1.0", "200", "rpc", boltUp, "false"},
		{"com.example.Other:1.0", "404", "-", "-", "true"},
	} {
		req := boltRequest(uint32(i+1), r.service, []byte("hi"))
		if _, err := conn.Write(req); err != nil {
			t.Fatal(err)
		}
		f := readBoltFrame(t, conn)
		want = append(want, fmt.Sprintf("rpc bolt %s %d %d %s %s %s %s %s - - - -",
			r.status, len(req), f.EncodedLen(), r.cluster, r.host, r.flag, conn.LocalAddr(), rpc))
	}
	checkLines(t, "Bolt", readLogLines(t, filepath.Join(dir, "rpc.log"), 2), want)
}

// A format with a variable mosnctl does not know, or does not record, is
// refused with the path of the field; so is a log that cannot be opened.
func TestMOSNAccessLogRefused(t *testing.T) {
	dir := t.TempDir()
	base := accessLogConfig(dir, "127.0.0.1:1", "127.0.0.1:1", "127.0.0.1:1", "127.0.0.1:1")
	for _, tt := range []struct{ old, new, want string }{
		{"%upstream_cluster%", "%foo%", "servers[0].listeners[0].access_logs[0].log_format: unknown variable %foo%"},
		{"%upstream_cluster%", "%trace_id%", "servers[0].listeners[0].access_logs[0].log_format: variable %trace_id% is not recorded by mosnctl"},
	} {
		_, err := parseInModel(strings.Replace(base, tt.old, tt.new, 1))
		if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
			t.Errorf("%s: got %v, want %s...", tt.new, err, tt.want)
		}
	}
	cfg, err := parseInModel(strings.Replace(base, filepath.Join(dir, "h2.log"), filepath.Join(dir, "no", "such", "h2.log"), 1))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := New(cfg, Options{AdminAddr: "off"}); err == nil || !strings.Contains(err.Error(), "servers[0].listeners[1].access_logs[0].log_path: ") {
		t.Errorf("a log in a missing directory: %v", err)
	}
}

// A reload that keeps a listener's access_logs keeps its open logs; one
// that changes them opens the new ones, and the next requests are logged
// there in the new format.
func TestMOSNAccessLogReload(t *testing.T) {
	dir := t.TempDir()
	origin, _ := startOrigin(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	cfgJSON := func(path, format string) string {
		return strings.Replace(httpProxyConfig("LB_ROUNDROBIN", "", origin), `"name": "in", "address": "127.0.0.1:0",`,
			fmt.Sprintf(`"name": "in", "address": "127.0.0.1:0", "access_logs": [{"log_path": %q, "log_format": %q}],`, path, format), 1)
	}
	a, b := filepath.Join(dir, "a.log"), filepath.Join(dir, "b.log")
	p := startProxy(t, cfgJSON(a, "a %response_code% %Http1_request_uri%"))
	get := func(path string) {
		t.Helper()
		resp, err := http.Get(p.url("in", path))
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	get("/1")
	readLogLines(t, a, 1)
	before := p.lns[0].logs.formats[0]
	if err := p.Reload(parseForTest(t, cfgJSON(a, "a %response_code% %Http1_request_uri%"))); err != nil {
		t.Fatal(err)
	}
	if p.listeners()[0].logs.formats[0] != before {
		t.Error("a reload with the same access_logs reopened the log")
	}
	get("/2")
	if got := readLogLines(t, a, 2); !slices.Equal(got, []string{"a 200 /1", "a 200 /2"}) {
		t.Errorf("a.log: %q", got)
	}
	// A refused reload changes nothing.
	if err := p.Reload(parseForTest(t, cfgJSON(filepath.Join(dir, "no", "b.log"), "b %upstream_cluster%"))); err == nil ||
		!strings.Contains(err.Error(), "servers[0].listeners[0].access_logs[0].log_path") {
		t.Errorf("reload with a log in a missing directory: %v", err)
	}
	// Nor does one refused by a later listener: what the first opened is
	// closed again.
	c := filepath.Join(dir, "c.log")
	bad := fmt.Sprintf(`{"name": "in2", "address": "127.0.0.1:0", "access_logs": [{"log_path": %q}],
      "filter_chains": [{"filters": [{"type": "proxy", "config": {"downstream_protocol": "Http1", "router_config_name": "r"}}]}]}`,
		filepath.Join(dir, "no", "c.log"))
	second := cfgJSON(c, "c")
	i := strings.Index(second, "}]}]}]") + len("}]}]}") // the end of listener "in"
	second = second[:i] + ", " + bad + second[i:]
	if err := p.Reload(parseForTest(t, second)); err == nil || !strings.Contains(err.Error(), "listeners[1].access_logs[0].log_path") {
		t.Errorf("reload with a second listener's log in a missing directory: %v", err)
	}
	if isOpen(t, c) {
		t.Error("a refused reload left a log it opened open")
	}
	if err := p.Reload(parseForTest(t, cfgJSON(b, "b %upstream_cluster% %Http1_request_uri%"))); err != nil {
		t.Fatal(err)
	}
	get("/3")
	if got := readLogLines(t, b, 1); got[0] != "b origin /3" {
		t.Errorf("b.log: %q", got)
	}
	if got := readLogLines(t, a, 2); !slices.Equal(got, []string{"a 200 /1", "a 200 /2"}) {
		t.Errorf("a.log after the reload: %q", got)
	}
}

// isOpen reports whether this process has path open (Linux: /proc).
func isOpen(t *testing.T, path string) bool {
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip("no /proc/self/fd")
	}
	for _, fd := range fds {
		if target, _ := os.Readlink(filepath.Join("/proc/self/fd", fd.Name())); target == path {
			return true
		}
	}
	return false
}
