package http1

import (
	"bytes"
	"errors"
	"math"
)

// ErrNeedMore means the head is not complete yet: call again with the same bytes plus whatever arrives next.
var ErrNeedMore = errors.New("http1: need more data")

// Error is a malformed-message error carrying the status a server should answer with before closing the
// connection: 400 (malformed), 431 (head too large), 501 (unsupported transfer coding) or 505 (HTTP version).
type Error struct {
	Status int
	Reason string
}

func (e *Error) Error() string { return "http1: " + e.Reason }

// The errors are allocated once: a flood of malformed requests must not cost an allocation each. Callers compare
// Status, never the pointers, so they stay unexported.
var (
	errHeadTooLarge        = &Error{431, "message head too large"}
	errTooManyHeaders      = &Error{431, "too many header fields"}
	errBareLF              = &Error{400, "line not terminated by CRLF"}
	errRequestLine         = &Error{400, "malformed request line"}
	errMethod              = &Error{400, "invalid method"}
	errEmptyTarget         = &Error{400, "empty request target"}
	errTarget              = &Error{400, "invalid character in request target"}
	errEmptyAuthority      = &Error{400, "empty authority in absolute-form request target"}
	errVersion             = &Error{400, "malformed HTTP version"}
	errVersionUnsupported  = &Error{505, "unsupported HTTP version"}
	errStatusLine          = &Error{400, "malformed status line"}
	errStatus              = &Error{400, "invalid status code"}
	errReason              = &Error{400, "invalid character in reason phrase"}
	errObsFold             = &Error{400, "obsolete line folding"}
	errNoColon             = &Error{400, "header line without colon"}
	errSpaceBeforeColon    = &Error{400, "whitespace between header field name and colon"}
	errHeaderName          = &Error{400, "invalid header field name"}
	errEmptyHeaderName     = &Error{400, "empty header field name"}
	errHeaderValue         = &Error{400, "invalid character in header field value"}
	errContentLength       = &Error{400, "invalid Content-Length"}
	errContentLengthDiffer = &Error{400, "conflicting Content-Length values"}
	errCLAndTE             = &Error{400, "both Content-Length and Transfer-Encoding"}
	errTransferEncoding    = &Error{400, "invalid Transfer-Encoding"}
	errTENotChunked        = &Error{400, "Transfer-Encoding does not end in chunked"}
	errTEChunkedTwice      = &Error{400, "chunked transfer coding applied more than once"}
	errTEUnsupported       = &Error{501, "unsupported transfer coding"}
	errTEInHTTP10          = &Error{400, "Transfer-Encoding in an HTTP/1.0 request"}
	errMissingHost         = &Error{400, "missing Host header"}
	errHost                = &Error{400, "invalid Host"}
	errMultipleHost        = &Error{400, "multiple Host headers"}
)

// Limits bounds what a head may cost. The zero value means the defaults.
type Limits struct {
	MaxHeaderBytes int // start line + header lines + final CRLF; 0 means 64 KiB; over it -> *Error{431}
	MaxHeaders     int // 0 means 128; over it -> *Error{431}
}

const (
	defaultMaxHeaderBytes = 64 << 10
	defaultMaxHeaders     = 128
)

func (l Limits) resolve() (maxBytes, maxHeaders int) {
	maxBytes, maxHeaders = l.MaxHeaderBytes, l.MaxHeaders
	if maxBytes <= 0 {
		maxBytes = defaultMaxHeaderBytes
	}
	if maxHeaders <= 0 {
		maxHeaders = defaultMaxHeaders
	}
	return maxBytes, maxHeaders
}

// Framing says how a message body is delimited.
type Framing int

const (
	FramingNone       Framing = iota // no body follows the head
	FramingLength                    // exactly ContentLength bytes follow
	FramingChunked                   // a chunked body follows; walk it with a ChunkedReader
	FramingUntilClose                // the body runs until the peer closes; the connection cannot be reused
)

func (f Framing) String() string {
	switch f {
	case FramingNone:
		return "none"
	case FramingLength:
		return "length"
	case FramingChunked:
		return "chunked"
	case FramingUntilClose:
		return "until-close"
	}
	return "unknown"
}

