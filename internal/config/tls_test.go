package config

import (
	"crypto/tls"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mosnctl/mosnctl/internal/tls/tlstest"
)

// writeSampleCerts writes the ca.pem, cert.pem and key.pem MOSN's
// http-sample TLS configs name: one certificate for 127.0.0.1 used by both
// the server and the client.
func writeSampleCerts(t *testing.T, dir string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	ca := tlstest.NewCA(t, "sample CA")
	ca.WriteCA(t, dir, "ca")
	c := ca.Issue(t, tlstest.ECDSA, "127.0.0.1", "localhost")
	tlstest.WriteFile(t, filepath.Join(dir, "cert.pem"), c.CertPEM)
	tlstest.WriteFile(t, filepath.Join(dir, "key.pem"), c.KeyPEM)
}

const tlsListenerConfig = `{
  "servers": [{
    "routers": [{"router_config_name": "r", "virtual_hosts": [{"domains": ["*"], "routers": [{"match": {"prefix": "/"}, "route": {"cluster_name": "c"}}]}]}],
    "listeners": [{"name": "l", "address": "127.0.0.1:0", LISTENER
      "filter_chains": [{CHAIN "filters": [{"type": "proxy", "config": {"downstream_protocol": "PROTO", "router_config_name": "r"}}]}]}]
  }],
  "cluster_manager": {"clusters": [{"name": "c", CLUSTER "hosts": [{"address": "127.0.0.1:8080"}]}]}
}`

func tlsConfig(listener, chain, proto, cluster string) []byte {
	if proto == "" {
		proto = "Http1"
	}
	r := strings.NewReplacer("LISTENER", listener, "CHAIN", chain, "PROTO", proto, "CLUSTER", cluster)
	return []byte(r.Replace(tlsListenerConfig))
}

func TestTLSConfig(t *testing.T) {
	dir := t.TempDir()
	ca := tlstest.NewCA(t, "test CA")
	caPath := ca.WriteCA(t, dir, "ca")
	cert, key := ca.Issue(t, tlstest.ECDSA, "a.example").Write(t, dir, "a")
	rsaCert, rsaKey := ca.Issue(t, tlstest.RSA, "b.example").Write(t, dir, "b")
	other := ca.Issue(t, tlstest.ECDSA, "c.example")
	garbage := filepath.Join(dir, "garbage.pem")
	tlstest.WriteFile(t, garbage, []byte("not a certificate\n"))
	inline := ca.Issue(t, tlstest.ECDSA, "inline.example")
	q := func(s string) string { return `"` + s + `"` }
	ctx := func(extra string) string {
		return `"tls_context": {"status": true, "cert_chain": ` + q(cert) + `, "private_key": ` + q(key) + extra + `},`
	}
	const lp = "servers[0].listeners[0].filter_chains[0].tls_context"
	const cp = "cluster_manager.clusters[0].tls_context"
	tests := []struct {
		name                            string
		listener, chain, proto, cluster string
		err                             string // "" loads; else every line must appear
	}{
		{name: "file cert", chain: ctx(`, "min_version": "TLS1.2", "max_version": "TLS1.3", "alpn": "http/1.1"`)},
		{name: "rsa cert", chain: `"tls_context": {"status": true, "cert_chain": ` + q(rsaCert) + `, "private_key": ` + q(rsaKey) + `},`},
		{name: "inline pem", chain: `"tls_context": {"status": true, "cert_chain": ` + jsonString(inline.CertPEM) + `, "private_key": ` + jsonString(inline.KeyPEM) + `},`},
		{name: "mtls", chain: ctx(`, "ca_cert": ` + q(caPath) + `, "verify_client": true, "require_client_cert": true`)},
		{name: "suites and curves", chain: ctx(`, "cipher_suites": "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES256-GCM-SHA384", "ecdh_curves": "x25519,p256"`)},
		{name: "context set", chain: `"tls_context_set": [{"status": true, "cert_chain": ` + q(cert) + `, "private_key": ` + q(key) + `}, {"status": true, "cert_chain": ` + q(rsaCert) + `, "private_key": ` + q(rsaKey) + `}],`},
		{name: "inspector", listener: `"inspector": true,`, chain: ctx("")},
		{name: "h2 on http1", chain: ctx(`, "alpn": "h2"`), proto: "Http1", err: lp + `.alpn: protocol "h2" is not served here yet (supported: http/1.1)`},
		{name: "tls off", chain: `"tls_context": {"status": false, "cert_chain": "/nonexistent"},`},
		{name: "cluster tls", cluster: `"tls_context": {"status": true, "server_name": "a.example", "ca_cert": ` + q(caPath) + `, "cert_chain": ` + q(cert) + `, "private_key": ` + q(key) + `},`},
		{name: "cluster insecure", cluster: `"tls_context": {"status": true, "insecure_skip": true},`},

		{name: "missing cert file", chain: `"tls_context": {"status": true, "cert_chain": "/nonexistent/cert.pem", "private_key": ` + q(key) + `},`,
			err: lp + ".cert_chain: read /nonexistent/cert.pem: no such file or directory"},
		{name: "garbage cert", chain: `"tls_context": {"status": true, "cert_chain": ` + q(garbage) + `, "private_key": ` + q(key) + `},`,
			err: lp + ".cert_chain: failed to find any PEM data in certificate input"},
		{name: "garbage key", chain: `"tls_context": {"status": true, "cert_chain": ` + q(cert) + `, "private_key": ` + q(garbage) + `},`,
			err: lp + ".private_key: failed to find any PEM data in key input"},
		{name: "key of another cert", chain: `"tls_context": {"status": true, "cert_chain": ` + q(cert) + `, "private_key": ` + jsonString(other.KeyPEM) + `},`,
			err: lp + ".private_key: private key does not match public key"},
		{name: "no key", chain: `"tls_context": {"status": true, "cert_chain": ` + q(cert) + `},`,
			err: lp + ".private_key: required"},
		{name: "tls 1.1", chain: ctx(`, "min_version": "TLS1.1"`), err: lp + ".min_version: TLS1.1 is refused: TLS 1.2 is the minimum"},
		{name: "max below min", chain: ctx(`, "min_version": "TLSv1_3", "max_version": "TLSv1_2"`), err: lp + ".max_version: TLSv1_2 is below min_version TLSv1_3"},
		{name: "bad version", chain: ctx(`, "max_version": "SSL3"`), err: lp + `.max_version: unknown TLS version "SSL3"`},
		{name: "cbc suite", chain: ctx(`, "cipher_suites": "RSA-AES128-CBC-SHA"`), err: lp + `.cipher_suites: cipher suite "RSA-AES128-CBC-SHA" is not offered`},
		{name: "bad curve", chain: ctx(`, "ecdh_curves": "p224"`), err: lp + `.ecdh_curves: unknown curve "p224"`},
		{name: "verify without ca", chain: ctx(`, "verify_client": true`), err: lp + ".verify_client: needs ca_cert"},
		{name: "bad ca", chain: ctx(`, "ca_cert": ` + q(garbage) + `, "verify_client": true`), err: lp + ".ca_cert: no PEM certificate found"},
		{name: "insecure on listener", chain: ctx(`, "insecure_skip": true`), err: lp + ".insecure_skip: applies to clusters only"},
		{name: "fall back", chain: ctx(`, "fall_back": true`), err: lp + ".fall_back: falling back to plaintext is not supported"},
		{name: "sds", chain: ctx(`, "sds_source": {"CertificateConfig": {}}`), err: lp + ".sds_source: SDS is not supported yet"},
		{name: "both", chain: ctx("") + `"tls_context_set": [{"status": true, "cert_chain": ` + q(cert) + `, "private_key": ` + q(key) + `}],`,
			err: lp + ": set tls_context or tls_context_set, not both"},
		{name: "alpn on bolt", chain: ctx(`, "alpn": "http/1.1"`), proto: "bolt", err: lp + `.alpn: protocol "http/1.1": this listener speaks no protocol with an ALPN id yet`},
		{name: "inspector without tls", listener: `"inspector": true,`, err: "servers[0].listeners[0].inspector: needs TLS on the listener"},
		{name: "typo", chain: `"tls_context": {"status": true, "cert_chian": "x"},`, err: lp + `.cert_chian: unknown field (did you mean "cert_chain"?)`},
		{name: "cluster verify client", cluster: `"tls_context": {"status": true, "verify_client": true},`, err: cp + ".verify_client: applies to listeners only"},
		{name: "cluster half pair", cluster: `"tls_context": {"status": true, "cert_chain": ` + q(cert) + `},`, err: cp + ".private_key: required with cert_chain"},
		{name: "cluster tls for bolt", proto: "bolt", cluster: `"tls_context": {"status": true},`},
		{name: "cluster h2 for http1", cluster: `"tls_context": {"status": true, "alpn": "h2"},`,
			err: cp + `.alpn: "h2" offers h2, and listener "l" forwards HTTP/1 to cluster "c"`},
		{name: "cluster unknown alpn", cluster: `"tls_context": {"status": true, "alpn": "spdy/3"},`,
			err: cp + `.alpn: protocol "spdy/3" is not served here yet (supported: h2, http/1.1)`},
		{name: "h2 listener", chain: ctx(""), proto: "Http2"},
		{name: "h2 listener alpn h2", chain: ctx(`, "alpn": "h2"`), proto: "Http2"},
		{name: "auto listener alpn both", chain: ctx(`, "alpn": "h2,http/1.1"`), proto: "Auto"},
		{name: "http1 alpn on h2 listener", chain: ctx(`, "alpn": "http/1.1"`), proto: "Http2",
			err: lp + `.alpn: protocol "http/1.1" is not served here yet (supported: h2)`},
		{name: "cluster tls for h2", proto: "Http2", cluster: `"tls_context": {"status": true, "ca_cert": ` + q(caPath) + `},`},
		{name: "cluster alpn h2 for h2", proto: "Http2", cluster: `"tls_context": {"status": true, "alpn": "h2"},`},
		{name: "cluster tls for auto", proto: "Auto", cluster: `"tls_context": {"status": true},`},
		{name: "cluster alpn without h2 for h2", proto: "Http2", cluster: `"tls_context": {"status": true, "alpn": "http/1.1"},`,
			err: cp + `.alpn: "http/1.1" lacks h2, and listener "l" forwards HTTP/2 to cluster "c" (leave alpn empty to offer h2)`},
		{name: "cluster alpn for auto", proto: "Auto", cluster: `"tls_context": {"status": true, "alpn": "h2"},`,
			err: cp + `.alpn: "h2" offers h2, and listener "l" forwards HTTP/1 to cluster "c"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := tlsConfig(tt.listener, tt.chain, tt.proto, tt.cluster)
			cfg, _, err := Parse(data, "json")
			if tt.err == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				if cfg == nil {
					t.Fatal("no config")
				}
				return
			}
			if err == nil {
				t.Fatalf("loaded; want %q", tt.err)
			}
			for _, line := range strings.Split(tt.err, "\n") {
				if !strings.Contains(err.Error(), line) {
					t.Errorf("error\n%v\nwant it to contain %q", err, line)
				}
			}
		})
	}
}

func jsonString(b []byte) string {
	return `"` + strings.NewReplacer("\n", `\n`, `"`, `\"`).Replace(string(b)) + `"`
}

func TestTLSContextValues(t *testing.T) {
	tc := &TLSContext{MinVersion: "TLS_AUTO", MaxVersion: "tlsv1.2", CipherSuites: "ECDHE-RSA-AES128-GCM-SHA256, TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
		EcdhCurves: "X25519:P256", ALPN: "HTTP/1.1"}
	lo, hi, err := tc.Versions()
	if err != nil || lo != tls.VersionTLS12 || hi != tls.VersionTLS12 {
		t.Errorf("versions %x %x %v", lo, hi, err)
	}
	ids, err := tc.CipherSuiteIDs()
	if err != nil || len(ids) != 2 || ids[0] != tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256 || ids[1] != tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384 {
		t.Errorf("suites %v %v", ids, err)
	}
	curves, err := tc.Curves()
	if err != nil || len(curves) != 2 || curves[0] != tls.X25519 || curves[1] != tls.CurveP256 {
		t.Errorf("curves %v %v", curves, err)
	}
	if p := tc.ALPNProtocols(); len(p) != 1 || p[0] != "http/1.1" {
		t.Errorf("alpn %q", p)
	}
	fc := &FilterChain{TLSContext: &TLSContext{Status: true, CertChain: "x"},
		TLSContextSet: []TLSContext{{Status: false}, {Status: true, CertChain: "y"}}}
	if got := fc.ServerTLS(); len(got) != 1 || got[0].CertChain != "y" {
		t.Errorf("ServerTLS %+v", got)
	}
}

// The running config, as the admin API dumps it, never holds an inline
// private key.
func TestTLSContextRedactsInlineKey(t *testing.T) {
	ca := tlstest.NewCA(t, "ca")
	c := ca.Issue(t, tlstest.ECDSA, "a.example")
	cfg, _, err := Parse(tlsConfig("", `"tls_context": {"status": true, "cert_chain": `+jsonString(c.CertPEM)+`, "private_key": `+jsonString(c.KeyPEM)+`},`, "", ""), "json")
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), "PRIVATE KEY") || !strings.Contains(string(b), "[inline PEM redacted]") {
		t.Errorf("dumped config: %s", b)
	}
	if cfg.Servers[0].Listeners[0].FilterChains[0].TLSContext.PrivateKey != string(c.KeyPEM) {
		t.Error("the loaded config lost its key")
	}
}
