package config

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestYAMLEqualsJSON(t *testing.T) {
	fromJSON, wj, err := Load("testdata/full.json")
	if err != nil {
		t.Fatal(err)
	}
	fromYAML, wy, err := Load("testdata/full.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(fromJSON, fromYAML) {
		a, _ := json.MarshalIndent(fromJSON, "", " ")
		b, _ := json.MarshalIndent(fromYAML, "", " ")
		t.Errorf("JSON and YAML configs differ:\n%s\n---\n%s", a, b)
	}
	if !reflect.DeepEqual(wj, wy) {
		t.Errorf("warnings differ: %q vs %q", wj, wy)
	}
	want := []string{"accepted but not implemented yet (ignored): disable_upgrade, tracing"}
	if !reflect.DeepEqual(wj, want) {
		t.Errorf("warnings\n got %q\nwant %q", wj, want)
	}
}

func TestDefaults(t *testing.T) {
	cfg, _, err := Load("testdata/full.json")
	if err != nil {
		t.Fatal(err)
	}
	s := cfg.Servers[0]
	if s.ServerName != "main" {
		t.Errorf("server name %q", s.ServerName)
	}
	db := s.Listeners[2]
	if db.Name != "127.0.0.1:3306" || db.Network != "tcp" || db.BindToPort == nil || !*db.BindToPort {
		t.Errorf("listener defaults: name %q network %q bind %v", db.Name, db.Network, db.BindToPort)
	}
	cl := cfg.ClusterManager.Clusters
	if cl[1].LbType != LBRoundRobin || cl[1].Type != "SIMPLE" {
		t.Errorf("cluster defaults: %q %q", cl[1].LbType, cl[1].Type)
	}
	if got := cl[1].ConnectTimeout.Get(0); got != DefaultConnectTimeout {
		t.Errorf("default connect timeout %v", got)
	}
	if got := cl[0].ConnectTimeout.Get(0); got != 2*time.Second {
		t.Errorf("connect timeout %v", got)
	}
	if cl[1].Hosts[0].Weight != 1 || cl[0].Hosts[0].Weight != 3 || cl[0].Hosts[1].Weight != 128 {
		t.Errorf("host weights %d %d %d (want 1 for an absent weight, 3, 128)",
			cl[1].Hosts[0].Weight, cl[0].Hosts[0].Weight, cl[0].Hosts[1].Weight)
	}
	rpc := s.Routers[1].VirtualHosts[0].Routers[0].Match.Headers[0]
	if rpc != (HeaderMatcher{Name: "service", Value: ".+", Regex: true}) {
		t.Errorf("MOSN's service=.* match not rewritten: %+v", rpc)
	}
	canary := s.Routers[0].VirtualHosts[0].Routers[1].Route
	if canary.Timeout.Get(0) != 1500*time.Millisecond || canary.RetryPolicy.RetryTimeout.Get(0) != 500*time.Millisecond {
		t.Errorf("durations: %v %v", canary.Timeout, canary.RetryPolicy.RetryTimeout)
	}
	if cfg.AdminAddr() != "127.0.0.1:34901" {
		t.Errorf("admin %q", cfg.AdminAddr())
	}

	// ApplyDefaults is idempotent.
	before, _ := json.Marshal(cfg)
	cfg.ApplyDefaults()
	after, _ := json.Marshal(cfg)
	if string(before) != string(after) {
		t.Error("ApplyDefaults changed an already defaulted config")
	}
}

