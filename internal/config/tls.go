package config

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
)

// TLSContext is MOSN's tls_context: on a listener's filter chain it
// terminates TLS, on a cluster it originates TLS to the hosts. Certificates,
// keys and CA bundles are a file path (relative paths are relative to the
// working directory, as in MOSN) or inline PEM.
type TLSContext struct {
	Status bool `json:"status,omitempty"`
	// Type names one of MOSN's TLS extension plugins; only the default
	// ("") exists here.
	Type string `json:"type,omitempty"`
	// ServerName: on a cluster, the name sent as SNI and verified in the
	// host's certificate; on a listener's tls_context_set entry, the SNI
	// name that selects it (else the certificate's names do).
	ServerName        string `json:"server_name,omitempty"`
	CACert            string `json:"ca_cert,omitempty"`
	CertChain         string `json:"cert_chain,omitempty"`
	PrivateKey        string `json:"private_key,omitempty"`
	VerifyClient      bool   `json:"verify_client,omitempty"`
	RequireClientCert bool   `json:"require_client_cert,omitempty"`
	InsecureSkip      bool   `json:"insecure_skip,omitempty"`
	// CipherSuites, EcdhCurves and ALPN are lists separated by commas or
	// colons, as MOSN accepts them.
	CipherSuites string `json:"cipher_suites,omitempty"`
	EcdhCurves   string `json:"ecdh_curves,omitempty"`
	MinVersion   string `json:"min_version,omitempty"`
	MaxVersion   string `json:"max_version,omitempty"`
	ALPN         string `json:"alpn,omitempty"`

	// MOSN fields refused when set: fall_back would serve plaintext where
	// a handshake failed, and SDS and extension verification need parts
	// mosnctl does not have.
	Fallback     bool            `json:"fall_back,omitempty"`
	ExtendVerify json.RawMessage `json:"extend_verify,omitempty"`
	SdsConfig    json.RawMessage `json:"sds_source,omitempty"`
}

// Enabled reports whether the context turns TLS on.
func (t *TLSContext) Enabled() bool { return t != nil && t.Status }

// ServerTLS returns the TLS contexts a listener serves: its tls_context_set
// entries that are on, else its tls_context when on; nil for plaintext.
func (fc *FilterChain) ServerTLS() []TLSContext {
	var out []TLSContext
	for _, t := range fc.TLSContextSet {
		if t.Status {
			out = append(out, t)
		}
	}
	if len(out) == 0 && fc.TLSContext.Enabled() {
		out = append(out, *fc.TLSContext)
	}
	return out
}

// ReadPEM returns the PEM of a cert_chain, private_key or ca_cert value:
// the value itself when it holds PEM, else the file it names.
func ReadPEM(value string) ([]byte, error) {
	if strings.Contains(value, "-----BEGIN") {
		return []byte(value), nil
	}
	b, err := os.ReadFile(value)
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			return nil, fmt.Errorf("read %s: %v", value, pe.Err)
		}
		return nil, err
	}
	return b, nil
}

// LoadKeyPair reads and parses cert_chain and private_key. The error says
// which of the two is wrong (field is "cert_chain" or "private_key").
func (t *TLSContext) LoadKeyPair() (cert tls.Certificate, field string, err error) {
	certPEM, err := ReadPEM(t.CertChain)
	if err != nil {
		return cert, "cert_chain", err
	}
	keyPEM, err := ReadPEM(t.PrivateKey)
	if err != nil {
		return cert, "private_key", err
	}
	cert, err = tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		field = "cert_chain"
		msg := err.Error()
		if strings.Contains(strings.ToLower(msg), "key") {
			field = "private_key"
		}
		return cert, field, errors.New(strings.TrimPrefix(msg, "tls: "))
	}
	return cert, "", nil
}

// LoadCAPool reads ca_cert into a pool; nil when ca_cert is empty.
func (t *TLSContext) LoadCAPool() (*x509.CertPool, error) {
	if t.CACert == "" {
		return nil, nil
	}
	b, err := ReadPEM(t.CACert)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, errors.New("no PEM certificate found")
	}
	return pool, nil
}