// Request is a parsed request head. Its byte slices point into the buffer given to ParseRequest and are valid only
// until that buffer is reused. Reuse one Request per connection: ParseRequest resets it and keeps the Headers
// backing array, so steady-state parsing does not allocate.
type Request struct {
	Method, URI    []byte
	ProtoMinor     int      // 0 or 1 (HTTP/1.0, HTTP/1.1)
	Headers        []Header // every field line in wire order, a repeated Content-Length collapsed (see ParseRequest)
	Host           []byte   // Host header value, or the authority of an absolute-form target
	HasHost        bool     // a Host header field is present (HTTP/1.0 may omit it)
	ContentLength  int64    // -1 when absent
	Chunked        bool     // Transfer-Encoding: chunked
	KeepAlive      bool     // the connection may carry another request after this one
	ExpectContinue bool     // Expect: 100-continue (HTTP/1.1 only)
	Upgrade        bool     // Connection: upgrade and an Upgrade header (HTTP/1.1 only)
	HeadLen        int      // bytes the head took in the buffer, leading empty lines included

	slash [1]byte // backs Path's "/" for an absolute-form target without a path
}

// Reset clears r for reuse, keeping the capacity of Headers.
func (r *Request) Reset() {
	hs := r.Headers[:0]
	*r = Request{Headers: hs, ContentLength: -1, slash: [1]byte{'/'}}
}

// Header returns the value of the first header called name (ASCII case-insensitive) without allocating.
func (r *Request) Header(name string) ([]byte, bool) { return lookup(r.Headers, name) }

// Path returns the path of the request target without query or fragment: "/a" for "/a?b", "/p" for the
// absolute-form "http://h/p?q" ("/" when it has no path), "*" for "*". An authority-form target (CONNECT) is
// returned whole.
func (r *Request) Path() []byte {
	u := r.URI
	if len(u) > 0 && u[0] != '/' {
		if _, rest, ok := splitAbsolute(u); ok {
			if len(rest) == 0 || rest[0] != '/' {
				if r.slash[0] != '/' { // set by Reset; written here only for a Request built by hand
					r.slash[0] = '/'
				}
				return r.slash[:]
			}
			u = rest
		} else {
			return u
		}
	}
	for i := 0; i < len(u); i++ {
		if u[i] == '?' || u[i] == '#' {
			return u[:i]
		}
	}
	return u
}

// Framing says how the request body is delimited. A request without Content-Length or Transfer-Encoding has no
// body (RFC 9112 6.3), and Content-Length: 0 is reported as FramingNone too.
func (r *Request) Framing() Framing {
	switch {
	case r.Chunked:
		return FramingChunked
	case r.ContentLength > 0:
		return FramingLength
	}
	return FramingNone
}

// Response is a parsed response head; the same buffer-lifetime and reuse rules as Request apply.
type Response struct {
	ProtoMinor    int
	Status        int
	Reason        []byte
	Headers       []Header
	ContentLength int64 // -1 when absent
	Chunked       bool  // Transfer-Encoding whose final coding is chunked
	KeepAlive     bool  // per the version and Connection header; see Framing for until-close bodies
	HeadLen       int
}

// Reset clears r for reuse, keeping the capacity of Headers.
func (r *Response) Reset() {
	hs := r.Headers[:0]
	*r = Response{Headers: hs, ContentLength: -1}
}

// Header returns the value of the first header called name (ASCII case-insensitive) without allocating.
func (r *Response) Header(name string) ([]byte, bool) { return lookup(r.Headers, name) }

// Framing says how the response body is delimited given the method of the request it answers (RFC 9112 6.3): none
// for HEAD, 1xx, 204, 304 and a 2xx to CONNECT (the connection becomes a tunnel); then chunked, Content-Length
// (Content-Length: 0 is FramingNone), or until the server closes. A FramingUntilClose response leaves the upstream
// connection unusable for another request whatever KeepAlive says.
func (r *Response) Framing(requestMethod []byte) Framing {
	switch {
	case r.Status < 200, r.Status == 204, r.Status == 304:
		return FramingNone
	case string(requestMethod) == "HEAD":
		return FramingNone
	case r.Status < 300 && string(requestMethod) == "CONNECT":
		return FramingNone
	case r.Chunked:
		return FramingChunked
	case r.ContentLength == 0:
		return FramingNone
	case r.ContentLength > 0:
		return FramingLength
	}
	return FramingUntilClose
}

