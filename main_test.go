package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/mosnctl/mosnctl/internal/cli"
	"github.com/mosnctl/mosnctl/internal/config"
	"github.com/mosnctl/mosnctl/internal/tls/tlstest"
)

func TestBusyboxDispatch(t *testing.T) {
	root := newRoot()
	for _, tc := range []struct {
		argv []string
		want []string
	}{
		{[]string{"/usr/bin/mosnctl", "version"}, []string{"version"}},
		{[]string{"/usr/local/bin/serve", "-c", "x.json"}, []string{"serve", "-c", "x.json"}},
		{[]string{"./version"}, []string{"version"}},
		{[]string{"mosnctl"}, []string{}},
		{[]string{"bin/mosnctl-boring", "tlsbench", "child"}, []string{"tlsbench", "child"}},
		{[]string{"/tmp/x/mosnctl-new", "serve"}, []string{"serve"}},
	} {
		got, err := cli.DispatchArgs(root, tc.argv)
		if err != nil || strings.Join(got, " ") != strings.Join(tc.want, " ") {
			t.Errorf("DispatchArgs(%q) = %q, %v; want %q", tc.argv, got, err, tc.want)
		}
	}
}

// A binary named neither mosnctl nor a command says so instead of running
// whatever its arguments name.
func TestBusyboxUnknownName(t *testing.T) {
	var errOut bytes.Buffer
	root := newRoot()
	root.SetOut(&errOut)
	code := cli.Execute(context.Background(), root, []string{"/opt/foo", "version"}, &errOut)
	want := `mosnctl: unknown command name "foo" (invoked as /opt/foo); use mosnctl <command> or a symlink named ` +
		"bench|hwprobe|serve|tlsbench|top|upgrade|version|xds\n"
	if code != 2 || errOut.String() != want {
		t.Errorf("exit %d, output %q; want exit 2, %q", code, errOut.String(), want)
	}
}

// serveCheckConfig is a valid config for `serve --check` cases to break.
const serveCheckConfig = `{"servers": [{"listeners": [{"name": "in", "address": "127.0.0.1:2045",
  "filter_chains": [{"filters": [{"type": "tcp_proxy", "config": {"cluster": "c"}}]}]}]}],
 "cluster_manager": {"clusters": [{"name": "c", "hosts": [{"address": "127.0.0.1:1"}, {"address": "127.0.0.1:2", "weight": 128}]}]}}`