// Versions returns the TLS versions to offer: TLS 1.2 minimum, TLS 1.3
// maximum unless narrowed.
func (t *TLSContext) Versions() (lo, hi uint16, err error) {
	lo, hi = tls.VersionTLS12, tls.VersionTLS13
	if t.MinVersion != "" {
		v, err := parseTLSVersion(t.MinVersion)
		if err != nil {
			return 0, 0, fmt.Errorf("min_version: %w", err)
		}
		if v != 0 {
			if v < tls.VersionTLS12 {
				return 0, 0, fmt.Errorf("min_version: %s is refused: TLS 1.2 is the minimum", t.MinVersion)
			}
			lo = v
		}
	}
	if t.MaxVersion != "" {
		v, err := parseTLSVersion(t.MaxVersion)
		if err != nil {
			return 0, 0, fmt.Errorf("max_version: %w", err)
		}
		if v != 0 {
			if v < tls.VersionTLS12 {
				return 0, 0, fmt.Errorf("max_version: %s is refused: TLS 1.2 is the minimum", t.MaxVersion)
			}
			hi = v
		}
	}
	if hi < lo {
		return 0, 0, fmt.Errorf("max_version: %s is below min_version %s", t.MaxVersion, t.MinVersion)
	}
	return lo, hi, nil
}

// parseTLSVersion reads MOSN's spellings (TLS1.2, TLSv1_2, TLS_AUTO...);
// 0 means automatic.
func parseTLSVersion(s string) (uint16, error) {
	n := strings.ToUpper(strings.TrimSpace(s))
	if n == "TLS_AUTO" || n == "AUTO" {
		return 0, nil
	}
	n = strings.TrimPrefix(n, "TLS")
	n = strings.TrimPrefix(n, "V")
	n = strings.NewReplacer("_", ".", "-", ".").Replace(n)
	switch n {
	case "1.0", "1":
		return tls.VersionTLS10, nil
	case "1.1", "11":
		return tls.VersionTLS11, nil
	case "1.2", "12":
		return tls.VersionTLS12, nil
	case "1.3", "13":
		return tls.VersionTLS13, nil
	}
	return 0, fmt.Errorf("unknown TLS version %q (want TLS1.2 or TLS1.3)", s)
}

// cipherSuites maps MOSN's (OpenSSL-style) names of the TLS 1.2 suites
// mosnctl offers to Go's ids; Go's own names are accepted as well.
var cipherSuites = map[string]uint16{
	"ECDHE-ECDSA-AES256-GCM-SHA384":      tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	"ECDHE-RSA-AES256-GCM-SHA384":        tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	"ECDHE-ECDSA-AES128-GCM-SHA256":      tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	"ECDHE-RSA-AES128-GCM-SHA256":        tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	"ECDHE-ECDSA-WITH-CHACHA20-POLY1305": tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
	"ECDHE-RSA-WITH-CHACHA20-POLY1305":   tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
	"ECDHE-ECDSA-CHACHA20-POLY1305":      tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
	"ECDHE-RSA-CHACHA20-POLY1305":        tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
}

// CipherSuiteIDs parses cipher_suites (TLS 1.2 suites; TLS 1.3's are not
// configurable). nil means Go's default order.
func (t *TLSContext) CipherSuiteIDs() ([]uint16, error) {
	var ids []uint16
	for _, name := range splitList(t.CipherSuites) {
		id, ok := cipherSuites[strings.ToUpper(name)]
		if !ok {
			for _, cs := range tls.CipherSuites() {
				if strings.EqualFold(cs.Name, name) {
					id, ok = cs.ID, true
				}
			}
		}
		if !ok {
			return nil, fmt.Errorf("cipher suite %q is not offered (want ECDHE with AES-GCM or CHACHA20-POLY1305, e.g. ECDHE-ECDSA-AES128-GCM-SHA256)", name)
		}
		ids = append(ids, id)
	}
	return ids, nil
}

