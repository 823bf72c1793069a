package upgrade

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/mosnctl/mosnctl/internal/boltrpc"
)

// binary is the mosnctl executable built once by TestMain: upgrades are
// between real processes.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "mosnctl-upgrade-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "mosnctl")
	args := []string{"build", "-o", binary}
	if raceBuild {
		args = append(args, "-race")
	}
	build := exec.Command("go", append(args, "github.com/mosnctl/mosnctl")...)
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build mosnctl:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// serveProc is a `mosnctl serve` started by the test.
type serveProc struct {
	cmd    *exec.Cmd
	pid    int
	log    string // its stdout+stderr file (also the upgraded process's)
	exited chan error
}

func proxyConfig(httpOrigin, boltOrigin string) string {
	return fmt.Sprintf(`{
  "servers": [{
    "routers": [
      {"router_config_name": "web", "virtual_hosts": [{"name": "v", "domains": ["*"], "routers": [{"match": {"prefix": "/"}, "route": {"cluster_name": "origin"}}]}]},
      {"router_config_name": "rpc", "virtual_hosts": [{"name": "v", "domains": ["*"], "routers": [{"match": {"headers": [{"name": "service", "value": "echo"}]}, "route": {"cluster_name": "echo"}}]}]},
      {"router_config_name": "mixed", "virtual_hosts": [{"name": "v", "domains": ["*"], "routers": [
        {"match": {"headers": [{"name": "service", "value": "echo"}]}, "route": {"cluster_name": "echo"}},
        {"match": {"prefix": "/"}, "route": {"cluster_name": "origin"}}]}]}
    ],
    "listeners": [
      {"name": "web", "address": "127.0.0.1:0", "io_model": "netpoll", "filter_chains": [{"filters": [{"type": "proxy", "config": {"downstream_protocol": "Http1", "router_config_name": "web"}}]}]},
      {"name": "rpc", "address": "127.0.0.1:0", "io_model": "netpoll", "filter_chains": [{"filters": [{"type": "proxy", "config": {"downstream_protocol": "bolt", "router_config_name": "rpc"}}]}]},
      {"name": "auto", "address": "127.0.0.1:0", "filter_chains": [{"filters": [{"type": "proxy", "config": {"downstream_protocol": "Auto", "router_config_name": "mixed"}}]}]},
      {"name": "tcp", "address": "127.0.0.1:0", "filter_chains": [{"filters": [{"type": "tcp_proxy", "config": {"cluster": "echo"}}]}]}
    ]
  }],
  "cluster_manager": {"clusters": [
    {"name": "origin", "type": "SIMPLE", "connect_timeout": "1s", "hosts": [{"address": %q}]},
    {"name": "echo", "type": "SIMPLE", "connect_timeout": "1s", "hosts": [{"address": %q}]}
  ]},
  "admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": 0}}},
  "drain_timeout": "10s"
}`, httpOrigin, boltOrigin)
}

// startOrigins runs an HTTP origin answering "ok" and a Bolt echo server.
// A request for /slow is answered after 3s; slowStarted gets a value when
// one arrives.
func startOrigins(t *testing.T) (httpAddr, boltAddr string, slowStarted chan struct{}) {
	t.Helper()
	slowStarted = make(chan struct{}, 8)
	hl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			slowStarted <- struct{}{}
			time.Sleep(3 * time.Second)
		}
		io.WriteString(w, "ok")
	})}
	go hs.Serve(hl)
	t.Cleanup(func() { hs.Close() })
	bl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	bs := &boltrpc.Server{}
	go bs.Serve(bl)
	t.Cleanup(func() { bs.Close() })
	return hl.Addr().String(), bl.Addr().String(), slowStarted
}