func TestDecodeFilters(t *testing.T) {
	cfg, _, err := Load("testdata/full.json")
	if err != nil {
		t.Fatal(err)
	}
	ls := cfg.Servers[0].Listeners
	http, err := DecodeProxy(ls[0].FilterChains[0].Filters[0], "x")
	if err != nil {
		t.Fatal(err)
	}
	if http.DownstreamProtocol != ProtocolHTTP1 || http.UpstreamProtocol != ProtocolHTTP1 || http.RouterConfigName != "http_router" {
		t.Errorf("http proxy %+v", http)
	}
	if normalize, merge := http.PathRules(); !normalize || !merge {
		t.Errorf("path rules default to %v %v, want on", normalize, merge)
	}
	off, err := DecodeProxy(Filter{Type: FilterProxy, Config: json.RawMessage(`{"normalize_path": false, "merge_slashes": false}`)}, "f")
	if err != nil {
		t.Fatal(err)
	}
	if normalize, merge := off.PathRules(); normalize || merge {
		t.Errorf("path rules turned off read %v %v", normalize, merge)
	}
	rpc, err := DecodeProxy(ls[1].FilterChains[0].Filters[0], "x")
	if err != nil {
		t.Fatal(err)
	}
	if rpc.DownstreamProtocol != ProtocolBolt || rpc.UpstreamProtocol != ProtocolBolt {
		t.Errorf("X/bolt not rewritten: %q -> %q", rpc.DownstreamProtocol, rpc.UpstreamProtocol)
	}
	tcp, err := DecodeTCPProxy(ls[2].FilterChains[0].Filters[0], "x")
	if err != nil {
		t.Fatal(err)
	}
	if tcp.Cluster != "db" || tcp.IdleTimeout.Get(0) != 10*time.Minute {
		t.Errorf("tcp proxy %+v", tcp)
	}

	_, err = DecodeProxy(Filter{Type: FilterProxy, Config: json.RawMessage(`{"downstream_protocol":1}`)}, "servers[0].listeners[0].filter_chains[0].filters[0]")
	var fe *FieldError
	if !errors.As(err, &fe) || fe.Path != "servers[0].listeners[0].filter_chains[0].filters[0].config.downstream_protocol" {
		t.Errorf("got %v", err)
	}
	_, err = DecodeTCPProxy(Filter{Type: FilterTCPProxy, Config: json.RawMessage(`{"clusterr":"c"}`)}, "f[0].config")
	if err == nil || err.Error() != `f[0].config.clusterr: unknown field (did you mean "cluster"?)` {
		t.Errorf("got %v", err)
	}
	if p, err := DecodeProxy(Filter{Type: FilterProxy}, "f"); err != nil || p.DownstreamProtocol != "" {
		t.Errorf("empty config: %+v %v", p, err)
	}
}

func TestFilterConfigWarnings(t *testing.T) {
	data := applyEdits(t, loadBase(t), []edit{
		{pc + ".router_handler_name", "x"},
		{tc + ".routes", []any{obj("cluster", "c1", "source_addrs", []any{})}},
		{"disable_upgrade", true},
	})
	_, w, err := Parse(data, "")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"accepted but not implemented yet (ignored): disable_upgrade, " + pc + ".router_handler_name"}
	if !reflect.DeepEqual(w, want) {
		t.Errorf("got  %q\nwant %q", w, want)
	}
}

// Unimplemented fields that would change routing or security if ignored are
// refused with their path when they ask for something; empty, they pass.
func TestRoutingFieldsRefused(t *testing.T) {
	r0 := "servers[0].routers[0].virtual_hosts[0].routers[0]"
	for _, e := range []edit{
		{tc + ".routes", []any{obj("cluster", "c1", "source_addrs", []any{"10.0.0.0/8"})}},
		{r0 + ".route.hash_policy", []any{obj("header", obj("key", "x"))}},
		{r0 + ".route.regex_rewrite", obj("pattern", obj("regex", "a"), "substitution", "b")},
		{r0 + ".match.variables", []any{obj("name", "x", "value", "y")}},
		{"servers[0].routers[0].virtual_hosts[0].require_tls", "ALL"},
	} {
		_, _, err := Parse(applyEdits(t, loadBase(t), []edit{e}), "")
		if err == nil || !strings.Contains(err.Error(), "would change routing or security") {
			t.Errorf("%s: %v, want it refused", e.path, err)
		}
	}
}

