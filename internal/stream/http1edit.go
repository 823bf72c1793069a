package stream

import (
	"net"
	"net/netip"

	"github.com/mosnctl/mosnctl/internal/protocol/http1"
)

// The HTTP/1 server stream as a protocol-neutral request: the views the
// router and the filters read, the edits the proxy records. Edits change
// the decoded head in place (removals, a rewritten value or target) or add
// to Extra; the upstream head is written from both at once
// (EncodeRequestHead).

// Host implements Request.
func (s *HTTP1ServerStream) Host() []byte { return s.Req.Host }

// Path implements Request.
func (s *HTTP1ServerStream) Path() []byte { return s.Req.Path() }

// Method implements Request (and the router's MethodRequest).
func (s *HTTP1ServerStream) Method() []byte { return s.Req.Method }

var schemeHTTP = []byte("http")

// Header implements Request: header fields by case-insensitive name, and
// HTTP/2's pseudo-headers, so one matcher works for both protocols.
func (s *HTTP1ServerStream) Header(name string) ([]byte, bool) {
	if len(name) > 0 && name[0] == ':' {
		switch name {
		case ":method":
			return s.Req.Method, true
		case ":path":
			return s.Req.URI, true
		case ":authority":
			return s.Req.Host, s.Req.HasHost
		case ":scheme":
			return schemeHTTP, true
		}
		return nil, false
	}
	return s.Req.Header(name)
}

// DelHeader implements HeadEditor.
func (s *HTTP1ServerStream) DelHeader(name []byte) {
	s.Req.Headers = removeHeader(s.Req.Headers, name)
	s.Extra = removeHeader(s.Extra, name)
	if http1.EqualFold(name, "host") {
		s.Req.HasHost = false
	}
}

// AddHeader implements HeadEditor.
func (s *HTTP1ServerStream) AddHeader(name, value []byte) {
	s.Extra = append(s.Extra, http1.Header{Name: name, Value: value})
	if http1.EqualFold(name, "host") {
		s.addsHost = true
	}
}

// SetHost implements RequestEditor: the Host the upstream sees.
func (s *HTTP1ServerStream) SetHost(host string) {
	// Copied to scratch space: converting the string would allocate.
	start := len(s.Scratch)
	s.Scratch = append(s.Scratch, host...)
	s.hostRewrite = s.Scratch[start:]
	for i := range s.Req.Headers {
		if http1.EqualFold(s.Req.Headers[i].Name, "host") {
			s.Req.Headers[i].Value = s.hostRewrite
		}
	}
}

// ReplacePathPrefix implements RequestEditor.
func (s *HTTP1ServerStream) ReplacePathPrefix(n int, prefix string) {
	if n > len(s.Req.URI) {
		return
	}
	// The new target lives in scratch space, after any copies made before.
	start := len(s.Scratch)
	s.Scratch = append(append(s.Scratch, prefix...), s.Req.URI[n:]...)
	s.Req.URI = s.Scratch[start:]
}

// KeepHead copies the request head's views into the stream's own space, so
// that they outlive the read buffer (reading the body moves it on): for
// filters that read the request while its body or the response flows.
func (s *HTTP1ServerStream) KeepHead() {
	own := func(b []byte) []byte {
		if b == nil {
			return nil
		}
		start := len(s.Scratch)
		s.Scratch = append(s.Scratch, b...)
		return s.Scratch[start:len(s.Scratch):len(s.Scratch)]
	}
	r := &s.Req
	r.Method, r.URI, r.Host = own(r.Method), own(r.URI), own(r.Host)
	for i := range r.Headers {
		r.Headers[i].Name, r.Headers[i].Value = own(r.Headers[i].Name), own(r.Headers[i].Value)
	}
}

var hostName = []byte("Host")

// EncodeRequestHead writes the upstream request head, with the recorded
// edits, into the stream's write buffer. A request without a Host (HTTP/1.0
// allows that; an HTTP/1.1 upstream answers 400) gets one: the rewritten
// host, else the authority of an absolute-form target, else the address the
// client connected to (as nginx does).
func (s *HTTP1ServerStream) EncodeRequestHead() []byte {
	if !s.Req.HasHost && !s.addsHost {
		host := s.hostRewrite
		if host == nil {
			host = s.Req.Host
		}
		if len(host) == 0 {
			start := len(s.Scratch)
			s.Scratch = s.AppendLocalAuthority(s.Scratch)
			host = s.Scratch[start:]
		}
		s.Extra = append(s.Extra, http1.Header{Name: hostName, Value: host})
	}
	return http1.AppendRequestHead(s.WriteBuffer(), &s.Req, s.Extra)
}

// AppendLocalAuthority appends the address the client connected to, as a
// Host value ("127.0.0.1:8080", "[::1]:8080"). It does not allocate when
// dst has room.
func (s *HTTP1ServerStream) AppendLocalAuthority(dst []byte) []byte {
	a, ok := s.Conn.LocalAddr().(*net.TCPAddr)
	if !ok || a == nil {
		return append(dst, "localhost"...) // a unix socket has no authority
	}
	ap := a.AddrPort()
	// A dual-stack listener sees IPv4 clients as ::ffff:a.b.c.d, and a zone
	// is no part of a URI host.
	return netip.AddrPortFrom(ap.Addr().Unmap().WithZone(""), ap.Port()).AppendTo(dst)
}

// http1Response is an upstream response head as encode-side filters and
// the route's header edits see it: removals apply to the decoded headers,
// additions go to the response's extra headers.
type http1Response struct {
	resp  *http1.Response
	extra []http1.Header
}

func (r *http1Response) Status() int                       { return r.resp.Status }
func (r *http1Response) Header(name string) ([]byte, bool) { return r.resp.Header(name) }

func (r *http1Response) DelHeader(name []byte) {
	r.resp.Headers = removeHeader(r.resp.Headers, name)
	r.extra = removeHeader(r.extra, name)
}

func (r *http1Response) AddHeader(name, value []byte) {
	r.extra = append(r.extra, http1.Header{Name: name, Value: value})
}

// removeHeader drops every header named name, in place.
func removeHeader(hs []http1.Header, name []byte) []http1.Header {
	kept := hs[:0]
	for _, h := range hs {
		if !http1.EqualFold(h.Name, string(name)) {
			kept = append(kept, h)
		}
	}
	return kept
}