// ParseRequest parses the request head at the start of buf into r (which it resets first). It returns the number of
// bytes the head took: the body, if any, starts at buf[n]. ErrNeedMore means the head is incomplete; an *Error means
// the request is malformed and the connection should be answered with Error.Status and closed. Empty lines (CRLF)
// before the request line are skipped and counted in n. On error the contents of r are unspecified.
//
// Content-Length on several lines with one value, or as a list of it, is accepted and left in r.Headers as its first
// line with the first value only, so a proxy forwards a single plain Content-Length; differing values are an error.
func ParseRequest(buf []byte, r *Request, lim Limits) (n int, err error) {
	r.Reset()
	maxBytes, maxHeaders := lim.resolve()
	end := min(len(buf), maxBytes)
	pos := 0
	for pos+1 < end && buf[pos] == '\r' && buf[pos+1] == '\n' {
		pos += 2
	}
	line, pos, err := readLine(buf, pos, end, maxBytes)
	if err != nil {
		return 0, err
	}
	if err := parseRequestLine(line, r); err != nil {
		return 0, err
	}
	var f fields
	if pos, err = parseFields(buf, pos, end, maxBytes, maxHeaders, &r.Headers, &f, true); err != nil {
		return 0, err
	}

	if f.teSeen {
		if f.clSeen {
			return 0, errCLAndTE
		}
		if r.ProtoMinor == 0 {
			// HTTP/1.0 has no chunked coding: an HTTP/1.0 hop in front of us would frame this body differently.
			return 0, errTEInHTTP10
		}
		switch {
		case !f.teLastChunked:
			return 0, errTENotChunked
		case f.teChunked > 1:
			return 0, errTEChunkedTwice
		case f.teOther > 0:
			// We forward bodies verbatim and will not decode gzip or the like to find the framing.
			return 0, errTEUnsupported
		}
		r.Chunked = true
	}
	r.ContentLength = f.contentLength
	if f.clRepeated {
		r.Headers = collapseContentLength(r.Headers)
	}

	if f.hostCount > 1 {
		return 0, errMultipleHost
	}
	if f.hostCount == 0 && r.ProtoMinor == 1 {
		return 0, errMissingHost
	}
	if !validHost(f.host) {
		return 0, errHost
	}
	r.Host, r.HasHost = f.host, f.hostCount > 0
	if auth, _, ok := splitAbsolute(r.URI); ok {
		// RFC 9112 3.2.2: the target's authority replaces the Host header.
		if at := bytes.LastIndexByte(auth, '@'); at >= 0 {
			auth = auth[at+1:]
		}
		if len(auth) == 0 {
			// RFC 9110 4.2.1: an http(s) URI with an empty host must be rejected.
			return 0, errEmptyAuthority
		}
		if !validHost(auth) {
			return 0, errHost
		}
		r.Host = auth
	}

	if r.ProtoMinor == 1 {
		r.KeepAlive = !f.connClose
		r.ExpectContinue = f.expectContinue
		r.Upgrade = f.connUpgrade && f.upgrade
	} else {
		r.KeepAlive = f.connKeepAlive && !f.connClose
	}
	r.HeadLen = pos
	return pos, nil
}

// ParseResponse parses the response head at the start of buf into r; see ParseRequest for the contract. A
// Transfer-Encoding whose final coding is not chunked makes the body run until close (RFC 9112 6.3); one that ends
// in chunked sets Chunked whatever codings precede it, since the framing is what a proxy needs to forward it.
func ParseResponse(buf []byte, r *Response, lim Limits) (n int, err error) {
	r.Reset()
	maxBytes, maxHeaders := lim.resolve()
	end := min(len(buf), maxBytes)
	line, pos, err := readLine(buf, 0, end, maxBytes)
	if err != nil {
		return 0, err
	}
	if err := parseStatusLine(line, r); err != nil {
		return 0, err
	}
	var f fields
	if pos, err = parseFields(buf, pos, end, maxBytes, maxHeaders, &r.Headers, &f, false); err != nil {
		return 0, err
	}
	if f.teSeen {
		if f.clSeen {
			return 0, errCLAndTE
		}
		if f.teChunked > 1 {
			return 0, errTEChunkedTwice
		}
		r.Chunked = f.teLastChunked
	} else {
		r.ContentLength = f.contentLength
		if f.clRepeated {
			r.Headers = collapseContentLength(r.Headers)
		}
	}
	if r.ProtoMinor == 1 {
		r.KeepAlive = !f.connClose
	} else {
		r.KeepAlive = f.connKeepAlive && !f.connClose
	}
	r.HeadLen = pos
	return pos, nil
}

