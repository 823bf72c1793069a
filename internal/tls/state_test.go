package tls

import (
	gotls "crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
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

// CloseNotify gives a peer that does not read a short while, then closes
// the socket under the alert's write (crypto/tls alone would wait 5 s and
// fail with its deadline).
func TestCloseNotifyBounded(t *testing.T) {
	ca := tlstest.NewCA(t, "ca")
	srvConn, cliConn := net.Pipe() // unbuffered: a write waits for a read
	defer cliConn.Close()
	server := gotls.Server(srvConn, &gotls.Config{Certificates: []gotls.Certificate{ca.Issue(t, tlstest.ECDSA, "srv").TLS(t)},
		SessionTicketsDisabled: true})
	client := gotls.Client(cliConn, &gotls.Config{RootCAs: ca.Pool(), ServerName: "srv"})
	errc := make(chan error, 1)
	go func() { errc <- client.Handshake() }()
	if err := server.Handshake(); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	c := &Conn{Conn: server, state: newState(server.ConnectionState())}
	// The client reads nothing more: the alert's write can't finish.
	if err := c.CloseNotify(); !errors.Is(err, io.ErrClosedPipe) {
		t.Fatalf("CloseNotify to a peer that does not read: %v, want the socket closed under it", err)
	}
	if (&Conn{Conn: gotls.Server(srvConn, &gotls.Config{})}).CloseNotify() != nil {
		t.Error("a connection without a finished handshake said goodbye")
	}
}

// BenchmarkNewState is what each handshake pays to describe its
// connection: one allocation without a client certificate.
func BenchmarkNewState(b *testing.B) {
	ca := tlstest.NewCA(b, "ca")
	leaf := ca.Issue(b, tlstest.ECDSA, "foo.client", "spiffe://cluster.local/ns/default/sa/foo").Leaf
	cs := gotls.ConnectionState{Version: gotls.VersionTLS13, CipherSuite: gotls.TLS_AES_128_GCM_SHA256}
	b.Run("tls", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			newState(cs)
		}
	})
	cs.VerifiedChains = [][]*x509.Certificate{{leaf, ca.Cert}}
	b.Run("mtls", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			newState(cs)
		}
	})
}
