package tlsbench

import (
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// The test binary doubles as the child: with this variable set it runs
// ChildMain instead of the tests, as `mosnctl tlsbench child` would.
const childEnv = "MOSNCTL_TLSBENCH_TEST_CHILD"

// plainChild is testdata/childmain built without -race, set by TestMain.
// A -race test binary takes about a second to start, and a cell starts two
// children; the race detector is for this package's own goroutines, which
// run in the test process either way.
var plainChild string

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "1" {
		os.Exit(ChildMain(context.Background(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
	}
	dir, err := os.MkdirTemp("", "tlsbench-test-")
	if err == nil {
		bin := filepath.Join(dir, "child")
		cmd := exec.Command("go", "build", "-o", bin, "./testdata/childmain")
		cmd.Env = append(os.Environ(), "GOFLAGS=")
		if out, err := cmd.CombinedOutput(); err == nil {
			plainChild = bin
		} else {
			os.Stderr.Write(out) // fall back to the test binary itself
		}
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func selfChild() Child {
	if plainChild != "" {
		return Child{Path: plainChild}
	}
	return Child{Path: os.Args[0], Env: []string{childEnv + "=1"}}
}

func testOptions() Options {
	// 300 ms a cell: on a loaded machine a 100 ms window could close before
	// the first bulk byte moved.
	return Options{Duration: 300 * time.Millisecond, Timeout: 3 * time.Second, ServerCPU: -1, Self: selfChild()}
}

func testContext(t *testing.T) context.Context {
	// A backstop against hangs; every wait inside has its own, shorter timeout.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func requireAvailable(t *testing.T, rep *Report, engine string) {
	t.Helper()
	for _, e := range rep.Engines {
		if e.Name == engine && !e.Available {
			t.Skipf("%s: %s", engine, e.Note)
		}
	}
}

// Each available engine negotiates each suite it supports: every cell gives
// a positive number or a known n/a reason, never an error.
func TestEveryEngineNegotiatesEverySuite(t *testing.T) {
	for _, engine := range []string{EngineGo, EngineBSSL, EngineOpenSSL} {
		t.Run(engine, func(t *testing.T) {
			t.Parallel()
			opts := testOptions()
			opts.Engines = []string{engine}
			opts.Curves = []string{"X25519"}
			opts.Metrics = []string{MetricHandshakeFull}
			rep, err := Run(testContext(t), opts)
			if err != nil {
				t.Fatal(err)
			}
			requireAvailable(t, rep, engine)
			for _, e := range rep.Errors {
				t.Errorf("%s %s %s: %s", e.Engine, e.Suite, e.Metric, e.Error)
			}
			got := map[string]bool{}
			for _, r := range rep.Results {
				if r.Value <= 0 || r.Count <= 0 {
					t.Errorf("%s %s: value %v count %d, want positive", r.Suite, r.Metric, r.Value, r.Count)
				}
				got[r.Suite] = true
			}
			for _, s := range Suites() {
				if !got[s.Name] && notMeasurable(engine, s, MetricHandshakeFull) == "" {
					t.Errorf("%s: no result and no reason", s.Name)
				}
			}
		})
	}
}

// All metrics of one suite on P-256 (the curve the suite test leaves out),
// with the parts adding up: resumed cells resume, bulk cells move bytes.
func TestAllMetricsOneSuite(t *testing.T) {
	opts := testOptions()
	opts.Engines = []string{EngineGo, EngineOpenSSL, EngineBSSL}
	opts.Suites = []string{"TLS_AES_128_GCM_SHA256"}
	opts.Curves = []string{"P-256"}
	opts.Metrics = []string{"handshake", "bulk"}
	rep, err := Run(testContext(t), opts)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range rep.Errors {
		t.Errorf("%s %s %s: %s", e.Engine, e.Suite, e.Metric, e.Error)
	}
	for _, r := range rep.Results {
		if r.Value <= 0 {
			t.Errorf("%s %s: value %v", r.Engine, r.Metric, r.Value)
		}
		if cpuTimeSupported && r.ServerCPU == nil {
			t.Errorf("%s %s: no server cpu time", r.Engine, r.Metric)
		}
	}
	if len(rep.Results) == 0 {
		t.Fatal("no results")
	}
}

func startTestServer(t *testing.T, suite, curve, bulk string) (*server, certFiles) {
	t.Helper()
	certs, err := writeCerts(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	s, _ := suiteByName(suite)
	c, _ := curveByName(curve)
	spec := serverSpec{suite: s, curve: c, cert: certs[s.Cert], bulk: bulk, size: 16384, timeout: 3 * time.Second,
		probeCfg: probeConfig(certs[s.Cert], s, c)}
	srv, err := (&goEngine{name: EngineGo, child: selfChild(), timeout: 3 * time.Second}).start(testContext(t), spec)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.stop)
	return srv, certs[s.Cert]
}

// Handshakes counted per connection add up to the total, and so do bytes.
func TestClientCountsAddUp(t *testing.T) {
	for _, tc := range []struct {
		metric, bulk string
	}{
		{MetricHandshakeFull, bulkSink},
		{MetricHandshakeResumed, bulkSink},
		{MetricBulkUpload, bulkSink},
		{MetricBulkDownload, bulkSource},
	} {
		t.Run(tc.metric, func(t *testing.T) {
			srv, cert := startTestServer(t, "ECDHE-ECDSA-AES128-GCM-SHA256", "X25519", tc.bulk)
			res, err := childClient(testContext(t), clientJob{addr: srv.addr, caFile: cert.Cert, suite: "ECDHE-ECDSA-AES128-GCM-SHA256",
				curve: "X25519", metric: tc.metric, duration: 200 * time.Millisecond, timeout: 3 * time.Second, conns: 3, size: 16384})
			if err != nil {
				t.Fatal(err)
			}
			var sum int64
			for _, n := range res.PerConn {
				if n <= 0 {
					t.Errorf("a connection slot counted %d", n)
				}
				sum += n
			}
			total := res.Handshakes
			if tc.bulk == bulkSource || tc.metric == MetricBulkUpload {
				total = res.Bytes
			}
			if sum != total || total <= 0 {
				t.Errorf("per-connection counts sum to %d, total %d", sum, total)
			}
		})
	}
}

// A mismatch between what the cell wants and what the server negotiated is
// an error, never a number.
func TestMismatchIsError(t *testing.T) {
	srv, cert := startTestServer(t, "TLS_AES_128_GCM_SHA256", "X25519", bulkSink)
	_, err := childClient(testContext(t), clientJob{addr: srv.addr, caFile: cert.Cert, suite: "TLS_AES_256_GCM_SHA384",
		curve: "X25519", metric: MetricHandshakeFull, duration: 100 * time.Millisecond, timeout: 3 * time.Second, conns: 1, size: 16384})
	if err == nil || !strings.Contains(err.Error(), "negotiated") {
		t.Fatalf("err = %v, want a negotiation mismatch", err)
	}
}

// A server killed in the middle of a run gives an error, not a hang.
func TestServerKilledMidRun(t *testing.T) {
	for _, metric := range []string{MetricHandshakeFull, MetricBulkUpload} {
		t.Run(metric, func(t *testing.T) {
			srv, cert := startTestServer(t, "ECDHE-ECDSA-AES128-GCM-SHA256", "P-256", bulkSink)
			go func() {
				time.Sleep(300 * time.Millisecond)
				_ = srv.cmd.Process.Kill()
			}()
			_, err := childClient(testContext(t), clientJob{addr: srv.addr, caFile: cert.Cert, suite: "ECDHE-ECDSA-AES128-GCM-SHA256",
				curve: "P-256", metric: metric, duration: time.Minute, timeout: 2 * time.Second, conns: 2, size: 16384})
			if err == nil {
				t.Fatal("no error after the server was killed")
			}
		})
	}
}

// A server that accepts and never answers is an error within the timeout.
func TestSilentServerTimesOut(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	certs, err := writeCerts(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	_, err = childClient(testContext(t), clientJob{addr: ln.Addr().String(), caFile: certs[CertECDSA].Cert, suite: "TLS_AES_128_GCM_SHA256",
		curve: "X25519", metric: MetricHandshakeFull, duration: time.Minute, timeout: 300 * time.Millisecond, conns: 1, size: 16384})
	if err == nil || !strings.Contains(err.Error(), "handshake") {
		t.Fatalf("err = %v, want a handshake timeout", err)
	}
}

// A server process that dies at start is reported with what it said.
func TestServerThatExitsAtStart(t *testing.T) {
	certs, err := writeCerts(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	s, _ := suiteByName("TLS_AES_128_GCM_SHA256")
	c, _ := curveByName("X25519")
	spec := serverSpec{suite: s, curve: c, cert: certFiles{Cert: certs[CertECDSA].Cert, Key: "/nonexistent.key"}, bulk: bulkSink,
		size: 16384, timeout: 3 * time.Second, probeCfg: probeConfig(certs[CertECDSA], s, c)}
	_, err = (&goEngine{name: EngineGo, child: selfChild(), timeout: time.Second}).start(testContext(t), spec)
	if err == nil || !strings.Contains(err.Error(), "exited") {
		t.Fatalf("err = %v, want the server's exit", err)
	}
}

// With no tools on PATH the external engines are skipped with the install
// hint and the run still succeeds.
func TestMissingToolsAreSkipped(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	opts := testOptions()
	opts.Engines = []string{EngineBSSL, EngineOpenSSL, EngineBoring}
	opts.Suites = []string{"TLS_AES_128_GCM_SHA256"}
	opts.Boring = Child{Path: filepath.Join(t.TempDir(), "mosnctl-boring")}
	rep, err := Run(testContext(t), opts)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{EngineBSSL: "apt-get install android-boringssl", EngineOpenSSL: "apt-get install openssl", EngineBoring: "GOEXPERIMENT=boringcrypto"}
	for _, e := range rep.Engines {
		if e.Available || !strings.Contains(e.Note, "not available") || !strings.Contains(e.Note, want[e.Name]) {
			t.Errorf("%s: available=%v note %q, want not available with %q", e.Name, e.Available, e.Note, want[e.Name])
		}
	}
	if len(rep.Results) != 0 || len(rep.Errors) != 0 {
		t.Errorf("results %d errors %d, want none", len(rep.Results), len(rep.Errors))
	}
}

// Without taskset the servers are pinned with sched_setaffinity instead.
func TestPinsWithoutTaskset(t *testing.T) {
	if runtime.GOOS != "linux" || runtime.NumCPU() < 2 {
		t.Skip("needs linux and two cpus")
	}
	t.Setenv("PATH", t.TempDir())
	opts := testOptions()
	opts.Engines = []string{EngineGo}
	opts.Suites = []string{"ECDHE-RSA-AES128-GCM-SHA256"}
	opts.Curves = []string{"P-256"}
	opts.Metrics = []string{MetricHandshakeResumed}
	rep, err := Run(testContext(t), opts)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Errors) > 0 || len(rep.Results) != 1 {
		t.Fatalf("errors %v results %d", rep.Errors, len(rep.Results))
	}
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts Options
		want string // substring of the error; "" for none
	}{
		{"defaults", Options{ServerCPU: -1}, ""},
		{"groups", Options{Suites: []string{"tls13"}, Metrics: []string{"bulk", "sign"}, ServerCPU: -1}, ""},
		{"case", Options{Engines: []string{"OpenSSL"}, Curves: []string{"x25519"}, ServerCPU: -1}, ""},
		{"unknown suite", Options{Suites: []string{"RC4-MD5"}, ServerCPU: -1}, "unknown suite \"RC4-MD5\" (valid: ECDHE-ECDSA-AES256-GCM-SHA384"},
		{"unknown engine", Options{Engines: []string{"rustls"}, ServerCPU: -1}, "unknown engine \"rustls\" (valid: go, boringcrypto, bssl, openssl)"},
		{"unknown metric", Options{Metrics: []string{"latency"}, ServerCPU: -1}, "bulk, handshake, primitives"},
		{"cpu", Options{ServerCPU: 4096}, "out of range"},
		{"negative", Options{Duration: -time.Second, ServerCPU: -1}, "negative"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := Validate(tc.opts)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("unexpected error %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("err = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestGoPrimitives(t *testing.T) {
	need := needsFor(Suites(), Curves(), metricGroups()["primitives"])
	rows, err := measurePrimitives(context.Background(), 10*time.Millisecond, need)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 3*2+2+2 {
		t.Errorf("%d rows, want 10: %v", len(rows), rows)
	}
	for _, r := range rows {
		if r.Value <= 0 {
			t.Errorf("%s %s = %v", r.Alg, r.Metric, r.Value)
		}
	}
}

// The external speed commands run and parse: one AEAD and size, one curve,
// one signature each, so that the test stays short.
func TestToolPrimitives(t *testing.T) {
	need := primNeeds{aeads: []string{AEADAES128GCM}, sizes: []int{1350}, curves: []string{"X25519"}, certs: []string{CertECDSA}}
	for _, name := range []string{EngineOpenSSL, EngineBSSL} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			e := newEngines(testOptions())[name]
			if _, err := e.check(context.Background()); err != nil {
				t.Skip(err)
			}
			rows, err := e.primitives(testContext(t), time.Second, nil, need)
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]bool{}
			for _, r := range rows {
				if r.Value > 0 {
					got[r.Alg+" "+r.Metric] = true
				}
			}
			for _, w := range []string{"AES-128-GCM seal_1350", "X25519 ecdhe", "ecdsa-p256 sign"} {
				if !got[w] {
					t.Errorf("missing %s in %v", w, rows)
				}
			}
		})
	}
}

// The boringcrypto engine is the child built with GOEXPERIMENT=boringcrypto;
// it must really report crypto/boring.Enabled() == true and run a cell.
func TestBoringcryptoChild(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a GOEXPERIMENT=boringcrypto binary")
	}
	if runtime.GOOS != "linux" || runtime.GOARCH != "amd64" && runtime.GOARCH != "arm64" {
		t.Skip("boringcrypto is linux/amd64 and linux/arm64 only")
	}
	if _, err := exec.LookPath("gcc"); err != nil {
		t.Skip("boringcrypto needs cgo and a C compiler")
	}
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("needs the go command to build the boringcrypto child")
	}
	bin := filepath.Join(t.TempDir(), "boringchild")
	cmd := exec.CommandContext(testContext(t), "go", "build", "-o", bin, "./testdata/childmain")
	cmd.Env = append(os.Environ(), "GOEXPERIMENT=boringcrypto", "CGO_ENABLED=1", "GOFLAGS=")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build boringcrypto child: %v\n%s", err, out)
	}
	opts := testOptions()
	opts.Engines = []string{EngineBoring}
	opts.Boring = Child{Path: bin}
	opts.Suites = []string{"ECDHE-ECDSA-AES256-GCM-SHA384"}
	opts.Curves = []string{"P-256"}
	opts.Metrics = []string{MetricHandshakeFull, MetricSeal16K}
	opts.Duration = 100 * time.Millisecond
	rep, err := Run(testContext(t), opts)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Engines) != 1 || !rep.Engines[0].Available || !strings.Contains(rep.Engines[0].Version, "boring.Enabled=true") {
		t.Fatalf("engine status %+v, want available with boring.Enabled=true", rep.Engines)
	}
	if len(rep.Errors) > 0 || len(rep.Results) != 2 {
		t.Fatalf("errors %v, results %v", rep.Errors, rep.Results)
	}
	// The plain build is refused as the boringcrypto engine.
	_, err = (&goEngine{name: EngineBoring, child: selfChild(), wantBoring: true, timeout: time.Second}).check(testContext(t))
	if !errors.Is(err, errNotAvailable) || !strings.Contains(err.Error(), "Enabled() == false") {
		t.Fatalf("plain child as boringcrypto: %v", err)
	}
}