// collapseContentLength keeps the first Content-Length line of hs, cut to its first value, and drops the others,
// in place. Only a message whose values were all equal gets here (RFC 9110 8.6 lets a recipient collapse them): a
// proxy forwards one plain Content-Length, so no next hop, laxer or stricter than this parser, sees a list.
func collapseContentLength(hs []Header) []Header {
	kept, seen := hs[:0], false
	for _, h := range hs {
		if len(h.Name) == 14 && equalFoldLower(h.Name, "content-length") {
			if seen {
				continue
			}
			seen = true
			h.Value, _, _ = nextListElement(h.Value)
		}
		kept = append(kept, h)
	}
	return kept
}

// readLine returns the line starting at buf[pos] without its CRLF and the offset after it. Only buf[:end] is
// searched (end caps the head at maxBytes); not finding the LF there is 431 once the buffer is already maxBytes
// long, else ErrNeedMore.
func readLine(buf []byte, pos, end, maxBytes int) (line []byte, next int, err error) {
	i := bytes.IndexByte(buf[pos:end], '\n')
	if i < 0 {
		if len(buf) >= maxBytes {
			return nil, 0, errHeadTooLarge
		}
		return nil, 0, ErrNeedMore
	}
	if i == 0 || buf[pos+i-1] != '\r' {
		return nil, 0, errBareLF
	}
	return buf[pos : pos+i-1], pos + i + 1, nil
}

// parseRequestLine splits "METHOD SP request-target SP HTTP-version" with exactly one SP at each place.
func parseRequestLine(line []byte, r *Request) error {
	i := 0
	for i < len(line) && isToken[line[i]] {
		i++
	}
	if i == len(line) {
		return errRequestLine
	}
	if i == 0 || line[i] != ' ' {
		return errMethod
	}
	r.Method = line[:i]
	rest := line[i+1:]
	j := bytes.IndexByte(rest, ' ')
	switch {
	case j < 0:
		return errRequestLine
	case j == 0:
		return errEmptyTarget
	}
	r.URI = rest[:j]
	if !validTarget(r.URI) {
		return errTarget
	}
	minor, err := parseVersion(rest[j+1:])
	if err != nil {
		return err
	}
	r.ProtoMinor = minor
	return nil
}

// parseVersion accepts exactly "HTTP/1.0" and "HTTP/1.1"; any other well-formed "HTTP/d.d" is 505.
func parseVersion(v []byte) (minor int, err error) {
	if len(v) != 8 || string(v[:5]) != "HTTP/" || v[6] != '.' || v[5]-'0' > 9 || v[7]-'0' > 9 {
		return 0, errVersion
	}
	if v[5] != '1' || v[7] > '1' {
		return 0, errVersionUnsupported
	}
	return int(v[7] - '0'), nil
}

// parseStatusLine splits "HTTP-version SP 3DIGIT SP reason". A missing SP before an empty reason is tolerated:
// servers send "HTTP/1.1 200\r\n" and it is unambiguous.
func parseStatusLine(line []byte, r *Response) error {
	if len(line) < 12 {
		return errStatusLine
	}
	minor, err := parseVersion(line[:8])
	if err != nil {
		return err
	}
	r.ProtoMinor = minor
	if line[8] != ' ' {
		return errStatusLine
	}
	d0, d1, d2 := line[9]-'0', line[10]-'0', line[11]-'0'
	if d0-1 > 8 || d1 > 9 || d2 > 9 {
		return errStatus
	}
	r.Status = int(d0)*100 + int(d1)*10 + int(d2)
	if len(line) > 12 {
		if line[12] != ' ' {
			return errStatusLine
		}
		r.Reason = line[13:]
		if !validFieldValue(r.Reason) {
			return errReason
		}
	}
	return nil
}

// fields collects what the framing and connection decisions need while the header lines are read.
type fields struct {
	contentLength int64
	clSeen        bool
	clRepeated    bool // more than one value, all equal

	teSeen        bool
	teLastChunked bool // the final coding seen so far is chunked
	teChunked     int  // how many times chunked appears
	teOther       int  // codings other than chunked

	host      []byte
	hostCount int

	connClose, connKeepAlive, connUpgrade bool
	upgrade                               bool // an Upgrade header is present
	expectContinue                        bool
}