func startServe(t *testing.T, dir, cfg string) *serveProc {
	t.Helper()
	cfgPath := filepath.Join(dir, "config.json")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(dir, "serve.log")
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	cmd := exec.Command(binary, "serve", "-c", cfgPath, "--log-level", "debug")
	cmd.Stdout, cmd.Stderr = logf, logf
	// The upgrade sockets (old and new) go into the test's directory.
	cmd.Env = append(os.Environ(), "XDG_RUNTIME_DIR="+dir)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &serveProc{cmd: cmd, pid: cmd.Process.Pid, log: logPath, exited: make(chan error, 1)}
	go func() { p.exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		// Cleanups run last-in first-out: this one sees the upgraded
		// processes stopped too, their logs in the same file.
		if b, _ := os.ReadFile(logPath); strings.Contains(string(b), "DATA RACE") {
			t.Error("race detector report in a serve process")
		}
		if t.Failed() {
			b, _ := os.ReadFile(logPath)
			t.Logf("serve log:\n%s", b)
		}
	})
	waitLog(t, p, fmt.Sprintf(`msg="upgrade socket listening" path=\S+mosnctl-%d`, p.pid))
	return p
}

// waitLog waits for a log line matching re and returns its submatches.
func waitLog(t *testing.T, p *serveProc, re string) []string {
	t.Helper()
	rx := regexp.MustCompile(re)
	deadline := time.Now().Add(20 * time.Second)
	for {
		b, _ := os.ReadFile(p.log)
		if m := rx.FindStringSubmatch(string(b)); m != nil {
			return m
		}
		select {
		case err := <-p.exited:
			t.Fatalf("serve exited (%v) before logging %q:\n%s", err, re, b)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("no log line %q:\n%s", re, b)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func listenerAddr(t *testing.T, p *serveProc, name string) string {
	return waitLog(t, p, `msg=listening listener=`+name+` address=(\S+)`)[1]
}

// runUpgrade runs `mosnctl upgrade`; onLine sees each stdout line as it comes.
func runUpgrade(t *testing.T, onLine func(string), args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(binary, append([]string{"upgrade"}, args...)...)
	var errb strings.Builder
	cmd.Stderr = &errb
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Error(err) // may run off the test goroutine: no Fatal
		return "", "", -1
	}
	if err := cmd.Start(); err != nil {
		t.Error(err)
		return "", "", -1
	}
	var outb strings.Builder
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		outb.WriteString(sc.Text() + "\n")
		if onLine != nil {
			onLine(sc.Text())
		}
	}
	err = cmd.Wait()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Error(err)
		code = -1
	}
	return outb.String(), errb.String(), code
}

// stopProcess ends a process the test did not start (the upgraded serve).
func stopProcess(t *testing.T, pid int) {
	syscall.Kill(pid, syscall.SIGTERM)
	if !waitGone(pid, 15*time.Second) {
		syscall.Kill(pid, syscall.SIGKILL)
		t.Errorf("pid %d did not stop on SIGTERM", pid)
	}
}

func sockets(t *testing.T, dir string) []string {
	m, err := filepath.Glob(filepath.Join(dir, "*.sock"))
	if err != nil {
		t.Fatal(err)
	}
	for i := range m {
		m[i] = filepath.Base(m[i])
	}
	return m
}

func get(addr string) error {
	c := http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Get("http://" + addr + "/fresh")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || string(b) != "ok" {
		return fmt.Errorf("status %d body %q", resp.StatusCode, b)
	}
	return nil
}

// load is the clients of the end-to-end test. Every client keeps one
// connection for the whole run and never reconnects: a connection closed
// or reset under it is a failure, not a silent retry.
type load struct {
	ok, failed atomic.Int64
	mu         sync.Mutex
	errs       []string
	wg         sync.WaitGroup
}

func (l *load) fail(format string, a ...any) {
	l.failed.Add(1)
	l.mu.Lock()
	if len(l.errs) < 20 {
		l.errs = append(l.errs, fmt.Sprintf(format, a...))
	}
	l.mu.Unlock()
}