func TestDefaultConfig(t *testing.T) {
	cfg := Default()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if len(cfg.Servers[0].Listeners) != 2 || cfg.AdminAddr() != DefaultAdminAddr {
		t.Fatalf("unexpected default config")
	}
	_, w, err := Parse(DefaultJSON(), "json")
	if err != nil || len(w) != 0 {
		t.Errorf("default.json: warnings %q, err %v", w, err)
	}
	p, err := DecodeProxy(cfg.Servers[0].Listeners[0].FilterChains[0].Filters[0], "")
	if err != nil || p.RouterConfigName != "proxy_router" {
		t.Errorf("proxy filter %+v %v", p, err)
	}
	local := cfg.Servers[0].Routers[1].VirtualHosts[0].Routers[0].DirectResponse
	if local == nil || local.StatusCode != 200 || !strings.HasPrefix(local.Body, "Hello from mosnctl") {
		t.Errorf("direct response %+v", local)
	}
	for _, tt := range []struct {
		admin *Admin
		want  string
	}{
		{nil, DefaultAdminAddr},
		{&Admin{}, DefaultAdminAddr},
		{&Admin{Address: AdminAddress{SocketAddress{PortValue: 9}}}, "127.0.0.1:9"},
		{&Admin{Address: AdminAddress{SocketAddress{Address: "::1", PortValue: 0}}}, "[::1]:0"},
		{&Admin{Address: AdminAddress{SocketAddress{Address: "0.0.0.0", PortValue: 34902}}}, "0.0.0.0:34902"},
	} {
		if got := (&Config{Admin: tt.admin}).AdminAddr(); got != tt.want {
			t.Errorf("AdminAddr(%+v) = %q, want %q", tt.admin, got, tt.want)
		}
	}
}

func TestLoadFormats(t *testing.T) {
	dir := t.TempDir()
	jsonData, err := os.ReadFile("testdata/full.json")
	if err != nil {
		t.Fatal(err)
	}
	yamlData, err := os.ReadFile("testdata/full.yaml")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		data    []byte
		wantErr string
	}{
		{"a.json", jsonData, ""},
		{"a.conf", jsonData, ""}, // sniffed as JSON
		{"b.conf", yamlData, ""}, // sniffed as YAML
		{"c.yml", jsonData, ""},  // JSON is YAML too
		{"d.json", yamlData, "invalid JSON at line 1 column 1"},
		{"e.json", []byte(`{"servers": [}`), "invalid JSON at line 1 column 14"},
		{"f.json", []byte("{\n\"admin\": {},\n\"admin\": {}}"), `admin: duplicate key (line 3)`},
		{"g.yaml", []byte("servers: [\n"), "invalid YAML"},
		{"h.yaml", []byte("admin: {}\nadmin: {}\n"), "admin: duplicate key"},
		{"i.json", []byte("  "), "empty config"},
		{"j.yaml", []byte(""), "empty config"},
		{"k.json", []byte(`[]`), "config must be an object with servers and cluster_manager, got array"},
		{"l.json", []byte(`{} {}`), "data after the top-level value"},
		{"m.yaml", []byte("a: &x {}\nb: *x\n"), "YAML aliases are not supported"},
		{"n.conf", []byte("{servers: [}"), "invalid JSON at line 1 column 2"},            // neither: reported as JSON
		{"o.conf", []byte("{admin: {address: {}}, servers: []}"), "servers: no servers"}, // YAML flow mapping
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, tt.name)
			if err := os.WriteFile(path, tt.data, 0o644); err != nil {
				t.Fatal(err)
			}
			_, _, err := Load(path)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("got %v, want %q", err, tt.wantErr)
			}
			var fe *FieldError
			if !errors.As(err, &fe) {
				t.Errorf("not a *FieldError: %T", err)
			}
		})
	}
	if _, _, err := Load(filepath.Join(dir, "missing.json")); err == nil || !strings.Contains(err.Error(), "read config") {
		t.Errorf("missing file: %v", err)
	}
	if _, _, err := Parse(jsonData, "toml"); err == nil {
		t.Error("unknown format accepted")
	}
}