// Curves parses ecdh_curves; nil means Go's default preference.
func (t *TLSContext) Curves() ([]tls.CurveID, error) {
	var ids []tls.CurveID
	for _, name := range splitList(t.EcdhCurves) {
		switch strings.ToLower(name) {
		case "x25519":
			ids = append(ids, tls.X25519)
		case "p256", "p-256", "secp256r1", "prime256v1":
			ids = append(ids, tls.CurveP256)
		case "p384", "p-384", "secp384r1":
			ids = append(ids, tls.CurveP384)
		case "p521", "p-521", "secp521r1":
			ids = append(ids, tls.CurveP521)
		case "x25519mlkem768":
			ids = append(ids, tls.X25519MLKEM768)
		default:
			return nil, fmt.Errorf("unknown curve %q (want x25519, p256, p384 or p521)", name)
		}
	}
	return ids, nil
}

// ALPNProtocols parses alpn into protocol ids ("h2", "http/1.1"), lower
// case as on the wire.
func (t *TLSContext) ALPNProtocols() []string {
	var out []string
	for _, p := range splitList(t.ALPN) {
		out = append(out, strings.ToLower(p))
	}
	return out
}

// splitList splits a list given with commas, colons or spaces; "http/1.1"
// has no such separator inside.
func splitList(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ':' || r == ' ' })
}

// tlsSide is where a tls_context sits: it decides which fields apply.
type tlsSide int

const (
	tlsListener tlsSide = iota
	tlsCluster
)

// tlsContext checks an enabled context: its files parse and its settings
// are ones mosnctl honours. alpnAllowed lists the protocols the side can
// speak (nil: any, for tcp_proxy, which forwards whatever was negotiated).
func (v *validator) tlsContext(t *TLSContext, path string, side tlsSide, alpnAllowed []string) {
	if t.Type != "" && t.Type != "default" {
		v.errorf(path+".type", "TLS extension type %q is not supported (leave it empty)", t.Type)
	}
	if t.Fallback {
		v.errorf(path+".fall_back", "falling back to plaintext is not supported: it would serve unprotected traffic where TLS failed")
	}
	if len(t.ExtendVerify) > 0 && string(t.ExtendVerify) != "null" {
		v.errorf(path+".extend_verify", "extension verification is not supported yet")
	}
	if len(t.SdsConfig) > 0 && string(t.SdsConfig) != "null" {
		v.errorf(path+".sds_source", "SDS is not supported yet: give cert_chain and private_key")
	}
	switch side {
	case tlsListener:
		if t.CertChain == "" {
			v.errorf(path+".cert_chain", "required: a listener with TLS needs a certificate (file path or PEM)")
		}
		if t.PrivateKey == "" {
			v.errorf(path+".private_key", "required: a listener with TLS needs the certificate's private key")
		}
		if t.InsecureSkip {
			v.errorf(path+".insecure_skip", "applies to clusters only (it skips verifying the server's certificate)")
		}
		if (t.VerifyClient || t.RequireClientCert) && t.CACert == "" {
			field := ".verify_client"
			if !t.VerifyClient {
				field = ".require_client_cert"
			}
			v.errorf(path+field, "needs ca_cert: the CA bundle client certificates are verified against")
		}
	case tlsCluster:
		if (t.CertChain == "") != (t.PrivateKey == "") {
			if t.CertChain == "" {
				v.errorf(path+".cert_chain", "required with private_key (the client certificate)")
			} else {
				v.errorf(path+".private_key", "required with cert_chain (the client certificate's key)")
			}
		}
		if t.VerifyClient {
			v.errorf(path+".verify_client", "applies to listeners only")
		}
		if t.RequireClientCert {
			v.errorf(path+".require_client_cert", "applies to listeners only")
		}
	}
	if t.CertChain != "" && t.PrivateKey != "" {
		if _, field, err := t.LoadKeyPair(); err != nil {
			v.errorf(path+"."+field, "%v", err)
		}
	}
	if _, err := t.LoadCAPool(); err != nil {
		v.errorf(path+".ca_cert", "%v", err)
	}
	if _, _, err := t.Versions(); err != nil {
		field, msg, _ := strings.Cut(err.Error(), ": ")
		v.errorf(path+"."+field, "%s", msg)
	}
	if _, err := t.CipherSuiteIDs(); err != nil {
		v.errorf(path+".cipher_suites", "%v", err)
	}
	if _, err := t.Curves(); err != nil {
		v.errorf(path+".ecdh_curves", "%v", err)
	}
	for _, p := range t.ALPNProtocols() {
		if alpnAllowed != nil && !contains(alpnAllowed, p) {
			if len(alpnAllowed) == 0 {
				v.errorf(path+".alpn", "protocol %q: this %s speaks no protocol with an ALPN id yet; leave alpn empty", p, sideName(side))
			} else {
				v.errorf(path+".alpn", "protocol %q is not served here yet (supported: %s)", p, strings.Join(alpnAllowed, ", "))
			}
		}
	}
}