func TestExitCodes(t *testing.T) {
	dir := t.TempDir()
	// writeConfig saves serveCheckConfig with old replaced by new.
	writeConfig := func(name, old, new string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(strings.Replace(serveCheckConfig, old, new, 1)), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	huge := filepath.Join(dir, "huge.json")
	if err := os.WriteFile(huge, nil, 0o600); err != nil || os.Truncate(huge, 64<<20+1) != nil {
		t.Fatal("cannot make a sparse file")
	}
	garbage := filepath.Join(dir, "garbage.pem")
	if err := os.WriteFile(garbage, []byte("not a certificate\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	badCert := fmt.Sprintf(`"filter_chains": [{"tls_context": {"status": true, "cert_chain": %q, "private_key": %q}, "filters"`, garbage, garbage)
	for _, tc := range []struct {
		argv []string
		code int
		msg  string
	}{
		{[]string{"serve", "--check", "-c", writeConfig("badcert.json", `"filter_chains": [{"filters"`, badCert)}, 2,
			"servers[0].listeners[0].filter_chains[0].tls_context.cert_chain: failed to find any PEM data in certificate input"},
		{[]string{"serve", "--check", "-c", writeConfig("ok.json", "", "")}, 0, ""},
		{[]string{"serve", "--check", "-c", huge}, 2, "over the 64 MiB limit for a config"},
		{[]string{"serve", "--check", "-c", writeConfig("weight.json", `"weight": 128`, `"weight": 200`)}, 2,
			"cluster_manager.clusters[0].hosts[1].weight: weight 200 out of range 1-128"},
		{[]string{"serve", "--check", "-c", writeConfig("nolisteners.json", serveCheckConfig, `{"servers": [{"listeners": []}]}`)}, 2,
			"servers[0].listeners: no listeners"},
		{[]string{"mosnctl", "version"}, 0, ""},
		{[]string{"mosnctl", "nosuch"}, 2, "unknown command"},
		{[]string{"mosnctl", "version", "--nosuch"}, 2, "unknown flag"},
		{[]string{"mosnctl", "version", "-o", "xml"}, 2, "unknown output format"},
		{[]string{"serve", "--check", "-c", "testdata/bad-config.json"}, 2, `servers[0].listeners[0].adress: unknown field (did you mean "address"?)`},
		{[]string{"serve", "--check", "-c", "testdata/bench-http1.json"}, 0, ""},
		{[]string{"mosnctl", "tlsbench", "--from", "/nonexistent/report.json"}, 2, "no such file"},
		{[]string{"mosnctl", "bench", "--compare", "/nonexistent/report.json", "http://127.0.0.1:1/"}, 2, "no such file"},
	} {
		var errOut bytes.Buffer
		root := newRoot()
		root.SetOut(&bytes.Buffer{})
		code := cli.Execute(context.Background(), root, tc.argv, &errOut)
		if code != tc.code || !strings.Contains(errOut.String(), tc.msg) {
			t.Errorf("%q: exit %d, stderr %q; want exit %d containing %q", tc.argv, code, errOut.String(), tc.code, tc.msg)
		}
	}
}

// The README's full config example passes `serve --check`, and a newcomer
// who runs it sends nothing off the machine: every address is loopback and
// no cluster points at one of the example's own listeners.
func TestREADMEConfigExample(t *testing.T) {
	cfg := readmeExample(t, "\n## Config reference\n")
	listening := map[string]bool{}
	loopback := func(what, addr string) {
		host, _, err := net.SplitHostPort(addr)
		ip, perr := netip.ParseAddr(host)
		if err != nil || perr != nil || !ip.IsLoopback() {
			t.Errorf("%s %q: want a loopback address in the README example", what, addr)
		}
	}
	for _, s := range cfg.Servers {
		for _, l := range s.Listeners {
			loopback("listener", l.Address)
			listening[l.Address] = true
		}
	}
	for _, c := range cfg.ClusterManager.Clusters {
		for _, h := range c.Hosts {
			loopback("cluster "+c.Name+" host", h.Address)
			if listening[h.Address] {
				t.Errorf("cluster %s host %s is one of the example's listeners", c.Name, h.Address)
			}
		}
	}
	if a := cfg.AdminAddr(); !strings.HasPrefix(a, "127.0.0.1:") {
		t.Errorf("admin address %q", a)
	}
}

// The README's resilience example passes `serve --check` and keeps to
// loopback addresses.
func TestREADMEResilienceExample(t *testing.T) {
	cfg := readmeExample(t, "\n### Resilience")
	c := cfg.ClusterManager.Clusters[0]
	if c.HealthCheck == nil || c.OutlierDetection == nil || c.LBSubsetConfig == nil || c.CircuitBreakers == nil {
		t.Errorf("the example lacks a resilience block: %+v", c)
	}
	wantLoopback(t, cfg)
}

// The README's access log example passes `serve --check`, keeps to
// loopback addresses and has a formatted and a default-format MOSN log.
func TestREADMEAccessLogsExample(t *testing.T) {
	cfg := readmeExample(t, "\n### Access logs")
	l := cfg.Servers[0].Listeners[0]
	wantLoopback(t, cfg)
	if len(l.AccessLogs) != 2 || l.AccessLogs[0].Format == "" || l.AccessLogs[1].Format != "" {
		t.Errorf("access_logs %+v: want one with a format and one in the default format", l.AccessLogs)
	}
}

// The README's HTTP/2 example passes `serve --check`, keeps to loopback
// addresses and uses Http2 both ways and converted.
func TestREADMEHTTP2Example(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, _ := strings.Cut(string(readme), "\n### HTTP/2, h2c and gRPC")
	_, block, ok := strings.Cut(section, "\n```json\n")
	block, _, ok2 := strings.Cut(block, "\n```\n")
	if !ok || !ok2 {
		t.Fatal("no ```json block in the README's HTTP/2 section")
	}
	path := filepath.Join(t.TempDir(), "http2.json")
	if err := os.WriteFile(path, []byte(block), 0o600); err != nil {
		t.Fatal(err)
	}
	var errOut bytes.Buffer
	root := newRoot()
	root.SetOut(&bytes.Buffer{})
	if code := cli.Execute(context.Background(), root, []string{"mosnctl", "serve", "--check", "-c", path}, &errOut); code != 0 {
		t.Fatalf("serve --check of the README HTTP/2 example: exit %d: %s", code, errOut.String())
	}
	for _, want := range []string{`"downstream_protocol": "Http2", "upstream_protocol": "Http2"`, `"downstream_protocol": "Http1", "upstream_protocol": "Http2"`} {
		if !strings.Contains(block, want) {
			t.Errorf("the example lacks %s", want)
		}
	}
	cfg, _, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	wantLoopback(t, cfg)
}

// The README's make lines match the Makefile: each target exists, every
// bin/ file a line says it builds is built by those targets (or what they
// depend on), and the Development list names every target.
func TestREADMEMakeTargets(t *testing.T) {
	makefile, err := os.ReadFile("Makefile")
	if err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	binPath := regexp.MustCompile(`bin/[\w.-]+`)
	deps := map[string][]string{}    // target -> prerequisites
	outputs := map[string][]string{} // target -> bin/ files its recipe writes (-o)
	var phony []string
	rule := ""
	for line := range strings.Lines(string(makefile)) {
		line = strings.TrimRight(line, "\n")
		switch {
		case strings.HasPrefix(line, ".PHONY:"):
			phony = strings.Fields(strings.TrimPrefix(line, ".PHONY:"))
		case strings.HasPrefix(line, "\t") && rule != "":
			if _, out, ok := strings.Cut(line, " -o "); ok {
				outputs[rule] = append(outputs[rule], binPath.FindString(out))
			}
		default:
			name, prereqs, ok := strings.Cut(line, ":")
			if ok && !strings.ContainsAny(name, " =\t#") && name != "" && !strings.HasPrefix(prereqs, "=") {
				rule = name
				deps[rule] = strings.Fields(prereqs)
			} else {
				rule = ""
			}
		}
	}
	var builds func(target string) []string
	builds = func(target string) []string {
		out := outputs[target]
		for _, d := range deps[target] {
			out = append(out, builds(d)...)
		}
		return out
	}

	listed := map[string]bool{}
	for line := range strings.Lines(string(readme)) {
		if !strings.HasPrefix(line, "make ") {
			continue
		}
		cmd, comment, _ := strings.Cut(line, "#")
		var built []string
		for _, target := range strings.Fields(strings.TrimPrefix(cmd, "make ")) {
			if _, ok := deps[target]; !ok {
				t.Errorf("README: make %s: no such target in the Makefile", target)
			}
			listed[target] = true
			built = append(built, builds(target)...)
		}
		for _, bin := range binPath.FindAllString(comment, -1) {
			if !slices.Contains(built, bin) {
				t.Errorf("README: %q says it builds %s; the Makefile builds %v", strings.TrimSpace(line), bin, built)
			}
		}
	}
	for _, target := range phony {
		if !listed[target] {
			t.Errorf("README: make target %q is not listed", target)
		}
	}
}

// readmeExample is the first JSON block after the README heading, checked
// by `serve --check` as a user would, and loaded.
func readmeExample(t *testing.T, heading string) *config.Config {
	t.Helper()
	path := filepath.Join(t.TempDir(), "readme.json")
	if err := os.WriteFile(path, []byte(readmeBlock(t, heading)), 0o600); err != nil {
		t.Fatal(err)
	}
	serveCheck(t, path, heading)
	cfg, _, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// readmeBlock is the first JSON block after the README heading.
func readmeBlock(t *testing.T, heading string) string {
	t.Helper()
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, _ := strings.Cut(string(readme), heading)
	_, block, ok := strings.Cut(section, "\n```json\n")
	block, _, ok2 := strings.Cut(block, "\n```\n")
	if !ok || !ok2 {
		t.Fatalf("no ```json block after the README's %q", strings.TrimSpace(heading))
	}
	return block
}

// serveCheck runs `serve --check` on the config at path, as a user would.
func serveCheck(t *testing.T, path, heading string) {
	t.Helper()
	var errOut bytes.Buffer
	root := newRoot()
	root.SetOut(&bytes.Buffer{})
	if code := cli.Execute(context.Background(), root, []string{"mosnctl", "serve", "--check", "-c", path}, &errOut); code != 0 {
		t.Fatalf("serve --check of the README example after %q: exit %d: %s", strings.TrimSpace(heading), code, errOut.String())
	}
}

// tlsExample checks the README's TLS example after heading: the
// certificate files it names (certs/ relative, as in MOSN) are issued by a
// CA made here (certs/ca.pem) through issue, then `serve --check` must
// pass. It returns the block and the loaded config.
func tlsExample(t *testing.T, heading string, issue func(ca *tlstest.CA, certs string)) (string, *config.Config) {
	t.Helper()
	block := readmeBlock(t, heading)
	dir := t.TempDir()
	certs := filepath.Join(dir, "certs")
	if err := os.Mkdir(certs, 0o755); err != nil {
		t.Fatal(err)
	}
	ca := tlstest.NewCA(t, "readme CA")
	ca.WriteCA(t, certs, "ca")
	issue(ca, certs)
	path := filepath.Join(dir, "tls.json")
	if err := os.WriteFile(path, []byte(block), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Chdir(dir)
	serveCheck(t, path, heading)
	cfg, _, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return block, cfg
}

// The README's TLS example passes `serve --check` with the certificate
// files it names and keeps to loopback.
func TestREADMETLSExample(t *testing.T) {
	_, cfg := tlsExample(t, "\n### TLS\n", func(ca *tlstest.CA, certs string) {
		ca.Issue(t, tlstest.ECDSA, "example.com", "*.example.com").Write(t, certs, "example.com")
		ca.Issue(t, tlstest.RSA, "internal.example.com").Write(t, certs, "internal")
		ca.Issue(t, tlstest.ECDSA, "client").Write(t, certs, "client")
	})
	wantLoopback(t, cfg)
}

// The README's TLS client identity example passes `serve --check` with the
// certificate files it names, keeps to loopback and routes on the peer
// identity header.
func TestREADMETLSIdentityExample(t *testing.T) {
	_, cfg := tlsExample(t, "\n### TLS client identity\n", func(ca *tlstest.CA, certs string) {
		ca.Issue(t, tlstest.ECDSA, "orders.example").Write(t, certs, "server")
	})
	if h := cfg.Servers[0].Routers[0].VirtualHosts[0].Routers[0].Match.Headers; len(h) != 1 || h[0].Name != "x-mosn-peer-uri" {
		t.Errorf("the example's first route does not match on x-mosn-peer-uri: %+v", h)
	}
	wantLoopback(t, cfg)
}

// The README's HTTP/2-over-TLS example passes `serve --check` with the
// certificate files it names, keeps to loopback and takes HTTP/2 over TLS
// both ways.
func TestREADMEHTTP2TLSExample(t *testing.T) {
	block, cfg := tlsExample(t, "\n#### HTTP/2 over TLS\n", func(ca *tlstest.CA, certs string) {
		ca.Issue(t, tlstest.ECDSA, "127.0.0.1").Write(t, certs, "mesh")
		ca.Issue(t, tlstest.ECDSA, "client").Write(t, certs, "client")
	})
	wantLoopback(t, cfg)
	for _, s := range cfg.Servers {
		for _, l := range s.Listeners {
			if len(l.FilterChains[0].ServerTLS()) == 0 {
				t.Errorf("listener %s: want TLS", l.Name)
			}
		}
	}
	for _, c := range cfg.ClusterManager.Clusters {
		if !c.TLSContext.Enabled() {
			t.Errorf("cluster %s: want a tls_context", c.Name)
		}
	}
	for _, want := range []string{`"downstream_protocol": "Http2", "upstream_protocol": "Http2"`, `"downstream_protocol": "Auto"`} {
		if !strings.Contains(block, want) {
			t.Errorf("the example lacks %s", want)
		}
	}
}

// wantLoopback fails t for a listener or host of cfg beyond 127.0.0.1: a
// newcomer who runs a README example must never reach another machine.
func wantLoopback(t *testing.T, cfg *config.Config) {
	t.Helper()
	for _, s := range cfg.Servers {
		for _, l := range s.Listeners {
			if !strings.HasPrefix(l.Address, "127.0.0.1:") {
				t.Errorf("listener %q: want loopback", l.Address)
			}
		}
	}
	for _, c := range cfg.ClusterManager.Clusters {
		for _, h := range c.Hosts {
			if !strings.HasPrefix(h.Address, "127.0.0.1:") {
				t.Errorf("host %q: want loopback", h.Address)
			}
		}
	}
}