// http1Client sends keep-alive GETs on one raw connection until ctx ends.
func (l *load) http1Client(ctx context.Context, id int, addr string) {
	defer l.wg.Done()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		l.fail("http client %d: dial: %v", id, err)
		return
	}
	defer c.Close()
	br := bufio.NewReader(c)
	req := []byte(fmt.Sprintf("GET /load/%d HTTP/1.1\r\nHost: proxy\r\n\r\n", id))
	for n := 0; ctx.Err() == nil; n++ {
		c.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := c.Write(req); err != nil {
			l.fail("http client %d request %d: write: %v", id, n, err)
			return
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			l.fail("http client %d request %d: %v", id, n, err)
			return
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != 200 || string(b) != "ok" || resp.Close {
			l.fail("http client %d request %d: status %d body %q close %v err %v", id, n, resp.StatusCode, b, resp.Close, err)
			return
		}
		l.ok.Add(1)
		time.Sleep(2 * time.Millisecond)
	}
}

// boltClient runs callers goroutines of calls on one Bolt connection, so
// that calls are in flight whenever the handover comes.
func (l *load) boltClient(ctx context.Context, id int, addr string, callers int) {
	defer l.wg.Done()
	c, err := boltrpc.Dial(ctx, addr)
	if err != nil {
		l.fail("bolt client %d: dial: %v", id, err)
		return
	}
	defer c.Close()
	var wg sync.WaitGroup
	for g := 0; g < callers; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; ctx.Err() == nil; n++ {
				content := []byte(fmt.Sprintf("client %d caller %d call %d", id, g, n))
				cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				resp, err := c.Call(cctx, &boltrpc.Request{Service: "echo", Method: "echo", Content: content})
				cancel()
				if err != nil {
					l.fail("bolt client %d caller %d call %d: %v", id, g, n, err)
					return
				}
				if resp.Status != 0 || string(resp.Content) != string(content) {
					l.fail("bolt client %d caller %d call %d: status %d content %q", id, g, n, resp.Status, resp.Content)
					return
				}
				l.ok.Add(1)
				time.Sleep(2 * time.Millisecond)
			}
		}()
	}
	wg.Wait()
}