func sideName(s tlsSide) string {
	if s == tlsCluster {
		return "cluster"
	}
	return "listener"
}

// listenerTLS checks a filter chain's tls_context and tls_context_set.
func (v *validator) listenerTLS(l *Listener, fc *FilterChain, fp string, alpnAllowed []string) {
	set := 0
	for i := range fc.TLSContextSet {
		if fc.TLSContextSet[i].Status {
			set++
			v.tlsContext(&fc.TLSContextSet[i], fmt.Sprintf("%s.tls_context_set[%d]", fp, i), tlsListener, alpnAllowed)
		}
	}
	if fc.TLSContext.Enabled() {
		if set > 0 {
			v.errorf(fp+".tls_context", "set tls_context or tls_context_set, not both")
		} else {
			v.tlsContext(fc.TLSContext, fp+".tls_context", tlsListener, alpnAllowed)
		}
	}
	if l.Inspector && len(fc.ServerTLS()) == 0 {
		v.errorf(fp[:strings.LastIndex(fp, ".filter_chains")]+".inspector", "needs TLS on the listener (a tls_context with status true): the inspector tells TLS from plaintext clients")
	}
}

// tlsManager refuses cluster_manager.tls_context turned on (MOSN's TLS for
// every cluster at once): clusters take their own tls_context.
func (v *validator) tlsManager(raw json.RawMessage, path string) {
	if len(raw) == 0 {
		return
	}
	var t struct {
		Status any `json:"status"`
	}
	if err := json.Unmarshal(raw, &t); err != nil {
		v.errorf(path, "want object")
		return
	}
	if on, _ := t.Status.(bool); on {
		v.errorf(path, "a TLS context for every cluster is not supported yet: set tls_context on each cluster")
	}
}

// ServedALPN is what a listener whose proxy serves downstream protocol
// advertises with ALPN when its tls_context gives no alpn: the ids of the
// protocols it serves, HTTP/2 first where it serves both (an Auto listener
// serves HTTP/2 when ALPN picked h2 and detects the protocol otherwise).
// Protocols without an ALPN id (Bolt) get none.
func ServedALPN(downstream string) []string {
	switch downstream {
	case ProtocolHTTP1:
		return []string{"http/1.1"}
	case ProtocolHTTP2:
		return []string{"h2"}
	case ProtocolAuto:
		return []string{"h2", "http/1.1"}
	}
	return []string{}
}

// chainALPN is what a filter chain may advertise with ALPN: the protocols
// its terminal filter serves (nil: any, for tcp_proxy).
func chainALPN(fc *FilterChain) []string {
	for _, f := range fc.Filters {
		switch f.Type {
		case FilterTCPProxy:
			return nil
		case FilterProxy:
			var p struct {
				DownstreamProtocol string `json:"downstream_protocol"`
			}
			json.Unmarshal(f.Config, &p)
			return ServedALPN(p.DownstreamProtocol)
		}
	}
	return []string{}
}

