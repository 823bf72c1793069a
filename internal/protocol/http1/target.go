package http1

// RewriteTarget turns an absolute-form target into the origin form a gateway forwards (RFC 9112 3.2.2): URI becomes
// the target's path and query ("/" for an empty path) and the Host header, if any, takes the target's authority,
// which Host already holds, whatever the client sent in it. Other targets are left alone, at the cost of one byte
// compare for the usual origin form. The URI is built in buf only for a target with a query and no path
// ("http://h?q"); buf is returned, grown, for reuse, and r.URI may point into it.
func (r *Request) RewriteTarget(buf []byte) []byte {
	if len(r.URI) == 0 || r.URI[0] == '/' {
		return buf
	}
	_, rest, ok := splitAbsolute(r.URI)
	if !ok {
		return buf // asterisk-form or authority-form
	}
	for i := range r.Headers {
		if h := &r.Headers[i]; len(h.Name) == 4 && equalFoldLower(h.Name, "host") {
			h.Value = r.Host
		}
	}
	switch {
	case len(rest) == 0:
		r.slash[0] = '/'
		r.URI = r.slash[:]
	case rest[0] == '/':
		r.URI = rest
	default:
		buf = append(append(buf[:0], '/'), rest...)
		r.URI = buf
	}
	return buf
}