// TestMOSNExamples loads MOSN's own example configs: each either loads
// (listing what it sets that mosnctl ignores) or is refused naming the
// feature mosnctl lacks.
// A file over the cap is refused from its size, without reading it; one
// without a size (a device) is read only up to the cap.
func TestLoadRefusesHugeFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "huge.json")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	// Sparse: no disk blocks are written.
	if err := f.Truncate(MaxFileSize + 1); err != nil {
		t.Fatal(err)
	}
	f.Close()
	_, _, err = Load(path)
	if want := "read config: file is 67108865 bytes, over the 64 MiB limit for a config: check the path"; err == nil || err.Error() != want {
		t.Errorf("Load(huge) = %v, want %q", err, want)
	}
	if _, err := os.Stat("/dev/zero"); err != nil {
		t.Skip("no /dev/zero")
	}
	// A smaller cap than MaxFileSize: reading 64 MiB is slow under -race.
	_, err = readFile("/dev/zero", 1000)
	if want := "read config: over the 1000 bytes limit for a config: check the path"; err == nil || err.Error() != want {
		t.Errorf("readFile(/dev/zero, 1000) = %v, want %q", err, want)
	}
}

func TestMOSNExamples(t *testing.T) {
	dir := "../../../shared/mosn-configs"
	if _, err := os.Stat(dir); err != nil {
		t.Skipf("MOSN example configs not found: %v", err)
	}
	const unimpl = "accepted but not implemented yet (ignored): "
	tests := []struct {
		file     string
		warnings string // exact warning message when it loads
		err      string // substring of the refusal
	}{
		{"http-sample/server_config.json", unimpl + "disable_upgrade", ""},
		{"http-sample/client_config.json", unimpl + "disable_upgrade", ""},
		{"http-sample/tls_server_config.json", unimpl + "disable_upgrade", ""},
		{"http-sample/tls_client_config.json", unimpl + "disable_upgrade", ""},
		{"protocol-auto-sample/server_config.json", unimpl + "disable_upgrade", ""},
		{"protocol-auto-sample/client_config.json", unimpl + "disable_upgrade", ""},
		{"sofarpc-with-xprotocol-sample/server_config.json", unimpl + "disable_upgrade, servers[0].listeners[0].stream_filters[0] (healthcheck)", ""},
		{"sofarpc-with-xprotocol-sample/client_config.json", unimpl + "disable_upgrade", ""},
		{"tcpproxy-sample/config.json", "", ""},
		{"dubbo/server_config.json", "", `downstream_protocol: protocol "dubbo" is not supported yet`},
		{"dubbo/client_config.json", "", `downstream_protocol: protocol "dubbo" is not supported yet`},
		{"flowcontrol-sample/server_config.json", unimpl + "disable_upgrade, servers[0].listeners[0].stream_filters[0].config.log_path", ""},
		{"xds-server-sample/config.json", "", `dynamic_resources.cds_config: only {"ads": {}} is supported`},
	}
	// The TLS samples name ../certs/{ca,cert,key}.pem relative to the
	// working directory, as MOSN runs them from the sample's directory.
	certDir := t.TempDir()
	writeSampleCerts(t, filepath.Join(certDir, "certs"))
	sampleDir := filepath.Join(certDir, "http-sample")
	if err := os.Mkdir(sampleDir, 0o755); err != nil {
		t.Fatal(err)
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Chdir(sampleDir)
	seen := map[string]bool{}
	for _, tt := range tests {
		seen[tt.file] = true
		t.Run(tt.file, func(t *testing.T) {
			cfg, w, err := Load(filepath.Join(abs, tt.file))
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("got %v, want refusal containing %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tt.warnings == "" && len(w) != 0 || tt.warnings != "" && (len(w) != 1 || w[0] != tt.warnings) {
				t.Errorf("warnings\n got %q\nwant %q", w, tt.warnings)
			}
			if err := cfg.Validate(); err != nil {
				t.Errorf("loaded config does not validate again: %v", err)
			}
		})
	}
	files, _ := filepath.Glob(filepath.Join(abs, "*", "*.json"))
	for _, f := range files {
		rel, _ := filepath.Rel(abs, f)
		if !seen[filepath.ToSlash(rel)] {
			t.Errorf("%s: new MOSN example without an expectation here", rel)
		}
	}
}

func BenchmarkParse(b *testing.B) {
	for _, f := range []string{"testdata/full.json", "testdata/full.yaml"} {
		data, err := os.ReadFile(f)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(filepath.Ext(f)[1:], func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				if _, _, err := Parse(data, ""); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