// parseFields reads header lines from buf[pos:end] up to and including the empty line, appending them to *hs and
// noting the framing-relevant ones in f. It returns the offset after the empty line.
//
// Each line is scanned once: the name through a token table up to the colon, then the value eight bytes at a time
// for the first control byte, which must be the CR of the line's CRLF (HTAB aside). That finds the line end and
// validates the value in the same pass instead of an IndexByte for LF followed by a validation loop. A malformed
// line is therefore refused as soon as its bad byte has arrived, possibly before its LF.
func parseFields(buf []byte, pos, end, maxBytes, maxHeaders int, hs *[]Header, f *fields, request bool) (int, error) {
	f.contentLength = -1
	more := func() (int, error) {
		if len(buf) >= maxBytes {
			return 0, errHeadTooLarge
		}
		return 0, ErrNeedMore
	}
	// h is stored back only on success: a defer would not be open-coded with this many returns, and after an
	// error the message is void anyway.
	h := *hs
	for {
		if pos >= end {
			return more()
		}
		switch buf[pos] {
		case '\r':
			if pos+1 >= end {
				return more()
			}
			if buf[pos+1] != '\n' {
				return 0, errBareLF
			}
			*hs = h
			return pos + 2, nil
		case '\n':
			return 0, errBareLF
		case ' ', '\t':
			// obs-fold: a continuation line; also refused right after the start line, where it could
			// smuggle a header past a lenient peer.
			return 0, errObsFold
		}

		// Four table lookups per step: names average a dozen bytes and the loop-carried branch dominates.
		b := buf[:end]
		i := pos
		for i+4 <= len(b) && isToken[b[i]] && isToken[b[i+1]] && isToken[b[i+2]] && isToken[b[i+3]] {
			i += 4
		}
		for i < len(b) && isToken[b[i]] {
			i++
		}
		if i >= end {
			return more()
		}
		switch c := buf[i]; {
		case c == ':':
		case c == ' ' || c == '\t':
			return 0, errSpaceBeforeColon
		case c == '\r' || c == '\n':
			return 0, errNoColon
		default:
			return 0, errHeaderName
		}
		if i == pos {
			return 0, errEmptyHeaderName
		}
		name := buf[pos:i:i]

		v := i + 1
		for v < end && (buf[v] == ' ' || buf[v] == '\t') {
			v++
		}
		j := v
		for {
			j = indexCTL(buf[:end], j)
			if j >= end {
				return more()
			}
			if buf[j] != '\t' {
				break
			}
			j++
		}
		switch buf[j] {
		case '\r':
			if j+1 >= end {
				return more()
			}
			if buf[j+1] != '\n' {
				return 0, errHeaderValue
			}
		case '\n':
			return 0, errBareLF
		default:
			return 0, errHeaderValue
		}
		ve := j
		for ve > v && (buf[ve-1] == ' ' || buf[ve-1] == '\t') {
			ve--
		}
		value := buf[v:ve:ve]
		pos = j + 2

		if len(h) >= maxHeaders {
			return 0, errTooManyHeaders
		}
		// Growing by hand and storing the two fields directly, rather than append(h, Header{...}), avoids
		// building the 48-byte Header on the stack and copying it, which showed up as a store-forwarding stall.
		if len(h) == cap(h) {
			h = append(h, Header{})
		} else {
			h = h[:len(h)+1]
		}
		last := &h[len(h)-1]
		last.Name, last.Value = name, value
		if knownLengths&(1<<uint(len(name))) != 0 {
			if err := f.observe(name, value, request); err != nil {
				return 0, err
			}
		}
	}
}

// knownLengths has bit n set when some header observe cares about is n bytes long, so most headers skip the call.
const knownLengths = 1<<4 | 1<<6 | 1<<7 | 1<<10 | 1<<14 | 1<<17

// observe records a header that matters for framing or connection handling. Dispatching on the length first keeps
// the common unknown header at one comparison.
func (f *fields) observe(name, value []byte, request bool) error {
	switch len(name) {
	case 4:
		if request && equalFoldLower(name, "host") {
			f.hostCount++
			f.host = value
		}
	case 6:
		if request && equalFoldLower(name, "expect") && equalFoldLower(value, "100-continue") {
			f.expectContinue = true
		}
	case 7:
		if request && equalFoldLower(name, "upgrade") {
			f.upgrade = true
		}
	case 10:
		if equalFoldLower(name, "connection") {
			f.connection(value)
		}
	case 14:
		if equalFoldLower(name, "content-length") {
			return f.parseContentLength(value)
		}
	case 17:
		if equalFoldLower(name, "transfer-encoding") {
			return f.transferEncoding(value)
		}
	}
	return nil
}

