package tls

import (
	gotls "crypto/tls"
	"crypto/x509"
	"testing"

	"github.com/mosnctl/mosnctl/internal/tls/tlstest"
)

// A peer identity comes from a verified chain only: a certificate the
// client sent that nothing verified (no verify_client) names nobody.
func TestNewState(t *testing.T) {
	ca := tlstest.NewCA(t, "ca")
	leaf := ca.Issue(t, tlstest.ECDSA, "foo.client", "spiffe://cluster.local/ns/default/sa/foo", "foo2.client").Leaf
	cs := gotls.ConnectionState{Version: gotls.VersionTLS13, CipherSuite: gotls.TLS_AES_128_GCM_SHA256,
		PeerCertificates: []*x509.Certificate{leaf}}
	st := newState(cs)
	if st.Version != "TLSv1.3" || st.Cipher != "TLS_AES_128_GCM_SHA256" {
		t.Errorf("version %q cipher %q", st.Version, st.Cipher)
	}
	if st.Verified() || st.PeerURI != nil || st.PeerDNS != nil || st.PeerSubject != nil {
		t.Errorf("an unverified certificate gave an identity: %+v", st)
	}
	cs.VerifiedChains = [][]*x509.Certificate{{leaf, ca.Cert}}
	st = newState(cs)
	if !st.Verified() || string(st.PeerURI) != "spiffe://cluster.local/ns/default/sa/foo" ||
		string(st.PeerDNS) != "foo.client" || string(st.PeerSubject) != "CN=foo.client" {
		t.Errorf("verified identity: uri %q dns %q subject %q", st.PeerURI, st.PeerDNS, st.PeerSubject)
	}
	cs.Version, cs.CipherSuite = gotls.VersionTLS12, gotls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256
	if st := newState(cs); st.Version != "TLSv1.2" || st.Cipher != "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256" {
		t.Errorf("TLS 1.2: %q %q", st.Version, st.Cipher)
	}
	var none *State
	if none.Verified() {
		t.Error("a nil state is verified")
	}
}
