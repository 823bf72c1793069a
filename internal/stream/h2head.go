package stream

import (
	"bytes"
	"strconv"
	"unsafe"

	"github.com/mosnctl/mosnctl/internal/protocol/http2"
)

// H2Head is an HTTP/2 head (request, response or trailers) copied out of
// the engine's buffers, which are valid only during a callback: the
// pseudo-header fields apart, the regular ones in order, all views into one
// arena owned by the head. Edits work on the field list: a removal drops
// fields, an addition appends a field that points at the caller's bytes
// (route-owned, valid while the head is forwarded).
type H2Head struct {
	Method, Scheme, Authority, Path, Status []byte
	Fields                                  []http2.Field
	// ContentLength is the content-length field, -1 when absent.
	ContentLength int64

	arena   []byte
	scratch []byte // a path with a rewritten prefix
	pathBuf []byte // a normalized path
	out     []http2.Field
}

// copyFrom copies h into the head, reusing its buffers.
func (d *H2Head) copyFrom(h *http2.Headers) {
	n := len(h.Method) + len(h.Scheme) + len(h.Authority) + len(h.Path) + len(h.Status)
	for i := range h.Fields {
		n += len(h.Fields[i].Name) + len(h.Fields[i].Value)
	}
	if cap(d.arena) < n {
		d.arena = make([]byte, 0, n)
	}
	d.arena = d.arena[:0]
	d.scratch = d.scratch[:0]
	d.Method, d.Scheme, d.Authority, d.Path, d.Status = d.keep(h.Method), d.keep(h.Scheme), d.keep(h.Authority), d.keep(h.Path), d.keep(h.Status)
	d.Fields = d.Fields[:0]
	for i := range h.Fields {
		f := &h.Fields[i]
		d.Fields = append(d.Fields, http2.Field{Name: d.keep(f.Name), Value: d.keep(f.Value), Sensitive: f.Sensitive})
	}
	d.ContentLength = h.ContentLength
}

// keep copies b into the arena (sized beforehand: it never moves) and
// returns the copy; nil stays nil.
func (d *H2Head) keep(b []byte) []byte {
	if b == nil {
		return nil
	}
	start := len(d.arena)
	d.arena = append(d.arena, b...)
	return d.arena[start:len(d.arena):len(d.arena)]
}

// reset empties the head for reuse.
func (d *H2Head) reset() {
	d.Method, d.Scheme, d.Authority, d.Path, d.Status = nil, nil, nil, nil, nil
	d.Fields = d.Fields[:0]
	d.ContentLength = -1
	d.arena, d.scratch = d.arena[:0], d.scratch[:0]
}

// get finds a regular field by name, ASCII case-insensitively (HTTP/2
// names are lower case on the wire; edits may add any case).
func (d *H2Head) get(name string) ([]byte, bool) {
	for i := range d.Fields {
		if equalFoldString(d.Fields[i].Name, name) {
			return d.Fields[i].Value, true
		}
	}
	return nil, false
}

func equalFoldString(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range b {
		x, y := b[i], s[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// Header finds a field by name: the pseudo-headers by their names
// (":method", ":path", ":authority", ":scheme", ":status"), regular ones
// case-insensitively; "host" answers with :authority when there is no Host
// field, so a matcher on Host works for both HTTP versions.
func (d *H2Head) Header(name string) ([]byte, bool) {
	if len(name) > 0 && name[0] == ':' {
		var v []byte
		switch name {
		case ":method":
			v = d.Method
		case ":path":
			v = d.Path
		case ":authority":
			v = d.Authority
		case ":scheme":
			v = d.Scheme
		case ":status":
			v = d.Status
		}
		return v, v != nil
	}
	if v, ok := d.get(name); ok {
		return v, true
	}
	if equalFoldString(hostName, name) && d.Authority != nil {
		return d.Authority, true
	}
	return nil, false
}

// DelHeader implements HeadEditor.
func (d *H2Head) DelHeader(name []byte) {
	kept := d.Fields[:0]
	for _, f := range d.Fields {
		if !bytes.EqualFold(f.Name, name) {
			kept = append(kept, f)
		}
	}
	clear(d.Fields[len(kept):])
	d.Fields = kept
}

// AddHeader implements HeadEditor; name and value are used as they are.
func (d *H2Head) AddHeader(name, value []byte) {
	d.Fields = append(d.Fields, http2.Field{Name: name, Value: value})
}

// setHost replaces :authority.
func (d *H2Head) setHost(host string) {
	d.Authority = unsafe.Slice(unsafe.StringData(host), len(host))
}

// replacePathPrefix replaces the first n bytes of :path with prefix.
func (d *H2Head) replacePathPrefix(n int, prefix string) {
	if n > len(d.Path) {
		return
	}
	d.scratch = append(append(d.scratch[:0], prefix...), d.Path[n:]...)
	d.Path = d.scratch
}

// requestFields lists the head as a request's header block: the
// pseudo-headers first, as RFC 9113 §8.3 requires.
func (d *H2Head) requestFields() []http2.Field {
	out := d.out[:0]
	out = append(out, http2.Field{Name: pseudoMethod, Value: d.Method})
	if d.Scheme != nil {
		out = append(out, http2.Field{Name: pseudoScheme, Value: d.Scheme})
	}
	if d.Authority != nil {
		out = append(out, http2.Field{Name: pseudoAuthority, Value: d.Authority})
	}
	if d.Path != nil {
		out = append(out, http2.Field{Name: pseudoPath, Value: d.Path})
	}
	for _, f := range d.Fields {
		if !equalFoldString(f.Name, "host") { // :authority carries it
			out = append(out, f)
		}
	}
	d.out = out
	return out
}

// responseFields lists the head as a response's header block.
func (d *H2Head) responseFields() []http2.Field {
	out := append(d.out[:0], http2.Field{Name: pseudoStatus, Value: d.Status})
	out = append(out, d.Fields...)
	d.out = out
	return out
}

var (
	pseudoMethod    = []byte(":method")
	pseudoScheme    = []byte(":scheme")
	pseudoAuthority = []byte(":authority")
	pseudoPath      = []byte(":path")
	pseudoStatus    = []byte(":status")
)

// StatusCode returns :status as a number; 0 when absent or malformed.
func (d *H2Head) StatusCode() int {
	if len(d.Status) != 3 {
		return 0
	}
	n, err := strconv.Atoi(string(d.Status))
	if err != nil {
		return 0
	}
	return n
}

// h2Response is a response head as the route's edits and encode filters
// see it.
type h2Response struct{ h *H2Head }

func (r h2Response) Status() int                       { return r.h.StatusCode() }
func (r h2Response) Header(name string) ([]byte, bool) { return r.h.Header(name) }
func (r h2Response) DelHeader(name []byte)             { r.h.DelHeader(name) }
func (r h2Response) AddHeader(name, value []byte)      { r.h.AddHeader(name, value) }
