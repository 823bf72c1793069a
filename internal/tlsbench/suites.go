package tlsbench

import (
	"crypto/tls"
	"fmt"
	"slices"
	"strings"
)

// Suite is one cipher suite under test and how each engine names it.
type Suite struct {
	Name    string // the name users type and the table prints
	Version uint16 // tls.VersionTLS12 or tls.VersionTLS13
	ID      uint16 // crypto/tls identifier
	Cert    string // certificate the suite needs: CertECDSA or CertRSA
	AEAD    string // record cipher, as the primitives name it
	OpenSSL string // OpenSSL/BoringSSL cipher name
}

// TLSVersion is the suite's version as the JSON output spells it.
func (s Suite) TLSVersion() string {
	if s.Version == tls.VersionTLS13 {
		return "1.3"
	}
	return "1.2"
}

// Certificate kinds generated for a run.
const (
	CertECDSA = "ecdsa-p256"
	CertRSA   = "rsa-2048"
)

// AEAD names shared by the in-process primitives and the speed parsers.
const (
	AEADAES128GCM = "AES-128-GCM"
	AEADAES256GCM = "AES-256-GCM"
	AEADChaCha    = "ChaCha20-Poly1305"
)

// Suites lists every suite tlsbench knows, in table order.
func Suites() []Suite {
	return []Suite{
		{"ECDHE-ECDSA-AES256-GCM-SHA384", tls.VersionTLS12, tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, CertECDSA, AEADAES256GCM, "ECDHE-ECDSA-AES256-GCM-SHA384"},
		{"ECDHE-ECDSA-AES128-GCM-SHA256", tls.VersionTLS12, tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, CertECDSA, AEADAES128GCM, "ECDHE-ECDSA-AES128-GCM-SHA256"},
		{"ECDHE-RSA-AES128-GCM-SHA256", tls.VersionTLS12, tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, CertRSA, AEADAES128GCM, "ECDHE-RSA-AES128-GCM-SHA256"},
		{"ECDHE-ECDSA-CHACHA20-POLY1305", tls.VersionTLS12, tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, CertECDSA, AEADChaCha, "ECDHE-ECDSA-CHACHA20-POLY1305"},
		{"TLS_AES_128_GCM_SHA256", tls.VersionTLS13, tls.TLS_AES_128_GCM_SHA256, CertECDSA, AEADAES128GCM, "TLS_AES_128_GCM_SHA256"},
		{"TLS_AES_256_GCM_SHA384", tls.VersionTLS13, tls.TLS_AES_256_GCM_SHA384, CertECDSA, AEADAES256GCM, "TLS_AES_256_GCM_SHA384"},
		{"TLS_CHACHA20_POLY1305_SHA256", tls.VersionTLS13, tls.TLS_CHACHA20_POLY1305_SHA256, CertECDSA, AEADChaCha, "TLS_CHACHA20_POLY1305_SHA256"},
	}
}

// Curve is a key-exchange group under test.
type Curve struct {
	Name string // as printed, and as OpenSSL/BoringSSL spell it
	ID   tls.CurveID
}

// Curves lists the key-exchange groups tlsbench knows.
func Curves() []Curve {
	return []Curve{{"X25519", tls.X25519}, {"P-256", tls.CurveP256}}
}

// Metric names. Handshake and bulk metrics run the server under test;
// primitives run in-process (go, boringcrypto) or through the tool's speed
// command (bssl, openssl).
const (
	MetricHandshakeFull    = "handshake_full"
	MetricHandshakeResumed = "handshake_resumed"
	MetricBulkUpload       = "bulk_upload"   // client -> server: the server decrypts
	MetricBulkDownload     = "bulk_download" // server -> client: the server encrypts
	MetricSeal16K          = "seal_16384"
	MetricSeal1350         = "seal_1350"
	MetricECDHE            = "ecdhe"
	MetricSign             = "sign"
)

// Metrics lists every metric in table order.
func Metrics() []string {
	return []string{MetricHandshakeFull, MetricHandshakeResumed, MetricBulkUpload, MetricBulkDownload,
		MetricSeal16K, MetricSeal1350, MetricECDHE, MetricSign}
}

// metricGroups are shorthands accepted by --metric.
func metricGroups() map[string][]string {
	return map[string][]string{
		"handshake":  {MetricHandshakeFull, MetricHandshakeResumed},
		"bulk":       {MetricBulkUpload, MetricBulkDownload},
		"primitives": {MetricSeal16K, MetricSeal1350, MetricECDHE, MetricSign},
	}
}

func isPrimitive(metric string) bool {
	return slices.Contains(metricGroups()["primitives"], metric)
}

// Engine names.
const (
	EngineGo      = "go"
	EngineBoring  = "boringcrypto"
	EngineBSSL    = "bssl"
	EngineOpenSSL = "openssl"
)

// Engines lists every engine in table order.
func Engines() []string { return []string{EngineGo, EngineBoring, EngineBSSL, EngineOpenSSL} }

// selectNames resolves a --flag list against the valid names (case
// insensitive); empty or "all" selects everything. groups expands shorthands.
func selectNames(what string, asked, valid []string, groups map[string][]string) ([]string, error) {
	if len(asked) == 0 || (len(asked) == 1 && strings.EqualFold(asked[0], "all")) {
		return valid, nil
	}
	want := map[string]bool{}
	for _, a := range asked {
		a = strings.TrimSpace(a)
		if g, ok := groups[strings.ToLower(a)]; ok {
			for _, n := range g {
				want[n] = true
			}
			continue
		}
		i := slices.IndexFunc(valid, func(v string) bool { return strings.EqualFold(v, a) })
		if i < 0 {
			names := slices.Clone(valid)
			for g := range groups {
				names = append(names, g)
			}
			slices.Sort(names[len(valid):])
			return nil, fmt.Errorf("unknown %s %q (valid: %s)", what, a, strings.Join(names, ", "))
		}
		want[valid[i]] = true
	}
	var out []string
	for _, v := range valid {
		if want[v] {
			out = append(out, v)
		}
	}
	return out, nil
}

func suiteNames() []string {
	var n []string
	for _, s := range Suites() {
		n = append(n, s.Name)
	}
	return n
}

func curveNames() []string {
	var n []string
	for _, c := range Curves() {
		n = append(n, c.Name)
	}
	return n
}

func suiteByName(name string) (Suite, bool) {
	for _, s := range Suites() {
		if s.Name == name {
			return s, true
		}
	}
	return Suite{}, false
}

func curveByName(name string) (Curve, bool) {
	for _, c := range Curves() {
		if strings.EqualFold(c.Name, name) {
			return c, true
		}
	}
	return Curve{}, false
}