// clusterALPN is what a cluster's tls_context may offer with ALPN.
var clusterALPN = []string{"h2", "http/1.1"}

// upstreamHTTP reports which HTTP pools a proxy with these protocols
// forwards to: the upstream protocol, which defaults to the downstream
// one; an Auto listener without one forwards HTTP/2 connections as HTTP/2
// and HTTP/1 ones as HTTP/1.
func upstreamHTTP(down, up string) (http1, http2 bool) {
	if up == "" || up == ProtocolAuto || up == ProtocolX {
		up = down
	}
	switch up {
	case ProtocolHTTP1:
		return true, false
	case ProtocolHTTP2:
		return false, true
	case ProtocolAuto:
		return true, true
	}
	return false, false
}

// clusterTLSUsers checks a TLS cluster's alpn against the HTTP proxies
// that forward to it. Without alpn each pool offers its own protocol (h2
// for HTTP/2, nothing for HTTP/1, as MOSN does); an alpn list is offered
// as given, so it must hold h2 for an HTTP/2 upstream (which requires the
// host to pick h2) and must not hold h2 for an HTTP/1 upstream (the host
// could pick it and get HTTP/1 bytes).
func (v *validator) clusterTLSUsers() {
	alpnCluster := map[string]int{}
	for i := range v.c.ClusterManager.Clusters {
		if cl := &v.c.ClusterManager.Clusters[i]; cl.TLSContext.Enabled() && len(cl.TLSContext.ALPNProtocols()) > 0 {
			alpnCluster[cl.Name] = i
		}
	}
	if len(alpnCluster) == 0 {
		return
	}
	check := func(cluster, listener string, http1, http2 bool) {
		i, ok := alpnCluster[cluster]
		if !ok {
			return
		}
		cl := &v.c.ClusterManager.Clusters[i]
		path := fmt.Sprintf("cluster_manager.clusters[%d].tls_context.alpn", i)
		has := contains(cl.TLSContext.ALPNProtocols(), "h2")
		switch {
		case http2 && !has:
			v.errorf(path, "%q lacks h2, and listener %q forwards HTTP/2 to cluster %q (leave alpn empty to offer h2)", cl.TLSContext.ALPN, listener, cluster)
		case http1 && has:
			v.errorf(path, "%q offers h2, and listener %q forwards HTTP/1 to cluster %q: a host picking h2 would get HTTP/1 (leave alpn empty, or use a cluster per protocol)", cl.TLSContext.ALPN, listener, cluster)
		default:
			return
		}
		delete(alpnCluster, cluster) // one error per cluster
	}
	for si := range v.c.Servers {
		s := &v.c.Servers[si]
		for li := range s.Listeners {
			l := &s.Listeners[li]
			for _, fc := range l.FilterChains {
				for _, f := range fc.Filters {
					var p ProxyConfig
					if f.Type != FilterProxy || json.Unmarshal(f.Config, &p) != nil {
						continue
					}
					http1, http2 := upstreamHTTP(p.DownstreamProtocol, p.UpstreamProtocol)
					if !http1 && !http2 {
						continue
					}
					for ri := range s.Routers {
						if s.Routers[ri].RouterConfigName != p.RouterConfigName {
							continue
						}
						for _, vh := range s.Routers[ri].VirtualHosts {
							for _, r := range vh.Routers {
								if r.Route == nil {
									continue
								}
								check(r.Route.ClusterName, l.Name, http1, http2)
								for _, wc := range r.Route.WeightedClusters {
									check(wc.Cluster.Name, l.Name, http1, http2)
								}
							}
						}
					}
				}
			}
		}
	}
}

// MarshalJSON writes the context with an inline private key redacted: the
// running config is served by the admin API (config_dump), and a key
// must not leave the process through it. A key file's path is written.
func (t TLSContext) MarshalJSON() ([]byte, error) {
	type plain TLSContext // without this method
	if strings.Contains(t.PrivateKey, "-----BEGIN") {
		t.PrivateKey = "[inline PEM redacted]"
	}
	return json.Marshal(plain(t))
}