// TestUpgradeUnderLoad upgrades a serve carrying HTTP/1 and Bolt keep-alive
// load: no request fails, no connection drops, every connection is handed
// over, the old process exits 0 and the new one serves.
func TestUpgradeUnderLoad(t *testing.T) {
	// HTTP/1 and Bolt clients on their own listeners, and a few more of
	// each on a listener that detects the protocol.
	const httpClients, boltClients, boltCallers, autoHTTP, autoBolt = 20, 3, 4, 4, 1
	dir := t.TempDir()
	httpOrigin, boltOrigin, _ := startOrigins(t)
	old := startServe(t, dir, proxyConfig(httpOrigin, boltOrigin))
	web, rpc, auto := listenerAddr(t, old, "web"), listenerAddr(t, old, "rpc"), listenerAddr(t, old, "auto")

	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	var l load
	for i := 0; i < httpClients; i++ {
		l.wg.Add(1)
		go l.http1Client(ctx, i, web)
	}
	for i := 0; i < boltClients; i++ {
		l.wg.Add(1)
		go l.boltClient(ctx, i, rpc, boltCallers)
	}
	for i := 0; i < autoHTTP; i++ {
		l.wg.Add(1)
		go l.http1Client(ctx, 100+i, auto)
	}
	for i := 0; i < autoBolt; i++ {
		l.wg.Add(1)
		go l.boltClient(ctx, 100+i, auto, boltCallers)
	}
	time.Sleep(time.Second)
	before := l.ok.Load()

	res := upgradeJSON(t, old.pid)
	afterUpgrade := l.ok.Load()
	time.Sleep(3 * time.Second) // load goes on, now on the new process
	stop()
	l.wg.Wait()

	if f := l.failed.Load(); f > 0 {
		t.Errorf("%d clients failed: %s", f, strings.Join(l.errs, "\n"))
	}
	if after := l.ok.Load() - afterUpgrade; after == 0 {
		t.Error("no request succeeded after the upgrade")
	}
	select {
	case err := <-old.exited:
		if err != nil {
			t.Errorf("old process exit: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Error("old process still running")
	}
	if res.NewPID == old.pid || res.Serving != res.NewPID || !res.OldExited {
		t.Errorf("result %+v", res)
	}
	if want := httpClients + boltClients + autoHTTP + autoBolt; res.Migrated != want || res.Cut != 0 || res.Refused != 0 {
		t.Errorf("migrated %d (want %d), cut %d, refused %d, finished in old %d", res.Migrated, want, res.Cut, res.Refused, res.Finished)
	}
	if err := get(web); err != nil {
		t.Errorf("new connection after upgrade: %v", err)
	}
	t.Logf("requests: %d before the upgrade, %d in total; ready after %.1f ms, handover %.1f ms; migrated %d, finished in old %d, cut %d",
		before, l.ok.Load(), res.ReadyMs, res.HandoverMs, res.Migrated, res.Finished, res.Cut)
	if s := sockets(t, dir); len(s) != 1 || s[0] != fmt.Sprintf("mosnctl-%d.upgrade.sock", res.NewPID) {
		t.Errorf("upgrade sockets %v, want only the new process's", s)
	}
}

// TestUpgradeFailures: a new process that dies at once or refuses its
// config leaves the old one serving unchanged, with its upgrade socket
// still usable; upgrade exits 1 saying why.
func TestUpgradeFailures(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	httpOrigin, boltOrigin, _ := startOrigins(t)
	old := startServe(t, dir, proxyConfig(httpOrigin, boltOrigin))
	web := listenerAddr(t, old, "web")
	// A keep-alive connection open across the failed upgrades must not notice.
	c, err := net.Dial("tcp", web)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	roundTrip := func(when string) {
		t.Helper()
		c.SetDeadline(time.Now().Add(5 * time.Second))
		io.WriteString(c, "GET /kept HTTP/1.1\r\nHost: proxy\r\n\r\n")
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("%s: kept-alive connection: %v", when, err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if err := get(web); err != nil {
			t.Fatalf("%s: new connection: %v", when, err)
		}
	}
	roundTrip("before")
	hang := filepath.Join(dir, "hang.sh")
	os.WriteFile(hang, []byte("#!/bin/sh\nexec sleep 60\n"), 0o755)
	bad := filepath.Join(dir, "bad.json")
	os.WriteFile(bad, []byte(`{"servers": [{"listeners": [{"name": "web", "adress": "127.0.0.1:0"}]}]}`), 0o644)

	for _, tc := range []struct {
		name string
		args []string
		want []string
	}{
		{"binary exits at once", []string{"--binary", "/bin/false"}, []string{"/bin/false", "exited (exit status 1) before it was ready", "keeps serving unchanged"}},
		{"config does not validate", []string{"--config", bad}, []string{"exited (exit status 2) before it was ready", "adress", `did you mean "address"`, "keeps serving unchanged"}},
		{"new process never ready", []string{"--binary", hang, "--timeout", "1s"}, []string{"not ready within 1s", "killed new process", "keeps serving unchanged"}},
		{"config file missing", []string{"--config", filepath.Join(dir, "missing.json")}, []string{"--config", "no such file"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, errOut, code := runUpgrade(t, nil, append([]string{"--pid", fmt.Sprint(old.pid)}, tc.args...)...)
			t.Logf("upgrade said: %s", errOut)
			if code != 1 {
				t.Errorf("exit %d, want 1; stderr %s", code, errOut)
			}
			for _, w := range tc.want {
				if !strings.Contains(errOut, w) {
					t.Errorf("error %q lacks %q", errOut, w)
				}
			}
			roundTrip("after " + tc.name)
			if s := sockets(t, dir); len(s) != 1 || s[0] != fmt.Sprintf("mosnctl-%d.upgrade.sock", old.pid) {
				t.Errorf("upgrade sockets %v, want only the old process's", s)
			}
			if kids := serveChildren(t, old.pid); len(kids) > 0 {
				t.Errorf("processes left behind: %v", kids)
			}
		})
	}

	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "--pid is required"},
		{[]string{"--pid", "1", "-o", "yaml"}, "yaml"},
	} {
		_, errOut, code := runUpgrade(t, nil, tc.args...)
		if code != 2 || !strings.Contains(errOut, tc.want) {
			t.Errorf("upgrade %v: exit %d, %q; want 2 and %q", tc.args, code, errOut, tc.want)
		}
	}

	// After the failures the old process still upgrades fine.
	out, errOut, code := runUpgrade(t, nil, "--pid", fmt.Sprint(old.pid), "-o", "json")
	if code != 0 {
		t.Fatalf("upgrade after failures: exit %d: %s", code, errOut)
	}
	var res Result
	json.Unmarshal([]byte(out), &res)
	t.Cleanup(func() { stopProcess(t, res.NewPID) })
	roundTrip("after the upgrade")
	if res.Migrated != 1 {
		t.Errorf("migrated %d connections, want the 1 kept-alive one", res.Migrated)
	}
}

// serveChildren lists processes started by upgrade for pid (serve
// --upgrade-from its socket) that are still alive.
func serveChildren(t *testing.T, pid int) []string {
	ents, _ := os.ReadDir("/proc")
	var out []string
	marker := fmt.Sprintf("mosnctl-%d.upgrade.sock", pid)
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil || !strings.Contains(string(b), "--upgrade-from") || !strings.Contains(string(b), marker) {
			continue
		}
		var p int
		fmt.Sscan(e.Name(), &p)
		if !processGone(p) {
			out = append(out, e.Name()+": "+strings.ReplaceAll(string(b), "\x00", " "))
		}
	}
	return out
}

