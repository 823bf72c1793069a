package stream

import "github.com/mosnctl/mosnctl/internal/protocol/bolt"

// BoltRequest is a Bolt request frame as the proxy forwards it: the routing
// view (header-map keys; Bolt has no host, path or method line), the
// header edits, and its own copy of the frame when it must outlive the
// reader's buffer (a paused or retried request). Unedited, it is sent as it
// came, with only its request id rewritten.
type BoltRequest struct {
	Frame  bolt.Frame
	raw    []byte // the frame as it came: the reader's buffer, or held
	held   []byte
	edits  boltEdits
	encBuf []byte // the edited frame, encoded
}

// Reset starts r on a new frame; f and raw are the reader's, valid until
// the handler returns unless Hold is called.
func (r *BoltRequest) Reset(f *bolt.Frame, raw []byte) {
	r.Frame, r.raw = *f, raw
	r.edits.edited = false
}

// Host implements Request: Bolt has none.
func (r *BoltRequest) Host() []byte { return nil }

// Path implements Request: Bolt has none.
func (r *BoltRequest) Path() []byte { return nil }

// Method implements Request with SOFARPC's method name header.
func (r *BoltRequest) Method() []byte {
	m, _ := r.Frame.Get(bolt.HeaderMethod)
	return m
}

// Header implements Request: a header-map key, as it is.
func (r *BoltRequest) Header(name string) ([]byte, bool) { return r.Frame.Get(name) }

// DelHeader implements HeadEditor.
func (r *BoltRequest) DelHeader(name []byte) { r.edits.del(&r.Frame, name) }

// AddHeader implements HeadEditor.
func (r *BoltRequest) AddHeader(name, value []byte) { r.edits.add(&r.Frame, name, value) }

// SetHost implements RequestEditor: Bolt has no authority to rewrite.
func (r *BoltRequest) SetHost(string) {}

// ReplacePathPrefix implements RequestEditor: Bolt has no path.
func (r *BoltRequest) ReplacePathPrefix(int, string) {}

// Encoded is the frame to send: as it came, or re-encoded with its edits.
func (r *BoltRequest) Encoded() []byte {
	if !r.edits.edited {
		return r.raw
	}
	r.encBuf = bolt.AppendFrame(r.encBuf[:0], &r.Frame)
	return r.encBuf
}

// Hold copies the frame (with its edits) so that it outlives the reader's
// buffer.
func (r *BoltRequest) Hold() {
	if len(r.held) > 0 && len(r.raw) > 0 && &r.raw[0] == &r.held[0] && !r.edits.edited {
		return // held already
	}
	r.held = append(r.held[:0], r.Encoded()...)
	r.Frame.Reset()
	if _, err := bolt.Decode(r.held, &r.Frame, len(r.held)); err != nil {
		panic("stream: a Bolt frame does not decode after its own encoding: " + err.Error())
	}
	r.raw, r.edits.edited = r.held, false
}

// Release drops large buffers before r is pooled.
func (r *BoltRequest) Release() {
	r.Frame.Reset()
	r.raw = nil
	if cap(r.held) > 64<<10 {
		r.held = nil
	}
	if cap(r.encBuf) > 64<<10 {
		r.encBuf = nil
	}
	r.edits.release()
}

// BoltResponse is an upstream's Bolt response frame as encode-side filters
// and the route's header edits see it.
type BoltResponse struct {
	Frame  bolt.Frame
	edits  boltEdits
	encBuf []byte
}

// Reset starts r on a response frame (the reader's, valid during the
// call).
func (r *BoltResponse) Reset(f *bolt.Frame) {
	r.Frame = *f
	r.edits.edited = false
}

// Status implements Response: the Bolt status as an HTTP status.
func (r *BoltResponse) Status() int { return BoltStatusClass(r.Frame.Status) }

// Header implements Response.
func (r *BoltResponse) Header(name string) ([]byte, bool) { return r.Frame.Get(name) }

// DelHeader implements Response.
func (r *BoltResponse) DelHeader(name []byte) { r.edits.del(&r.Frame, name) }

// AddHeader implements Response.
func (r *BoltResponse) AddHeader(name, value []byte) { r.edits.add(&r.Frame, name, value) }

// Encode returns raw, or the frame re-encoded when it was edited.
func (r *BoltResponse) Encode(raw []byte) []byte {
	if !r.edits.edited {
		return raw
	}
	r.encBuf = bolt.AppendFrame(r.encBuf[:0], &r.Frame)
	return r.encBuf
}

// boltEdits rebuilds a frame's header map for each edit, alternating two
// buffers (the old map may live in the other). Edits are rare (a route's
// header edits on Bolt): the unedited path touches none of this.
type boltEdits struct {
	buf    [2][]byte
	cur    int
	edited bool
}

func (e *boltEdits) next() []byte {
	e.cur ^= 1
	return e.buf[e.cur][:0]
}

func (e *boltEdits) del(f *bolt.Frame, name []byte) {
	if _, ok := f.Get(string(name)); !ok {
		return
	}
	h := e.next()
	f.Range(func(k, v []byte) bool {
		if string(k) != string(name) {
			h = bolt.AppendHeaderBytes(h, k, v)
		}
		return true
	})
	e.set(f, h)
}

func (e *boltEdits) add(f *bolt.Frame, name, value []byte) {
	h := append(e.next(), f.Header...)
	e.set(f, bolt.AppendHeaderBytes(h, name, value))
}

func (e *boltEdits) set(f *bolt.Frame, h []byte) {
	e.buf[e.cur] = h
	f.Header = h
	e.edited = true
}

func (e *boltEdits) release() {
	for i := range e.buf {
		if cap(e.buf[i]) > 64<<10 {
			e.buf[i] = nil
		}
	}
	e.edited = false
}

// BoltStatusClass maps a Bolt status to the HTTP status meaning the same,
// so Bolt requests land in the same response classes as HTTP ones.
func BoltStatusClass(status uint16) int {
	switch status {
	case bolt.StatusSuccess:
		return 200
	case bolt.StatusNoProcessor:
		return 404
	case bolt.StatusTimeout:
		return 504
	case bolt.StatusConnectionClosed, bolt.StatusServerThreadpoolBusy:
		return 503
	case bolt.StatusCodecException, bolt.StatusServerDeserialException:
		return 400
	}
	return 500
}

// BoltStatus maps a local reply to the Bolt status that means the same to
// a SOFARPC client: by its cause, or for a filter's answer by the nearest
// to its HTTP status.
func BoltStatus(r Reply) uint16 {
	switch r.Cause {
	case NoRoute:
		return bolt.StatusNoProcessor
	case Unavailable:
		return bolt.StatusConnectionClosed
	case TimedOut:
		return bolt.StatusTimeout
	case Overflowed:
		return bolt.StatusServerThreadpoolBusy
	case Malformed:
		return bolt.StatusCodecException
	}
	status := r.Status
	switch {
	case status < 400:
		return bolt.StatusSuccess
	case status == 404:
		return bolt.StatusNoProcessor
	case status == 504 || status == 408:
		return bolt.StatusTimeout
	case status == 503 || status == 429:
		return bolt.StatusServerThreadpoolBusy
	case status < 500:
		return bolt.StatusCodecException
	}
	return bolt.StatusServerException
}
