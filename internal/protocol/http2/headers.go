package http2

import (
	"unsafe"
)

// Field is one header field. Name and Value are views: a decoded Field
// points into the connection's buffers and is valid only during the
// callback that delivered it; a Field given to a write method is copied
// before the method returns.
type Field struct {
	Name, Value []byte
	// Sensitive fields are never put in a compression table (RFC 7541 §7.1.3);
	// decoded fields carry the peer's never-indexed mark.
	Sensitive bool
}

// F builds a Field from strings without copying them; the strings' bytes
// are only read.
func F(name, value string) Field {
	return Field{Name: strBytes(name), Value: strBytes(value)}
}

// Headers is a decoded, validated header block: the pseudo-header fields
// (absent ones are nil) and the regular fields in wire order. It is reused
// for every block on a connection; its slices are views valid only during
// the Handler call that delivers it.
type Headers struct {
	Method, Scheme, Authority, Path, Status []byte
	Fields                                  []Field
	// ContentLength is the content-length field's value, -1 when absent.
	ContentLength int64
	// Trailers is set for a block that follows a stream's body.
	Trailers bool
}

// Get returns the first value of the regular field name (lower case), or nil.
func (h *Headers) Get(name string) []byte {
	for i := range h.Fields {
		if string(h.Fields[i].Name) == name {
			return h.Fields[i].Value
		}
	}
	return nil
}

// StatusCode returns :status as a number, 0 when absent.
func (h *Headers) StatusCode() int {
	if len(h.Status) != 3 {
		return 0
	}
	return int(h.Status[0]-'0')*100 + int(h.Status[1]-'0')*10 + int(h.Status[2]-'0')
}

func (h *Headers) reset() {
	h.Method, h.Scheme, h.Authority, h.Path, h.Status = nil, nil, nil, nil, nil
	h.Fields = h.Fields[:0]
	h.ContentLength = -1
	h.Trailers = false
}

// blockKind says what a header block is expected to be.
type blockKind uint8

const (
	blockRequest blockKind = iota
	blockResponse
	blockTrailers
)

// Reasons a header block is malformed (RFC 9113 §8.1.1); each is answered
// with a stream error of type PROTOCOL_ERROR.
const (
	reasonPseudoAfterRegular  = "pseudo-header field after a regular field"
	reasonPseudoDuplicate     = "duplicate pseudo-header field"
	reasonPseudoUnknown       = "unknown or misplaced pseudo-header field"
	reasonPseudoMissing       = "required pseudo-header field missing"
	reasonPseudoInTrailers    = "pseudo-header field in trailers"
	reasonBadName             = "invalid field name (upper case, empty or forbidden character)"
	reasonBadValue            = "invalid field value"
	reasonConnectionSpecific  = "connection-specific header field"
	reasonBadTE               = "te header field other than \"trailers\""
	reasonBadContentLength    = "invalid or conflicting content-length"
	reasonBadPath             = "invalid :path"
	reasonBadStatus           = "invalid :status"
	reasonContentLengthDiffer = "DATA length differs from content-length"
	reasonListTooLarge        = "header list larger than SETTINGS_MAX_HEADER_LIST_SIZE"
)

// fill builds h from decoded field refs over arena and validates it as kind.
// It returns "" or the reason the block is malformed.
func (h *Headers) fill(arena []byte, refs []fieldRef, kind blockKind) string {
	h.reset()
	h.Trailers = kind == blockTrailers
	regular := false
	for i := range refs {
		r := &refs[i]
		name := arena[r.name[0]:r.name[1]]
		value := arena[r.value[0]:r.value[1]]
		if len(name) > 0 && name[0] == ':' {
			if regular {
				return reasonPseudoAfterRegular
			}
			if kind == blockTrailers {
				return reasonPseudoInTrailers
			}
			var slot *[]byte
			switch string(name) {
			case ":method":
				slot = &h.Method
			case ":scheme":
				slot = &h.Scheme
			case ":authority":
				slot = &h.Authority
			case ":path":
				slot = &h.Path
			case ":status":
				slot = &h.Status
			}
			if slot == nil || (kind == blockRequest) == (slot == &h.Status) {
				return reasonPseudoUnknown
			}
			if *slot != nil {
				return reasonPseudoDuplicate
			}
			if !validValue(value) {
				return reasonBadValue
			}
			*slot = value[:len(value):len(value)]
			continue
		}
		regular = true
		if !validName(name) {
			return reasonBadName
		}
		if !validValue(value) {
			return reasonBadValue
		}
		switch string(name) {
		case "connection", "proxy-connection", "keep-alive", "transfer-encoding", "upgrade":
			return reasonConnectionSpecific
		case "te":
			if string(value) != "trailers" {
				return reasonBadTE
			}
		case "content-length":
			n, ok := parseContentLength(value)
			if !ok || (h.ContentLength >= 0 && h.ContentLength != n) {
				return reasonBadContentLength
			}
			h.ContentLength = n
		}
		h.Fields = append(h.Fields, Field{Name: name, Value: value, Sensitive: r.sensitive})
	}
	switch kind {
	case blockRequest:
		if h.Method == nil {
			return reasonPseudoMissing
		}
		if string(h.Method) == "CONNECT" {
			// RFC 9113 §8.5: only :method and :authority.
			if h.Authority == nil || h.Scheme != nil || h.Path != nil {
				return reasonPseudoMissing
			}
			return ""
		}
		if h.Scheme == nil || h.Path == nil {
			return reasonPseudoMissing
		}
		if len(h.Path) == 0 || (h.Path[0] != '/' && !(string(h.Path) == "*" && string(h.Method) == "OPTIONS")) {
			return reasonBadPath
		}
	case blockResponse:
		if h.Status == nil {
			return reasonPseudoMissing
		}
		if len(h.Status) != 3 || !isDigit(h.Status[0]) || !isDigit(h.Status[1]) || !isDigit(h.Status[2]) {
			return reasonBadStatus
		}
	}
	return ""
}

func isDigit(b byte) bool { return b >= '0' && b <= '9' }

// validName accepts a lower-case token (RFC 9110 §5.1), which also meets
// RFC 9113 §8.2.1: no control, space, upper case, non-ASCII or colon.
func validName(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		if c >= 0x80 || !tokenChar[c] {
			return false
		}
	}
	return true
}

// tokenChar marks the lower-case token characters.
var tokenChar = func() (t [128]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
	}
	for _, c := range "!#$%&'*+-.^_`|~" {
		t[c] = true
	}
	return t
}()

// validValue applies RFC 9113 §8.2.1 (no NUL, CR or LF, no leading or
// trailing space or tab) and, as it allows, RFC 9110's field-value: no
// other control characters but tab, so nothing odd reaches an HTTP/1 hop.
func validValue(b []byte) bool {
	if len(b) > 0 {
		if f, l := b[0], b[len(b)-1]; f == ' ' || f == '\t' || l == ' ' || l == '\t' {
			return false
		}
	}
	for _, c := range b {
		if (c < 0x20 && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}

func parseContentLength(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 18 {
		return 0, false
	}
	var n int64
	for _, c := range b {
		if !isDigit(c) {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

// strBytes views a string's bytes without copying; callers only read them.
func strBytes(s string) []byte { return unsafe.Slice(unsafe.StringData(s), len(s)) }

// bytesStr views bytes as a string for a call that does not keep it.
func bytesStr(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }
