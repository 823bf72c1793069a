package http1

import "bytes"

var (
	errPathAboveRoot = &Error{400, "path climbs above the root"}
	errPathPercent   = &Error{400, "malformed percent-encoding in path"}
)

// PathRules says how a request path is normalized before routing; the zero value leaves paths alone. Routes match
// the normalized path and the upstream receives it, so a rule such as prefix /admin cannot be walked around with
// /./admin, //admin, /x/../admin or /%61dmin, and route and upstream agree on what was asked for.
type PathRules struct {
	// Normalize removes dot segments (RFC 3986 5.2.4), decodes percent-encoded unreserved characters (ALPHA DIGIT
	// - . _ ~; RFC 3986 2.3 makes them equivalent to the plain ones) and upper-cases the hex digits of the
	// encodings it keeps (%2f becomes %2F, never /), as Envoy's normalize_path does.
	Normalize bool
	// MergeSlashes turns each run of slashes into one, as Envoy's merge_slashes does.
	MergeSlashes bool
}

// RewriteTarget rewrites r's request target into what a gateway forwards and routes on. An absolute-form target
// becomes origin form (RFC 9112 3.2.2): URI becomes the target's path and query ("/" for an empty path) and the
// Host header, if any, takes the target's authority, which Host already holds, whatever the client sent in it.
// Then the path (never the query) is normalized by rules. Asterisk-form and authority-form targets are left alone.
//
// Only a target that changes is copied: it is built in buf, which is returned, grown, for reuse, and r.URI points
// into it afterwards. An origin-form target whose path needs nothing costs one scan of the path. A path that
// climbs above the root ("/../x") or holds a '%' not followed by two hex digits is an *Error with status 400.
func (r *Request) RewriteTarget(buf []byte, rules PathRules) ([]byte, error) {
	u := r.URI
	if len(u) == 0 {
		return buf, nil
	}
	if u[0] != '/' {
		_, rest, ok := splitAbsolute(u)
		if !ok {
			return buf, nil // asterisk-form or authority-form
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
			return buf, nil
		case rest[0] != '/':
			// "http://h?q": the path is empty, "/" is normal, only the slash is missing.
			buf = append(append(buf[:0], '/'), rest...)
			r.URI = buf
			return buf, nil
		}
		u = rest
		r.URI = u
	}
	end, normal := scanPath(u, rules)
	if normal {
		return buf, nil
	}
	out, err := NormalizePath(buf[:0], u[:end], rules)
	if err != nil {
		return buf, err
	}
	out = append(out, u[end:]...)
	r.URI = out
	return out, nil
}

// scanPath returns where the path of the origin-form target u ends (at '?', '#' or the end) and whether
// NormalizePath would leave it as it is, judged cheaply: only a "/." (a dot segment, or a name starting with a
// dot), a '%' or, when merging, a "//" sends the path to NormalizePath. It is the cost every request pays, so
// ordinary bytes are skipped four table lookups at a time.
func scanPath(u []byte, rules PathRules) (end int, normal bool) {
	normal = true
	i := 0
	for {
		for i+4 <= len(u) && !pathSpecial[u[i]] && !pathSpecial[u[i+1]] && !pathSpecial[u[i+2]] && !pathSpecial[u[i+3]] {
			i += 4
		}
		for i < len(u) && !pathSpecial[u[i]] {
			i++
		}
		if i >= len(u) {
			return len(u), normal
		}
		switch u[i] {
		case '?', '#':
			return i, normal
		case '%':
			normal = normal && !rules.Normalize
		default: // '/'
			if i+1 < len(u) {
				if c := u[i+1]; (c == '.' && rules.Normalize) || (c == '/' && rules.MergeSlashes) {
					normal = false
				}
			}
		}
		i++
	}
}

// pathSpecial marks the bytes scanPath stops at.
var pathSpecial = [256]bool{'/': true, '%': true, '?': true, '#': true}

// NormalizePath appends path, normalized by rules, to dst and returns the extended slice. The query must already
// be split off. The result starts with '/' (path should too; one that does not is read as if it did), and with
// rules.Normalize holds no "." or ".." segment and no percent-encoded unreserved character, with rules.MergeSlashes
// no "//"; normalizing it again changes nothing. A trailing slash is kept: "/a/b/.." is "/a/", "/a/." is "/a/".
//
// It refuses with an *Error (400), as nginx does, a path whose ".." climbs above the root (RFC 3986 would drop the
// excess; a client sending it is probing), and, with rules.Normalize, a '%' not followed by two hex digits: kept
// as it is, "%%32%65" would become "%2e", which a second decoding upstream reads as a dot our routing never saw.
// Slashes are never decoded (%2F stays), so the segments routing sees are the segments the upstream sees.
func NormalizePath(dst, path []byte, rules PathRules) ([]byte, error) {
	start := len(dst)
	if len(path) > 0 && path[0] == '/' {
		path = path[1:]
	}
	for {
		// One segment per step: the text up to the next '/'.
		seg, rest, more := bytes.Cut(path, []byte{'/'})
		path = rest
		if len(seg) == 0 && more && rules.MergeSlashes {
			continue
		}
		segStart := len(dst)
		dst = append(dst, '/')
		if !rules.Normalize {
			dst = append(dst, seg...)
		} else {
			var err error
			if dst, err = appendUnescaped(dst, seg); err != nil {
				return dst[:start], err
			}
			switch s := dst[segStart+1:]; {
			case len(s) == 1 && s[0] == '.':
				dst = dst[:segStart]
				if !more {
					dst = append(dst, '/')
				}
			case len(s) == 2 && s[0] == '.' && s[1] == '.':
				k := bytes.LastIndexByte(dst[start:segStart], '/')
				if k < 0 {
					return dst[:start], errPathAboveRoot
				}
				dst = dst[:start+k]
				if !more {
					dst = append(dst, '/')
				}
			}
		}
		if !more {
			return dst, nil
		}
	}
}

// appendUnescaped appends seg with percent-encoded unreserved characters decoded and the hex digits of the other
// encodings upper-cased.
func appendUnescaped(dst, seg []byte) ([]byte, error) {
	for {
		i := bytes.IndexByte(seg, '%')
		if i < 0 {
			return append(dst, seg...), nil
		}
		dst = append(dst, seg[:i]...)
		if i+2 >= len(seg) {
			return dst, errPathPercent
		}
		hi, lo := unhex(seg[i+1]), unhex(seg[i+2])
		if hi > 15 || lo > 15 {
			return dst, errPathPercent
		}
		if c := hi<<4 | lo; isUnreserved(c) {
			dst = append(dst, c)
		} else {
			dst = append(dst, '%', upperHex[hi], upperHex[lo])
		}
		seg = seg[i+3:]
	}
}

const upperHex = "0123456789ABCDEF"

// isUnreserved reports the unreserved characters of RFC 3986 2.3.
func isUnreserved(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~'
}
