package proxy

import (
	"strings"

	"github.com/mosnctl/mosnctl/internal/stream"
	mosntls "github.com/mosnctl/mosnctl/internal/tls"
)

// The verified client certificate's identity, as request headers routing
// and stream filters can match on. Only the connection answers them: a
// client-sent header of these names is invisible to routing and removed
// before the request goes upstream (as Envoy sanitizes
// x-forwarded-client-cert by default), so a client can't claim an identity
// its certificate did not prove.
const (
	HeaderPeerURI     = "x-mosn-peer-uri"     // first URI SAN (a SPIFFE id)
	HeaderPeerDNS     = "x-mosn-peer-dns"     // first DNS SAN
	HeaderPeerSubject = "x-mosn-peer-subject" // subject DN
)

const peerHeaderPrefix = "x-mosn-peer-"

var (
	peerHeaderNames = [...]string{HeaderPeerURI, HeaderPeerDNS, HeaderPeerSubject}
	peerHeaderBytes = [...][]byte{[]byte(HeaderPeerURI), []byte(HeaderPeerDNS), []byte(HeaderPeerSubject)}
)

// peerHeader answers a lookup of one of the peer identity names from the
// connection's TLS state; reserved is false for any other name, which the
// request itself answers.
func peerHeader(st *mosntls.State, name string) (v []byte, ok, reserved bool) {
	if len(name) <= len(peerHeaderPrefix) || !strings.EqualFold(name[:len(peerHeaderPrefix)], peerHeaderPrefix) {
		return nil, false, false
	}
	var id mosntls.State // no verified certificate: no identity
	if st.Verified() {
		id = *st
	}
	switch rest := name[len(peerHeaderPrefix):]; {
	case strings.EqualFold(rest, "uri"):
		v = id.PeerURI
	case strings.EqualFold(rest, "dns"):
		v = id.PeerDNS
	case strings.EqualFold(rest, "subject"):
		v = id.PeerSubject
	default:
		return nil, false, false
	}
	return v, v != nil, true
}

// dropPeerHeaders removes client-sent peer identity headers from the
// request before it goes upstream. A lookup finds nothing on almost every
// request: nothing is edited then.
func dropPeerHeaders(r stream.HeadEditor) {
	for i, name := range peerHeaderNames {
		if _, ok := r.Header(name); ok {
			r.DelHeader(peerHeaderBytes[i])
		}
	}
}
