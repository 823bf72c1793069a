package tls

import (
	gotls "crypto/tls"
	"time"

	"github.com/mosnctl/mosnctl/internal/network"
)

// State is what a downstream TLS connection negotiated and, when the client
// presented a certificate that verified against the listener's ca_cert, who
// the client is. It is made once, right after the handshake, and never
// changes: the stream list, routing and the access log read it per request
// without building anything.
type State struct {
	Version string // "TLSv1.2", "TLSv1.3"
	Cipher  string // Go's cipher suite name, e.g. "TLS_AES_128_GCM_SHA256"
	// The verified client certificate's first URI SAN (a SPIFFE id), first
	// DNS SAN and subject DN; empty without a verified certificate. They
	// are bytes because routing compares them as header values.
	PeerURI, PeerDNS, PeerSubject []byte
}

// Verified reports whether the client presented a certificate that
// verified: only then are the peer fields set.
func (s *State) Verified() bool { return s != nil && s.PeerSubject != nil }

// StateOf is the TLS state of a connection the listener terminated TLS on;
// nil for a plaintext connection (or one the inspector let through
// unencrypted) and for upstream connections.
func StateOf(c *network.Conn) *State {
	if tc, ok := c.NetConn().(*Conn); ok {
		return tc.state
	}
	return nil
}

// newState describes a finished handshake.
func newState(cs gotls.ConnectionState) *State {
	s := &State{Version: VersionName(cs.Version), Cipher: cipherName(cs.CipherSuite)}
	// A certificate counts only when it verified: with verify_client off
	// (or a RequestClientCert config) PeerCertificates may hold anything.
	if len(cs.VerifiedChains) == 0 || len(cs.VerifiedChains[0]) == 0 {
		return s
	}
	leaf := cs.VerifiedChains[0][0]
	s.PeerSubject = []byte(leaf.Subject.String())
	if len(leaf.URIs) > 0 {
		s.PeerURI = []byte(leaf.URIs[0].String())
	}
	if len(leaf.DNSNames) > 0 {
		s.PeerDNS = []byte(leaf.DNSNames[0])
	}
	return s
}

// cipherNames is crypto/tls's suite names by id, read once:
// tls.CipherSuiteName builds the whole list on every call (15 allocations,
// about 1.4 µs of each handshake).
var cipherNames = func() map[uint16]string {
	m := map[uint16]string{}
	for _, list := range [][]*gotls.CipherSuite{gotls.CipherSuites(), gotls.InsecureCipherSuites()} {
		for _, c := range list {
			m[c.ID] = c.Name
		}
	}
	return m
}()

func cipherName(id uint16) string {
	if n, ok := cipherNames[id]; ok {
		return n
	}
	return gotls.CipherSuiteName(id) // "0x1234"
}

// VersionName names a TLS version as Envoy's %DOWNSTREAM_TLS_VERSION% and
// OpenSSL do ("TLSv1.3").
func VersionName(v uint16) string {
	switch v {
	case gotls.VersionTLS13:
		return "TLSv1.3"
	case gotls.VersionTLS12:
		return "TLSv1.2"
	case gotls.VersionTLS11:
		return "TLSv1.1"
	case gotls.VersionTLS10:
		return "TLSv1"
	}
	return "unknown"
}

// closeNotifyTimeout bounds the wait for room in the socket to send
// close_notify: the alert is a few dozen bytes, so a peer that leaves its
// receive window full gets cut instead of holding the connection on.
const closeNotifyTimeout = 500 * time.Millisecond

// CloseNotify sends a close_notify alert, so that the peer reads a clean end
// of stream rather than a cut; network.Conn.CloseOwned calls it from the
// connection's own goroutine or task, just before closing the socket. A
// connection whose handshake did not finish has nothing to say (nor, as
// upstream connections are closed by their pools from any goroutine, has a
// client connection).
func (c *Conn) CloseNotify() error {
	if c.state == nil {
		return nil
	}
	// crypto/tls gives the alert 5 s to go out: a shorter bound closes the
	// socket under it (any goroutine may close it, a loop's socket too),
	// which ends the wait.
	t := time.AfterFunc(closeNotifyTimeout, func() { c.Conn.NetConn().Close() })
	err := c.Conn.CloseWrite()
	t.Stop()
	return err
}