// TestOldKilledDuringHandover: the old process dies (SIGKILL) once it has
// passed its listeners. The new process keeps serving on them, removes the
// dead process's socket file, and upgrade exits 1 saying what happened.
func TestOldKilledDuringHandover(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	httpOrigin, boltOrigin, slowStarted := startOrigins(t)
	old := startServe(t, dir, proxyConfig(httpOrigin, boltOrigin))
	web := listenerAddr(t, old, "web")
	// A slow request in flight keeps the old process handing over (it
	// waits for the response) when the kill comes.
	slow, err := net.Dial("tcp", web)
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	io.WriteString(slow, "GET /slow HTTP/1.1\r\nHost: proxy\r\n\r\n")
	<-slowStarted
	var newPID int
	out, errOut, code := runUpgrade(t, func(line string) {
		// Table mode prints this once the new process holds the sockets.
		if strings.HasPrefix(line, "new process") && strings.Contains(line, "received") {
			fmt.Sscanf(line, "new process %d", &newPID)
			old.cmd.Process.Kill()
		}
	}, "--pid", fmt.Sprint(old.pid), "--timeout", "20s")
	if newPID == 0 {
		t.Fatalf("no listeners line; exit %d\n%s\n%s", code, out, errOut)
	}
	t.Cleanup(func() { stopProcess(t, newPID) })
	if code != 1 || !strings.Contains(errOut, fmt.Sprintf("old process (pid %d) went away", old.pid)) ||
		!strings.Contains(errOut, fmt.Sprintf("(pid %d) serves", newPID)) {
		t.Errorf("exit %d, stderr %q", code, errOut)
	}
	t.Logf("upgrade said: %s", errOut)
	<-old.exited
	if err := get(web); err != nil {
		t.Fatalf("new process does not serve: %v", err)
	}
	// Its own upgrade socket opens once the failed handover is over.
	want := fmt.Sprintf("mosnctl-%d.upgrade.sock", newPID)
	deadline := time.Now().Add(10 * time.Second)
	for s := sockets(t, dir); len(s) != 1 || s[0] != want; s = sockets(t, dir) {
		if time.Now().After(deadline) {
			t.Fatalf("upgrade sockets %v, want only %s", s, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestReloadConfig: upgrade with --config and the same binary is a config
// reload; a connection kept alive across it sees the new routes, also when
// its listener was renamed.
func TestReloadConfig(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	httpOrigin, boltOrigin, _ := startOrigins(t)
	cfg := proxyConfig(httpOrigin, boltOrigin)
	old := startServe(t, dir, cfg)
	web := listenerAddr(t, old, "web")
	newCfg := strings.Replace(cfg, `"routers": [{"match": {"prefix": "/"}, "route": {"cluster_name": "origin"}}]`,
		`"routers": [{"match": {"prefix": "/version"}, "direct_response": {"status": 200, "body": "v2"}}, {"match": {"prefix": "/"}, "route": {"cluster_name": "origin"}}]`, 1)
	// The listener is renamed too: it keeps its socket and connections.
	newCfg = strings.Replace(newCfg, `{"name": "web", "address"`, `{"name": "www", "address"`, 1)
	if newCfg == cfg || !strings.Contains(newCfg, `"www"`) {
		t.Fatal("test config did not change")
	}
	newPath := filepath.Join(dir, "v2.json")
	os.WriteFile(newPath, []byte(newCfg), 0o644)

	c, err := net.Dial("tcp", web)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	version := func() string {
		t.Helper()
		c.SetDeadline(time.Now().Add(5 * time.Second))
		io.WriteString(c, "GET /version HTTP/1.1\r\nHost: proxy\r\n\r\n")
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("kept-alive connection: %v", err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return string(b)
	}
	if v := version(); v != "ok" {
		t.Fatalf("before reload: %q", v)
	}
	// A tcp_proxy connection is not handed over: it keeps working in the
	// old process until its client closes it, which the handover waits for.
	tcp, err := boltrpc.Dial(context.Background(), listenerAddr(t, old, "tcp"))
	if err != nil {
		t.Fatal(err)
	}
	defer tcp.Close()
	call := func(when string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if _, err := tcp.Call(ctx, &boltrpc.Request{Service: "echo", Content: []byte(when)}); err != nil {
			t.Fatalf("tcp_proxy call %s: %v", when, err)
		}
	}
	call("before")
	type upgraded struct {
		out, errOut string
		code        int
	}
	result := make(chan upgraded, 1)
	go func() {
		out, errOut, code := runUpgrade(t, nil, "--pid", fmt.Sprint(old.pid), "--config", newPath)
		result <- upgraded{out, errOut, code}
	}()
	waitLog(t, old, `stopped accepting`)
	call("during the handover")
	tcp.Close()
	r := <-result
	out, errOut, code := r.out, r.errOut, r.code
	if code != 0 {
		t.Fatalf("reload: exit %d: %s\n%s", code, errOut, out)
	}
	var newPID int
	if m := regexp.MustCompile(`new pid +(\d+)`).FindStringSubmatch(out); m != nil {
		fmt.Sscan(m[1], &newPID)
	}
	if newPID == 0 {
		t.Fatalf("no new pid in the summary:\n%s", out)
	}
	t.Cleanup(func() { stopProcess(t, newPID) })
	for _, want := range []string{"connections migrated   1", "finished in old        1", "config                 " + newPath, "old process exited     true"} {
		if !strings.Contains(out, want) {
			t.Errorf("summary lacks %q:\n%s", want, out)
		}
	}
	if v := version(); v != "v2" {
		t.Errorf("after reload, same connection: %q", v)
	}

	// The upgraded process upgrades again (its command line carries the
	// upgrade plumbing, which must not leak into the next one); without
	// --config the next process runs the config it is given over the
	// socket, the reloaded one.
	out, errOut, code = runUpgrade(t, nil, "--pid", fmt.Sprint(newPID), "-o", "json")
	if code != 0 {
		t.Fatalf("second upgrade: exit %d: %s", code, errOut)
	}
	var res Result
	json.Unmarshal([]byte(out), &res)
	t.Cleanup(func() { stopProcess(t, res.NewPID) })
	if res.Migrated != 1 || !res.OldExited {
		t.Errorf("second upgrade: %+v", res)
	}
	if v := version(); v != "v2" {
		t.Errorf("after the second upgrade, same connection: %q", v)
	}
}

// TestNewKilledDuringHandover: the new process dies (SIGKILL) after it
// reported ready, while the old one still drains a slow request. The old
// process serves again on the same sockets, finishes the slow request,
// accepts a later upgrade, and upgrade exits 1 saying what happened.
func TestNewKilledDuringHandover(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	httpOrigin, boltOrigin, slowStarted := startOrigins(t)
	old := startServe(t, dir, proxyConfig(httpOrigin, boltOrigin))
	web := listenerAddr(t, old, "web")
	slow, err := net.Dial("tcp", web)
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	io.WriteString(slow, "GET /slow HTTP/1.1\r\nHost: proxy\r\n\r\n")
	<-slowStarted

	var newPID int
	_, errOut, code := runUpgrade(t, func(line string) {
		if strings.Contains(line, "serving; pid") {
			fmt.Sscanf(line, "new process %d", &newPID)
			syscall.Kill(newPID, syscall.SIGKILL)
		}
	}, "--pid", fmt.Sprint(old.pid), "--timeout", "20s")
	t.Logf("upgrade said: %s", errOut)
	if newPID == 0 {
		t.Fatalf("the new process never got ready: exit %d %s", code, errOut)
	}
	if code != 1 || !strings.Contains(errOut, "during the handover") || !strings.Contains(errOut, fmt.Sprintf("pid %d serves again", old.pid)) {
		t.Errorf("exit %d, stderr %q", code, errOut)
	}
	waitLog(t, old, `msg="mosnctl serving again"`)
	if err := get(web); err != nil {
		t.Fatalf("old process does not serve again: %v", err)
	}
	slow.SetDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(slow), nil)
	if err != nil {
		t.Fatalf("slow request in flight in the old process: %v", err)
	}
	b, _ := io.ReadAll(resp.Body)
	if string(b) != "ok" {
		t.Errorf("slow request: %d %q", resp.StatusCode, b)
	}
	waitLog(t, old, fmt.Sprintf(`msg="upgrade socket listening" path=\S+mosnctl-%d[\s\S]*msg="upgrade socket listening" path=\S+mosnctl-%d`, old.pid, old.pid))
	if s := sockets(t, dir); len(s) != 1 || s[0] != fmt.Sprintf("mosnctl-%d.upgrade.sock", old.pid) {
		t.Errorf("upgrade sockets %v, want only the old process's", s)
	}
	// Nothing was left half-done: the next upgrade works.
	out, errOut, code := runUpgrade(t, nil, "--pid", fmt.Sprint(old.pid), "-o", "json")
	if code != 0 {
		t.Fatalf("second upgrade: exit %d: %s", code, errOut)
	}
	var res Result
	json.Unmarshal([]byte(out), &res)
	t.Cleanup(func() { stopProcess(t, res.NewPID) })
	if err := get(web); err != nil {
		t.Errorf("after the second upgrade: %v", err)
	}
	if err := <-old.exited; err != nil {
		t.Errorf("old process exit: %v", err)
	}
}

// upgradeJSON runs `mosnctl upgrade --pid pid -o json`, fails t unless it
// succeeds, and returns its result; the new process is stopped when t ends.
func upgradeJSON(t *testing.T, pid int) Result {
	t.Helper()
	out, errOut, code := runUpgrade(t, nil, "--pid", fmt.Sprint(pid), "-o", "json", "--timeout", "20s")
	if code != 0 {
		t.Fatalf("upgrade exit %d: %s\n%s", code, errOut, out)
	}
	var res Result
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("upgrade output %q: %v", out, err)
	}
	t.Cleanup(func() { stopProcess(t, res.NewPID) })
	return res
}