func (f *fields) connection(v []byte) {
	for {
		e, rest, ok := nextListElement(v)
		if !ok {
			return
		}
		switch {
		case equalFoldLower(e, "close"):
			f.connClose = true
		case equalFoldLower(e, "keep-alive"):
			f.connKeepAlive = true
		case equalFoldLower(e, "upgrade"):
			f.connUpgrade = true
		}
		v = rest
	}
}

// parseContentLength accepts a non-empty list of identical decimal values (RFC 9110 8.6), also across repeated
// headers; anything else is refused because two hops could pick different values.
func (f *fields) parseContentLength(v []byte) error {
	for {
		comma := bytes.IndexByte(v, ',')
		e := v
		if comma >= 0 {
			e = v[:comma]
		}
		e = trimOWS(e)
		if len(e) == 0 {
			return errContentLength
		}
		var n int64
		for _, c := range e {
			d := c - '0'
			if d > 9 {
				return errContentLength
			}
			if n > (math.MaxInt64-int64(d))/10 {
				return errContentLength
			}
			n = n*10 + int64(d)
		}
		if f.clSeen {
			if n != f.contentLength {
				return errContentLengthDiffer
			}
			f.clRepeated = true
		}
		f.clSeen, f.contentLength = true, n
		if comma < 0 {
			return nil
		}
		v = v[comma+1:]
	}
}

// transferEncoding records the codings of one Transfer-Encoding line; repeated lines continue the same list.
// Empty elements are refused: nothing legitimate sends them and they are a classic parser-disagreement vector.
func (f *fields) transferEncoding(v []byte) error {
	f.teSeen = true
	for {
		comma := bytes.IndexByte(v, ',')
		e := v
		if comma >= 0 {
			e = v[:comma]
		}
		e = trimOWS(e)
		switch {
		case len(e) == 0:
			return errTransferEncoding
		case equalFoldLower(e, "chunked"):
			f.teChunked++
			f.teLastChunked = true
		default:
			for _, c := range e {
				// A coding may carry parameters ("foo;q=1"); anything outside that is garbage.
				if !isToken[c] && c != ';' && c != '=' && c != ' ' && c != '\t' && c != '"' {
					return errTransferEncoding
				}
			}
			f.teOther++
			f.teLastChunked = false
		}
		if comma < 0 {
			return nil
		}
		v = v[comma+1:]
	}
}

// splitAbsolute splits an absolute-form target "scheme://authority/rest" into authority and the rest (path and
// query, possibly empty). ok is false for origin-form, asterisk-form and authority-form targets.
func splitAbsolute(u []byte) (authority, rest []byte, ok bool) {
	i := 0
	for i < len(u) {
		c := u[i]
		if lower(c)-'a' < 26 || (i > 0 && (c-'0' < 10 || c == '+' || c == '-' || c == '.')) {
			i++
			continue
		}
		break
	}
	if i == 0 || len(u)-i < 3 || string(u[i:i+3]) != "://" {
		return nil, nil, false
	}
	a := u[i+3:]
	for j := 0; j < len(a); j++ {
		if c := a[j]; c == '/' || c == '?' || c == '#' {
			return a[:j], a[j:], true
		}
	}
	return a, nil, true
}

// validHost refuses Host values (RFC 9112 3.2 requires a 400 for invalid ones) holding characters that cannot be
// part of uri-host [":" port] and that could make a router or an upstream read a different host or path: whitespace,
// "/", "\\", "?", "#", "@" and the other delimiters URIs never allow. Bytes >= 0x80 pass, as in the target.
func validHost(h []byte) bool {
	for _, c := range h {
		if badHostChar[c] {
			return false
		}
	}
	return true
}

var badHostChar = func() (t [256]bool) {
	for c := 0; c < 0x21; c++ {
		t[c] = true
	}
	t[0x7f] = true
	for _, c := range "/\\?#@\"<>{}|^`" {
		t[c] = true
	}
	return t
}()
